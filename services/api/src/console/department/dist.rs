//! 分布 (DESIGN.md section 12): where the subtree's open records are, by province and by city,
//! as a chart and a table. The chart is a tile grid of the provinces laid out roughly as on a
//! map, shaded by count, with bars in the tables: stylesheet classes and `<meter>` only, no map
//! tiles or map data from anywhere (a county intranet has no internet), no inline style (the
//! CSP). Each place opens the ledger narrowed to it (`/console/ledger?province=44&city=4403`),
//! which lists the same open records: home branch in the subtree, as the ledger's own scope.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hongyan_domain::regions;
use maud::{Markup, html};

use crate::console::{frame, page, signed_in};
use crate::state::AppState;

/// The provinces of the division table as tiles: (2-digit code, short name, grid row, grid column), roughly where
/// they lie on a map of China.
const TILES: [(&str, &str, u8, u8); 31] = [
    ("23", "黑", 1, 8),
    ("15", "蒙", 2, 5),
    ("11", "京", 2, 6),
    ("22", "吉", 2, 8),
    ("65", "新", 3, 1),
    ("62", "甘", 3, 2),
    ("64", "宁", 3, 3),
    ("14", "晋", 3, 4),
    ("13", "冀", 3, 5),
    ("12", "津", 3, 6),
    ("21", "辽", 3, 7),
    ("54", "藏", 4, 1),
    ("63", "青", 4, 2),
    ("61", "陕", 4, 3),
    ("41", "豫", 4, 4),
    ("37", "鲁", 4, 5),
    ("51", "川", 5, 2),
    ("50", "渝", 5, 3),
    ("42", "鄂", 5, 4),
    ("34", "皖", 5, 5),
    ("32", "苏", 5, 6),
    ("31", "沪", 5, 7),
    ("53", "滇", 6, 2),
    ("52", "黔", 6, 3),
    ("43", "湘", 6, 4),
    ("36", "赣", 6, 5),
    ("33", "浙", 6, 6),
    ("45", "桂", 7, 3),
    ("44", "粤", 7, 4),
    ("35", "闽", 7, 5),
    ("46", "琼", 8, 3),
];

/// How many open records are at one place.
pub struct Place {
    pub code: String,
    pub name: String,
    pub count: i64,
}

/// The subtree's open records by province and by city (each largest first, then by code).
pub struct Spread {
    pub total: i64,
    pub provinces: Vec<Place>,
    pub cities: Vec<Place>,
}

/// The open records whose home branch lies in `$1`'s subtree, per city.
pub const SPREAD: &str = "SELECT left(r.region_code, 4), count(*) FROM console_open_places r
    WHERE r.home_org_id IN (SELECT id FROM orgs WHERE path @> ARRAY[$1::text])
    GROUP BY 1";

/// Counts the open records whose home branch lies in `org`'s subtree, per city (the first four
/// digits of the destination), and sums the cities into provinces. Reads the index
/// `flow_records_home_region` (migration 0021) of the registry's table through its view;
/// counted at most once per `api.console_figures_secs` for an org and day (`figures`).
pub async fn spread(state: &AppState, org: &str) -> Result<Arc<Spread>, sqlx::Error> {
    let today = state
        .clock
        .now()
        .with_timezone(&hongyan_domain::TZ)
        .date_naive();
    let key = format!("spread/{org}/{today}");
    let ttl = Duration::from_secs(state.settings.api.console_figures_secs);
    state.figures.get(key, ttl, || count(state, org)).await
}

async fn count(state: &AppState, org: &str) -> Result<Spread, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(SPREAD)
        .bind(org)
        .fetch_all(&state.pool)
        .await?;
    let mut cities: Vec<Place> = rows
        .into_iter()
        .map(|(code, count)| Place {
            name: regions::place_name(&code),
            code,
            count,
        })
        .collect();
    let mut provinces: Vec<Place> = Vec::new();
    for c in &cities {
        let code = c.code.get(..2).unwrap_or(&c.code).to_owned();
        match provinces.iter_mut().find(|p| p.code == code) {
            Some(p) => p.count += c.count,
            None => provinces.push(Place {
                name: regions::name(&code).map_or_else(|| code.clone(), str::to_owned),
                code,
                count: c.count,
            }),
        }
    }
    let order = |a: &Place, b: &Place| b.count.cmp(&a.count).then(a.code.cmp(&b.code));
    cities.sort_by(order);
    provinces.sort_by(order);
    Ok(Spread {
        total: provinces.iter().map(|p| p.count).sum(),
        provinces,
        cities,
    })
}

/// `GET /console/distribution`.
pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Response {
    let session = match signed_in(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(to_login) => return to_login,
    };
    match spread(&state, &session.user.org_id).await {
        Ok(s) => page(
            StatusCode::OK,
            frame("分布", Some(&session), body(&session.user.org_name, &s)),
        ),
        Err(e) => crate::console::store_failed(&e),
    }
}

/// A shade of 0 (none) to 5 (the most) for `n` of `max`.
fn heat(n: i64, max: i64) -> u8 {
    if n <= 0 || max <= 0 {
        0
    } else {
        (1 + (n * 4) / max).min(5) as u8
    }
}

fn ledger_href(province: &str, city: Option<&str>) -> String {
    match city {
        Some(c) => format!("/console/ledger?province={province}&city={c}"),
        None => format!("/console/ledger?province={province}"),
    }
}

fn tiles(s: &Spread) -> Markup {
    let max = s.provinces.iter().map(|p| p.count).max().unwrap_or(0);
    html! {
        div.tiles role="list" aria-label="各省分布图" {
            @for (code, short, row, col) in TILES {
                @let n = s.provinces.iter().find(|p| p.code == code).map_or(0, |p| p.count);
                @let name = regions::name(code).unwrap_or(short);
                @let class = format!("tile r{row} c{col} heat{}", heat(n, max));
                @if n > 0 {
                    a class=(class) role="listitem" href=(ledger_href(code, None)) title={ (name) " " (n) "人" } aria-label={ (name) (n) "人" } {
                        span.short { (short) } span.n { (n) }
                    }
                } @else {
                    span class=(class) role="listitem" aria-label={ (name) "0人" } { span.short { (short) } }
                }
            }
        }
    }
}

fn table(caption: &str, places: &[Place], total: i64, city: bool) -> Markup {
    let max = places.first().map_or(0, |p| p.count);
    html! {
        div.scroll {
            table.spread {
                caption { (caption) }
                thead { tr {
                    th scope="col" { @if city { "城市" } @else { "省份" } }
                    th scope="col" { "人数" } th scope="col" { "占比" } th scope="col" { "分布" }
                } }
                tbody {
                    @for p in places {
                        @let province = p.code.get(..2).unwrap_or(&p.code);
                        tr {
                            th scope="row" {
                                a href=(ledger_href(province, city.then_some(p.code.as_str()))) { (p.name) }
                            }
                            td.num { (p.count) }
                            td.num { (share(p.count, total)) }
                            td { meter min="0" max=(max) value=(p.count) { (p.count) } }
                        }
                    }
                }
            }
        }
    }
}

/// `12.5%`, one decimal.
pub fn share(n: i64, total: i64) -> String {
    if total <= 0 {
        return "—".into();
    }
    let tenths = (n * 1000 + total / 2) / total;
    format!("{}.{}%", tenths / 10, tenths % 10)
}

fn body(org_name: &str, s: &Spread) -> Markup {
    html! {
        h1 { "分布" }
        p.note { (org_name) "的在外党员共" (s.total) "人，按流入地统计。点省份或城市，打开台账中在那里的党员。" }
        @if s.total == 0 {
            section.card { p.note { "暂无在外党员。" } }
        } @else {
            div.side-by-side {
                section.card {
                    h2 { "各省分布" }
                    (tiles(s))
                    p.note.legend { "颜色越深，人数越多；灰色为无人。" }
                }
                section.card { (table("按省份", &s.provinces, s.total, false)) }
            }
            section.card { (table("按城市", &s.cities, s.total, true)) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_province_has_one_tile_in_its_own_cell() {
        let mut cells: Vec<(u8, u8)> = TILES.iter().map(|t| (t.2, t.3)).collect();
        cells.sort_unstable();
        cells.dedup();
        assert_eq!(cells.len(), TILES.len());
        for (code, ..) in TILES {
            assert!(regions::name(code).is_some(), "{code}");
        }
        assert_eq!(regions::provinces().len(), TILES.len());
    }

    #[test]
    fn shares_and_shades() {
        assert_eq!(share(1, 8), "12.5%");
        assert_eq!(share(0, 0), "—");
        assert_eq!(heat(0, 10), 0);
        assert_eq!(heat(10, 10), 5);
        assert_eq!(heat(1, 10), 1);
    }
}
