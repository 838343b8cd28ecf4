//! Servers of the test's own (DESIGN.md section 8, "Faults are tested on servers of the test's
//! own"): a RabbitMQ node, a PostgreSQL cluster and a Redis, each on free ports with its data
//! in one temporary directory, started, stopped and restarted by the test and never touching
//! the machine's shared ones. [`Servers`] stops them all when dropped, a failed test included;
//! a test the runner killed outright leaves its directory behind, and the next start sweeps
//! those whose test process is gone ([`sweep_orphans`]).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Every server directory lives under here, named `hyfault-<test pid>-<id>`.
fn root() -> PathBuf {
    std::env::temp_dir()
}

/// A port nobody listens on right now (the OS picks it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

/// Polls `ready` every 100 ms until it holds or `patience` runs out.
pub async fn wait_until<F, Fut>(what: &str, patience: Duration, mut ready: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + patience;
    while !ready().await {
        if Instant::now() > deadline {
            bail!("{what} was not ready within {patience:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("could not run {what}; is it installed?"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn log_file(path: &Path) -> Stdio {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map(Stdio::from)
        .unwrap_or_else(|_| Stdio::null())
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
}

/// A RabbitMQ node `hyfault-<n>@localhost` with no plugins (so no management port to clash),
/// its own config file, Erlang cookie (in its own HOME) and data.
pub struct Rabbit {
    dir: PathBuf,
    pub node: String,
    pub port: u16,
    dist_port: u16,
    child: Option<Child>,
}

const RABBIT_BIN: &str = "/usr/lib/rabbitmq/bin";

impl Rabbit {
    fn new(dir: &Path, tag: &str) -> anyhow::Result<Self> {
        let dir = dir.join("rabbit");
        std::fs::create_dir_all(&dir)?;
        let port = free_port();
        std::fs::write(dir.join("enabled_plugins"), "")?;
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{port}\n"),
        )?;
        Ok(Self {
            node: format!("hyfault-{tag}@localhost"),
            port,
            dist_port: free_port(),
            dir,
            child: None,
        })
    }

    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn tool(&self, name: &str) -> Command {
        let bin = Path::new(RABBIT_BIN).join(name);
        let mut cmd = Command::new(if bin.exists() { bin } else { name.into() });
        let d = &self.dir;
        cmd.env("HOME", d)
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_PORT", self.port.to_string())
            .env("RABBITMQ_DIST_PORT", self.dist_port.to_string())
            .env("RABBITMQ_MNESIA_BASE", d.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", d.join("log"))
            .env("RABBITMQ_PID_FILE", d.join("beam.pid"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", d.join("enabled_plugins"))
            .env("RABBITMQ_CONFIG_FILE", d.join("rabbitmq.conf"))
            // Not the machine's rabbitmq-env.conf, which names the shared node.
            .env("RABBITMQ_CONF_ENV_FILE", d.join("rabbitmq-env.conf"))
            .env("ERL_EPMD_ADDRESS", "127.0.0.1")
            .env(
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
                "-kernel inet_dist_use_interface {127,0,0,1}",
            );
        cmd
    }

    /// Starts the node (its data kept from any earlier run) and waits until it takes AMQP.
    pub async fn start(&mut self) -> anyhow::Result<()> {
        let child = self
            .tool("rabbitmq-server")
            .stdout(log_file(&self.dir.join("server.log")))
            .stderr(log_file(&self.dir.join("server.log")))
            .spawn()
            .context("could not start rabbitmq-server; install RabbitMQ")?;
        self.child = Some(child);
        let url = self.url();
        wait_until("the test's RabbitMQ node", Duration::from_secs(90), || {
            let url = url.clone();
            async move {
                lapin::Connection::connect(&url, lapin::ConnectionProperties::default())
                    .await
                    .map(|c| drop(c.close(200, "ready".into())))
                    .is_ok()
            }
        })
        .await
    }

    /// Stops the node the way an operator does (`rabbitmqctl shutdown`), and waits for it to
    /// be gone. Async, so a case can publish while the broker goes down.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let mut ctl = self.tool("rabbitmqctl");
        ctl.args(["-n", &self.node, "shutdown"]);
        let out = tokio::process::Command::from(ctl).output().await?;
        if !out.status.success() {
            self.kill_beam();
        }
        let _ = child.kill();
        let _ = child.wait();
        anyhow::ensure!(
            out.status.success(),
            "rabbitmqctl shutdown failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// The same, from a drop: blocking.
    fn stop_now(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let stopped = run(
            self.tool("rabbitmqctl")
                .args(["-n", &self.node, "shutdown"]),
            "rabbitmqctl shutdown",
        );
        if stopped.is_err() {
            self.kill_beam();
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    fn kill_beam(&self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("beam.pid")) {
            let _ = Command::new("kill").args(["-KILL", pid.trim()]).status();
        }
    }
}

/// A PostgreSQL cluster made by `initdb` (as the `postgres` user when the test runs as root,
/// since initdb refuses root), listening on 127.0.0.1 and a socket in its own directory.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

impl Postgres {
    fn new(dir: &Path) -> anyhow::Result<Self> {
        let dir = dir.join("pg");
        std::fs::create_dir_all(&dir)?;
        let me = Self {
            bin: pg_bin()?,
            port: free_port(),
            dir,
        };
        if is_root() {
            run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&me.dir),
                "chown of the PostgreSQL directory",
            )?;
        }
        run(
            me.as_owner("initdb")
                .args([
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "-D",
                ])
                .arg(me.dir.join("data")),
            "initdb",
        )?;
        Ok(me)
    }

    fn as_owner(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        if is_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(exe);
            cmd
        } else {
            Command::new(exe)
        }
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    fn pg_ctl(&self, args: &[&str]) -> anyhow::Result<()> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.display()
        );
        run(
            self.as_owner("pg_ctl")
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .args(["-w", "-t", "60", "-o", &options])
                .args(args),
            &format!("pg_ctl {}", args.join(" ")),
        )
    }

    pub fn start(&self) -> anyhow::Result<()> {
        self.pg_ctl(&["start"])
    }

    /// A restart as an operator does it: sessions end, the server comes back on its data.
    pub fn restart(&self) -> anyhow::Result<()> {
        self.pg_ctl(&["-m", "fast", "restart"])
    }

    fn stop_now(&self) {
        let _ = self.pg_ctl(&["-m", "immediate", "stop"]);
    }
}

/// The newest PostgreSQL under /usr/lib/postgresql/*/bin, else the one `pg_config` names.
fn pg_bin() -> anyhow::Result<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return Ok(bin);
    }
    let out = Command::new("pg_config").arg("--bindir").output();
    match out {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().into()),
        _ => bail!(
            "no PostgreSQL server found (/usr/lib/postgresql/*/bin or pg_config); install postgresql"
        ),
    }
}

/// A Redis with no persistence: killed, it comes back empty, as a restarted cache does.
pub struct Redis {
    dir: PathBuf,
    pub port: u16,
    child: Option<Child>,
}

impl Redis {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub async fn start(&mut self) -> anyhow::Result<()> {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&self.dir)
            .stdout(log_file(&self.dir.join("redis.log")))
            .stderr(log_file(&self.dir.join("redis.log")))
            .spawn()
            .context("could not start redis-server; install Redis")?;
        std::fs::write(self.dir.join("redis.pid"), child.id().to_string())?;
        self.child = Some(child);
        let url = self.url();
        wait_until("the test's Redis", Duration::from_secs(20), || {
            let url = url.clone();
            async move {
                let Ok(client) = redis::Client::open(url.as_str()) else {
                    return false;
                };
                match client.get_multiplexed_async_connection().await {
                    Ok(mut c) => redis::cmd("PING")
                        .query_async::<String>(&mut c)
                        .await
                        .is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await
    }

    /// `kill -9`: everything in memory is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The three servers of one test, in one directory, stopped when dropped.
pub struct Servers {
    dir: PathBuf,
    /// Remove the directory (the servers' and roles' logs) after the test: set once the case
    /// verified, so a case that failed in any way keeps its logs.
    discard: std::sync::atomic::AtomicBool,
    pub rabbit: Rabbit,
    pub pg: Postgres,
    pub redis: Redis,
}

impl Servers {
    /// Makes the directory and starts the three servers (RabbitMQ, the slowest, meanwhile).
    pub async fn start() -> anyhow::Result<Self> {
        sweep_orphans();
        let tag = format!(
            "{}-{}",
            std::process::id(),
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        let dir = root().join(format!("hyfault-{tag}"));
        std::fs::create_dir_all(&dir)?;
        let mut me = Self {
            rabbit: Rabbit::new(&dir, &tag)?,
            pg: Postgres::new(&dir)?,
            redis: Redis {
                dir: dir.join("redis"),
                port: free_port(),
                child: None,
            },
            dir,
            discard: false.into(),
        };
        std::fs::create_dir_all(&me.redis.dir)?;
        let pg = &me.pg;
        let (rabbit, redis, pg) =
            tokio::join!(me.rabbit.start(), me.redis.start(), async { pg.start() });
        rabbit?;
        redis?;
        pg?;
        Ok(me)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The case verified: its logs may go (unless HYFAULT_KEEP is set).
    pub fn discard_logs(&self) {
        let keep = std::env::var_os("HYFAULT_KEEP").is_some();
        self.discard
            .store(!keep, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.rabbit.stop_now();
        self.pg.stop_now();
        self.redis.kill();
        if self.discard.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            // The servers are stopped: the sweep leaves this directory alone.
            let _ = std::fs::write(self.dir.join(KEPT), "");
            eprintln!(
                "fault suite: the servers' and roles' logs are kept in {}",
                self.dir.display()
            );
        }
    }
}

/// Marks a directory kept for its logs after its servers were stopped.
const KEPT: &str = "kept-for-logs";

/// Stops the servers of earlier tests that were killed before their [`Servers`] could drop,
/// by the pids their directories recorded, and removes those directories (not those a failed
/// case kept for its logs).
fn sweep_orphans() {
    let Ok(entries) = std::fs::read_dir(root()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(owner) = name
            .strip_prefix("hyfault-")
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        let dir = e.path();
        if Path::new("/proc").join(owner).exists() || dir.join(KEPT).exists() {
            continue;
        }
        let pids = [
            dir.join("rabbit/beam.pid"),
            dir.join("redis/redis.pid"),
            dir.join("pg/data/postmaster.pid"),
        ];
        for file in pids {
            if let Some(pid) = std::fs::read_to_string(&file)
                .ok()
                .and_then(|s| s.lines().next().map(|l| l.trim().to_owned()))
                .filter(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
            {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
