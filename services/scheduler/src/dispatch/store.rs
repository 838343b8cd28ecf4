//! Storing the reports: each one is streamed into a staging table with COPY as soon as it is
//! built, then all are inserted with one statement. A city's report is tens of MiB of JSON;
//! bound as a query parameter it was copied twice more on its way to the server, while COPY
//! sends it in chunks from the one serialized copy.

use sqlx::PgConnection;
use sqlx::postgres::PgCopyIn;

use super::report::Built;
use hongyan_domain::dispatch::Quarter;

/// COPY data goes in messages of this size.
const CHUNK: usize = 1 << 20;

/// The firing's staging table, dropped with its transaction.
pub async fn create_staging(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query(
        "CREATE TEMP TABLE IF NOT EXISTS dispatch_staging
           (id uuid, org_id text, generated_at text, report text) ON COMMIT DROP",
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query("TRUNCATE dispatch_staging")
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn open_copy(conn: &mut PgConnection) -> sqlx::Result<PgCopyIn<&mut PgConnection>> {
    conn.copy_in_raw("COPY dispatch_staging (id, org_id, generated_at, report) FROM STDIN")
        .await
}

/// Sends one report as a row of COPY's text format.
pub async fn stage(
    copy: &mut PgCopyIn<&mut PgConnection>,
    report: &Built,
    json: &str,
) -> sqlx::Result<()> {
    let mut head = Vec::new();
    for field in [
        report.report_id.to_string().as_str(),
        &report.org_id,
        &report.generated_at,
    ] {
        escape_into(&mut head, field.as_bytes());
        head.push(b'\t');
    }
    copy.send(head).await?;
    let mut buf = Vec::with_capacity(CHUNK + CHUNK / 8);
    for part in json.as_bytes().chunks(CHUNK) {
        buf.clear();
        escape_into(&mut buf, part);
        copy.send(buf.as_slice()).await?;
    }
    copy.send(&b"\n"[..]).await?;
    Ok(())
}

/// COPY's text format: a backslash, tab, newline or carriage return inside a value is written
/// escaped. (All are ASCII, so escaping byte by byte keeps UTF-8 intact, across chunks too.)
fn escape_into(out: &mut Vec<u8>, value: &[u8]) {
    for &b in value {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// Inserts the staged reports once per department and quarter: a report that already stands
/// is left as it is. Returns the org ids of the reports written.
pub async fn insert_staged(conn: &mut PgConnection, quarter: Quarter) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "INSERT INTO dispatch_reports (id, org_id, quarter, generated_at, report)
         SELECT id, org_id, $1, generated_at::timestamptz, report::json FROM dispatch_staging
         ON CONFLICT (org_id, quarter) DO NOTHING RETURNING org_id",
    )
    .bind(quarter.to_string())
    .fetch_all(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_text_escapes_what_would_end_a_value_and_keeps_the_rest() {
        let mut out = Vec::new();
        escape_into(&mut out, "{\"名\":\"a\\\"b\"}\t\n\r".as_bytes());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"名\":\"a\\\\\"b\"}\\t\\n\\r"
        );
    }
}
