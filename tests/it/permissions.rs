//! Only hongyan may ask hongyan to send (DESIGN.md section 2; README "Deployment"). An org
//! system's RabbitMQ user, with the permissions README tells operators to set, may publish the
//! events it sends and nothing else; and even a user given more than that cannot reach the
//! notifier, which takes requests only from hongyan's internal exchange.

use std::process::Command;

use hongyan_adapters::amqp::publisher::{Outgoing, Publisher, Routed, Routing};
use hongyan_adapters::amqp::{self, topology};
use lapin::types::FieldTable;

use crate::env::TestEnv;
use crate::fixtures::{evt_id, org};
use crate::notifier::{envelope, morning, request, start};

const FORGED: &str = "7d0c8a8e-5a1e-4f7e-9b8e-000000000701";
const GENUINE: &str = "7d0c8a8e-5a1e-4f7e-9b8e-000000000702";

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .expect("rabbitmqctl runs (the tests manage their own RabbitMQ users)");
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A RabbitMQ user for one org system, removed when dropped.
struct OrgSystemUser {
    name: String,
}

impl OrgSystemUser {
    /// Creates the user with README's permissions on this test's exchange: write on
    /// `hongyan.events` only, and with `topic` only for the keys org systems send.
    fn create(env: &TestEnv, topic: bool) -> Self {
        let name = format!("{}_org", env.id);
        rabbitmqctl(&["add_user", &name, "org-secret"]);
        let events = env.names.exchange();
        let write = format!("^{}$", events.replace('.', "\\."));
        rabbitmqctl(&["set_permissions", "-p", "/", &name, "^$", &write, "^$"]);
        if topic {
            let pattern = topology::org_system_topic_pattern();
            rabbitmqctl(&[
                "set_topic_permissions",
                "-p",
                "/",
                &name,
                &events,
                &pattern,
                "^$",
            ]);
        }
        Self { name }
    }

    async fn publisher(&self, env: &TestEnv) -> (lapin::Connection, Publisher) {
        let mut settings = env.settings.amqp.clone();
        settings.url = format!("amqp://{}:org-secret@127.0.0.1:5672/%2f", self.name);
        let conn = amqp::connect(&settings, "org-system").await.unwrap();
        let publisher = Publisher::open(&conn).await.unwrap();
        (conn, publisher)
    }
}

impl Drop for OrgSystemUser {
    fn drop(&mut self) {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_user", &self.name])
            .output();
    }
}

fn message(exchange: String, body: &serde_json::Value) -> Outgoing {
    Outgoing {
        exchange,
        routing_key: body["type"].as_str().unwrap().to_owned(),
        body: serde_json::to_vec(body).unwrap(),
        headers: FieldTable::default(),
        message_id: None,
    }
}

#[tokio::test]
async fn an_org_systems_notification_request_is_refused_and_its_events_go_through() {
    let mut e = start(|_| {}).await;
    e.env.start_registry();
    let user = OrgSystemUser::create(&e.env, true);

    let forged = envelope(&request(FORGED, "13911117001", &["sms"]), morning());
    for exchange in [e.env.names.exchange(), e.env.names.internal_exchange()] {
        let (conn, publisher) = user.publisher(&e.env).await;
        let err = publisher
            .publish_all(&[message(exchange.clone(), &forged)])
            .await
            .expect_err("the broker refuses an org system's notification request");
        let err = format!("{:#}", anyhow::Error::from(err));
        assert!(
            err.contains("ACCESS_REFUSED"),
            "refused on {exchange} for lack of rights: {err}"
        );
        let _ = conn.close(200, "done".into()).await;
    }

    let (conn, publisher) = user.publisher(&e.env).await;
    let root = org("perm-c1", "department", None, "522636", "13900007001");
    publisher
        .publish_all(&[message(e.env.names.exchange(), &root)])
        .await
        .expect("an org system may publish the events it sends");
    e.env.wait_processed(&evt_id(&root)).await;
    let _ = conn.close(200, "done".into()).await;

    // hongyan's own request goes through; the forged one never arrived.
    e.send(&[request(GENUINE, "13911117002", &["sms"])]).await;
    e.wait_rows(1).await;
    assert_eq!(e.round().await, 1);
    let sent: Vec<_> = e.console.sent().iter().map(|m| m.phone.clone()).collect();
    assert_eq!(
        sent,
        vec![Some("13911117002".to_owned())],
        "only hongyan's request is sent"
    );
    drop(user);
    e.finish().await;
}

#[tokio::test]
async fn a_notification_request_on_the_public_exchange_reaches_no_notifier() {
    // An operator who forgot the topic permissions: the user may write anything on
    // `hongyan.events`, and still cannot make hongyan send.
    let e = start(|_| {}).await;
    let user = OrgSystemUser::create(&e.env, false);
    let (conn, publisher) = user.publisher(&e.env).await;
    let forged = envelope(&request(FORGED, "13911117003", &["sms"]), morning());
    let routed = publisher
        .publish_each(&[message(e.env.names.exchange(), &forged)], |_| {
            Routing::Mandatory
        })
        .await
        .unwrap();
    assert_eq!(routed, vec![Routed::Returned], "no queue takes it");
    let _ = conn.close(200, "done".into()).await;

    e.send(&[request(GENUINE, "13911117004", &["sms"])]).await;
    e.wait_rows(1).await;
    assert_eq!(e.round().await, 1);
    let sent: Vec<_> = e.console.sent().iter().map(|m| m.phone.clone()).collect();
    assert_eq!(
        sent,
        vec![Some("13911117004".to_owned())],
        "only hongyan's request is sent"
    );
    drop(user);
    e.finish().await;
}

#[test]
fn readme_gives_operators_the_topic_permissions_the_code_expects() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let pattern = topology::org_system_topic_pattern();
    assert!(
        readme.contains(&format!("hongyan.events '{pattern}' '^$'")),
        "README's deployment section sets the org systems' topic permissions to {pattern}"
    );
}
