//! Study packs (学习资源包, 一月一课一片一实践): what a department publishes for an audience,
//! and a member's completion of one (DESIGN.md section 2, `study.*`).

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::fields::{FieldError, Obj, join, parse_timestamp};
use crate::ids::{IdError, MemberId, OrgId, RegionCode, WordError};

/// An id of a study pack: the same alphabet as every other id.
pub type PackId = OrgId;

/// What one item of a pack is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Text,
    Image,
    Voice,
    Video,
    Link,
}

impl ItemKind {
    const WORDS: &'static [&'static str] = &["text", "image", "voice", "video", "link"];
    const KINDS: [ItemKind; 5] = [
        ItemKind::Text,
        ItemKind::Image,
        ItemKind::Voice,
        ItemKind::Video,
        ItemKind::Link,
    ];

    fn parse(s: &str) -> Result<Self, WordError> {
        Self::WORDS
            .iter()
            .position(|w| *w == s)
            .map(|i| Self::KINDS[i])
            .ok_or_else(|| WordError {
                input: s.to_owned(),
                allowed: Self::WORDS,
            })
    }
}

/// One item: a text carries `text`; an image, voice, video or link carries its `url`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub kind: ItemKind,
    pub title: Option<String>,
    pub text: Option<String>,
    pub url: Option<String>,
}

impl Item {
    fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        let kind = o.parse("kind", ItemKind::parse)?;
        let url = o.opt_text("url")?;
        if let Some(u) = &url
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            return Err(FieldError::new(
                join(o.path(), "url"),
                "must be a full http(s) URL",
            ));
        }
        let item = Self {
            kind,
            title: o.opt_text("title")?,
            text: o.opt_text("text")?,
            url,
        };
        match kind {
            ItemKind::Text if item.text.is_none() => Err(FieldError::new(
                join(o.path(), "text"),
                "is missing: a text item carries its text",
            )),
            ItemKind::Image | ItemKind::Voice | ItemKind::Video | ItemKind::Link
                if item.url.is_none() =>
            {
                Err(FieldError::new(
                    join(o.path(), "url"),
                    "is missing: an image, voice, video or link item carries its URL",
                ))
            }
            _ => Ok(item),
        }
    }
}

/// Who a pack is for: orgs (each meaning its whole subtree) and/or regions at any level.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audience {
    pub org_ids: Vec<OrgId>,
    pub region_codes: Vec<String>,
}

/// `study.published`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudyPublished {
    pub pack_id: PackId,
    pub title: String,
    pub summary: String,
    pub items: Vec<Item>,
    pub audience: Audience,
    /// When it goes out; without it, on the next activity day (每月9日).
    pub send_at: Option<DateTime<FixedOffset>>,
}

/// Region codes an audience may name: a 6, 9 or 12-digit code, or a province or city padded
/// with zeros (`440000`, `440100`), which are 6 digits too.
fn audience_region(s: &str) -> Result<String, IdError> {
    RegionCode::parse(s).map(|c| c.as_str().to_owned())
}

impl StudyPublished {
    /// The wire shape [`StudyPublished::read`] reads (the console's 学习 composes a pack as
    /// this type and publishes it through the same checks as `POST /v1/study-packs`).
    pub fn to_wire(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a pack serializes")
    }

    pub fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        let items_path = join(o.path(), "items");
        let audience_path = join(o.path(), "audience");
        let list = o
            .opt_array("items")?
            .ok_or_else(|| FieldError::new(&items_path, "is missing: list the pack's items"))?;
        if list.is_empty() {
            return Err(FieldError::new(&items_path, "is empty: a pack has items"));
        }
        let mut items = Vec::with_capacity(list.len());
        for (i, v) in list.iter().enumerate() {
            let path = format!("{items_path}[{i}]");
            items.push(Item::read(Obj::new(&path, v)?)?);
        }
        let a = o.obj("audience", &audience_path)?;
        let audience = Audience {
            org_ids: strings(a, "org_ids")?
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    OrgId::parse(s).map_err(|p| {
                        FieldError::invalid(format!("{}[{i}]", join(&audience_path, "org_ids")), p)
                    })
                })
                .collect::<Result<_, _>>()?,
            region_codes: strings(a, "region_codes")?
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    audience_region(s).map_err(|p| {
                        FieldError::invalid(
                            format!("{}[{i}]", join(&audience_path, "region_codes")),
                            p,
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        if audience.org_ids.is_empty() && audience.region_codes.is_empty() {
            return Err(FieldError::new(
                audience_path,
                "names nobody: give org_ids, region_codes or both",
            ));
        }
        let send_at = o.opt_parse("send_at", |s| {
            parse_timestamp(s, "2026-12-09T09:00:00+08:00")
        })?;
        Ok(Self {
            pack_id: o.parse("pack_id", OrgId::parse)?,
            title: o.text("title")?,
            summary: o.text("summary")?,
            items,
            audience,
            send_at,
        })
    }
}

fn strings<'a>(o: Obj<'a>, name: &str) -> Result<Vec<&'a str>, FieldError> {
    let Some(list) = o.opt_array(name)? else {
        return Ok(Vec::new());
    };
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            v.as_str().ok_or_else(|| {
                FieldError::new(format!("{}[{i}]", join(o.path(), name)), "must be a string")
            })
        })
        .collect()
}

/// `study.completed`: once per member and pack; counts as organizational life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StudyCompleted {
    pub member_id: MemberId,
    pub pack_id: PackId,
    pub on: NaiveDate,
}

impl StudyCompleted {
    /// The wire shape [`StudyCompleted::read`] reads (the study page sends it as the member).
    pub fn to_wire(&self) -> serde_json::Value {
        serde_json::json!({"member_id": self.member_id, "pack_id": self.pack_id, "on": self.on})
    }

    pub fn read(o: Obj<'_>) -> Result<Self, FieldError> {
        Ok(Self {
            member_id: o.parse("member_id", MemberId::parse)?,
            pack_id: o.parse("pack_id", OrgId::parse)?,
            on: o.date("on")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn read(v: Value) -> Result<StudyPublished, FieldError> {
        StudyPublished::read(Obj::new("data", &v).unwrap())
    }

    fn pack() -> Value {
        json!({"pack_id": "p-2026-12", "title": "党章学习", "summary": "第一章 党员",
               "items": [{"kind": "text", "text": "党员必须……"}, {"kind": "video", "url": "https://v.example/1", "title": "微党课"}],
               "audience": {"org_ids": ["c1"], "region_codes": ["440300"]}})
    }

    #[test]
    fn a_good_pack_reads() {
        let p = read(pack()).unwrap();
        assert_eq!(p.items.len(), 2);
        assert_eq!(p.items[1].kind, ItemKind::Video);
        assert_eq!(p.audience.region_codes, ["440300"]);
        assert!(p.send_at.is_none());
    }

    #[test]
    fn items_are_checked_by_kind_and_named_by_index() {
        let mut v = pack();
        v["items"][1] = json!({"kind": "video"});
        assert_eq!(read(v).unwrap_err().field, "data.items[1].url");
        let mut v = pack();
        v["items"][0] = json!({"kind": "podcast", "url": "https://x"});
        assert_eq!(read(v).unwrap_err().field, "data.items[0].kind");
        let mut v = pack();
        v["items"][0] = json!({"kind": "text"});
        assert_eq!(read(v).unwrap_err().field, "data.items[0].text");
        let mut v = pack();
        v["items"][1]["url"] = json!("ftp://x");
        assert_eq!(read(v).unwrap_err().field, "data.items[1].url");
        let mut v = pack();
        v["items"] = json!([]);
        assert_eq!(read(v).unwrap_err().field, "data.items");
    }

    #[test]
    fn an_audience_names_someone_with_good_codes() {
        let mut v = pack();
        v["audience"] = json!({});
        assert_eq!(read(v).unwrap_err().field, "data.audience");
        let mut v = pack();
        v["audience"]["region_codes"] = json!(["4403"]);
        assert_eq!(read(v).unwrap_err().field, "data.audience.region_codes[0]");
        let mut v = pack();
        v["send_at"] = json!("tomorrow");
        assert_eq!(read(v).unwrap_err().field, "data.send_at");
    }

    #[test]
    fn a_pack_reads_back_from_its_wire_shape() {
        let mut v = pack();
        v["send_at"] = json!("2026-12-09T09:00:00+08:00");
        let p = read(v).unwrap();
        assert_eq!(read(p.to_wire()).unwrap(), p);
    }
}
