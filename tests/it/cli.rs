//! The operator commands of the real binary: import, publish, parked list, and a graceful
//! stop on SIGTERM.

use std::time::Duration;

use serde_json::json;

use crate::env::TestEnv;
use crate::fixtures::*;

#[tokio::test]
async fn import_reads_csv_and_json_lines_reports_bad_lines_and_is_idempotent() {
    let env = TestEnv::new().await;
    let dir = std::env::temp_dir().join(&env.id);
    std::fs::create_dir_all(&dir).unwrap();
    let orgs = dir.join("orgs.csv");
    std::fs::write(
        &orgs,
        "id,name,kind,parent_id,region_code,contact_name,contact_phone,chat_provider,chat_webhook,chat_secret,lon,lat\n\
         c1,县委组织部,department,,522636,张部长,13900000001,,,,,\n\
         b1,某村支部,branch,c1,522636100201,李书记,+8613900000002,wecom,https://example.invalid/cgi-bin/webhook/send?key=k,,,\n\
         s1,服务站,station,c1,522636100,赵站长,13900000003,,,,107.9,26.2\n\
         b9,坏支部,branch,nowhere,522636100202,王书记,13900000004,,,,,\n",
    )
    .unwrap();
    let members = dir.join("members.jsonl");
    std::fs::write(
        &members,
        [
            json!({"id": "m1", "name": "王小明", "phone": "13911110001", "home_org_id": "b1", "joined_party_on": "2010-07-01"}).to_string(),
            json!({"id": "m2", "name": "李小红", "phone": "1391111000", "home_org_id": "b1", "joined_party_on": "2012-07-01"}).to_string(),
        ]
        .join("\n"),
    )
    .unwrap();
    let (ok, stdout, stderr) = env
        .run_hongyan(&[
            "import",
            "--orgs",
            orgs.to_str().unwrap(),
            "--members",
            members.to_str().unwrap(),
        ])
        .await;
    assert!(!ok, "bad lines make the command fail");
    assert!(stdout.contains("orgs.csv: 3 imported"), "{stdout}");
    assert!(stdout.contains("members.jsonl: 1 imported"), "{stdout}");
    assert!(
        stderr.contains("orgs.csv:5: Org nowhere (data.parent_id) is not known"),
        "{stderr}"
    );
    assert!(
        stderr.contains("members.jsonl:2: field line 2.phone"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("1391111000\""),
        "a rejected phone is masked: {stderr}"
    );

    let path: Vec<String> = sqlx::query_scalar("SELECT path FROM orgs WHERE id = 's1'")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(path, ["c1", "s1"]);
    let chat: serde_json::Value = sqlx::query_scalar("SELECT chat FROM orgs WHERE id = 'b1'")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(chat["provider"], "wecom");
    let phone: String = sqlx::query_scalar("SELECT contact->>'phone' FROM orgs WHERE id = 'b1'")
        .fetch_one(&env.pool)
        .await
        .unwrap();
    assert_eq!(phone, "13900000002", "+86 stripped");
    let near = env
        .directory
        .nearest_stations(107.9, 26.2, 5.0, 3)
        .await
        .unwrap();
    assert_eq!(
        near.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        ["s1"],
        "an imported station is in the live directory at once"
    );

    // The same files again: nothing changes.
    let history = env.scalar_i64("SELECT count(*) FROM history").await;
    let (_, stdout, _) = env
        .run_hongyan(&[
            "import",
            "--orgs",
            orgs.to_str().unwrap(),
            "--members",
            members.to_str().unwrap(),
        ])
        .await;
    assert!(
        stdout.contains("orgs.csv: 0 imported, 3 already up to date"),
        "{stdout}"
    );
    assert_eq!(
        env.scalar_i64("SELECT count(*) FROM history").await,
        history
    );
    std::fs::remove_dir_all(&dir).ok();
    env.finish().await;
}

#[tokio::test]
async fn publish_refuses_bad_lines_and_parked_list_masks_phones() {
    let env = TestEnv::new().await;
    let file = std::env::temp_dir().join(format!("{}-events.jsonl", env.id));
    let good = member("m1", "b1", "13911110001");
    let bad = {
        let mut e = member("m2", "b1", "13911110002");
        e["data"]["joined_party_on"] = json!("2010");
        e
    };
    std::fs::write(&file, format!("{good}\n{bad}\n")).unwrap();
    let (ok, stdout, stderr) = env.run_hongyan(&["publish", file.to_str().unwrap()]).await;
    assert!(!ok);
    assert!(stdout.contains("1 event(s) published"), "{stdout}");
    assert!(
        stderr.contains(":2: The envelope's field data.joined_party_on"),
        "{stderr}"
    );
    assert_eq!(
        env.queue_depth(&env.names.registry()).await,
        1,
        "only the good line went out"
    );

    // The good line names an org nobody created: once the registry looks at it, it is parked.
    let mut env = env;
    env.start_registry();
    env.wait_parked(1).await;
    let (ok, stdout, _) = env.run_hongyan(&["parked", "list"]).await;
    assert!(ok);
    assert!(
        stdout.contains("Org b1 (data.home_org_id) is not known"),
        "{stdout}"
    );
    assert!(
        stdout.contains("139****0001") && !stdout.contains("13911110001"),
        "phones masked: {stdout}"
    );
    std::fs::remove_file(&file).ok();
    env.finish().await;
}

#[tokio::test]
async fn sigterm_stops_intake_finishes_in_flight_work_and_exits_cleanly() {
    let env = TestEnv::new().await;
    let mut evs = county();
    for m in 0..300 {
        evs.push(member(&format!("s{m:04}"), "b1", &format!("1390000{m:04}")));
    }
    env.publish_all(&evs).await;
    let mut child = env
        .hongyan()
        .arg("registry")
        .env("HONGYAN__SHUTDOWN__DEADLINE_SECS", "10")
        .spawn()
        .unwrap();
    env.eventually("the worker is applying", || async {
        env.scalar_i64("SELECT count(*) FROM processed_events")
            .await
            > 0
    })
    .await;
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait())
        .await
        .expect("exits within the deadline")
        .unwrap();
    assert!(status.success(), "a clean exit: {status:?}");
    // Whatever it had taken is either committed or back in the queue: nothing half done.
    let applied = env
        .scalar_i64("SELECT count(*) FROM processed_events")
        .await;
    let waiting = i64::from(env.queue_depth(&env.names.registry()).await);
    assert_eq!(
        applied + waiting,
        evs.len() as i64,
        "{applied} applied + {waiting} waiting"
    );
    env.finish().await;
}

/// `hongyan health ROLE` (the containers' health check, docker/compose.yml) asks the role
/// itself: a notifier taking requests is healthy, a registry that is not running is not.
#[tokio::test]
async fn health_of_a_role_asks_the_role() {
    let e = crate::notifier::start(|_| {}).await;
    // The notifier's health is its delivery loop's heartbeat on this host (beside its intake
    // consumer), so this test runs that loop too.
    let (n, stop) = (e.n.clone(), e.stop.clone());
    tokio::spawn(async move { hongyan_notifier::deliver::run(&n, &stop).await });
    let health = |role: &'static str| {
        let mut cmd = e.env.hongyan();
        cmd.args(["health", role]);
        async move { cmd.output().await.unwrap() }
    };
    // The intake consumer and the delivery loop may still be starting.
    e.env
        .eventually("hongyan health notifier passes", || async {
            health("notifier").await.status.success()
        })
        .await;
    let out = health("registry").await;
    assert!(!out.status.success(), "no registry runs");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("registry"), "{said}");
    e.finish().await;
}

/// A newcomer's first command on an empty server is often `import`: it creates and migrates
/// the database itself, and its log lines go to stderr so stdout holds only its summary.
#[tokio::test]
async fn import_into_a_new_database_migrates_it_and_keeps_logs_off_stdout() {
    let env = TestEnv::new().await;
    let fresh = format!("{}_fresh", env.id);
    let dir = std::env::temp_dir().join(&fresh);
    std::fs::create_dir_all(&dir).unwrap();
    let orgs = dir.join("orgs.csv");
    std::fs::write(
        &orgs,
        "id,name,kind,parent_id,region_code,contact_name,contact_phone\n\
         c1,县委组织部,department,,522636,张部长,13900000001\n",
    )
    .unwrap();
    let out = env
        .hongyan()
        .env(
            "HONGYAN__DATABASE__URL",
            format!("postgres://postgres@127.0.0.1:5432/{fresh}"),
        )
        .env("HONGYAN__LOG__FILTER", "info")
        .args(["import", "--orgs", orgs.to_str().unwrap()])
        .output()
        .await
        .expect("hongyan runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines.len() == 1 && lines[0].ends_with("orgs.csv: 1 imported, 0 already up to date."),
        "stdout holds the summary alone: {stdout}"
    );
    assert!(stderr.contains("Database created."), "stderr: {stderr}");

    let admin = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .unwrap();
    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {fresh} WITH (FORCE)"
    )))
    .execute(&admin)
    .await;
    std::fs::remove_dir_all(&dir).ok();
    env.finish().await;
}
