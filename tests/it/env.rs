//! A test's own world: a database, an exchange and queue prefix, and a Redis key prefix, all
//! named after one random id so tests run in parallel against the real servers.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use hongyan_adapters::amqp::parked::{self, ParkedMessage};
use hongyan_adapters::amqp::publisher::{Outgoing, Publisher};
use hongyan_adapters::amqp::{self, Names, topology};
use hongyan_adapters::directory::Directory;
use hongyan_adapters::{Settings, store};
use hongyan_domain::clock::FixedClock;
use hongyan_registry::tally::Tally;
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use serde_json::Value;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct TestEnv {
    pub id: String,
    pub settings: Settings,
    pub names: Names,
    pub pool: PgPool,
    pub clock: FixedClock,
    pub conn: lapin::Connection,
    pub publisher: Publisher,
    pub directory: Directory,
    registry: Option<(CancellationToken, JoinHandle<anyhow::Result<()>>)>,
    /// What the registry started here settled: each settled batch wakes `wait_processed`.
    tally: Arc<Tally>,
}

pub fn config_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

/// Settings for a test named `id`: the shipped defaults with the test's own names, short
/// retry tiers, and queues that delete themselves once the test is gone.
pub fn test_settings(id: &str) -> Settings {
    let mut s = Settings::load(&config_dir()).expect("config/default.toml loads");
    s.amqp.prefix = format!("{id}.");
    s.amqp.retry_delays_ms = vec![500, 1000, 2000];
    s.amqp.queue_expires_ms = Some(120_000);
    s.redis.prefix = format!("{id}:");
    s.database.url = format!("postgres://postgres@127.0.0.1:5432/{id}");
    s.database.max_connections = 6;
    s.registry.batch_linger_ms = 2;
    s.registry.transient_attempts = 3;
    s.outbox.poll_interval_ms = 100;
    s
}

impl TestEnv {
    pub async fn new() -> Self {
        Self::build(true).await
    }

    /// A world where nothing has declared the queues yet, only the exchanges: what a role
    /// started first on a new broker finds.
    pub async fn without_queues() -> Self {
        Self::build(false).await
    }

    async fn build(queues: bool) -> Self {
        // What the roles count goes to the process's recorder, as in `hongyan all`, so a test
        // can read /metrics' series (tests/it/metrics.rs).
        hongyan_adapters::metrics::install();
        // HONGYAN_TEST_LOG=debug shows what the registry did, for a failing test.
        if let Ok(filter) = std::env::var("HONGYAN_TEST_LOG") {
            hongyan_adapters::telemetry::init(&hongyan_adapters::config::LogSettings {
                format: "pretty".into(),
                filter,
            });
        }
        let id = format!("hyt_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let settings = test_settings(&id);
        store::migrate(&settings.database)
            .await
            .expect("test database created and migrated");
        let pool = store::pool(&settings.database).unwrap();
        let conn = amqp::connect(&settings.amqp, "test")
            .await
            .expect("RabbitMQ reachable");
        let names = Names::new(&settings.amqp.prefix);
        let ch = conn.create_channel().await.unwrap();
        if queues {
            topology::declare_all(&ch, &names, &settings.amqp)
                .await
                .unwrap();
        } else {
            topology::declare_base(&ch, &names, &settings.amqp)
                .await
                .unwrap();
        }
        let publisher = Publisher::open(&conn).await.unwrap();
        let directory = Directory::connect(&settings.redis)
            .await
            .expect("Redis reachable");
        let clock = FixedClock::at(Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap());
        Self {
            id,
            settings,
            names,
            pool,
            clock,
            conn,
            publisher,
            directory,
            registry: None,
            tally: Arc::default(),
        }
    }

    pub fn start_registry(&mut self) {
        let stop = CancellationToken::new();
        let handle = tokio::spawn(hongyan_registry::run_with(
            self.settings.clone(),
            Arc::new(self.clock.clone()),
            self.tally.clone(),
            stop.clone(),
        ));
        self.registry = Some((stop, handle));
    }

    /// Graceful stop: in-flight batches finish.
    pub async fn stop_registry(&mut self) {
        if let Some((stop, handle)) = self.registry.take() {
            stop.cancel();
            tokio::time::timeout(Duration::from_secs(20), handle)
                .await
                .expect("registry stops in time")
                .unwrap()
                .unwrap();
        }
    }

    pub async fn publish(&self, envelope: &Value) {
        let key = envelope["type"]
            .as_str()
            .expect("envelope has a type")
            .to_owned();
        self.publish_raw(&key, serde_json::to_vec(envelope).unwrap())
            .await;
    }

    pub async fn publish_all(&self, envelopes: &[Value]) {
        let out: Vec<Outgoing> = envelopes
            .iter()
            .map(|e| Outgoing {
                exchange: self.names.exchange_for(e["type"].as_str().unwrap()),
                routing_key: e["type"].as_str().unwrap().to_owned(),
                body: serde_json::to_vec(e).unwrap(),
                headers: FieldTable::default(),
                message_id: None,
            })
            .collect();
        for chunk in out.chunks(1000) {
            self.publisher.publish_all(chunk).await.unwrap();
        }
    }

    pub async fn publish_raw(&self, routing_key: &str, body: Vec<u8>) {
        let m = Outgoing {
            exchange: self.names.exchange_for(routing_key),
            routing_key: routing_key.into(),
            body,
            headers: FieldTable::default(),
            message_id: None,
        };
        self.publisher.publish_all(&[m]).await.unwrap();
    }

    /// Waits for a condition the system makes true by itself, checking every 20 ms.
    pub async fn eventually<F, Fut>(&self, what: &str, check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        self.eventually_within(Duration::from_secs(30), what, check)
            .await
    }

    /// [`TestEnv::eventually`] with a longer patience, for what crosses process restarts
    /// (debug binaries start slowly on a loaded CI machine).
    pub async fn eventually_within<F, Fut>(&self, patience: Duration, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = tokio::time::Instant::now() + patience;
        while !check().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for: {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn scalar_i64(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }

    /// True once the event has reached the ledger (applied, or kept in history).
    pub async fn processed(&self, event_id: &str) -> bool {
        let id = uuid::Uuid::parse_str(event_id).unwrap();
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM processed_events WHERE event_id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
            == 1
    }

    /// Waits until the event has reached the ledger.
    pub async fn wait_processed(&self, event_id: &str) {
        self.as_batches_settle(&format!("event {event_id} processed"), || {
            self.processed(event_id)
        })
        .await;
    }

    /// Waits for what the registry does as it settles a batch (an event in the ledger, its
    /// directory entry, a parked copy, its delivery acknowledged): with the registry running
    /// here, each batch it settles wakes the check ([`Tally::settled`]), and nothing is polled
    /// but a look every second for what another replica settles. With none running here
    /// (another process applies), it is [`TestEnv::eventually`].
    pub async fn as_batches_settle<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        if self.registry.is_none() {
            return self.eventually(what, check).await;
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let settled = self.tally.settled();
            tokio::pin!(settled);
            // Listening before the check: a batch settled while it runs still wakes us.
            settled.as_mut().enable();
            if check().await {
                return;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(!left.is_zero(), "timed out waiting for: {what}");
            let _ = tokio::time::timeout(left.min(Duration::from_secs(1)), settled).await;
        }
    }

    pub async fn parked(&self) -> Vec<ParkedMessage> {
        parked::list(&self.conn, &self.names, 1000).await.unwrap()
    }

    pub async fn wait_parked(&self, n: usize) -> Vec<ParkedMessage> {
        self.as_batches_settle(&format!("{n} parked"), || async {
            self.parked().await.len() >= n
        })
        .await;
        self.parked().await
    }

    /// The open record's fields as the ledger keeps them.
    pub async fn record(&self, member: &str) -> Option<Value> {
        sqlx::query_scalar(
            "SELECT doc FROM flow_records WHERE member_id = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(member)
        .fetch_optional(&self.pool)
        .await
        .unwrap()
    }

    /// Declares the test's queue `{prefix}{name}` (gone two minutes after its last use) bound
    /// to `routing_key` on the exchange hongyan publishes it to, and returns its full name.
    /// Left unconsumed, its depth says how many such messages were published.
    pub async fn bind_queue(&self, name: &str, routing_key: &str) -> String {
        let ch = self.conn.create_channel().await.unwrap();
        let q = format!("{}{name}", self.settings.amqp.prefix);
        let mut args = FieldTable::default();
        args.insert(
            "x-expires".into(),
            lapin::types::AMQPValue::LongLongInt(120_000),
        );
        ch.queue_declare(q.as_str().into(), QueueDeclareOptions::default(), args)
            .await
            .unwrap();
        ch.queue_bind(
            q.as_str().into(),
            self.names.exchange_for(routing_key).as_str().into(),
            routing_key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
        q
    }

    /// The API's state over this test's settings, database, directory, publisher and clock.
    pub fn app_state(&self) -> hongyan_api::state::AppState {
        hongyan_api::state::AppState {
            settings: Arc::new(self.settings.clone()),
            pool: self.pool.clone(),
            directory: self.directory.clone(),
            publisher: self.publisher.clone(),
            clock: Arc::new(self.clock.clone()),
            figures: Default::default(),
        }
    }

    /// The whole API served on `listener` until the token is cancelled; returns its base URL.
    pub fn serve_api(&self, listener: tokio::net::TcpListener) -> (String, CancellationToken) {
        let base = format!("http://{}", listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        tokio::spawn(hongyan_api::serve(self.app_state(), listener, stop.clone()));
        (base, stop)
    }

    /// A queue of the test's own bound to `routing_key`, to watch what hongyan publishes.
    pub async fn watch(&self, routing_key: &str) -> lapin::Consumer {
        let q = self
            .bind_queue(&format!("watch.{routing_key}"), routing_key)
            .await;
        let ch = self.conn.create_channel().await.unwrap();
        ch.basic_consume(
            q.as_str().into(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap()
    }

    /// Whether `queue` has been declared (asked passively, on a channel of its own, since a
    /// passive declare of a missing queue closes its channel).
    pub async fn queue_exists(&self, queue: &str) -> bool {
        let ch = self.conn.create_channel().await.unwrap();
        let opts = QueueDeclareOptions {
            passive: true,
            ..Default::default()
        };
        let found = ch
            .queue_declare(queue.into(), opts, FieldTable::default())
            .await
            .is_ok();
        let _ = ch.close(200, "done".into()).await;
        found
    }

    /// Messages waiting in one of hongyan's queues.
    pub async fn queue_depth(&self, queue: &str) -> u32 {
        let ch = self.conn.create_channel().await.unwrap();
        let q = ch
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        let _ = ch.close(200, "done".into()).await;
        q.message_count()
    }

    /// The real `hongyan` binary, pointed at this test's names.
    pub fn hongyan(&self) -> tokio::process::Command {
        let exe = std::env::current_exe().unwrap();
        let bin = exe
            .parent()
            .and_then(|deps| deps.parent())
            .unwrap()
            .join("hongyan");
        assert!(
            bin.exists(),
            "{} is missing: build it first (cargo build -p hongyan; scripts/test does)",
            bin.display()
        );
        let s = &self.settings;
        let log = std::env::var("HONGYAN_TEST_LOG").ok();
        let mut cmd = tokio::process::Command::new(bin);
        cmd.env("HONGYAN_CONFIG_DIR", config_dir())
            .env("HONGYAN__AMQP__PREFIX", &s.amqp.prefix)
            .env(
                "HONGYAN__AMQP__QUEUE_EXPIRES_MS",
                s.amqp.queue_expires_ms.unwrap().to_string(),
            )
            .env("HONGYAN__AMQP__RETRY_DELAYS_MS", "500,1000,2000")
            .env("HONGYAN__REDIS__PREFIX", &s.redis.prefix)
            .env("HONGYAN__DATABASE__URL", &s.database.url)
            .env(
                "HONGYAN__LOG__FILTER",
                log.clone().unwrap_or_else(|| "warn".into()),
            )
            .stdout(if log.is_some() {
                std::process::Stdio::inherit()
            } else {
                std::process::Stdio::piped()
            })
            .stderr(std::process::Stdio::piped());
        cmd
    }

    /// Runs `hongyan ARGS` on this test's names to its end: (success, stdout, stderr).
    pub async fn run_hongyan(&self, args: &[&str]) -> (bool, String, String) {
        let out = self
            .hongyan()
            .args(args)
            .output()
            .await
            .expect("hongyan runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Stops the registry and drops the test's database and Redis keys.
    pub async fn finish(mut self) {
        self.stop_registry().await;
        self.pool.close().await;
        let admin = PgPool::connect("postgres://postgres@127.0.0.1:5432/postgres")
            .await
            .unwrap();
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.id
        )))
        .execute(&admin)
        .await;
        let client = redis::Client::open(self.settings.redis.url.as_str()).unwrap();
        if let Ok(mut c) = client.get_multiplexed_async_connection().await {
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{}*", self.settings.redis.prefix))
                .query_async(&mut c)
                .await
                .unwrap_or_default();
            if !keys.is_empty() {
                let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut c).await;
            }
        }
        let _ = self.conn.close(200, "done".into()).await;
    }
}

/// The lines a spawned `hongyan` writes to stdout and stderr (piped), as they come.
pub fn log_lines(
    child: &mut tokio::process::Child,
) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    use tokio::io::AsyncBufReadExt as _;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let out = child
        .stdout
        .take()
        .map(|o| Box::pin(o) as std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>);
    let err = child
        .stderr
        .take()
        .map(|e| Box::pin(e) as std::pin::Pin<Box<dyn tokio::io::AsyncRead + Send>>);
    for reader in [out, err].into_iter().flatten() {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut l = tokio::io::BufReader::new(reader).lines();
            while let Ok(Some(line)) = l.next_line().await {
                let _ = tx.send(line);
            }
        });
    }
    rx
}
