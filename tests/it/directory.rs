//! The live directory (DESIGN.md section 6): written through after commit with a version
//! check, read through to PostgreSQL on a miss, rebuilt when Redis loses its data.

use hongyan_adapters::directory::Place;
use serde_json::json;

use crate::env::TestEnv;
use crate::fixtures::*;

async fn member_away(env: &mut TestEnv) {
    let mut evs = county();
    evs.push(member("m1", "b1", "13911110001"));
    evs.push(outbound("m1", "b1", "2026-03-01T09:00:00", 4, None));
    evs.push(inbound(
        "gz-park",
        "2026-03-05T09:00:00",
        json!({"member_id": "m1"}),
    ));
    env.publish_all(&evs).await;
    env.start_registry();
    env.wait_processed(&evt_id(evs.last().unwrap())).await;
    env.as_batches_settle("directory written", || async {
        env.directory
            .get("m1")
            .await
            .unwrap()
            .is_some_and(|p| p.version == 2)
    })
    .await;
}

#[tokio::test]
async fn a_member_away_is_found_by_member_region_and_branch_until_they_return() {
    let mut env = TestEnv::new().await;
    member_away(&mut env).await;
    let p = env.directory.get("m1").await.unwrap().unwrap();
    assert_eq!(
        (
            p.status.as_str(),
            p.region_code.as_str(),
            p.inflow_org_id.as_deref()
        ),
        ("checked_in", "440106002", Some("gz-park"))
    );
    for region in ["440000", "440100", "440106"] {
        assert_eq!(
            env.directory.in_region(region).await.unwrap(),
            ["m1"],
            "region {region}"
        );
    }
    assert_eq!(env.directory.of_branch("b1").await.unwrap(), ["m1"]);

    let home = event(
        "registration.return",
        "b1",
        "2026-06-01T09:00:00",
        json!({"member_id": "m1", "returned_on": "2026-06-01", "permanent": true}),
    );
    env.publish(&home).await;
    env.wait_processed(&evt_id(&home)).await;
    env.as_batches_settle("m1 gone from the directory", || async {
        env.directory.get("m1").await.unwrap().is_none()
    })
    .await;
    assert!(env.directory.in_region("440106").await.unwrap().is_empty());
    assert!(env.directory.of_branch("b1").await.unwrap().is_empty());
    env.finish().await;
}

#[tokio::test]
async fn a_late_or_repeated_write_never_overwrites_newer_data() {
    let env = TestEnv::new().await;
    let place = |version: i64, region: &str| Place {
        member_id: "m7".into(),
        version,
        status: "out".into(),
        region_code: region.into(),
        inflow_org_id: None,
        home_org_id: "b1".into(),
    };
    assert_eq!(
        env.directory.put(&[place(5, "330109001")]).await.unwrap(),
        1
    );
    assert_eq!(
        env.directory
            .put(&[place(4, "440106001"), place(5, "440106001")])
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        env.directory.get("m7").await.unwrap().unwrap().region_code,
        "330109001"
    );
    assert!(env.directory.in_region("440100").await.unwrap().is_empty());
    // A closed record leaves a tombstone: an older open state cannot come back.
    let closed = Place {
        status: "returned".into(),
        ..place(6, "330109001")
    };
    env.directory.put(&[closed]).await.unwrap();
    assert_eq!(
        env.directory.put(&[place(5, "330109001")]).await.unwrap(),
        0
    );
    assert!(env.directory.get("m7").await.unwrap().is_none());
    assert!(env.directory.in_region("330100").await.unwrap().is_empty());
    env.finish().await;
}

#[tokio::test]
async fn a_miss_reads_postgresql_and_a_flushed_directory_is_rebuilt_while_running() {
    let mut env = TestEnv::new().await;
    member_away(&mut env).await;
    let client = redis::Client::open(env.settings.redis.url.as_str()).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let flush = |c: &mut redis::aio::MultiplexedConnection| {
        let prefix = env.settings.redis.prefix.clone();
        let mut c = c.clone();
        async move {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query_async(&mut c)
                .await
                .unwrap();
            let _: () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut c)
                .await
                .unwrap();
        }
    };

    // Read-through: the key is gone, PostgreSQL answers and the answer is written back.
    let _: () = redis::cmd("DEL")
        .arg(format!("{}member:m1", env.settings.redis.prefix))
        .query_async(&mut c)
        .await
        .unwrap();
    let found = env
        .directory
        .locate(&env.pool, "m1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.status, "checked_in");
    assert!(
        env.directory.get("m1").await.unwrap().is_some(),
        "written back"
    );

    // Everything gone (what a Redis restart without persistence looks like): rebuilt by itself.
    flush(&mut c).await;
    env.eventually("directory rebuilt", || async {
        env.directory.is_built().await.unwrap()
    })
    .await;
    assert_eq!(env.directory.get("m1").await.unwrap().unwrap().version, 2);
    assert_eq!(env.directory.in_region("440106").await.unwrap(), ["m1"]);
    // Consumers kept running: a new change still flows through.
    let upd = update(
        "m1",
        "b1",
        "2026-03-20T09:00:00",
        json!({"confirmed_unchanged": true}),
    );
    env.publish(&upd).await;
    env.as_batches_settle("update written through", || async {
        env.directory
            .get("m1")
            .await
            .unwrap()
            .is_some_and(|p| p.version == 3)
    })
    .await;
    env.finish().await;
}

#[tokio::test]
async fn the_nearest_station_is_found_by_geosearch() {
    let mut env = TestEnv::new().await;
    member_away(&mut env).await;
    // A point a few hundred metres from gz-s2 (113.40, 23.18). The stations may have been
    // applied by the other consumer, so wait for both to be in the GEO set.
    let search = || env.directory.nearest_stations(113.398, 23.178, 50.0, 2);
    env.eventually("both stations in the GEO set", || async {
        search().await.unwrap().len() == 2
    })
    .await;
    let near = search().await.unwrap();
    assert_eq!(
        near.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["gz-s2", "gz-s1"]
    );
    assert!(near[0].km < 1.0, "{near:?}");
    env.finish().await;
}

#[tokio::test]
async fn a_rebuild_removes_an_entry_whose_record_closed_while_redis_was_away() {
    let mut env = TestEnv::new().await;
    member_away(&mut env).await;
    let stale = env.directory.get("m1").await.unwrap().unwrap();
    let home = event(
        "registration.return",
        "b1",
        "2026-06-01T09:00:00",
        json!({"member_id": "m1", "returned_on": "2026-06-01", "permanent": true}),
    );
    env.publish(&home).await;
    env.wait_processed(&evt_id(&home)).await;
    env.as_batches_settle("m1 gone from the directory", || async {
        env.directory.get("m1").await.unwrap().is_none()
    })
    .await;
    // As if the return's write-through had failed while Redis was away: Redis still holds the
    // open entry of before.
    let mut redis = redis::Client::open(env.settings.redis.url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let key = format!("{}member:m1", env.settings.redis.prefix);
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    env.directory.put(&[stale]).await.unwrap();
    assert!(env.directory.get("m1").await.unwrap().is_some());

    let away = hongyan_adapters::directory::rebuild(&env.directory, &env.pool)
        .await
        .unwrap();
    assert_eq!(away, 0, "nobody is away in PostgreSQL");
    assert!(env.directory.get("m1").await.unwrap().is_none());
    assert!(env.directory.in_region("440106").await.unwrap().is_empty());
    assert!(env.directory.of_branch("b1").await.unwrap().is_empty());
    env.finish().await;
}
