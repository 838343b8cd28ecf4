//! The messaging layer itself: mandatory publishing, replay of what the broker dead-lettered,
//! and who may ask hongyan to send.

use hongyan_adapters::amqp::headers;
use hongyan_adapters::amqp::parked;
use hongyan_adapters::amqp::publisher::{Outgoing, PublishError};
use hongyan_adapters::outbox;
use lapin::types::FieldTable;
use serde_json::json;

use crate::env::TestEnv;

async fn outbox_keys(env: &TestEnv) -> Vec<String> {
    sqlx::query_scalar("SELECT routing_key FROM outbox ORDER BY id")
        .fetch_all(&env.pool)
        .await
        .unwrap()
}

async fn add_to_outbox(env: &TestEnv, key: &str) {
    sqlx::query("INSERT INTO outbox (routing_key, message_id, payload) VALUES ($1, $2, $3)")
        .bind(key)
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(json!({"type": key, "data": {}}))
        .execute(&env.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_publish_no_queue_takes_is_a_failure() {
    let env = TestEnv::new().await;
    let lost = Outgoing {
        exchange: env.names.exchange(),
        routing_key: "nobody.listens".into(),
        body: b"{}".to_vec(),
        headers: FieldTable::default(),
        message_id: None,
    };
    let err = env
        .publisher
        .publish_all(std::slice::from_ref(&lost))
        .await
        .expect_err("a message no queue is bound for is not sent");
    assert!(
        matches!(&err, PublishError::Unroutable { routing_key, .. } if routing_key == "nobody.listens"),
        "the error names the key: {err}"
    );
    env.finish().await;
}

/// A returned row is set aside with its reason and a retry time; the rows behind it, and rows
/// written after it, go out at once (DESIGN.md section 8). Before this, the relay failed the
/// whole batch and backed off, holding every `ledger.changed` behind a returned row.
#[tokio::test]
async fn a_returned_outbox_row_is_set_aside_and_holds_nothing_back() {
    let env = TestEnv::new().await;
    add_to_outbox(&env, "ledger.changed").await; // an announcement: may go unheard
    add_to_outbox(&env, "nobody.listens").await;
    add_to_outbox(&env, "ledger.changed").await;
    let relayed = outbox::relay_once(&env.pool, &env.publisher, &env.names, 100)
        .await
        .expect("a returned message does not fail the relay");
    assert_eq!((relayed.sent, relayed.set_aside), (2, 1));
    assert_eq!(
        outbox_keys(&env).await,
        vec!["nobody.listens".to_owned()],
        "the returned row stays in the outbox, the announcements went out"
    );
    let aside = outbox::set_aside_rows(&env.pool, 10).await.unwrap();
    assert_eq!(aside.len(), 1);
    assert!(
        aside[0].reason.contains("nobody.listens") && aside[0].reason.contains("Start the role"),
        "the reason names the key and what to do: {}",
        aside[0].reason
    );
    assert!(
        aside[0].retry_at > chrono::Utc::now(),
        "it waits for its retry time"
    );

    // Rows written after it are not held back: the next pass takes them and skips it.
    add_to_outbox(&env, "ledger.changed").await;
    let relayed = outbox::relay_once(&env.pool, &env.publisher, &env.names, 100)
        .await
        .unwrap();
    assert_eq!((relayed.sent, relayed.set_aside), (1, 0));

    // Its retry time come, it is tried again and set aside once more, later still.
    sqlx::query("UPDATE outbox SET retry_at = now() - interval '1 second'")
        .execute(&env.pool)
        .await
        .unwrap();
    let relayed = outbox::relay_once(&env.pool, &env.publisher, &env.names, 100)
        .await
        .unwrap();
    assert_eq!((relayed.sent, relayed.set_aside), (0, 1));
    let again = outbox::set_aside_rows(&env.pool, 10).await.unwrap();
    assert_eq!(again[0].returns, 2);
    assert!(again[0].retry_at > chrono::Utc::now() + chrono::Duration::seconds(15));
    env.finish().await;
}

/// A parked message whose source queue is gone.
fn parked_for(env: &TestEnv, source_queue: &str) -> Outgoing {
    let mut h = FieldTable::default();
    headers::set_str(&mut h, headers::REASON, "test: parked by hand");
    headers::set_str(&mut h, headers::SOURCE_QUEUE, source_queue);
    headers::set_str(&mut h, headers::ROUTING_KEY, "org.upserted");
    Outgoing {
        exchange: String::new(),
        routing_key: env.names.parked(),
        body: br#"{"event_id":"kept-1"}"#.to_vec(),
        headers: h,
        message_id: None,
    }
}

#[tokio::test]
async fn replay_keeps_a_message_it_could_not_route() {
    let env = TestEnv::new().await;
    let gone = format!("{}hongyan.gone", env.settings.amqp.prefix);
    env.publisher
        .publish_all(&[parked_for(&env, &gone)])
        .await
        .unwrap();
    let report = parked::replay_report(&env.conn, &env.names, |_| true)
        .await
        .unwrap();
    assert_eq!(report.sent, 0);
    assert_eq!(report.unroutable, vec![gone.clone()]);
    let still = env.parked().await;
    assert_eq!(still.len(), 1, "the parked copy is kept");
    assert_eq!(still[0].source_queue, gone);
    env.finish().await;
}
