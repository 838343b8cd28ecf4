//! `/metrics` (DESIGN.md section 7): what each role counts, read back from the process's
//! Prometheus recorder (one per test process, as nextest runs each test alone).

use crate::env::TestEnv;

/// The value of the series `name` whose labels include every one of `labels`, as the
/// Prometheus text renders it; `None` when no such series was recorded.
pub fn metric(name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let text = hongyan_adapters::metrics::install().render();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|(_, value)| value.parse().expect("a number"))
}

#[tokio::test]
async fn the_relay_reports_how_many_messages_wait_in_the_outbox() {
    let env = TestEnv::new().await;
    for i in 0..3 {
        sqlx::query("INSERT INTO outbox (routing_key, message_id, payload) VALUES ('ledger.changed', $1, '{}'::jsonb)")
            .bind(format!("m{i}"))
            .execute(&env.pool)
            .await
            .unwrap();
    }
    let n = hongyan_adapters::outbox::measure_depth(&env.pool)
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(metric("hongyan_outbox_depth", &[]), Some(3.0));
    env.finish().await;
}
