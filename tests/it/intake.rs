//! The notifier's intake under bad input: a request it cannot take is parked with a reason,
//! and the requests beside it are taken in (DESIGN.md section 2: no input stops a consumer).

use crate::notifier::{envelope, morning, request, start};

const EV1: &str = "7d0c8a8e-5a1e-4f7e-9b8e-000000000011";
const EV2: &str = "7d0c8a8e-5a1e-4f7e-9b8e-000000000012";
const EV3: &str = "7d0c8a8e-5a1e-4f7e-9b8e-000000000013";
const EV4: &str = "7d0c8a8e-5a1e-4f7e-9b8e-000000000014";

#[tokio::test]
async fn requests_that_cannot_be_taken_are_parked_with_what_to_do_and_the_rest_go_on() {
    let e = start(|_| {}).await;
    let good = request(EV1, "13911110001", &["sms"]);
    let mut no_template = request(EV2, "13911110002", &["sms"]);
    no_template.template = "no_such_template".into();
    let mut control_key = request(EV3, "13911110003", &["sms"]);
    control_key.key.push('\0');
    let mut long_key = request(EV4, "13911110004", &["sms"]);
    long_key.key = "k".repeat(600);
    e.env
        .publish_all(&[
            envelope(&no_template, morning()),
            envelope(&good, morning()),
            envelope(&control_key, morning()),
            envelope(&long_key, morning()),
        ])
        .await;
    e.env
        .publish_raw(hongyan_domain::notify::ROUTING_KEY, b"{not json".to_vec())
        .await;

    let parked = e.env.wait_parked(4).await;
    let reasons: Vec<&str> = parked.iter().map(|p| p.reason.as_str()).collect();
    for (what, says) in [
        (
            "the unknown template",
            "config/templates/no_such_template.toml",
        ),
        ("the key with a control character", "control character"),
        ("the 600-byte key", "600 bytes"),
        ("the body that is not JSON", "not a JSON envelope"),
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(says)),
            "{what} is parked saying {says:?}: {reasons:?}"
        );
    }
    assert!(
        parked
            .iter()
            .all(|p| p.source_queue == e.env.names.notifier())
    );
    e.wait_rows(1).await;
    assert_eq!(e.round().await, 1);
    assert_eq!(e.console.sent().len(), 1, "the good request went out");
    assert_eq!(e.console.sent()[0].phone.as_deref(), Some("13911110001"));
    e.finish().await;
}

#[tokio::test]
async fn a_request_the_database_refuses_is_parked_and_the_queue_keeps_moving() {
    let e = start(|_| {}).await;
    // A fault no check foresaw, standing in for any row the database will not store.
    for sql in [
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.params::text LIKE '%poison%' THEN RAISE EXCEPTION 'poisoned row'; END IF;
           RETURN NEW;
         END $$",
        "CREATE TRIGGER refuse_poison BEFORE INSERT ON notifications
         FOR EACH ROW EXECUTE FUNCTION refuse_poison()",
    ] {
        sqlx::query(sql).execute(&e.env.pool).await.unwrap();
    }
    let before = request(EV1, "13911110001", &["sms"]);
    let mut poison = request(EV2, "13911110002", &["sms"]);
    poison.params.insert("address".into(), "poison".into());
    let after = request(EV3, "13911110003", &["sms"]);
    e.send(&[before.clone(), poison.clone(), after.clone()])
        .await;

    let parked = e.env.wait_parked(1).await;
    assert_eq!(parked.len(), 1, "only the refused request is parked");
    assert!(
        parked[0].reason.contains("poisoned row") && parked[0].reason.contains("replay"),
        "the reason says what the database said and what to do: {}",
        parked[0].reason
    );
    let body: serde_json::Value = serde_json::from_slice(&parked[0].body).unwrap();
    assert_eq!(body["data"]["key"], poison.key.as_str());

    // The requests beside it were taken in, and so is the next one.
    let next = request(EV4, "13911110004", &["sms"]);
    e.send(std::slice::from_ref(&next)).await;
    e.wait_rows(3).await;
    let keys: Vec<String> = sqlx::query_scalar("SELECT key FROM notifications ORDER BY key")
        .fetch_all(&e.env.pool)
        .await
        .unwrap();
    let mut expected = vec![before.key, after.key, next.key];
    expected.sort();
    assert_eq!(keys, expected);
    e.finish().await;
}

#[tokio::test]
async fn a_short_phone_or_a_bad_org_id_is_parked_and_delivery_goes_on() {
    let e = start(|_| {}).await;
    let good = request(EV1, "13911110001", &["sms"]);
    let mut short_phone = envelope(&request(EV2, "13911110002", &["sms"]), morning());
    short_phone["data"]["recipient"]["phone"] = "12".into();
    let mut bad_org = envelope(&request(EV3, "13911110003", &["sms"]), morning());
    bad_org["data"]["recipient"]["org_id"] = "张三".into();
    let mut bad_member = envelope(&request(EV4, "13911110004", &["sms"]), morning());
    bad_member["data"]["recipient"]["member_id"] = "".into();
    e.env
        .publish_all(&[short_phone, bad_org, bad_member, envelope(&good, morning())])
        .await;

    let parked = e.env.wait_parked(3).await;
    let reasons: Vec<&str> = parked.iter().map(|p| p.reason.as_str()).collect();
    for says in [
        "not a mainland mobile",
        "\"张三\" is not an id",
        "\"\" is not an id",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(says)),
            "parked saying {says:?}: {reasons:?}"
        );
    }
    e.wait_rows(1).await;
    assert_eq!(e.round().await, 1);
    assert_eq!(e.console.sent().len(), 1, "the good request went out");
    e.finish().await;
}

#[tokio::test]
async fn a_stored_row_that_does_not_read_back_fails_alone_and_its_batch_goes_on() {
    let e = start(|_| {}).await;
    let good = request(EV1, "13911110001", &["sms"]);
    let broken = request(EV2, "13911110002", &["sms"]);
    e.send(&[good.clone(), broken.clone()]).await;
    e.wait_rows(2).await;
    // An org id that no longer reads back (stored before a stricter rule, or by hand).
    sqlx::query(
        "UPDATE notifications SET recipient = NULL, audience_org = 'not an id!' WHERE key = $1",
    )
    .bind(&broken.key)
    .execute(&e.env.pool)
    .await
    .unwrap();

    assert_eq!(e.round().await, 1, "the readable one is worked on");
    assert_eq!(e.console.sent().len(), 1, "the good request went out");
    let (status, error): (String, Option<String>) =
        sqlx::query_as("SELECT status, last_error FROM notifications WHERE key = $1")
            .bind(&broken.key)
            .fetch_one(&e.env.pool)
            .await
            .unwrap();
    assert_eq!(status, "failed");
    let error = error.unwrap_or_default();
    assert!(
        error.contains("not an id") && error.contains("replay"),
        "{error}"
    );
    assert_eq!(e.round().await, 0, "the failed row is not claimed again");
    e.finish().await;
}
