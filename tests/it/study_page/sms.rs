//! The scheduler's study pack SMS to an away member of a branch without a robot, end to end:
//! the activity day queues it, the notifier sends it on the console sink, and the link in the
//! text opens the member's study page.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use hongyan_adapters::outbox;
use hongyan_scheduler::firing::Firing;
use hongyan_scheduler::study::activity_day;
use tokio::net::TcpListener;

use super::{PACK_EVENT, SECRET, publish_ledger, serve};
use crate::notifier::start;
use crate::pages::client;

/// A local (Asia/Shanghai) time `YYYY-MM-DD HH:MM`.
fn at(local: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M").unwrap();
    hongyan_domain::TZ
        .from_local_datetime(&naive)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn the_activity_day_sms_carries_the_members_own_link_and_it_opens() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut e = start(|s| {
        s.api.link_secret = Some(SECRET.into());
        s.api.public_url = base.clone();
    })
    .await;
    publish_ledger(&e.env).await;
    e.env.start_registry();
    e.env.wait_processed(PACK_EVENT).await;

    let firing = Firing {
        schedule: "activity_day",
        due: at("2026-03-09 09:00"),
        settings: &e.env.settings,
        pool: &e.env.pool,
        alive: None,
    };
    let mut tx = e.env.pool.begin().await.unwrap();
    assert_eq!(activity_day(&mut tx, &firing).await.unwrap(), 1, "m1 only");
    tx.commit().await.unwrap();
    e.env.clock.set(at("2026-03-09 10:00"));
    outbox::relay_once(&e.env.pool, &e.env.publisher, &e.env.names, 100)
        .await
        .unwrap();
    e.env
        .eventually("the SMS request taken in", || async {
            e.env
                .scalar_i64("SELECT count(*) FROM notifications WHERE template = 'study_pack'")
                .await
                == 1
        })
        .await;
    let mut rounds = 0;
    while e.round().await > 0 {
        rounds += 1;
        assert!(rounds < 10, "rounds come to rest");
    }
    let sms: Vec<_> = e
        .console
        .sent()
        .into_iter()
        .filter(|s| s.text.contains("学习资源包"))
        .collect();
    assert_eq!(sms.len(), 1, "one SMS: {sms:?}");
    assert_eq!(sms[0].phone.as_deref(), Some("13812345678"));
    let text = &sms[0].text;
    let at = text
        .find(&base)
        .unwrap_or_else(|| panic!("no link in {text:?}"));
    let url = text[at..].split_whitespace().next().unwrap().to_owned();
    assert!(url.starts_with(&format!("{base}/s/p1/")), "{url}");

    let (_base, stop) = serve(&e.env, listener);
    let resp = client().get(&url).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let body = resp.text().await.unwrap();
    assert!(
        body.contains("党员m1同志") && body.contains("我已学完"),
        "{body}"
    );
    stop.cancel();
    e.finish().await;
}
