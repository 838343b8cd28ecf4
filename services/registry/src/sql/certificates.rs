//! The activity-certificate sequences (`certificate_sequences`): read at load, written at
//! flush (the numbering rule is `hongyan_domain::ledger::certificates`).

use sqlx::PgConnection;

use hongyan_domain::ledger::certificates::{Advanced, Sequences};

/// The last numbers of these counties in these years (every pair of the two lists).
pub async fn read(
    conn: &mut PgConnection,
    counties: &[String],
    years: &[i32],
) -> sqlx::Result<Sequences> {
    let mut seqs = Sequences::default();
    if counties.is_empty() || years.is_empty() {
        return Ok(seqs);
    }
    let rows: Vec<(String, i32, i32)> = sqlx::query_as(
        "SELECT county, year, last_seq FROM certificate_sequences
         WHERE county = ANY($1) AND year = ANY($2)",
    )
    .bind(counties)
    .bind(years)
    .fetch_all(conn)
    .await?;
    for (county, year, last) in rows {
        seqs.loaded(county, year, last.max(0) as u32);
    }
    Ok(seqs)
}

/// Writes the sequences a batch moved on, each only where the stored number is still the one
/// read (or, for a sequence that had no row, only if none was made since). Returns false when
/// another transaction gave out numbers of one of them first (a replica taking over): the
/// batch must roll back and read again, or two departures would share a number. The same
/// optimistic check as the records' ([`super::writes::changed_records`]), so a lost race is
/// found where it happens, not later as a duplicate `certificate_no`.
pub async fn write(conn: &mut PgConnection, seqs: &Sequences) -> sqlx::Result<bool> {
    let (known, new): (Vec<Advanced<'_>>, Vec<Advanced<'_>>) =
        seqs.advanced().partition(|a| a.read.is_some());
    if !known.is_empty() {
        let done = sqlx::query(
            "UPDATE certificate_sequences s SET last_seq = u.last
             FROM UNNEST($1::text[], $2::int[], $3::int[], $4::int[]) AS u(county, year, read, last)
             WHERE s.county = u.county AND s.year = u.year AND s.last_seq = u.read",
        )
        .bind(known.iter().map(|a| a.county).collect::<Vec<_>>())
        .bind(known.iter().map(|a| a.year).collect::<Vec<_>>())
        .bind(
            known
                .iter()
                .map(|a| a.read.unwrap_or(0) as i32)
                .collect::<Vec<_>>(),
        )
        .bind(known.iter().map(|a| a.last as i32).collect::<Vec<_>>())
        .execute(&mut *conn)
        .await?;
        if done.rows_affected() != known.len() as u64 {
            return Ok(false);
        }
    }
    if !new.is_empty() {
        let done = sqlx::query(
            "INSERT INTO certificate_sequences (county, year, last_seq)
             SELECT * FROM UNNEST($1::text[], $2::int[], $3::int[]) ON CONFLICT DO NOTHING",
        )
        .bind(new.iter().map(|a| a.county).collect::<Vec<_>>())
        .bind(new.iter().map(|a| a.year).collect::<Vec<_>>())
        .bind(new.iter().map(|a| a.last as i32).collect::<Vec<_>>())
        .execute(conn)
        .await?;
        if done.rows_affected() != new.len() as u64 {
            return Ok(false);
        }
    }
    Ok(true)
}
