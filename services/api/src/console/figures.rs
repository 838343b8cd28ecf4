//! The console's figures kept for a while (`api.console_figures_secs`): 工作台's counts and
//! 分布's places of an org count all its open records (a county's hundred thousand take a few
//! hundred milliseconds of PostgreSQL's time), while people open those pages far more often
//! than the figures change. One computation per org and day at a time: whoever asks while it
//! runs waits for it rather than starting another (eight people of one county opening 工作台 at
//! nine cost one count, not eight). The member lists behind the figures are always read live.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

/// Figures by key (`page/org/day`), each made at most once per `api.console_figures_secs`.
#[derive(Clone, Default)]
pub struct Figures {
    slots: Arc<Mutex<HashMap<String, Arc<Slot>>>>,
}

struct Slot {
    made: Instant,
    value: OnceCell<Arc<dyn Any + Send + Sync>>,
}

/// More keys than orgs a deployment's people look at in one `ttl`; past it the old are dropped.
const KEPT: usize = 10_000;

impl Figures {
    /// The figures under `key` if made within `ttl`, else made now by `make` (once, however many
    /// ask at the same time). A failure is not kept: the next asker tries again.
    pub async fn get<V, F, Fut, E>(&self, key: String, ttl: Duration, make: F) -> Result<Arc<V>, E>
    where
        V: Send + Sync + 'static,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if ttl.is_zero() {
            return make().await.map(Arc::new);
        }
        let slot = self.slot(key, ttl);
        let value = slot
            .value
            .get_or_try_init(|| async {
                make()
                    .await
                    .map(|v| Arc::new(v) as Arc<dyn Any + Send + Sync>)
            })
            .await?
            .clone();
        Ok(value
            .downcast::<V>()
            .expect("one key holds one type of figures"))
    }

    fn slot(&self, key: String, ttl: Duration) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() >= KEPT {
            slots.retain(|_, s| s.made.elapsed() < ttl);
        }
        let fresh = |s: &Arc<Slot>| s.made.elapsed() < ttl;
        match slots.get(&key) {
            Some(s) if fresh(s) => s.clone(),
            _ => {
                let s = Arc::new(Slot {
                    made: Instant::now(),
                    value: OnceCell::new(),
                });
                slots.insert(key, s.clone());
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn figures_are_made_once_per_while_and_again_after() {
        let f = Figures::default();
        let made = Arc::new(AtomicUsize::new(0));
        let ask = |ttl| {
            let (f, made) = (f.clone(), made.clone());
            async move {
                f.get("home/c1/2026-10-10".into(), ttl, || async {
                    made.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    Ok::<_, ()>(7)
                })
                .await
                .unwrap()
            }
        };
        let minute = Duration::from_secs(60);
        let (a, b) = tokio::join!(ask(minute), ask(minute));
        assert_eq!((*a, *b), (7, 7));
        assert_eq!(made.load(Ordering::SeqCst), 1, "asked together, made once");
        ask(minute).await;
        assert_eq!(made.load(Ordering::SeqCst), 1, "reused within the while");
        ask(Duration::ZERO).await;
        assert_eq!(made.load(Ordering::SeqCst), 2, "0 makes them every time");
        ask(Duration::from_nanos(1)).await;
        assert_eq!(made.load(Ordering::SeqCst), 3, "and again once stale");
    }

    #[tokio::test]
    async fn a_failure_is_not_kept() {
        let f = Figures::default();
        let minute = Duration::from_secs(60);
        let e = f
            .get("k".into(), minute, || async { Err::<i32, _>("down") })
            .await;
        assert!(e.is_err());
        let v = f
            .get("k".into(), minute, || async { Ok::<_, &str>(1) })
            .await;
        assert_eq!(*v.unwrap(), 1);
    }
}
