//! The spot check's size comes from `[policy]`: a non-default share and bound change what a
//! branch draws in the stored report.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{fire, report};
use crate::dispatch::county::county;
use crate::env::TestEnv;

fn drawn(report: &Value, org: &str) -> Vec<String> {
    report["spot_check"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["org_id"] == org)
        .unwrap_or_else(|| panic!("{org} has a spot check: {report}"))["member_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_spot_check_draws_the_policys_share_within_its_bounds() {
    let mut env = TestEnv::new().await;
    county(&env).await;
    // Every open record, at most two: b1 (three open) is capped at two, b2 (two open) gives
    // both, where the defaults (10%, 1 to 5) draw one in each.
    env.settings.policy.spot_check_share = 1.0;
    env.settings.policy.spot_check_min = 1;
    env.settings.policy.spot_check_max = 2;
    fire(&env).await;

    let qx = report(&env, "qx").await;
    let b1 = drawn(&qx, "b1");
    assert_eq!(b1.len(), 2, "b1 draws two of its three: {b1:?}");
    assert!(b1.iter().all(|m| ["m1", "m2", "m3"].contains(&m.as_str())));
    assert_eq!(b1.iter().collect::<BTreeSet<_>>().len(), 2, "{b1:?}");
    let b2: BTreeSet<String> = drawn(&qx, "b2").into_iter().collect();
    assert_eq!(
        b2,
        ["m5", "m9"].map(String::from).into(),
        "b2 draws both its open records"
    );
    let qn = report(&env, "qn").await;
    assert_eq!(
        qn["spot_check"], qx["spot_check"],
        "the city draws the same"
    );
    env.finish().await;
}
