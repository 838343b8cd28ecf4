//! Choosing the service station to tell a departing member about (DESIGN.md section 3).

use crate::ids::{OrgId, RegionCode};

/// A service station as the choice needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct StationRef {
    pub id: OrgId,
    pub name: String,
    pub region_code: RegionCode,
}

/// The station whose region shares the longest prefix with the destination, and at least the
/// city (first four digits): a station in another city is no help to someone arriving.
pub fn nearest_by_region<'a>(
    stations: &'a [StationRef],
    dest: &RegionCode,
) -> Option<&'a StationRef> {
    let shared = |s: &StationRef| {
        s.region_code
            .as_str()
            .bytes()
            .zip(dest.as_str().bytes())
            .take_while(|(a, b)| a == b)
            .count()
    };
    stations
        .iter()
        .map(|s| (shared(s), s))
        .filter(|(n, _)| *n >= 4)
        .max_by(|(a, sa), (b, sb)| a.cmp(b).then_with(|| sb.id.cmp(&sa.id)))
        .map(|(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(id: &str, code: &str) -> StationRef {
        StationRef {
            id: OrgId::parse(id).unwrap(),
            name: id.into(),
            region_code: RegionCode::parse(code).unwrap(),
        }
    }

    #[test]
    fn the_closest_region_wins_and_other_cities_never_do() {
        let stations = [
            st("a", "440106001"),
            st("b", "440106002"),
            st("c", "330109001"),
        ];
        let dest = RegionCode::parse("440106002003").unwrap();
        assert_eq!(
            nearest_by_region(&stations, &dest).unwrap().id.as_str(),
            "b"
        );
        let nowhere = RegionCode::parse("520102").unwrap();
        assert!(nearest_by_region(&stations, &nowhere).is_none());
    }
}
