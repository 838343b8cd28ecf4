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

#[tokio::test]
async fn the_outbox_keeps_what_no_queue_took_and_relays_the_rest() {
    let env = TestEnv::new().await;
    add_to_outbox(&env, "ledger.changed").await; // an announcement: may go unheard
    add_to_outbox(&env, "nobody.listens").await;
    add_to_outbox(&env, "ledger.changed").await;
    let err = outbox::relay_once(&env.pool, &env.publisher, &env.names, 100)
        .await
        .expect_err("a returned message fails the relay");
    assert!(
        format!("{err:#}").contains("nobody.listens"),
        "the error names the key: {err:#}"
    );
    assert_eq!(
        outbox_keys(&env).await,
        vec!["nobody.listens".to_owned()],
        "the unroutable row stays in the outbox, the announcements went out"
    );
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
