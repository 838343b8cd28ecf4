//! The ledger at its bounds and under concurrency: the certificate sequence's last number,
//! and writes another transaction overtook.

use super::*;

#[tokio::test]
async fn the_last_certificate_number_of_a_year_is_99999_and_the_next_departure_is_refused() {
    let mut env = TestEnv::new().await;
    setup(
        &mut env,
        &[("m1", "b1", "13911110001"), ("m2", "b1", "13911110002")],
    )
    .await;
    sqlx::query(
        "INSERT INTO certificate_sequences (county, year, last_seq) VALUES ('522636', 2026, 99998)",
    )
    .execute(&env.pool)
    .await
    .unwrap();
    let first = outbound("m1", "b1", "2026-03-01T09:00:00", 4, Some("某厂"));
    env.publish(&first).await;
    env.wait_processed(&evt_id(&first)).await;
    let second = outbound("m2", "b1", "2026-03-02T09:00:00", 4, Some("某厂"));
    env.publish(&second).await;

    let parked = env.wait_parked(1).await;
    assert_eq!(
        env.record("m1").await.unwrap()["certificate_no"],
        "522636202699999"
    );
    assert!(
        parked[0]
            .reason
            .contains("all 99999 activity-certificate numbers of 2026"),
        "{}",
        parked[0].reason
    );
    assert_eq!(
        env.record("m2").await,
        None,
        "a refused departure opens no record"
    );
    env.finish().await;
}

/// A record is written back only where it still holds the version the batch read, so a
/// transaction that read it before another changed it (a replica taking over) writes nothing
/// and rolls back, instead of overwriting the newer record.
#[tokio::test]
async fn a_record_changed_since_it_was_read_is_not_written_back() {
    let mut env = TestEnv::new().await;
    setup(&mut env, &[("m1", "b1", "13911110001")]).await;
    let out = outbound("m1", "b1", "2026-03-01T09:00:00", 4, None);
    env.publish(&out).await;
    env.wait_processed(&evt_id(&out)).await;
    env.stop_registry().await;
    let doc = env.record("m1").await.unwrap();
    let mut rec: hongyan_domain::ledger::FlowRecord = serde_json::from_value(doc).unwrap();
    assert_eq!(rec.version, 1);
    rec.version = 2;
    rec.transfer_suggested = true;
    let mut conn = env.pool.acquire().await.unwrap();
    use hongyan_registry::sql::writes::changed_records;
    let stale = changed_records(&mut conn, &[(&rec, 0)]).await.unwrap();
    assert_eq!(
        stale, 0,
        "read at version 0, but the row holds 1: not written"
    );
    assert_eq!(env.record("m1").await.unwrap()["version"], 1);
    let fresh = changed_records(&mut conn, &[(&rec, 1)]).await.unwrap();
    assert_eq!(fresh, 1);
    let now = env.record("m1").await.unwrap();
    assert_eq!(
        (now["version"].clone(), now["transfer_suggested"].clone()),
        (json!(2), json!(true))
    );
    drop(conn);
    env.finish().await;
}

#[tokio::test]
async fn certificate_numbers_another_transaction_gave_out_since_the_read_are_not_written_over() {
    use hongyan_registry::sql::certificates::{read, write};
    let env = TestEnv::new().await;
    let mut conn = env.pool.acquire().await.unwrap();
    let (counties, years) = (["522636".to_owned()], [2026]);
    // Two replicas' batches read the county-year before either wrote: no row yet.
    let mut first = read(&mut conn, &counties, &years).await.unwrap();
    let mut second = read(&mut conn, &counties, &years).await.unwrap();
    assert_eq!(first.next("522636", 2026), Some(1));
    assert_eq!(second.next("522636", 2026), Some(1));
    assert!(write(&mut conn, &first).await.unwrap());
    assert!(
        !write(&mut conn, &second).await.unwrap(),
        "the second would give out number 1 again: it must roll back and read again"
    );
    // And once the row exists: each write holds only where the row still has the number read.
    let mut first = read(&mut conn, &counties, &years).await.unwrap();
    let mut second = read(&mut conn, &counties, &years).await.unwrap();
    assert_eq!(first.next("522636", 2026), Some(2));
    assert_eq!(second.next("522636", 2026), Some(2));
    assert!(write(&mut conn, &first).await.unwrap());
    assert!(!write(&mut conn, &second).await.unwrap());
    let last: i32 = sqlx::query_scalar(
        "SELECT last_seq FROM certificate_sequences WHERE county = '522636' AND year = 2026",
    )
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    assert_eq!(last, 2, "the sequence never goes back nor is given twice");
    drop(conn);
    env.finish().await;
}
