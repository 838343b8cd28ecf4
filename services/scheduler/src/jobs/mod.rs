//! The scheduled jobs of DESIGN.md section 4 other than the monthly ones: the quarterly talk
//! and its follow-up, the family visit, the political birthday and the return peaks. Each runs
//! inside the transaction that holds its fire key, selects its people with one set-based query,
//! and writes keyed notification requests to the outbox, so a firing run twice sends nothing
//! twice (the notifier drops a repeated key, and the relay a repeated message id).

mod birthday;
mod family;
mod peaks;
mod talk;

pub use birthday::political_birthday;
pub use family::family_visit;
pub use peaks::return_peaks;
pub use talk::{quarterly_talk, quarterly_talk_followup};

use chrono::{DateTime, Utc};
use hongyan_adapters::store::{rows::OutboxRow, writes};
use hongyan_domain::ids::EventId;
use hongyan_domain::notify::{self, NotificationRequest};
use hongyan_domain::outgoing::keyed_envelope;
use hongyan_domain::rules::keys::id_of;
use sqlx::PgConnection;

/// The outbox row of a scheduled notification request: its envelope's id is the UUID of its
/// key, so the same request written by a rerun is the same message.
pub(crate) fn request_row(req: &NotificationRequest, due: DateTime<Utc>) -> OutboxRow {
    let event_id = EventId(id_of(&req.key));
    OutboxRow {
        routing_key: notify::ROUTING_KEY.into(),
        message_id: event_id.to_string(),
        payload: keyed_envelope(notify::ROUTING_KEY, event_id, due, req),
        park: None,
    }
}

/// Writes the rows in batches of `batch` (`scheduler.batch_size`); returns how many.
pub(crate) async fn write(
    conn: &mut PgConnection,
    rows: &[OutboxRow],
    batch: usize,
) -> sqlx::Result<u64> {
    for chunk in rows.chunks(batch.max(1)) {
        writes::outbox(conn, chunk).await?;
    }
    Ok(rows.len() as u64)
}

/// At most this many names in one SMS list: the text stays within a few segments, and the
/// count says how many there are in all.
pub(crate) const NAMES_IN_SMS: usize = 10;

/// `张三、李四` for a short list, `张三、李四……等12人` for a long one.
pub(crate) fn name_list(names: &[String]) -> String {
    let shown = names[..names.len().min(NAMES_IN_SMS)].join("、");
    if names.len() > NAMES_IN_SMS {
        format!("{shown}……等{}人", names.len())
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_list_is_cut_and_counted() {
        let names: Vec<String> = (1..=12).map(|i| format!("党员{i}")).collect();
        assert_eq!(name_list(&names[..2]), "党员1、党员2");
        let long = name_list(&names);
        assert!(long.ends_with("党员10……等12人"), "{long}");
        assert!(!long.contains("党员11"));
    }
}
