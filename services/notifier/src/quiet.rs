//! SMS quiet hours (免打扰时段, DESIGN.md section 4): an SMS due inside the window is held
//! until it ends, in Asia/Shanghai time. Group robots are not held: a group chat is read when
//! people choose to.

use std::fmt;

use chrono::{DateTime, NaiveTime, TimeDelta, TimeZone as _, Utc};
use hongyan_domain::TZ;
use serde::Deserialize;

/// The config key the window comes from, named in every parse error.
pub const KEY: &str = "policy.sms_quiet_hours";

/// A daily window `start-end` in Asia/Shanghai, start included, end excluded; it may cross
/// midnight (`21:00-08:00`) or not (`12:00-14:00`). Empty means off.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct QuietHours {
    window: Option<(NaiveTime, NaiveTime)>,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{KEY} = {value:?}: {reason}")]
pub struct QuietHoursError {
    value: String,
    reason: &'static str,
}

impl QuietHours {
    /// No quiet hours: SMS may always go.
    pub fn off() -> Self {
        Self::default()
    }

    /// Parses `HH:MM-HH:MM` (24-hour clock, Asia/Shanghai); an empty string turns them off.
    pub fn parse(value: &str) -> Result<Self, QuietHoursError> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Ok(Self::off());
        }
        let error = |reason| QuietHoursError {
            value: value.to_owned(),
            reason,
        };
        let shape = "expected a window like \"21:00-08:00\" (HH:MM-HH:MM, 24-hour clock), or \"\" \
                     to turn quiet hours off";
        let (start, end) = trimmed.split_once('-').ok_or_else(|| error(shape))?;
        let time = |s: &str| {
            let s = s.trim();
            // Exactly HH:MM: chrono alone would also take `8:0`.
            if s.len() != 5 {
                return Err(error(shape));
            }
            NaiveTime::parse_from_str(s, "%H:%M").map_err(|_| error(shape))
        };
        let (start, end) = (time(start)?, time(end)?);
        if start == end {
            return Err(error(
                "the start and end are the same, which is ambiguous: use \"\" to turn quiet hours off",
            ));
        }
        Ok(Self {
            window: Some((start, end)),
        })
    }

    pub fn is_off(&self) -> bool {
        self.window.is_none()
    }

    /// `None` if an SMS may go at `now`, else when it may: the window's next end (08:00 by
    /// default) in Asia/Shanghai.
    pub fn release_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (start, end) = self.window?;
        let local = now.with_timezone(&TZ);
        let (today, time) = (local.date_naive(), local.time());
        let release_day = if start < end {
            // Within one day: quiet from start to end today.
            (start <= time && time < end).then_some(today)?
        } else if time >= start {
            // Across midnight, evening part: held until tomorrow's end.
            today + TimeDelta::days(1)
        } else if time < end {
            // Across midnight, morning part: held until today's end.
            today
        } else {
            return None;
        };
        // Asia/Shanghai has had no daylight saving since 1991, so every local time is
        // unambiguous; `earliest` keeps this total anyway.
        TZ.from_local_datetime(&release_day.and_time(end))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    }
}

impl TryFrom<String> for QuietHours {
    type Error = QuietHoursError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl std::str::FromStr for QuietHours {
    type Err = QuietHoursError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.window {
            Some((start, end)) => write!(f, "{}-{}", start.format("%H:%M"), end.format("%H:%M")),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A moment given in Shanghai time.
    fn at(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        TZ.with_ymd_and_hms(2026, 3, day, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_default_window_holds_evening_and_night_until_eight() {
        let q = QuietHours::parse("21:00-08:00").unwrap();
        assert_eq!(q.release_at(at(1, 20, 59)), None);
        assert_eq!(q.release_at(at(1, 21, 0)), Some(at(2, 8, 0)));
        assert_eq!(q.release_at(at(1, 23, 59)), Some(at(2, 8, 0)));
        assert_eq!(q.release_at(at(2, 0, 0)), Some(at(2, 8, 0)));
        assert_eq!(q.release_at(at(2, 3, 0)), Some(at(2, 8, 0)));
        assert_eq!(q.release_at(at(2, 7, 59)), Some(at(2, 8, 0)));
        assert_eq!(q.release_at(at(2, 8, 0)), None);
        // 08:00 Shanghai is 00:00 UTC.
        assert_eq!(
            at(2, 8, 0),
            Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).unwrap()
        );
        // Month end rolls over.
        assert_eq!(
            q.release_at(at(31, 22, 0)),
            Some(
                TZ.with_ymd_and_hms(2026, 4, 1, 8, 0, 0)
                    .unwrap()
                    .with_timezone(&Utc)
            )
        );
    }

    #[test]
    fn a_window_inside_one_day() {
        let q = QuietHours::parse("12:00-14:00").unwrap();
        assert_eq!(q.release_at(at(1, 11, 59)), None);
        assert_eq!(q.release_at(at(1, 12, 0)), Some(at(1, 14, 0)));
        assert_eq!(q.release_at(at(1, 13, 59)), Some(at(1, 14, 0)));
        assert_eq!(q.release_at(at(1, 14, 0)), None);
        assert_eq!(q.release_at(at(1, 3, 0)), None);
    }

    #[test]
    fn off_when_empty() {
        for value in ["", "  "] {
            let q = QuietHours::parse(value).unwrap();
            assert!(q.is_off());
            for h in [0, 3, 7, 8, 20, 21, 23] {
                assert_eq!(q.release_at(at(1, h, 0)), None);
            }
        }
        assert_eq!(QuietHours::off().to_string(), "");
    }

    #[test]
    fn bad_values_name_the_key() {
        for value in [
            "21:00",
            "21-08",
            "8:00-21:00",
            "25:00-08:00",
            "21:00-08:60",
            "21:00-21:00",
        ] {
            let err = QuietHours::parse(value).unwrap_err().to_string();
            assert!(err.starts_with("policy.sms_quiet_hours = "), "{err}");
        }
        assert_eq!(
            QuietHours::parse(" 21:00 - 08:00 ").unwrap().to_string(),
            "21:00-08:00"
        );
        let q: QuietHours = serde_json::from_str("\"22:30-07:00\"").unwrap();
        assert_eq!(q.to_string(), "22:30-07:00");
    }
}
