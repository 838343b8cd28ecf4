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
    let mut ok = true;
    match amqp::connect(&settings.amqp, "health").await {
        Ok(c) => {
            let names = amqp::Names::new(&settings.amqp.prefix);
            let queue = match role {
                Some("registry") => Some(names.registry()),
                Some("notifier") => Some(names.notifier()),
                _ => None,
            };
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
        }
        Err(e) => {
            ok = false;
            println!("RabbitMQ: {e:#}");
        }
    }
    let pool = store::pool(&settings.database)?;
    match sqlx::query("SELECT 1").execute(&pool).await {
        Ok(_) => println!("PostgreSQL: reachable"),
        Err(e) => {
            ok = false;
            println!("PostgreSQL: {e}; start it (scripts/services) or fix database.url");
        }
    }
    match Directory::connect(&settings.redis).await {
        Ok(d) => match d.is_built().await {
            Ok(built) => println!(
                "Redis: reachable (directory {})",
                if built { "built" } else { "not built yet" }
            ),
            Err(e) => {
                ok = false;
                println!("Redis: {e}");
            }
        },
        Err(e) => {
            ok = false;
            println!("Redis: {e:#}");
        }
    }
    match role {
        None => {}
        Some(name @ ("registry" | "notifier" | "scheduler")) => {
            let role = Role::parse(name).expect("a role that beats");
            let host = heartbeat::this_host();
            match heartbeat::check(&settings.redis, role, &host).await {
                Ok(found) => {
                    ok &= found.is_alive();
                    println!("{}", found.describe(role, &host));
                }
                Err(e) => {
                    ok = false;
                    println!("{name}: could not read its heartbeat: {e:#}");
                }
            }
        }
        Some("api") => match api_alive(&settings.api.listen).await {
            Ok(()) => println!("API: /healthz answers 200"),
            Err(e) => {
                ok = false;
                println!("API: {e:#}");
            }
        },
        Some(other) => anyhow::bail!(
            "Unknown role {other:?}; name one of registry, notifier, scheduler or api"
        ),
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
