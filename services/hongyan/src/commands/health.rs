//! `hongyan health`: are RabbitMQ, PostgreSQL and Redis reachable?

use std::process::ExitCode;

use hongyan_adapters::directory::Directory;
use hongyan_adapters::{Settings, amqp, store};

pub async fn run(settings: &Settings) -> anyhow::Result<ExitCode> {
    let mut ok = true;
    match amqp::connect(&settings.amqp, "health").await {
        Ok(c) => {
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
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
