//! Who may do what (DESIGN.md section 2, "Rights"). Rights follow the org tree: an org acts
//! on its own subtree. The store keeps each org's path from its root, so every check here is
//! a membership test on that path.

use crate::envelope::{Actor, Rejection};
use crate::ids::{MemberId, OrgId, OrgKind};

/// An org as the rights checks see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrgNode {
    pub id: OrgId,
    pub kind: OrgKind,
    /// Ids from the root down to this org, itself included.
    pub path: Vec<OrgId>,
}

impl OrgNode {
    /// True when `org` is this node or one of its ancestors.
    pub fn is_within(&self, org: &OrgId) -> bool {
        self.path.contains(org)
    }
}

fn forbidden(actor: &Actor, what: &str) -> Rejection {
    let who = match actor {
        Actor::Org { org_id, .. } => format!("org {org_id}"),
        Actor::Member { member_id } => format!("member {member_id}"),
        Actor::Operator { name } => format!("operator {name}"),
        Actor::Hongyan => "hongyan".to_owned(),
    };
    Rejection::Forbidden(format!(
        "{who} has no right to {what}; send it from an org that has."
    ))
}

/// `org.upserted`: from the org's parent or an ancestor department; a root department may
/// create itself. Moving an org needs rights over its old place too.
pub fn may_upsert_org(
    actor: &Actor,
    id: &OrgId,
    kind: OrgKind,
    parent: Option<&OrgNode>,
    existing: Option<&OrgNode>,
) -> Result<(), Rejection> {
    let Some(actor_org) = actor.org_id() else {
        return match actor {
            Actor::Operator { .. } => Ok(()),
            _ => Err(forbidden(actor, &format!("change org {id}"))),
        };
    };
    let new_place_ok = match parent {
        Some(p) => p.is_within(actor_org),
        None => actor_org == id && kind == OrgKind::Department,
    };
    let old_place_ok = existing.is_none_or(|e| e.is_within(actor_org));
    if new_place_ok && old_place_ok {
        Ok(())
    } else {
        Err(forbidden(
            actor,
            &format!(
                "change org {id} (only its parent, an ancestor, or a root department itself may)"
            ),
        ))
    }
}

/// Events about a member that belong to the home side: the home branch or an ancestor.
pub fn may_act_for_member(
    actor: &Actor,
    member: &MemberId,
    home: &OrgNode,
) -> Result<(), Rejection> {
    match actor {
        Actor::Operator { .. } => Ok(()),
        Actor::Org { org_id, .. } if home.is_within(org_id) => Ok(()),
        _ => Err(forbidden(
            actor,
            &format!("act for member {member}, who belongs to {}", home.id),
        )),
    }
}

/// `contact.recorded`: the home side; a member's SMS reply (`reply`) also from hongyan itself,
/// which took the reply (DESIGN.md section 2).
pub fn may_record_contact(
    actor: &Actor,
    member: &MemberId,
    home: &OrgNode,
    kind: crate::ids::ContactKind,
) -> Result<(), Rejection> {
    match actor {
        Actor::Hongyan if kind == crate::ids::ContactKind::Reply => Ok(()),
        _ => may_act_for_member(actor, member, home),
    }
}

/// `registration.update`: the home side, the org the member is checked in with, or the member.
pub fn may_update(
    actor: &Actor,
    member: &MemberId,
    home: &OrgNode,
    checked_in_with: Option<&OrgId>,
) -> Result<(), Rejection> {
    match actor {
        Actor::Member { member_id } if member_id == member => Ok(()),
        Actor::Org { org_id, .. } if checked_in_with == Some(org_id) => Ok(()),
        _ => may_act_for_member(actor, member, home),
    }
}

/// `study.published`: from a department, for audiences inside its own subtree or region.
/// `department` is the actor's org with its region code; `audience_orgs` the audience's orgs
/// as found in the ledger.
pub fn may_publish_study(
    actor: &Actor,
    department: &OrgNode,
    department_region: &str,
    audience_orgs: &[&OrgNode],
    audience_regions: &[String],
) -> Result<(), Rejection> {
    if !matches!(actor, Actor::Operator { .. }) && department.kind != OrgKind::Department {
        return Err(forbidden(
            actor,
            "publish study packs (only a department may)",
        ));
    }
    if let Some(outside) = audience_orgs.iter().find(|o| !o.is_within(&department.id)) {
        return Err(forbidden(
            actor,
            &format!(
                "publish for org {} (outside {}'s subtree)",
                outside.id, department.id
            ),
        ));
    }
    if let Some(outside) = audience_regions
        .iter()
        .find(|r| !crate::regions::is_within(r, department_region))
    {
        return Err(forbidden(
            actor,
            &format!(
                "publish for region {outside} (outside {}'s region {department_region})",
                department.id
            ),
        ));
    }
    Ok(())
}

/// `study.completed`: the member themselves (through the API), or their home side.
pub fn may_complete_study(
    actor: &Actor,
    member: &MemberId,
    home: &OrgNode,
) -> Result<(), Rejection> {
    match actor {
        Actor::Member { member_id } if member_id == member => Ok(()),
        _ => may_act_for_member(actor, member, home),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> OrgId {
        OrgId::parse(s).unwrap()
    }

    fn node(path: &[&str], kind: OrgKind) -> OrgNode {
        OrgNode {
            id: id(path.last().unwrap()),
            kind,
            path: path.iter().map(|s| id(s)).collect(),
        }
    }

    fn org(s: &str) -> Actor {
        Actor::Org {
            org_id: id(s),
            user: None,
        }
    }

    #[test]
    fn an_ancestor_acts_for_members_below_it_and_a_sibling_does_not() {
        let branch = node(&["county", "town", "b1"], OrgKind::Branch);
        let m = MemberId::parse("m1").unwrap();
        assert!(may_act_for_member(&org("b1"), &m, &branch).is_ok());
        assert!(may_act_for_member(&org("county"), &m, &branch).is_ok());
        assert!(may_act_for_member(&org("b2"), &m, &branch).is_err());
    }

    #[test]
    fn updates_come_from_home_the_receiving_org_or_the_member() {
        let branch = node(&["county", "b1"], OrgKind::Branch);
        let m = MemberId::parse("m1").unwrap();
        let inflow = id("gz-park");
        assert!(may_update(&org("gz-park"), &m, &branch, Some(&inflow)).is_ok());
        assert!(
            may_update(
                &Actor::Member {
                    member_id: m.clone()
                },
                &m,
                &branch,
                None
            )
            .is_ok()
        );
        let other = Actor::Member {
            member_id: MemberId::parse("m2").unwrap(),
        };
        assert!(may_update(&other, &m, &branch, None).is_err());
        assert!(may_update(&org("gz-park"), &m, &branch, None).is_err());
    }

    #[test]
    fn a_root_department_may_create_itself_but_nothing_else_may_appear_from_nowhere() {
        assert!(
            may_upsert_org(
                &org("county"),
                &id("county"),
                OrgKind::Department,
                None,
                None
            )
            .is_ok()
        );
        assert!(may_upsert_org(&org("b1"), &id("b1"), OrgKind::Branch, None, None).is_err());
        let town = node(&["county", "town"], OrgKind::Committee);
        assert!(
            may_upsert_org(
                &org("county"),
                &id("b9"),
                OrgKind::Branch,
                Some(&town),
                None
            )
            .is_ok()
        );
        assert!(
            may_upsert_org(
                &org("elsewhere"),
                &id("b9"),
                OrgKind::Branch,
                Some(&town),
                None
            )
            .is_err()
        );
    }

    #[test]
    fn a_department_publishes_study_packs_inside_its_subtree_and_region_only() {
        let dept = node(&["county"], OrgKind::Department);
        let branch = node(&["county", "town", "b1"], OrgKind::Branch);
        let elsewhere = node(&["other", "b9"], OrgKind::Branch);
        let county = org("county");
        assert!(
            may_publish_study(&county, &dept, "522636", &[&branch], &["522636100".into()]).is_ok()
        );
        assert!(may_publish_study(&county, &dept, "522636", &[&elsewhere], &[]).is_err());
        assert!(may_publish_study(&county, &dept, "522636", &[], &["440300".into()]).is_err());
        let city = node(&["city"], OrgKind::Department);
        assert!(may_publish_study(&org("city"), &city, "440300", &[], &["440305".into()]).is_ok());
        let town = node(&["county", "town"], OrgKind::Committee);
        assert!(may_publish_study(&org("town"), &town, "522636100", &[&branch], &[]).is_err());
    }

    #[test]
    fn moving_an_org_needs_rights_over_its_old_place() {
        let old = node(&["other-county", "b1"], OrgKind::Branch);
        let town = node(&["county", "town"], OrgKind::Committee);
        assert!(
            may_upsert_org(
                &org("county"),
                &id("b1"),
                OrgKind::Branch,
                Some(&town),
                Some(&old)
            )
            .is_err()
        );
    }
}
