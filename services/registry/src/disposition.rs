//! What becomes of a delivery once it has been looked at: one pure decision from what the look
//! found and how many looks it had before, used by the batch path and the one-by-one fallback
//! alike, so both give an unknown id the same retry looks and park the same things.

use hongyan_domain::Rejection;

use crate::apply::Outcome;
use crate::tally::Settled;

/// How many times an event naming an unknown org or member is looked at before it is parked.
/// The event that creates the id may come from another producer and land a little later;
/// the retry tiers' first delays give it time. DESIGN.md parks unknown ids; this is the
/// smallest bend of that rule that keeps producers' interleaving from parking good events.
pub const UNKNOWN_ID_LOOKS: u32 = 3;

/// What one look at a delivery found.
#[derive(Debug)]
pub enum Look<'a> {
    /// The event was applied (or not) with this outcome, and its batch committed.
    Outcome(&'a Outcome),
    /// The database was away; the error says why.
    Unavailable(&'a str),
    /// Applying this event alone hit a fault in hongyan or its database.
    Fault(&'a str),
}

/// What to do with the delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Done: acknowledge.
    Ack(Settled),
    /// Look again later, from retry tier `tier` (1-based).
    Defer { tier: usize, reason: String },
    /// Send to `hongyan.parked` with this reason.
    Park(String),
}

/// Decides, for a delivery looked at `attempts` times before, with `tiers` retry tiers.
pub fn decide(look: Look<'_>, attempts: u32, tiers: usize) -> Disposition {
    match look {
        Look::Outcome(Outcome::Applied(_)) => Disposition::Ack(Settled::Applied),
        Look::Outcome(Outcome::Stale(_)) => Disposition::Ack(Settled::Stale),
        Look::Outcome(Outcome::Duplicate) => Disposition::Ack(Settled::Duplicate),
        Look::Outcome(Outcome::Rejected(rej @ Rejection::Unknown(_)))
            if attempts + 1 < UNKNOWN_ID_LOOKS =>
        {
            defer_or_give_up(rej.to_string(), attempts, tiers)
        }
        Look::Outcome(Outcome::Rejected(rej)) => Disposition::Park(rej.to_string()),
        Look::Outcome(Outcome::Deferred(why)) => defer_or_give_up(why.clone(), attempts, tiers),
        Look::Unavailable(e) => defer_or_give_up(
            format!("The database was unavailable ({e}); it is tried again by itself"),
            attempts,
            tiers,
        ),
        Look::Fault(e) => Disposition::Park(format!(
            "hongyan could not apply this event ({e}); this is a fault in hongyan or its database, not in the event: report it, and replay once fixed."
        )),
    }
}

fn defer_or_give_up(reason: String, attempts: u32, tiers: usize) -> Disposition {
    let tier = attempts as usize + 1;
    if tier <= tiers {
        Disposition::Defer { tier, reason }
    } else {
        Disposition::Park(format!("{reason} (gave up after {tier} attempts)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown() -> Outcome {
        Outcome::Rejected(Rejection::Unknown("Member m1 is not known".into()))
    }

    #[test]
    fn applied_stale_and_duplicate_are_acknowledged() {
        for (o, s) in [
            (Outcome::Applied("x".into()), Settled::Applied),
            (Outcome::Stale("x".into()), Settled::Stale),
            (Outcome::Duplicate, Settled::Duplicate),
        ] {
            assert_eq!(decide(Look::Outcome(&o), 0, 3), Disposition::Ack(s));
        }
    }

    #[test]
    fn an_unknown_id_gets_its_looks_through_the_tiers_then_is_parked() {
        let o = unknown();
        assert!(matches!(
            decide(Look::Outcome(&o), 0, 3),
            Disposition::Defer { tier: 1, .. }
        ));
        assert!(matches!(
            decide(Look::Outcome(&o), 1, 3),
            Disposition::Defer { tier: 2, .. }
        ));
        let Disposition::Park(why) = decide(Look::Outcome(&o), 2, 3) else {
            panic!("parked after {UNKNOWN_ID_LOOKS} looks")
        };
        assert!(why.contains("Member m1 is not known"), "{why}");
    }

    #[test]
    fn other_rejections_are_parked_at_once() {
        let o = Outcome::Rejected(Rejection::Forbidden("b2 may not act for m1".into()));
        assert_eq!(
            decide(Look::Outcome(&o), 0, 3),
            Disposition::Park("b2 may not act for m1".into())
        );
    }

    #[test]
    fn a_deferral_goes_through_every_tier_then_is_parked_saying_so() {
        let o = Outcome::Deferred("no open flow record".into());
        for attempts in 0..3 {
            assert_eq!(
                decide(Look::Outcome(&o), attempts, 3),
                Disposition::Defer {
                    tier: attempts as usize + 1,
                    reason: "no open flow record".into()
                }
            );
        }
        assert_eq!(
            decide(Look::Outcome(&o), 3, 3),
            Disposition::Park("no open flow record (gave up after 4 attempts)".into())
        );
    }

    #[test]
    fn an_unavailable_database_is_retried_and_a_fault_is_parked() {
        assert!(matches!(
            decide(Look::Unavailable("connection refused"), 0, 3),
            Disposition::Defer { tier: 1, reason } if reason.contains("connection refused")
        ));
        assert!(matches!(
            decide(Look::Fault("bad column"), 0, 3),
            Disposition::Park(reason) if reason.contains("bad column") && reason.contains("report it")
        ));
    }
}
