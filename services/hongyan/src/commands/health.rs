//! `hongyan health [ROLE]`: are RabbitMQ, PostgreSQL and Redis reachable, and does the role
//! work? A container's health check runs it beside its role, so it asks that role's own
//! process: the registry, notifier and scheduler by their heartbeat on this host (their main
//! loop beats, see `hongyan_adapters::heartbeat`), the api by `/healthz`. The registry's and
//! notifier's queue must also have a consumer (on any host).

use std::process::ExitCode;

use hongyan_adapters::directory::Directory;
use hongyan_adapters::heartbeat::{self, Role};
use hongyan_adapters::{Settings, amqp, store};

pub async fn run(settings: &Settings, role: Option<&str>) -> anyhow::Result<ExitCode> {
    if let Some(other) =
        role.filter(|r| !matches!(*r, "registry" | "notifier" | "scheduler" | "api"))
    {
        anyhow::bail!("Unknown role {other:?}; name one of registry, notifier, scheduler or api");
    }
    // Every check runs and prints its lines, so one run names everything that is wrong.
    let checks = [
        rabbitmq(settings, role).await,
        postgresql(settings).await?,
        redis(settings).await,
        the_role(settings, role).await,
    ];
    Ok(if checks.iter().all(|ok| *ok) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// RabbitMQ answers and, for the registry and the notifier, their queue has a consumer.
async fn rabbitmq(settings: &Settings, role: Option<&str>) -> bool {
    let c = match amqp::connect(&settings.amqp, "health").await {
        Ok(c) => c,
        Err(e) => {
            println!("RabbitMQ: {e:#}");
            return false;
        }
    };
    let names = amqp::Names::new(&settings.amqp.prefix);
    let queue = match role {
        Some("registry") => Some(names.registry()),
        Some("notifier") => Some(names.notifier()),
        _ => None,
    };
    let mut ok = true;
    if let Some(queue) = queue {
        match consumers(&c, &queue).await {
            Ok(n) if n > 0 => println!("{queue}: {n} consumer(s), on every host"),
            Ok(_) => {
                ok = false;
                println!(
                    "{queue}: no consumer; the {} role is not taking work, see its log",
                    role.unwrap_or_default()
                );
            }
            Err(e) => {
                ok = false;
                println!("{queue}: {e:#}");
            }
        }
    }
    let _ = c.close(200, "health".into()).await;
    println!("RabbitMQ: reachable");
    ok
}

async fn postgresql(settings: &Settings) -> anyhow::Result<bool> {
    let pool = store::pool(&settings.database)?;
    Ok(match sqlx::query("SELECT 1").execute(&pool).await {
        Ok(_) => {
            println!("PostgreSQL: reachable");
            true
        }
        Err(e) => {
            println!("PostgreSQL: {e}; start it (scripts/services) or fix database.url");
            false
        }
    })
}

async fn redis(settings: &Settings) -> bool {
    let d = match Directory::connect(&settings.redis).await {
        Ok(d) => d,
        Err(e) => {
            println!("Redis: {e:#}");
            return false;
        }
    };
    match d.is_built().await {
        Ok(built) => {
            println!(
                "Redis: reachable (directory {})",
                if built { "built" } else { "not built yet" }
            );
            true
        }
        Err(e) => {
            println!("Redis: {e}");
            false
        }
    }
}

/// The role's own process on this host: a fresh heartbeat, or the api's `/healthz`.
async fn the_role(settings: &Settings, role: Option<&str>) -> bool {
    match role {
        None => true,
        Some("api") => match api_alive(&settings.api.listen).await {
            Ok(()) => {
                println!("API: /healthz answers 200");
                true
            }
            Err(e) => {
                println!("API: {e:#}");
                false
            }
        },
        Some(name) => {
            let role = Role::parse(name).expect("checked at the start: a role that beats");
            let host = heartbeat::this_host();
            match heartbeat::check(&settings.redis, role, &host).await {
                Ok(found) => {
                    println!("{}", found.describe(role, &host));
                    found.is_alive()
                }
                Err(e) => {
                    println!("{name}: could not read its heartbeat: {e:#}");
                    false
                }
            }
        }
    }
}

/// Consumers on `queue`, by a passive declare (which changes nothing, and fails if the queue
/// does not exist yet).
async fn consumers(c: &lapin::Connection, queue: &str) -> anyhow::Result<u32> {
    let ch = c.create_channel().await?;
    let q = ch
        .queue_declare(
            queue.into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            Default::default(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}; the role has not declared its queue yet"))?;
    Ok(q.consumer_count())
}

/// `GET /healthz` on the API's own address (0.0.0.0 is asked on 127.0.0.1).
async fn api_alive(listen: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let addr = listen.replacen("0.0.0.0", "127.0.0.1", 1);
    let ask = async {
        let mut s = tokio::net::TcpStream::connect(&addr).await?;
        s.write_all(b"GET /healthz HTTP/1.0\r\nHost: health\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await?;
        anyhow::Ok(answer)
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(3), ask)
        .await
        .map_err(|_| anyhow::anyhow!("{addr} did not answer /healthz within 3 s"))??;
    let line = String::from_utf8_lossy(&answer);
    let status = line.lines().next().unwrap_or_default();
    anyhow::ensure!(
        status.contains(" 200"),
        "{addr}/healthz answered {status:?}; see the api's log"
    );
    Ok(())
}
