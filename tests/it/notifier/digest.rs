//! Digests for org contacts (DESIGN.md section 5): what events tell an org's contact is
//! gathered per contact, at most one SMS per `notifier.digest_window_secs` (600 by default),
//! with the count, the names and the console's link. Time is the test's clock; rounds are run
//! by hand, as the delivery loop would run them.

use chrono::Duration;
use hongyan_adapters::amqp::parked;
use hongyan_adapters::outbox;
use hongyan_domain::ids::OrgId;
use hongyan_domain::notify::templates;
use hongyan_domain::payloads::Contact;
use hongyan_notifier::providers::console::Console;
use hongyan_notifier::providers::console::ConsoleRecord;

use super::*;

const WINDOW: i64 = 600;
const BRANCH_PHONE: &str = "13911110009";
const OTHER_PHONE: &str = "13911110010";

fn at(secs: i64) -> DateTime<Utc> {
    morning() + Duration::seconds(secs)
}

fn event(i: usize) -> EventId {
    EventId::parse(&format!("7d0c8a8e-5a1e-4f7e-9b8e-{i:012}")).unwrap()
}

/// A departure's notice to the branch contact at `phone` of `org`, about member `i`.
fn departure(org: &str, phone: &str, i: usize) -> NotificationRequest {
    let contact = Contact {
        name: "李书记".into(),
        phone: Phone::parse(phone).unwrap(),
    };
    NotificationRequest::new(
        templates::OUTBOUND_BRANCH,
        Recipient::org_contact(&OrgId::parse(org).unwrap(), &contact),
        event(i),
        &[
            ("member_name", format!("党员{i:03}")),
            ("destination", "广东省广州市天河区".into()),
            ("certificate_no", format!("C{i:05}")),
            ("transfer_suggested", "false".into()),
        ],
    )
}

/// The member's own notice of their departure.
fn to_member(i: usize, phone: &str) -> NotificationRequest {
    let member = Recipient {
        role: Role::Member,
        name: format!("党员{i:03}"),
        phone: Phone::parse(phone).unwrap(),
        channels: vec!["sms".into()],
        member_id: Some(MemberId::parse(&format!("m{i}")).unwrap()),
        org_id: None,
    };
    NotificationRequest::new(
        templates::OUTBOUND_MEMBER,
        member,
        event(i),
        &[
            ("member_name", format!("党员{i:03}")),
            ("certificate_no", format!("C{i:05}")),
            ("station_name", String::new()),
            ("station_phone", String::new()),
            ("branch_contact", "李书记".into()),
            ("branch_phone", BRANCH_PHONE.into()),
        ],
    )
}

impl Env {
    /// Sends `reqs` through the queue and waits until the requests in the table are `total`.
    async fn send_and_take(&self, reqs: &[NotificationRequest], total: i64) {
        self.send(reqs).await;
        self.env
            .eventually(&format!("{total} requests taken in"), || async {
                self.env
                    .scalar_i64("SELECT count(*) FROM notifications WHERE template <> 'org_digest'")
                    .await
                    == total
            })
            .await;
    }

    /// The SMS the console sent to `phone`, in order.
    fn sms_to(&self, phone: &str) -> Vec<ConsoleRecord> {
        self.console
            .sent()
            .into_iter()
            .filter(|r| r.phone.as_deref() == Some(phone))
            .collect()
    }

    /// (status, count) of the notifications of each status, the digests left out.
    async fn notices_by_status(&self) -> Vec<(String, i64)> {
        sqlx::query_as(
            "SELECT status, count(*) FROM notifications WHERE template <> 'org_digest' GROUP BY status ORDER BY status",
        )
        .fetch_all(&self.env.pool)
        .await
        .unwrap()
    }
}

fn console_ledger(e: &Env) -> String {
    format!("{}/console/ledger", e.n.settings.api.public_url)
}

/// 100 departures registered over 22 minutes, ten every two and a half: the branch contact
/// gets the first at once, as itself, then one digest per window (at 10, 20 and 30 minutes)
/// saying how many, whose names and where to look; every notice ends delivered.
#[tokio::test]
async fn a_hundred_departures_for_one_branch_contact_make_one_sms_per_window() {
    let e = start(|_| {}).await;
    assert_eq!(
        e.n.settings.notifier.digest_window_secs, WINDOW as u64,
        "the default"
    );
    for k in 0..10 {
        let batch: Vec<_> = (k * 10..k * 10 + 10)
            .map(|i| departure("b1", BRANCH_PHONE, i))
            .collect();
        e.send_and_take(&batch, (k as i64 + 1) * 10).await;
        e.env.clock.set(at(k as i64 * 150));
        e.round().await;
    }
    e.env.clock.set(at(3 * WINDOW));
    while e.round().await > 0 {}

    let sms = e.sms_to(BRANCH_PHONE);
    let texts: Vec<&str> = sms.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(sms.len(), 4, "the first, then one a window: {texts:#?}");
    assert!(
        texts[0].contains("党员000外出登记已办理"),
        "a lone notice goes as itself: {}",
        texts[0]
    );
    let link = console_ledger(&e);
    for (text, (count, names)) in texts[1..].iter().zip([
        ("39", "党员001、党员002、党员003等39人"),
        ("40", "党员040、党员041、党员042等40人"),
        ("20", "党员080、党员081、党员082等20人"),
    ]) {
        assert!(
            text.contains(&format!("有{count}条")) && text.contains(names) && text.contains(&link),
            "a digest says how many ({count}), whose names ({names}) and links the console ({link}): {text}"
        );
    }
    for pair in sms.windows(2) {
        assert!(
            pair[1].at - pair[0].at >= Duration::seconds(WINDOW),
            "at most one SMS a window: {} then {}",
            pair[0].at,
            pair[1].at
        );
    }
    assert_eq!(e.notices_by_status().await, [("delivered".into(), 100)]);
    let carried: i64 = e
        .env
        .scalar_i64(
            "SELECT count(*) FROM notifications g JOIN notifications d ON d.id = g.digest_id
             WHERE g.id <> d.id AND d.template = 'org_digest' AND d.status = 'delivered'",
        )
        .await;
    assert_eq!(
        carried, 99,
        "each gathered notice names the digest it went in"
    );
    e.finish().await;
}

/// Two branches' contacts, and one phone that is the contact of two orgs: each (org, phone)
/// gets its own digest with its own names.
#[tokio::test]
async fn different_contacts_get_separate_digests() {
    let e = start(|_| {}).await;
    let mut reqs = Vec::new();
    for i in 0..3 {
        reqs.push(departure("b1", BRANCH_PHONE, i));
        reqs.push(departure("b2", OTHER_PHONE, 10 + i));
        reqs.push(departure("b3", BRANCH_PHONE, 20 + i));
    }
    e.send_and_take(&reqs, 9).await;
    e.round().await;
    assert_eq!(e.sms_to(BRANCH_PHONE).len(), 2, "one at once for each org");
    assert_eq!(e.sms_to(OTHER_PHONE).len(), 1);

    e.env.clock.set(at(WINDOW));
    e.round().await;
    let digests = |phone| {
        e.sms_to(phone)
            .into_iter()
            .filter(|r| r.text.contains("条党员流动情况"))
            .map(|r| r.text)
            .collect::<Vec<_>>()
    };
    let mut mine = digests(BRANCH_PHONE);
    mine.sort();
    assert_eq!(mine.len(), 2, "b1's and b3's: {mine:#?}");
    assert!(
        mine.iter().any(|t| t.contains("有2条")
            && t.contains("党员001、党员002")
            && !t.contains("党员02"))
    );
    assert!(
        mine.iter().any(|t| t.contains("有2条")
            && t.contains("党员021、党员022")
            && !t.contains("党员00"))
    );
    let other = digests(OTHER_PHONE);
    assert_eq!(other.len(), 1);
    assert!(
        other[0].contains("党员011、党员012") && !other[0].contains("党员00"),
        "{}",
        other[0]
    );
    assert_eq!(e.notices_by_status().await, [("delivered".into(), 9)]);
    e.finish().await;
}

/// In the round where the branch contact's notices are gathered, the members' own notices of
/// their departures all go, each as itself.
#[tokio::test]
async fn a_members_own_outbound_sms_is_never_gathered() {
    let e = start(|_| {}).await;
    let member_phone = "13922220001";
    let mut reqs: Vec<_> = (0..3).map(|i| to_member(i, member_phone)).collect();
    reqs.extend((0..3).map(|i| departure("b1", BRANCH_PHONE, i)));
    e.send_and_take(&reqs, 6).await;
    e.round().await;
    let to_member = e.sms_to(member_phone);
    assert_eq!(to_member.len(), 3, "every one of the member's own, at once");
    assert!(
        to_member
            .iter()
            .all(|r| r.text.contains("您的外出登记已办理"))
    );
    assert_eq!(
        e.sms_to(BRANCH_PHONE).len(),
        1,
        "the branch contact's: one, the rest gathered"
    );
    let gathered_member_notices = e
        .env
        .scalar_i64("SELECT count(*) FROM notifications WHERE template = 'outbound_member' AND (status <> 'delivered' OR digest_id IS NOT NULL)")
        .await;
    assert_eq!(gathered_member_notices, 0);
    e.finish().await;
}

/// The notifier dies while its digest is at the gateway (its round dropped as `kill -9` would
/// stop it): once its claim and the receipt wait run out, the provider is asked, finds it,
/// and the digest is not sent again; its notices end delivered with it.
#[tokio::test]
async fn a_notifier_killed_mid_round_sends_no_digest_twice() {
    let fake = fakes::aliyun::start("test-key-id", "test-secret", morning()).await;
    let url = fake.base_url.clone();
    let e = start(move |s| {
        use_aliyun(s, url);
        let codes = &mut s.notifier.sms.templates;
        codes.insert("outbound_branch".into(), "SMS_100002".into());
        codes.insert("org_digest".into(), "SMS_100009".into());
        s.notifier.claim_secs = 60;
        s.notifier.receipt_wait_secs = 120;
    })
    .await;
    let reqs: Vec<_> = (0..5).map(|i| departure("b1", BRANCH_PHONE, i)).collect();
    e.send_and_take(&reqs, 5).await;
    e.round().await;
    assert_eq!(
        fake.sends().len(),
        1,
        "the first at once, the rest gathered"
    );

    e.env.clock.set(at(WINDOW));
    fake.script(Script::Hang);
    let n = e.n.clone();
    let dying = tokio::spawn(async move { deliver::round(&n).await });
    e.env
        .eventually("the digest reached the gateway", || async {
            fake.sends().len() == 2
        })
        .await;
    dying.abort();
    assert!(dying.await.unwrap_err().is_cancelled());
    fake.script(Script::Succeed);

    e.env.clock.set(at(WINDOW + 61));
    assert_eq!(e.round().await, 1, "the digest's claim ran out");
    e.env.clock.set(at(WINDOW + 61 + 120));
    assert_eq!(e.round().await, 1, "asked about it");
    assert_eq!(fake.queries().len(), 1);
    e.env.clock.set(at(3 * WINDOW));
    e.round().await;

    let sends = fake.sends();
    assert_eq!(sends.len(), 2, "one notice, one digest, nothing twice");
    let digest = fakes::aliyun::params(&sends[1]);
    assert_eq!(digest["TemplateCode"], "SMS_100009");
    let values: serde_json::Value = serde_json::from_str(&digest["TemplateParam"]).unwrap();
    assert_eq!(values["count"], "4");
    assert_eq!(values["names"], "党员001、党员002、党员003等4人");
    assert_eq!(e.notices_by_status().await, [("delivered".into(), 5)]);
    e.finish().await;
}

/// Two notifiers (replicas) run their rounds at once over one contact's 40 notices, ten a
/// claim each: one goes at once, the other 39 wait for one digest, which goes once.
#[tokio::test]
async fn replicas_rounds_at_once_agree_on_one_notice_and_one_digest() {
    let e = start(|s| s.notifier.batch_size = 10).await;
    let other = Console::new();
    let replica = Notifier::new(
        e.env.settings.clone(),
        Arc::new(e.env.clock.clone()),
        other.clone(),
        &e.stop,
    )
    .await
    .expect("the replica builds")
    .expect("Redis is up");
    let reqs: Vec<_> = (0..40).map(|i| departure("b1", BRANCH_PHONE, i)).collect();
    e.send_and_take(&reqs, 40).await;
    let both_rounds = || async {
        let (a, b) = tokio::join!(deliver::round(&e.n), deliver::round(&replica));
        a.unwrap() + b.unwrap()
    };
    while both_rounds().await > 0 {}
    let to_branch = |c: &Console| {
        c.sent()
            .into_iter()
            .filter(|r| r.phone.as_deref() == Some(BRANCH_PHONE))
            .map(|r| r.text)
            .collect::<Vec<_>>()
    };
    let first: Vec<_> = [to_branch(&e.console), to_branch(&other)].concat();
    assert_eq!(first.len(), 1, "one at once between the two: {first:#?}");

    e.env.clock.set(at(WINDOW));
    while both_rounds().await > 0 {}
    let all: Vec<_> = [to_branch(&e.console), to_branch(&other)].concat();
    assert_eq!(all.len(), 2, "then one digest: {all:#?}");
    let digest = all
        .iter()
        .find(|t| t.contains("条党员流动情况"))
        .expect("the digest");
    assert!(digest.contains("有39条"), "{digest}");
    assert_eq!(e.notices_by_status().await, [("delivered".into(), 40)]);
    e.finish().await;
}

/// A digest the provider refuses for good fails, and its notices with it, saying why; once the
/// cause is fixed, `parked replay` of the digest sends it, and its notices end delivered.
#[tokio::test]
async fn a_failed_digest_fails_its_notices_and_its_replay_delivers_them() {
    let fake = fakes::aliyun::start("test-key-id", "test-secret", morning()).await;
    let url = fake.base_url.clone();
    let e = start(move |s| {
        use_aliyun(s, url);
        let codes = &mut s.notifier.sms.templates;
        codes.insert("outbound_branch".into(), "SMS_100002".into());
        codes.insert("org_digest".into(), "SMS_100009".into());
    })
    .await;
    let reqs: Vec<_> = (0..3).map(|i| departure("b1", BRANCH_PHONE, i)).collect();
    e.send_and_take(&reqs, 3).await;
    e.round().await;
    e.env.clock.set(at(WINDOW));
    fake.script(Script::Fail("isv.MOBILE_NUMBER_ILLEGAL".into()));
    e.round().await;
    assert_eq!(
        e.notices_by_status().await,
        [("delivered".into(), 1), ("failed".into(), 2)]
    );
    let reasons: Vec<String> = sqlx::query_scalar(
        "SELECT last_error FROM notifications WHERE status = 'failed' AND template <> 'org_digest'",
    )
    .fetch_all(&e.env.pool)
    .await
    .unwrap();
    assert!(
        reasons
            .iter()
            .all(|r| r.contains("Its digest") && r.contains("isv.MOBILE_NUMBER_ILLEGAL")),
        "{reasons:?}"
    );

    outbox::relay_once(&e.env.pool, &e.env.publisher, &e.env.names, 100)
        .await
        .unwrap();
    e.env.wait_parked(1).await;
    fake.script(Script::Succeed);
    let replayed = parked::replay(&e.env.conn, &e.env.names, |_| true)
        .await
        .unwrap();
    assert_eq!(replayed, 1, "the digest alone is parked");
    e.env
        .eventually("the digest revived", || async {
            e.env
                .scalar_i64("SELECT count(*) FROM notifications WHERE template = 'org_digest' AND status = 'pending'")
                .await
                == 1
        })
        .await;
    e.round().await;
    assert_eq!(e.notices_by_status().await, [("delivered".into(), 3)]);
    let sends = fake.sends();
    assert_eq!(sends.len(), 3, "the notice, the refused digest, the digest");
    let values: serde_json::Value =
        serde_json::from_str(&fakes::aliyun::params(&sends[2])["TemplateParam"]).unwrap();
    assert_eq!(values["count"], "2");
    e.finish().await;
}
