//! The schedules of DESIGN.md section 4 by name: the one list, parsed once where a name enters
//! (`[schedules]` in the config, `hongyan schedule run NAME`).

use std::fmt;

/// A schedule the scheduler knows; each has a job (`hongyan_scheduler::table::run`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScheduleName {
    MonthlyReview,
    MonthlyReminder,
    MonthlySecondNudge,
    ActivityDay,
    StudySendAt,
    QuarterlyDispatch,
    QuarterlyTalk,
    QuarterlyTalkFollowup,
    FamilyVisit,
    PoliticalBirthday,
    ReturnPeaks,
}

impl ScheduleName {
    /// Every schedule, in the order of DESIGN.md section 4.
    pub const ALL: [ScheduleName; 11] = [
        ScheduleName::MonthlyReview,
        ScheduleName::MonthlyReminder,
        ScheduleName::MonthlySecondNudge,
        ScheduleName::ActivityDay,
        ScheduleName::StudySendAt,
        ScheduleName::QuarterlyDispatch,
        ScheduleName::QuarterlyTalk,
        ScheduleName::QuarterlyTalkFollowup,
        ScheduleName::FamilyVisit,
        ScheduleName::PoliticalBirthday,
        ScheduleName::ReturnPeaks,
    ];

    /// The name as `[schedules]` and `schedule_firings.schedule` write it.
    pub fn as_str(self) -> &'static str {
        match self {
            ScheduleName::MonthlyReview => "monthly_review",
            ScheduleName::MonthlyReminder => "monthly_reminder",
            ScheduleName::MonthlySecondNudge => "monthly_second_nudge",
            ScheduleName::ActivityDay => "activity_day",
            ScheduleName::StudySendAt => "study_send_at",
            ScheduleName::QuarterlyDispatch => "quarterly_dispatch",
            ScheduleName::QuarterlyTalk => "quarterly_talk",
            ScheduleName::QuarterlyTalkFollowup => "quarterly_talk_followup",
            ScheduleName::FamilyVisit => "family_visit",
            ScheduleName::PoliticalBirthday => "political_birthday",
            ScheduleName::ReturnPeaks => "return_peaks",
        }
    }

    pub fn parse(s: &str) -> Result<Self, UnknownSchedule> {
        Self::ALL
            .into_iter()
            .find(|n| n.as_str() == s)
            .ok_or_else(|| UnknownSchedule(s.to_owned()))
    }
}

impl fmt::Display for ScheduleName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no schedule (the text given); says which are.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a schedule; the schedules are {names}", names = names())]
pub struct UnknownSchedule(pub String);

fn names() -> String {
    ScheduleName::ALL.map(ScheduleName::as_str).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_and_others_are_refused_with_the_list() {
        for n in ScheduleName::ALL {
            assert_eq!(ScheduleName::parse(n.as_str()), Ok(n));
        }
        let e = ScheduleName::parse("monthly_reveiw")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("monthly_reveiw") && e.contains("return_peaks"),
            "{e}"
        );
    }
}
