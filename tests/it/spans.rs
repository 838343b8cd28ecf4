//! The registry's spans: one grep of an event id in a DEBUG log shows its whole path through
//! the registry (its apply and its settlement), with the batch it went in.

use crate::env::TestEnv;
use crate::fixtures::*;

/// The captured log lines that name `id`.
fn lines_naming(id: &str) -> Vec<String> {
    let log = crate::leaks::log().lock().unwrap();
    String::from_utf8_lossy(&log)
        .lines()
        .filter(|l| l.contains(id))
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_debug_lines_naming_an_event_id_show_its_apply_and_its_settlement() {
    crate::leaks::log();
    let mut env = TestEnv::new().await;
    let mut setup = county();
    setup.push(member("m1", "b1", "13911110001"));
    env.publish_all(&setup).await;
    env.start_registry();
    env.wait_processed(&evt_id(setup.last().unwrap())).await;

    let out = outbound("m1", "b1", "2026-03-01T09:00:00", 4, Some("某厂"));
    let id = evt_id(&out);
    env.publish(&out).await;
    env.wait_processed(&id).await;
    let settled = |l: &String| l.contains("disposition{") && l.contains("Disposition decided");
    env.as_batches_settle("the departure's disposition is logged", || {
        let found = lines_naming(&id).iter().any(settled);
        async move { found }
    })
    .await;

    let lines = lines_naming(&id);
    let text = lines.join("\n");
    let applied = lines
        .iter()
        .find(|l| l.contains("Event applied to the batch state"));
    let applied = applied.unwrap_or_else(|| panic!("its apply is logged: {text}"));
    assert!(
        applied.contains("apply_event{")
            && applied.contains("event_type=\"registration.outbound\"")
            && applied.contains("outcome=\"applied\"")
            && applied.contains("first_tag="),
        "the apply line names the event's type, its outcome and its batch: {applied}"
    );
    let disposed = lines.iter().find(|l| settled(l)).unwrap();
    assert!(
        disposed.contains("outcome=\"applied\"") || disposed.contains("outcome=applied"),
        "the settlement names its outcome: {disposed}"
    );
    assert!(
        lines.iter().all(|l| !l.contains("13911110001")),
        "no phone in a line naming the event: {text}"
    );
    env.finish().await;
}
