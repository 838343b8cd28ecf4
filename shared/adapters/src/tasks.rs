//! A role's top-level tasks (STYLE.md, "Running"): each runs until shutdown. One that ends
//! before shutdown, by returning or by panicking, is a fault: the others are stopped and the
//! role returns an error, so the process exits non-zero and its orchestrator restarts it,
//! instead of carrying on half alive (a delivery loop gone while intake still acknowledges).

use std::future::Future;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub struct Tasks {
    set: JoinSet<&'static str>,
    shutdown: CancellationToken,
}

impl Tasks {
    pub fn new(shutdown: &CancellationToken) -> Self {
        Self {
            set: JoinSet::new(),
            shutdown: shutdown.clone(),
        }
    }

    /// Runs `task`, named for the log and the error, until shutdown.
    pub fn spawn(&mut self, name: &'static str, task: impl Future<Output = ()> + Send + 'static) {
        self.set.spawn(async move {
            task.await;
            name
        });
    }

    /// Waits for every task. Returns an error naming the first that ended before shutdown.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        let mut fault = None;
        while let Some(done) = self.set.join_next().await {
            let early = !self.shutdown.is_cancelled();
            let why = match done {
                Ok(name) if early => Some(format!("The {name} task ended before shutdown")),
                Ok(_) => None,
                Err(e) if e.is_panic() => Some(format!("A task panicked: {}", panic_text(e))),
                Err(e) => Some(format!("A task was cancelled: {e}")),
            };
            if let Some(why) = why {
                tracing::error!(reason = %why, "Stopping the role: one of its tasks stopped.");
                self.shutdown.cancel();
                fault.get_or_insert(why);
            }
        }
        match fault {
            Some(why) => Err(anyhow::anyhow!(
                "{why}; the process exits so it can be restarted"
            )),
            None => Ok(()),
        }
    }
}

fn panic_text(e: tokio::task::JoinError) -> String {
    let payload = e.into_panic();
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_task_stops_the_others_and_is_an_error() {
        let stop = CancellationToken::new();
        let mut tasks = Tasks::new(&stop);
        let s = stop.clone();
        tasks.spawn("steady", async move { s.cancelled().await });
        tasks.spawn("fragile", async { panic!("phone too short") });
        let err = tasks.wait().await.unwrap_err().to_string();
        assert!(err.contains("phone too short"), "{err}");
        assert!(stop.is_cancelled(), "the other tasks were told to stop");
    }

    #[tokio::test]
    async fn a_task_that_returns_early_is_an_error_and_one_at_shutdown_is_not() {
        let stop = CancellationToken::new();
        let mut tasks = Tasks::new(&stop);
        tasks.spawn("delivery loop", async {});
        let err = tasks.wait().await.unwrap_err().to_string();
        assert!(err.contains("delivery loop"), "{err}");

        let stop = CancellationToken::new();
        let mut tasks = Tasks::new(&stop);
        let s = stop.clone();
        tasks.spawn("consumer", async move { s.cancelled().await });
        stop.cancel();
        tasks.wait().await.unwrap();
    }
}
