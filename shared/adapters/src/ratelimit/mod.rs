//! Rate limits shared across replicas (DESIGN.md section 5): per robot (20 per minute on WeCom
//! and DingTalk), per SMS provider, per phone per day. A limited send waits: the limiter answers
//! when the send may go, the caller reschedules it for then, and nothing is dropped or spun on.
//!
//! Each limit means "at most `count` sends in any window of `per`", checked and recorded by one
//! Lua script (`window.lua`) so replicas sharing a key can never interleave between the check
//! and the record. The script keeps each key's latest `count` send times (a sliding-window log)
//! rather than a single GCRA arrival time: GCRA (and a token bucket) with a burst of `count`
//! lets through `count` at once and then one every `per / count`, nearly `2 * count` in the
//! first window, while DingTalk throttles a robot for ten minutes once it sees more than 20 in
//! a minute. The log costs `count` small entries per key and one `LINDEX` per check.
//!
//! The current time is an argument, not Redis `TIME`: callers pass their (injectable) clock, so
//! tests drive simulated time without waiting, and a `Wait { until_ms }` answer is in the same
//! clock the caller schedules by. The price is that replicas' clocks must agree to within a
//! small fraction of the shortest window (NTP does this): a replica running `d` ms fast may
//! send up to `d` ms early. A slow one only waits longer, and the script records the later of
//! its time and the latest entry, so it never reopens a window for others.
//!
//! All keys of one call live on one Redis; a cluster would need them in one hash slot.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind};

/// At most `count` sends in any window of `per`. Up to `count` may go at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub count: u32,
    pub per: Duration,
}

impl Limit {
    pub const fn new(count: u32, per: Duration) -> Self {
        Self { count, per }
    }

    pub const fn per_second(count: u32) -> Self {
        Self::new(count, Duration::from_secs(1))
    }

    /// WeCom and DingTalk group robots take 20 per minute.
    pub const fn per_minute(count: u32) -> Self {
        Self::new(count, Duration::from_secs(60))
    }

    /// A rolling 24 hours. It is stricter than a provider's calendar-day limit (any calendar
    /// day is one such window), so it never trips one.
    pub const fn per_day(count: u32) -> Self {
        Self::new(count, Duration::from_secs(86_400))
    }

    /// The window in milliseconds, or why the limit cannot be enforced.
    fn per_ms(&self) -> Result<i64, &'static str> {
        if self.count == 0 {
            return Err("a rate limit's count must be at least 1");
        }
        match i64::try_from(self.per.as_millis()) {
            Ok(ms) if ms >= 1 => Ok(ms),
            _ => Err("a rate limit's window must be between 1 ms and i64::MAX ms"),
        }
    }
}

/// The limiter's answer for one send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// The send may go now; it has been counted against every limit asked about.
    Allowed,
    /// Nothing was counted. Every limit asked about has room again at `until_ms` (the caller's
    /// clock), unless other senders take it first; reschedule the send for then.
    Wait { until_ms: i64 },
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed)
    }
}

/// Limits shared by every replica that uses the same Redis and prefix. Cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    conn: ConnectionManager,
    prefix: String,
    script: redis::Script,
}

impl RateLimiter {
    /// `prefix` is the caller's `redis.prefix` (`hongyan:` in production).
    pub fn new(conn: ConnectionManager, prefix: &str) -> Self {
        Self {
            conn,
            prefix: prefix.to_owned(),
            script: redis::Script::new(include_str!("window.lua")),
        }
    }

    /// The Redis key behind a limit's name: `{prefix}rl:{name}`. Name robots by their
    /// organization or chat, never by their webhook key, which is a credential.
    pub fn key(&self, name: &str) -> String {
        format!("{}rl:{name}", self.prefix)
    }

    /// One send against one limit.
    pub async fn acquire(&self, name: &str, limit: Limit, now_ms: i64) -> RedisResult<Decision> {
        self.acquire_all(&[(name, limit)], now_ms).await
    }

    /// One send against several limits at once (an SMS: its provider's and its phone's), all or
    /// nothing: allowed only when every limit has room, and then counted against each; otherwise
    /// counted against none, and the answer is the earliest time at which all have room.
    /// The names must differ.
    pub async fn acquire_all(&self, wants: &[(&str, Limit)], now_ms: i64) -> RedisResult<Decision> {
        let mut decisions = self.acquire_each(&[wants], now_ms).await?;
        Ok(decisions.pop().unwrap_or(Decision::Allowed))
    }

    /// Many sends, each against its own limits as [`RateLimiter::acquire_all`] takes them, in
    /// one round trip to Redis: one script call per [`SENDS_PER_CALL`] sends, pipelined. The
    /// script takes the sends in order, so two sends wanting the same limit see each other
    /// exactly as two separate calls would.
    pub async fn acquire_each(
        &self,
        sends: &[&[(&str, Limit)]],
        now_ms: i64,
    ) -> RedisResult<Vec<Decision>> {
        if now_ms < 0 {
            return Err(invalid("the time must not be before 1970", "-"));
        }
        let asking: Vec<&[(&str, Limit)]> =
            sends.iter().copied().filter(|w| !w.is_empty()).collect();
        if asking.is_empty() {
            return Ok(vec![Decision::Allowed; sends.len()]);
        }
        let mut pipe = redis::pipe();
        for chunk in asking.chunks(SENDS_PER_CALL) {
            pipe.add_command(self.call(chunk, now_ms)?);
        }
        let mut conn = self.conn.clone();
        let answers: Vec<Vec<i64>> = match pipe.query_async(&mut conn).await {
            Err(e) if e.kind() == ErrorKind::Server(ServerErrorKind::NoScript) => {
                self.script.prepare_invoke().load_async(&mut conn).await?;
                pipe.query_async(&mut conn).await?
            }
            other => other?,
        };
        let mut answers = answers.into_iter().flatten();
        sends
            .iter()
            .map(|wants| match wants.is_empty() {
                true => Ok(Decision::Allowed),
                false => match answers.next() {
                    Some(0) => Ok(Decision::Allowed),
                    Some(until_ms) => Ok(Decision::Wait { until_ms }),
                    None => Err(invalid(
                        "Redis answered for fewer sends than were asked",
                        "-",
                    )),
                },
            })
            .collect()
    }

    /// One script call for `sends`: their keys in order, and per send its number of limits
    /// followed by each limit's count and window.
    fn call(&self, sends: &[&[(&str, Limit)]], now_ms: i64) -> RedisResult<redis::Cmd> {
        let keys: usize = sends.iter().map(|w| w.len()).sum();
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.script.get_hash()).arg(keys);
        let mut args = Vec::with_capacity(1 + sends.len() + 2 * keys);
        args.push(now_ms);
        for wants in sends {
            args.push(wants.len() as i64);
            for (i, (name, limit)) in wants.iter().enumerate() {
                if wants[..i].iter().any(|(n, _)| n == name) {
                    return Err(invalid(
                        "acquire_all was given the same limit name twice",
                        name,
                    ));
                }
                let per_ms = limit.per_ms().map_err(|why| invalid(why, name))?;
                cmd.arg(self.key(name));
                args.extend([i64::from(limit.count), per_ms]);
            }
        }
        cmd.arg(args);
        Ok(cmd)
    }
}

/// Sends per script call: Redis runs a script without interruption, and a call this size keeps
/// that to a few milliseconds.
pub const SENDS_PER_CALL: usize = 250;

fn invalid(why: &'static str, name: &str) -> RedisError {
    RedisError::from((ErrorKind::Client, why, format!("limit {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_limits_have_their_windows() {
        assert_eq!(Limit::per_second(5).per_ms(), Ok(1_000));
        assert_eq!(Limit::per_minute(20).per_ms(), Ok(60_000));
        assert_eq!(Limit::per_day(10).per_ms(), Ok(86_400_000));
    }

    #[test]
    fn limits_that_cannot_be_enforced_are_refused() {
        assert!(Limit::per_minute(0).per_ms().is_err());
        assert!(Limit::new(1, Duration::from_micros(999)).per_ms().is_err());
        assert!(Limit::new(1, Duration::MAX).per_ms().is_err());
    }
}
