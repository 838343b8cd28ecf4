//! The per-key request rate (`api.requests_per_minute`): a token bucket per key, in this
//! process. A bucket holds a minute's allowance and refills continuously, so a key may burst
//! up to its minute's worth and then go on at the steady rate. Several API replicas each allow
//! the full rate; the limit protects a replica, it is not a quota (the notifier's Redis limiter
//! is for limits that providers enforce across replicas, and costs a round trip per check).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A limiter's answer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    Allowed,
    /// Refused; a token is back after this long.
    Wait(Duration),
}

pub struct Buckets {
    capacity: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<uuid::Uuid, (f64, Instant)>>,
}

impl Buckets {
    pub fn per_minute(n: u32) -> Self {
        let n = f64::from(n.max(1));
        Self {
            capacity: n,
            per_sec: n / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `key`'s bucket at `now`.
    pub fn take(&self, key: uuid::Uuid, now: Instant) -> Verdict {
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (tokens, at) = map.entry(key).or_insert((self.capacity, now));
        let elapsed = now.saturating_duration_since(*at).as_secs_f64();
        *tokens = (*tokens + elapsed * self.per_sec).min(self.capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Verdict::Allowed
        } else {
            Verdict::Wait(Duration::from_secs_f64((1.0 - *tokens) / self.per_sec))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_allowance_then_the_steady_rate() {
        let b = Buckets::per_minute(3);
        let k = uuid::Uuid::nil();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(b.take(k, t0), Verdict::Allowed);
        }
        let Verdict::Wait(after) = b.take(k, t0) else {
            panic!("the fourth request in the minute is refused");
        };
        assert!((after.as_secs_f64() - 20.0).abs() < 0.01, "{after:?}");
        assert_eq!(b.take(k, t0 + Duration::from_secs(20)), Verdict::Allowed);
        assert_eq!(b.take(uuid::Uuid::max(), t0), Verdict::Allowed);
    }
}
