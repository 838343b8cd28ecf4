//! The template text syntax: literal text with `{name}` variables. `{{` and `}}` write literal
//! braces. Nothing else: no conditionals, so every text can be registered as an SMS provider
//! template (which has only plain variables); an empty value is handled by the template's
//! `[defaults]` and a coded one (`"true"`) by its `[labels]` instead.

/// One piece of a parsed text.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Var(String),
}

/// A text that does not parse; each is a sentence to put after the field's name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("has an unclosed `{{{name}`")]
    Unclosed { name: String },
    #[error(
        "has `{{{name}}}`, which is not a variable: use lower-case letters, digits and `_` (and `{{{{` for a literal brace)"
    )]
    NotAVariable { name: String },
    #[error("has a lone `}}`: write `}}}}` for a literal brace")]
    LoneBrace,
}

/// A parsed template text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text {
    parts: Vec<Part>,
}

impl Text {
    /// Parses `source`.
    pub fn parse(source: &str) -> Result<Self, TextError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(TextError::Unclosed { name }),
                        }
                    }
                    if !is_name(&name) {
                        return Err(TextError::NotAVariable { name });
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Var(name));
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(TextError::LoneBrace),
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self { parts })
    }

    /// The variables in order of appearance, repeats included.
    pub fn vars(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// The text with every variable left out: what a rendering costs before any value.
    pub fn literal_only(&self) -> String {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Literal(s) => Some(s.as_str()),
                Part::Var(_) => None,
            })
            .collect()
    }

    /// Replaces every variable by `value(name)`.
    pub fn fill<E>(&self, mut value: impl FnMut(&str) -> Result<String, E>) -> Result<String, E> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Var(name) => out.push_str(&value(name)?),
            }
        }
        Ok(out)
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fill(text: &Text) -> String {
        text.fill(|name| Ok::<_, ()>(name.to_uppercase())).unwrap()
    }

    #[test]
    fn variables_and_literal_braces() {
        let text = Text::parse("【鸿雁】{member_name}同志：{{x}} {url}").unwrap();
        assert_eq!(text.vars().collect::<Vec<_>>(), ["member_name", "url"]);
        assert_eq!(fill(&text), "【鸿雁】MEMBER_NAME同志：{x} URL");
        assert_eq!(text.literal_only(), "【鸿雁】同志：{x} ");
    }

    #[test]
    fn malformed_texts_say_what_is_wrong() {
        assert!(
            Text::parse("a {member_name")
                .unwrap_err()
                .to_string()
                .contains("unclosed")
        );
        assert!(
            Text::parse("a } b")
                .unwrap_err()
                .to_string()
                .contains("lone")
        );
        assert!(
            Text::parse("{Member Name}")
                .unwrap_err()
                .to_string()
                .contains("not a variable")
        );
        assert!(
            Text::parse("{}")
                .unwrap_err()
                .to_string()
                .contains("not a variable")
        );
    }
}
