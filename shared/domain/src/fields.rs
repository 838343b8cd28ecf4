//! Reading a JSON object field by field, so that every complaint names the full path of the
//! field (`data.destination.region_code`) and says what to send instead.

use chrono::NaiveDate;
use serde_json::{Map, Value};

/// A field that broke the contract: where it is and what was wrong with it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("field {field}: {problem}")]
pub struct FieldError {
    pub field: String,
    pub problem: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
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

    fn err(&self, name: &str, problem: impl Into<String>) -> FieldError {
        FieldError::new(join(self.path, name), problem)
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
    pub fn parse<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<T, FieldError> {
        parse(self.str(name)?).map_err(|p| self.err(name, p.to_string()))
    }

    pub fn opt_parse<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<T>, FieldError> {
        self.opt_str(name)?
            .map(|s| parse(s).map_err(|p| self.err(name, p.to_string())))
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

pub fn parse_date(s: &str) -> Result<NaiveDate, String> {
    let ok_shape = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) if ok_shape => Ok(d),
        _ => Err(format!("{s:?} is not a date: use YYYY-MM-DD")),
    }
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
}
