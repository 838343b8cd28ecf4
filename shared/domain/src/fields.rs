//! Reading a JSON object field by field, so that every complaint names the full path of the
//! field (`data.destination.region_code`) and says what to send instead.

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde_json::{Map, Value};

use crate::event_type::EventTypeError;
use crate::ids::{IdError, WordError};
use crate::month::MonthError;

/// A field that broke the contract: where it is and what was wrong with it. Its source is the
/// parse error behind the problem, when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub problem: Problem,
}

impl FieldError {
    /// A field that breaks a rule of the contract, said as the rest of a sentence after the
    /// field's name (`is missing`, `must be a string`).
    pub fn new(field: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: Problem::Rule(rule.into()),
        }
    }

    /// A field whose value does not parse as what it must be.
    pub fn invalid(field: impl Into<String>, error: impl Into<Problem>) -> Self {
        Self {
            field: field.into(),
            problem: error.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field {}: {}", self.field, self.problem)
    }
}

impl std::error::Error for FieldError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.problem.error()
    }
}

/// What was wrong with a field: a rule it broke, or the error of the parse its value failed.
/// `Display` is the sentence after the field's name either way.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("{0}")]
    Rule(String),
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Word(#[from] WordError),
    #[error(transparent)]
    Month(#[from] MonthError),
    #[error(transparent)]
    Date(#[from] DateError),
    #[error(transparent)]
    Timestamp(#[from] TimestampError),
    #[error(transparent)]
    EventType(#[from] EventTypeError),
}

impl Problem {
    /// The parse error itself (not its source, as `#[error(transparent)]` gives), so a
    /// field's error chain reads: the field, the parse error, what the parse error came from.
    fn error(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Problem::Rule(_) => None,
            Problem::Id(e) => Some(e),
            Problem::Word(e) => Some(e),
            Problem::Month(e) => Some(e),
            Problem::Date(e) => Some(e),
            Problem::Timestamp(e) => Some(e),
            Problem::EventType(e) => Some(e),
        }
    }
}

/// Why a text is not a `YYYY-MM-DD` date.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    /// chrono does not read it as a date (letters, or a day the month does not have).
    #[error("{input:?} is not a date: use YYYY-MM-DD")]
    NotADate {
        input: String,
        #[source]
        source: chrono::ParseError,
    },
    /// chrono reads it, but not written as `YYYY-MM-DD` (`2026-3-1`).
    #[error("{0:?} is not a date: use YYYY-MM-DD")]
    Shape(String),
}

/// Why a text is not an RFC 3339 timestamp with an offset; `example` is the one to show.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a timestamp: use RFC 3339 with an offset, e.g. {example}")]
pub struct TimestampError {
    pub input: String,
    pub example: &'static str,
    #[source]
    pub source: chrono::ParseError,
}

/// A JSON object and the path it was found at.
#[derive(Clone, Copy)]
pub struct Obj<'a> {
    path: &'a str,
    map: &'a Map<String, Value>,
}

/// A field's path below an object, owned so nested readers can borrow it.
pub fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

impl<'a> Obj<'a> {
    pub fn new(path: &'a str, value: &'a Value) -> Result<Self, FieldError> {
        match value {
            Value::Object(map) => Ok(Self { path, map }),
            _ => Err(FieldError::new(path, "must be a JSON object")),
        }
    }

    pub fn path(&self) -> &str {
        self.path
    }

    fn err(&self, name: &str, rule: impl Into<String>) -> FieldError {
        FieldError::new(join(self.path, name), rule)
    }

    fn invalid(&self, name: &str, error: impl Into<Problem>) -> FieldError {
        FieldError::invalid(join(self.path, name), error)
    }

    /// The raw value, `None` when absent or null.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn opt_str(&self, name: &str) -> Result<Option<&'a str>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.err(name, "must be a string")),
        }
    }

    pub fn str(&self, name: &str) -> Result<&'a str, FieldError> {
        self.opt_str(name)?
            .ok_or_else(|| self.err(name, "is missing"))
    }

    /// A non-blank string, trimmed.
    pub fn text(&self, name: &str) -> Result<String, FieldError> {
        let s = self.str(name)?.trim();
        if s.is_empty() {
            return Err(self.err(name, "is empty"));
        }
        Ok(s.to_owned())
    }

    pub fn opt_text(&self, name: &str) -> Result<Option<String>, FieldError> {
        Ok(self
            .opt_str(name)?
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned))
    }

    /// A string field parsed by a newtype's `parse`.
    pub fn parse<T, E: Into<Problem>>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<T, FieldError> {
        parse(self.str(name)?).map_err(|e| self.invalid(name, e))
    }

    pub fn opt_parse<T, E: Into<Problem>>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<T>, FieldError> {
        self.opt_str(name)?
            .map(|s| parse(s).map_err(|e| self.invalid(name, e)))
            .transpose()
    }

    pub fn date(&self, name: &str) -> Result<NaiveDate, FieldError> {
        self.parse(name, parse_date)
    }

    pub fn opt_date(&self, name: &str) -> Result<Option<NaiveDate>, FieldError> {
        self.opt_parse(name, parse_date)
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.err(name, "must be true or false")),
        }
    }

    pub fn bool(&self, name: &str) -> Result<bool, FieldError> {
        self.opt_bool(name)?
            .ok_or_else(|| self.err(name, "is missing"))
    }

    pub fn opt_u32(&self, name: &str) -> Result<Option<u32>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.err(name, "must be a whole number of 0 or more")),
        }
    }

    pub fn opt_f64(&self, name: &str) -> Result<Option<f64>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.err(name, "must be a number")),
        }
    }

    pub fn opt_array(&self, name: &str) -> Result<Option<&'a Vec<Value>>, FieldError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(a)) => Ok(Some(a)),
            Some(_) => Err(self.err(name, "must be a JSON array")),
        }
    }

    /// A nested object; `path` must outlive the reader, so callers pass the joined path in.
    pub fn obj(&self, name: &str, path: &'a str) -> Result<Obj<'a>, FieldError> {
        match self.get(name) {
            None => Err(self.err(name, "is missing")),
            Some(v) => Obj::new(path, v),
        }
    }

    pub fn opt_obj(&self, name: &str, path: &'a str) -> Result<Option<Obj<'a>>, FieldError> {
        self.get(name).map(|v| Obj::new(path, v)).transpose()
    }
}

pub fn parse_date(s: &str) -> Result<NaiveDate, DateError> {
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|source| DateError::NotADate {
        input: s.to_owned(),
        source,
    })?;
    let ok_shape = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    if ok_shape {
        Ok(d)
    } else {
        Err(DateError::Shape(s.to_owned()))
    }
}

/// An RFC 3339 timestamp with its offset; a bad one is answered with `example`.
pub fn parse_timestamp(
    s: &str,
    example: &'static str,
) -> Result<DateTime<FixedOffset>, TimestampError> {
    DateTime::parse_from_rfc3339(s).map_err(|source| TimestampError {
        input: s.to_owned(),
        example,
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn errors_name_the_whole_path() {
        let v = json!({"destination": {"region_code": 5}});
        let o = Obj::new("data", &v).unwrap();
        let p = join(o.path(), "destination");
        let d = o.obj("destination", &p).unwrap();
        let e = d.str("region_code").unwrap_err();
        assert_eq!(e.field, "data.destination.region_code");
        assert_eq!(
            o.str("member_id").unwrap_err().to_string(),
            "field data.member_id: is missing"
        );
    }

    #[test]
    fn dates_are_strict() {
        assert!(parse_date("2026-03-01").is_ok());
        assert!(parse_date("2026-3-1").is_err());
        assert!(parse_date("2026-02-30").is_err());
    }

    #[test]
    fn a_bad_date_says_whether_chrono_or_the_shape_refused_it() {
        assert!(matches!(
            parse_date("2026-02-30"),
            Err(DateError::NotADate { .. })
        ));
        assert!(matches!(
            parse_date("soon"),
            Err(DateError::NotADate { .. })
        ));
        assert_eq!(
            parse_date("2026-3-1"),
            Err(DateError::Shape("2026-3-1".into()))
        );
        assert_eq!(
            parse_date("2026-3-1").unwrap_err().to_string(),
            parse_date("2026-02-30")
                .unwrap_err()
                .to_string()
                .replace("2026-02-30", "2026-3-1")
        );
    }

    #[test]
    fn a_fields_source_is_the_parse_error_and_a_broken_rule_has_none() {
        use std::error::Error as _;
        let v = json!({"on": "2026-02-30", "at": "9 o'clock", "id": "张三"});
        let o = Obj::new("data", &v).unwrap();

        let e = o.date("on").unwrap_err();
        assert_eq!(
            e.to_string(),
            "field data.on: \"2026-02-30\" is not a date: use YYYY-MM-DD"
        );
        let date = e.source().expect("the date error is the source");
        assert_eq!(
            date.to_string(),
            "\"2026-02-30\" is not a date: use YYYY-MM-DD"
        );
        assert!(date.source().is_some(), "and chrono's error is its source");

        let e = o
            .parse("at", |s| parse_timestamp(s, "2026-03-01T09:15:00+08:00"))
            .unwrap_err();
        assert!(matches!(e.problem, Problem::Timestamp(_)), "{e:?}");
        assert_eq!(
            e.to_string(),
            "field data.at: \"9 o'clock\" is not a timestamp: use RFC 3339 with an offset, e.g. 2026-03-01T09:15:00+08:00"
        );
        assert!(e.source().and_then(|t| t.source()).is_some());

        let e = o.parse("id", crate::ids::OrgId::parse).unwrap_err();
        assert_eq!(e.problem, Problem::Id(IdError::Id("张三".into())));

        let e = o.str("member_id").unwrap_err();
        assert_eq!(e.problem, Problem::Rule("is missing".into()));
        assert!(e.source().is_none());
    }
}
