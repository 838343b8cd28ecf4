//! Newtypes at the boundary: each `parse` says what was wrong, so a parked event's reason can
//! name the field and the rule it broke (DESIGN.md section 2, "Field rules").

use std::fmt;

use serde::{Deserialize, Serialize};

/// Declares a string newtype whose only way in is `parse`.
macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        /// Deserializing goes through `parse`, so no value skips the checks.
        impl TryFrom<String> for $name {
            type Error = IdError;

            fn try_from(s: String) -> Result<Self, IdError> {
                Self::parse(&s)
            }
        }

        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// Why a text is not one of the newtypes: which one it failed to be, with the text (masked,
/// for a phone). Its `Display` is the sentence a parked reason or a 422 quotes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{0:?} is not an id: use 1 to 64 of A-Z, a-z, 0-9, '.', '_' or '-'")]
    Id(String),
    /// Holds the text masked, so the error can be logged or kept whole.
    #[error(
        "{masked} is not a mainland mobile number: use 11 digits starting 13 to 19, optionally after +86"
    )]
    Phone { masked: String },
    #[error(
        "{0:?} is not a region code: use the 6, 9 or 12 digits of a county, township or village"
    )]
    RegionCode(String),
    #[error(
        "{0:?} is not an activity-certificate number: use 15 digits (county code, year, 5-digit sequence)"
    )]
    CertificateNo(String),
    #[error("{input:?} is not a UUID: send the event's id as a UUID string")]
    EventId {
        input: String,
        #[source]
        source: uuid::Error,
    },
}

/// A word that is not in a closed set: the word and the set's words, which `Display` lists.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not one of {}", .allowed.join(", "))]
pub struct WordError {
    pub input: String,
    pub allowed: &'static [&'static str],
}

fn parse_id(s: &str) -> Result<String, IdError> {
    let ok = (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(s.to_owned())
    } else {
        Err(IdError::Id(s.to_owned()))
    }
}

string_newtype!(
    /// A party member's id, as the home branch's system knows them.
    MemberId
);
string_newtype!(
    /// An organization's id: department, committee, branch, flow branch or service station.
    OrgId
);

impl MemberId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        parse_id(s).map(Self)
    }
}

impl OrgId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        parse_id(s).map(Self)
    }
}

string_newtype!(
    /// A mainland mobile number, stored as its 11 digits (`+86` stripped).
    Phone
);

impl Phone {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let trimmed = s.trim();
        let digits = trimmed.strip_prefix("+86").unwrap_or(trimmed);
        let b = digits.as_bytes();
        let ok = b.len() == 11
            && b[0] == b'1'
            && (b'3'..=b'9').contains(&b[1])
            && b.iter().all(u8::is_ascii_digit);
        if ok {
            Ok(Self(digits.to_owned()))
        } else {
            Err(IdError::Phone {
                masked: mask_text(s),
            })
        }
    }

    /// A number as a person types it into a form: spaces, dashes and full-width digits are
    /// taken (`138 0013 8000`, `138-0013-8000`, `１３８…`), then [`Phone::parse`]'s rules.
    pub fn parse_typed(s: &str) -> Result<Self, IdError> {
        let cleaned: String = s
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '\u{3000}' | '\u{2010}'..='\u{2015}'))
            .map(|c| match c {
                '０'..='９' => char::from(b'0' + (c as u32 - '０' as u32) as u8),
                '＋' => '+',
                c => c,
            })
            .collect();
        Self::parse(&cleaned).map_err(|_| IdError::Phone {
            masked: mask_text(s.trim()),
        })
    }

    /// The number as logs and group channels may show it: `138****5678`.
    /// Never panics, whatever the stored text.
    pub fn masked(&self) -> String {
        mask_digits(&self.0)
    }
}

/// `138****5678` for 11 characters; shorter or longer text keeps at most its first three and
/// last four characters, and never more than half of it, so a short value shows no digit.
fn mask_digits(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let (head, tail) = if chars.len() >= 11 { (3, 4) } else { (0, 0) };
    let h: String = chars[..head].iter().collect();
    let t: String = chars[chars.len() - tail..].iter().collect();
    format!("{h}****{t}")
}

/// Masks what looks like a phone in text that failed to parse, so even a rejection never logs
/// a whole number.
fn mask_text(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 7 {
        return format!("{s:?}");
    }
    let keep_tail = 4.min(chars.len());
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - keep_tail..].iter().collect();
    format!("\"{head}****{tail}\"")
}

/// Masks every mainland mobile number in free text, the one masking pass for reasons, provider
/// error bodies and log lines: 11 digits `1[3-9]…` on their own, after `86` or `+86`, or
/// right after a percent escape (`%2B86…`, `%20…`, `%3D…` as a signed query string echoes
/// them). `13900001111`, `8613900001111` and `+8613900001111` become `139****1111`,
/// `86139****1111` and `+86139****1111`; a longer run of digits (a certificate number) is not a
/// phone and is left alone.
pub fn mask_phones(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let run = chars[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if run == 0 {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut digits: String = chars[i..i + run].iter().collect();
        if i > 0 && chars[i - 1] == '%' {
            let escapes = escape_digits(&digits);
            // Where a phone starts, if one does: after the escapes, or (read once decoded less,
            // `%2513900001111` being `%13900001111`) after fewer of them; masking too much
            // is harmless, too little is a leak.
            let start = (0..=escapes)
                .rev()
                .step_by(2)
                .find(|&k| mask_digit_run(&digits[k..]) != digits[k..])
                .unwrap_or(escapes);
            out.push_str(&digits[..start]);
            digits.drain(..start);
        }
        out.push_str(&mask_digit_run(&digits));
        i += run;
    }
    out
}

/// How many leading digits of a run right after a `%` belong to percent escapes: the escape's
/// two hex digits, and two more for each `25` (an escaped `%`: a value encoded twice, as
/// Aliyun's string to sign holds `TemplateParam`, `%2522` for a quote).
fn escape_digits(digits: &str) -> usize {
    let mut n = 0;
    while digits.len() > n + 2 {
        let pair = &digits[n..n + 2];
        n += 2;
        if pair != "25" {
            break;
        }
    }
    n
}

/// A run of digits with its phone masked, if it is one (with or without `86` before it).
fn mask_digit_run(digits: &str) -> String {
    let is_mobile = |d: &str| {
        let b = d.as_bytes();
        b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1])
    };
    if is_mobile(digits) {
        return mask_digits(digits);
    }
    match digits.strip_prefix("86") {
        Some(rest) if is_mobile(rest) => format!("86{}", mask_digits(rest)),
        _ => digits.to_owned(),
    }
}

#[cfg(test)]
mod typed_phone_tests {
    use super::Phone;

    #[test]
    fn a_phone_typed_with_spaces_dashes_or_full_width_digits_is_taken() {
        for typed in [
            "138 0013 8000",
            "138-0013-8000",
            " +86 138 0013 8000 ",
            "１３８００１３８０００",
        ] {
            assert_eq!(
                Phone::parse_typed(typed).unwrap().as_str(),
                "13800138000",
                "{typed}"
            );
        }
        assert!(Phone::parse_typed("138 0013 800").is_err());
        assert!(Phone::parse_typed("12800138000").is_err());
    }
}

/// The former name of [`mask_phones`].
pub fn mask_phones_in_text(text: &str) -> String {
    mask_phones(text)
}

string_newtype!(
    /// A statistical division code: 6 digits (county), 9 (township) or 12 (village).
    RegionCode
);

impl RegionCode {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        let ok = matches!(s.len(), 6 | 9 | 12) && s.bytes().all(|b| b.is_ascii_digit());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::RegionCode(s.to_owned()))
        }
    }

    /// The province's code (`44` → `440000`).
    pub fn province(&self) -> String {
        format!("{}0000", &self.0[..2])
    }

    /// The city's (prefecture's) code (`4401` → `440100`).
    pub fn city(&self) -> String {
        format!("{}00", &self.0[..4])
    }

    /// The county's code: the first six digits.
    pub fn county(&self) -> String {
        self.0[..6].to_owned()
    }
}

string_newtype!(
    /// An activity-certificate number (《流动党员活动证》): the issuing county's 6-digit code, the
    /// year, and a 5-digit sequence unique per county and year, e.g. `522627202600012`.
    CertificateNo
);

impl CertificateNo {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        if s.len() == 15 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(IdError::CertificateNo(s.to_owned()))
        }
    }

    pub fn compose(county: &str, year: i32, seq: u32) -> Self {
        Self(format!("{county}{year:04}{seq:05}"))
    }
}

/// An event's idempotency key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub uuid::Uuid);

impl EventId {
    pub fn parse(s: &str) -> Result<Self, IdError> {
        uuid::Uuid::parse_str(s)
            .map(Self)
            .map_err(|source| IdError::EventId {
                input: s.to_owned(),
                source,
            })
    }

    pub fn new_v7() -> Self {
        Self(uuid::Uuid::now_v7())
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Declares a closed set of lowercase words, with a `parse` that lists the allowed ones. Used
/// for the domain's vocabularies (here and in `notify`), parsed once where text enters.
macro_rules! word_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vdoc])* $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self { $($name::$variant => $word),+ }
            }

            pub const WORDS: &'static [&'static str] = &[$($word),+];

            pub fn parse(s: &str) -> Result<Self, $crate::ids::WordError> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err($crate::ids::WordError {
                        input: s.to_owned(),
                        allowed: Self::WORDS,
                    }),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

word_enum!(
    /// What an organization is in the tree.
    OrgKind {
        Department => "department",
        Committee => "committee",
        Branch => "branch",
        FlowBranch => "flow_branch",
        Station => "station",
    }
);

word_enum!(
    /// Employer categories of the annual statistics sheet 流动党员情况（二）.
    EmployerType {
        Government => "government",
        Institution => "institution",
        StateOwned => "state_owned",
        Private => "private",
        SelfEmployed => "self_employed",
        Community => "community",
        Village => "village",
        Other => "other",
    }
);

word_enum!(
    /// Why a member left.
    Reason {
        Work => "work",
        Business => "business",
        Study => "study",
        Other => "other",
    }
);

word_enum!(
    /// The kinds of contact a branch keeps with a member away (谈心, 家访, 回乡座谈, 电话), and a
    /// member's own SMS reply (上行短信) that hongyan forwarded to the branch.
    ContactKind {
        Talk => "talk",
        FamilyVisit => "family_visit",
        HomeMeeting => "home_meeting",
        Phone => "phone",
        Reply => "reply",
    }
);

#[cfg(test)]
mod tests;
