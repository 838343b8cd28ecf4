//! The 工作台's to-do lists (DESIGN.md section 12), for every org: unconfirmed this month, lost
//! contact, lapse risk, transfer suggested, talks and family visits due. One pass over the open
//! records the org sees gives every list's count per group (the org's children in the tree, so
//! a county reads its townships, a township its branches, a branch itself); a list opens its
//! members at `/console/todo/{list}`.
//!
//! Each list is one SQL condition over the registry's view `console_open_records` (migration
//! 0021), with the day's numbers bound as parameters ([`Day`]); the counts and the members'
//! pages use the same condition, so they never disagree. The rules are the domain's: the
//! ladder's 失联 at `policy.lost_contact_after_months` whole months unconfirmed, the lapse
//! warning at `policy.lapse_warning_after_months` without an update, a contact or a study pack
//! (`rules::monthly::review`), `rules::contacts::talk_due` for the quarter and
//! `family_visit_due` for the half year under way. "At least k whole months unconfirmed" is
//! bound as a day (confirmed before the first of the month k months back, [`Day::before`],
//! unit-tested against `rules::monthly::months_unconfirmed`): a comparison per record rather
//! than the month arithmetic of `ledger_months_unconfirmed`, which over a county's hundred
//! thousand records cost most of the page.

use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, NaiveDate};
use hongyan_domain::month::Month;
use hongyan_domain::rules::periods::{HalfYear, Quarter};

use crate::state::AppState;

/// A to-do list of the 工作台.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Todo {
    /// 本月未确认: no confirmation (一月一更新) yet this month.
    Unconfirmed,
    /// 失联: `lost_contact_after_months` whole months unconfirmed.
    LostContact,
    /// 组织生活预警: the lapse warning (党章 art. 9), months without an update, a contact or a
    /// study pack.
    LapseRisk,
    /// 应转尽转: the branch was asked to transfer the relationship.
    TransferSuggested,
    /// 本季度待谈心: no talk (一季度一谈心) this quarter.
    TalkDue,
    /// 本半年待家访: no family visit (每半年家访) this half year.
    FamilyVisitDue,
}

impl Todo {
    /// In the 工作台's order.
    pub const ALL: [Todo; 6] = [
        Todo::Unconfirmed,
        Todo::LostContact,
        Todo::LapseRisk,
        Todo::TransferSuggested,
        Todo::TalkDue,
        Todo::FamilyVisitDue,
    ];

    /// The list's path segment.
    pub fn slug(self) -> &'static str {
        match self {
            Todo::Unconfirmed => "unconfirmed",
            Todo::LostContact => "lost-contact",
            Todo::LapseRisk => "lapse-risk",
            Todo::TransferSuggested => "transfer",
            Todo::TalkDue => "talk",
            Todo::FamilyVisitDue => "family-visit",
        }
    }

    pub fn parse(slug: &str) -> Option<Todo> {
        Self::ALL.into_iter().find(|t| t.slug() == slug)
    }

    /// The list's title.
    pub fn title(self) -> &'static str {
        match self {
            Todo::Unconfirmed => "本月未确认",
            Todo::LostContact => "失联",
            Todo::LapseRisk => "组织生活预警",
            Todo::TransferSuggested => "应转尽转",
            Todo::TalkDue => "本季度待谈心",
            Todo::FamilyVisitDue => "本半年待家访",
        }
    }

    /// What the list means, for the members' page.
    pub fn meaning(self, day: &Day) -> String {
        match self {
            Todo::Unconfirmed => "本月还没有确认（一月一更新）的在外党员。".into(),
            Todo::LostContact => format!(
                "连续{}个月以上未确认、标记为失联的在外党员，请督促所在支部查找联系。",
                day.lost_after
            ),
            Todo::LapseRisk => format!(
                "连续{}个月以上没有更新、联系或学习的在外党员（党章第九条：连续六个月不参加组织生活即被认为自行脱党），请尽快联系本人。",
                day.lapse_after
            ),
            Todo::TransferSuggested => {
                "在外同一地点、有固定单位已满规定月数，已提示支部办理组织关系转接的党员。".into()
            }
            Todo::TalkDue => "本季度还没有谈心谈话记录（一季度一谈心）的在外党员。".into(),
            Todo::FamilyVisitDue => "本半年还没有家访记录（每半年家访）的在外党员。".into(),
        }
    }

    /// The list's condition on a record `r` of `console_open_records`, with `home_side` (the
    /// record's home branch is in the viewer's subtree) and [`Day`]'s parameters `$2` to `$7`.
    /// A member checked in with an inflow org is on its unconfirmed and lost-contact lists
    /// only: talks, visits, transfers and the lapse warning are the home branch's duties.
    pub fn condition(self) -> &'static str {
        match self {
            Todo::Unconfirmed => "(r.last_confirmed_on IS NULL OR r.last_confirmed_on < $2)",
            Todo::LostContact => "r.confirmed_on < $4",
            // Organizational life is the latest of the confirmation, a contact and a completed
            // study pack, so only a record already that long unconfirmed can be at risk; the
            // contacts are read next, and the studies only for those still at risk.
            Todo::LapseRisk => {
                "(home_side AND r.confirmed_on < $5 AND GREATEST(r.confirmed_on, r.contact_on) < $5
                  AND GREATEST(r.confirmed_on, r.contact_on,
                      (SELECT max(s.completed_on) FROM console_study_completions s
                       WHERE s.member_id = r.member_id)) < $5)"
            }
            Todo::TransferSuggested => "(home_side AND r.transfer_suggested)",
            Todo::TalkDue => "(home_side AND (r.talk IS NULL OR r.talk < $6))",
            Todo::FamilyVisitDue => {
                "(home_side AND (r.family_visit IS NULL OR r.family_visit < $7))"
            }
        }
    }
}

/// The day the lists are worked out for, and the policy's numbers: the parameters `$2` to `$7`
/// of every list's condition.
#[derive(Clone, Copy, Debug)]
pub struct Day {
    pub today: NaiveDate,
    pub month_start: NaiveDate,
    pub lost_after: u32,
    pub lapse_after: u32,
    pub quarter_start: NaiveDate,
    pub half_start: NaiveDate,
}

impl Day {
    /// Today in Asia/Shanghai, with `[policy]`'s numbers.
    pub fn of(state: &AppState) -> Day {
        let today = state
            .clock
            .now()
            .with_timezone(&hongyan_domain::TZ)
            .date_naive();
        let policy = &state.settings.policy;
        Day {
            today,
            month_start: today.with_day(1).unwrap_or(today),
            lost_after: policy.ladder().lost_contact_after,
            lapse_after: policy.review().lapse_warning_after,
            quarter_start: Quarter::of_date(today).first_day(),
            half_start: HalfYear::of_date(today).first_day(),
        }
    }

    /// A record last confirmed before this day is at least `months` whole months unconfirmed
    /// today (`rules::monthly::months_unconfirmed`): the first of the month `months` back.
    pub fn before(&self, months: u32) -> NaiveDate {
        Month::of_date(self.today)
            .plus(-(months as i32))
            .first_day()
    }

    /// Binds `$2` to `$7` after `$1` (the viewer's org).
    pub fn bind<'q, O>(
        &self,
        q: sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Postgres, O, sqlx::postgres::PgArguments> {
        q.bind(self.month_start)
            .bind(self.today)
            .bind(self.before(self.lost_after))
            .bind(self.before(self.lapse_after))
            .bind(self.quarter_start)
            .bind(self.half_start)
    }
}

/// What the lists read of an open record (never the whole view: its member's name is a join).
const FACTS: &str = "r.member_id, r.home_org_id, r.status, r.last_confirmed_on, r.confirmed_on,
    r.talk, r.family_visit, r.contact_on, r.transfer_suggested";

/// The open records `$1` sees, with `home_side`: those whose home branch is in its subtree,
/// and those checked in with an org of its subtree whose home is elsewhere. Two index scans
/// (home, inflow) rather than one `OR`, which would read every open record.
fn seen(columns: &str) -> String {
    format!(
        "WITH scope AS (SELECT id FROM orgs WHERE path @> ARRAY[$1::text]),
        seen AS (
            SELECT {columns}, true AS home_side FROM console_open_records r
            WHERE r.home_org_id IN (SELECT id FROM scope)
            UNION ALL
            SELECT {columns}, false AS home_side FROM console_open_records r
            WHERE r.inflow_org_id IN (SELECT id FROM scope)
              AND r.home_org_id NOT IN (SELECT id FROM scope)
        )"
    )
}

/// Every list's count per group, and the figures: counted per home org in one pass over the
/// records, then summed per group (the viewer's child on the path to the home org: the home
/// org itself under a township, the viewer for its own members; none for members from
/// elsewhere checked in here). Its parameters are the viewer (`$1`) and [`Day::bind`]'s.
pub fn counts_sql() -> String {
    let lists: Vec<String> = Todo::ALL
        .iter()
        .enumerate()
        .map(|(i, t)| format!("count(*) FILTER (WHERE {}) AS l{i}", t.condition()))
        .collect();
    let sums: Vec<String> = (0..Todo::ALL.len())
        .map(|i| format!("sum(p.l{i})::bigint"))
        .collect();
    format!(
        "{},
        per_org AS (
            SELECT r.home_org_id, r.home_side, count(*) AS open,
                   count(*) FILTER (WHERE r.status = 'out') AS out,
                   count(*) FILTER (WHERE r.status = 'checked_in') AS checked_in,
                   {}
            FROM seen r GROUP BY 1, 2)
        SELECT CASE WHEN p.home_side
                    THEN coalesce(h.path[array_position(h.path, $1::text) + 1], $1::text) END AS grp,
               sum(p.open)::bigint, sum(p.out)::bigint, sum(p.checked_in)::bigint, {}
        FROM per_org p JOIN orgs h ON h.id = p.home_org_id
        GROUP BY 1",
        seen(FACTS),
        lists.join(",\n                   "),
        sums.join(", ")
    )
}

/// One group's counts: its open records, by status, and each list's (in [`Todo::ALL`]'s order).
#[derive(Clone, Debug, Default)]
pub struct Counts {
    pub open: i64,
    pub out: i64,
    pub checked_in: i64,
    pub lists: [i64; 6],
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.open += other.open;
        self.out += other.out;
        self.checked_in += other.checked_in;
        for (a, b) in self.lists.iter_mut().zip(other.lists) {
            *a += b;
        }
    }

    pub fn of(&self, t: Todo) -> i64 {
        self.lists[Todo::ALL.iter().position(|x| *x == t).unwrap_or(0)]
    }
}

/// A group of the 工作台's table: an org under the viewer (or the viewer itself), or `None`
/// for members from elsewhere checked in with the viewer's subtree.
#[derive(Clone, Debug)]
pub struct Group {
    pub org_id: Option<String>,
    pub name: String,
    pub counts: Counts,
}

/// The viewer's figures (every group summed) and the groups, in the tree's order (by path, so
/// siblings by id: a fixed order, never a ranking). Counted at most once per
/// `api.console_figures_secs` for an org and day (`figures`).
pub async fn counts(state: &AppState, org: &str, day: &Day) -> Result<Arc<Board>, sqlx::Error> {
    let key = format!("home/{org}/{}", day.today);
    let ttl = Duration::from_secs(state.settings.api.console_figures_secs);
    state.figures.get(key, ttl, || count(state, org, day)).await
}

/// The figures and the groups of one org's 工作台.
pub type Board = (Counts, Vec<Group>);

async fn count(state: &AppState, org: &str, day: &Day) -> Result<Board, sqlx::Error> {
    type Row = (Option<String>, i64, i64, i64, i64, i64, i64, i64, i64, i64);
    let sql = counts_sql();
    // Read once, in a read-only transaction without JIT, whose compiling costs more than the
    // count (the export's reasoning, `ledger::query::begin`).
    let mut tx = state.pool.begin().await?;
    sqlx::query("SET LOCAL jit = off").execute(&mut *tx).await?;
    let q = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)).bind(org);
    let rows: Vec<Row> = day.bind(q).fetch_all(&mut *tx).await?;
    tx.commit().await?;
    let ids: Vec<String> = rows.iter().filter_map(|r| r.0.clone()).collect();
    let names: Vec<(String, String)> =
        sqlx::query_as("SELECT id, name FROM orgs WHERE id = ANY($1) ORDER BY path")
            .bind(&ids)
            .fetch_all(&state.pool)
            .await?;
    let mut total = Counts::default();
    let mut groups: Vec<Group> = Vec::new();
    let counts_of = |r: &Row| Counts {
        open: r.1,
        out: r.2,
        checked_in: r.3,
        lists: [r.4, r.5, r.6, r.7, r.8, r.9],
    };
    for (id, name) in names {
        if let Some(r) = rows.iter().find(|r| r.0.as_deref() == Some(id.as_str())) {
            groups.push(Group {
                org_id: Some(id),
                name,
                counts: counts_of(r),
            });
        }
    }
    if let Some(r) = rows.iter().find(|r| r.0.is_none()) {
        groups.push(Group {
            org_id: None,
            name: "外地党员（在本辖区报到）".into(),
            counts: counts_of(r),
        });
    }
    for g in &groups {
        total.add(&g.counts);
    }
    Ok((total, groups))
}

/// A member on a list.
pub struct Listed {
    pub id: String,
    pub name: String,
    pub branch: String,
    pub months: i32,
    pub confirmed_on: Option<NaiveDate>,
}

/// Members on list `t` that `viewer` sees, under `under` (an org of the viewer's subtree, or
/// the viewer), by branch in the tree's order then name; `limit` from `offset`. Returns the
/// page and how many there are in all.
pub async fn members(
    state: &AppState,
    viewer: &str,
    under: &str,
    t: Todo,
    day: &Day,
    (limit, offset): (i64, i64),
) -> Result<(Vec<Listed>, i64), sqlx::Error> {
    // `under` narrows to records whose home branch lies under it; members from elsewhere
    // checked in with the viewer's subtree show only on the viewer's own list.
    let sql = format!(
        "{}
        SELECT r.member_id, r.member_name, h.name AS branch,
               ledger_months_unconfirmed(r.confirmed_on, $3) AS months, r.last_confirmed_on,
               count(*) OVER () AS total
        FROM seen r JOIN orgs h ON h.id = r.home_org_id
        WHERE {} AND ($8::text = $1::text OR h.path @> ARRAY[$8::text])
        ORDER BY h.path, r.member_name, r.member_id
        LIMIT $9 OFFSET $10",
        seen(&format!("{FACTS}, r.member_name")),
        t.condition()
    );
    type Row = (String, String, String, i32, Option<NaiveDate>, i64);
    let q = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(sql)).bind(viewer);
    let rows: Vec<Row> = day
        .bind(q)
        .bind(under)
        .bind(limit)
        .bind(offset)
        .fetch_all(&state.pool)
        .await?;
    let total = rows.first().map_or(0, |r| r.5);
    let list = rows
        .into_iter()
        .map(|(id, name, branch, months, confirmed_on, _)| Listed {
            id,
            name,
            branch,
            months,
            confirmed_on,
        })
        .collect();
    Ok((list, total))
}

/// An arrival that matched no one, waiting with the viewer's subtree or (for a county
/// department) its county, as `GET /v1/orgs/{id}/unmatched` lists them.
pub struct Unmatched {
    pub name: String,
    pub phone: String,
    pub arrived_on: NaiveDate,
    pub place: String,
    pub receiving_org: String,
}

/// Up to 20 unmatched arrivals, oldest first, and how many in all. Phones are masked unless the
/// viewer is the receiving org or above it.
pub async fn unmatched(state: &AppState, org: &str) -> Result<(Vec<Unmatched>, i64), sqlx::Error> {
    type Row = (String, String, NaiveDate, Option<String>, String, bool, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT u.name, u.phone, u.arrived_on, u.location->>'region_code', r.name,
                $1 = ANY (r.path), count(*) OVER ()
         FROM unmatched_arrivals u JOIN orgs r ON r.id = u.receiving_org_id, orgs me
         WHERE me.id = $1 AND u.resolved_at IS NULL
           AND ($1 = ANY (r.path) OR (me.kind = 'department' AND u.county = me.region_code))
         ORDER BY u.arrived_on, u.event_id LIMIT 20",
    )
    .bind(org)
    .fetch_all(&state.pool)
    .await?;
    let total = rows.first().map_or(0, |r| r.6);
    let list = rows
        .into_iter()
        .map(
            |(name, phone, arrived_on, region, receiving_org, sees, _)| Unmatched {
                name,
                phone: if sees {
                    phone
                } else {
                    hongyan_domain::ids::mask_phones(&phone)
                },
                arrived_on,
                place: region
                    .as_deref()
                    .map(hongyan_domain::regions::place_name)
                    .unwrap_or_default(),
                receiving_org,
            },
        )
        .collect();
    Ok((list, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// The day bound for "at least k whole months unconfirmed" says what the domain's rule says,
    /// for every day of two years confirmed and read on days across a year.
    #[test]
    fn before_a_day_is_at_least_k_months_unconfirmed() {
        use hongyan_domain::rules::monthly::months_unconfirmed;
        for today in [
            "2026-01-01",
            "2026-03-31",
            "2026-10-10",
            "2026-12-31",
            "2027-02-28",
        ] {
            let today = d(today);
            let day = Day {
                today,
                month_start: today.with_day(1).unwrap(),
                lost_after: 3,
                lapse_after: 5,
                quarter_start: today,
                half_start: today,
            };
            for k in [1, 2, 3, 5, 6, 12] {
                let mut confirmed = d("2025-01-01");
                while confirmed <= today {
                    let rule = months_unconfirmed(confirmed, Month::of_date(today)) >= k;
                    assert_eq!(
                        confirmed < day.before(k),
                        rule,
                        "{confirmed} on {today}, {k}"
                    );
                    confirmed = confirmed.succ_opt().unwrap();
                }
            }
        }
    }

    #[test]
    fn every_list_has_a_slug_that_reads_back() {
        for t in Todo::ALL {
            assert_eq!(Todo::parse(t.slug()), Some(t));
        }
        assert_eq!(Todo::parse("nothing"), None);
    }
}
