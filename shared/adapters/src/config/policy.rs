//! Section 4's rules as settings: the policy's numbers and the schedules' cron expressions.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use hongyan_domain::dispatch::SpotCheckRule;
use hongyan_domain::rules::monthly::{Ladder, ReviewPolicy};
use hongyan_domain::schedule::ScheduleName;
use serde::Deserialize;

/// The numbers of DESIGN.md section 4, every one configurable.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySettings {
    /// Activity certificate only for absences of this many months or fewer (应转尽转).
    pub certificate_max_months: u32,
    /// Staleness ladder (in whole months without confirmation): marked `stale`.
    pub stale_after_months: u32,
    /// The branch contact gets the list of members this long unconfirmed.
    pub branch_list_after_months: u32,
    /// Marked `lost_contact` (失联), and the county department gets the list.
    pub lost_contact_after_months: u32,
    /// 党章 art. 9: six months without organizational life; the warning goes at five.
    pub lapse_warning_after_months: u32,
    /// Spot check (抽查) in the quarterly dispatch: this share of each branch's open records,
    /// at least `spot_check_min`, at most `spot_check_max`.
    pub spot_check_share: f64,
    /// The spot check's lower bound per branch (never more than the branch has open).
    pub spot_check_min: u32,
    /// The spot check's upper bound per branch.
    pub spot_check_max: u32,
    /// A member this many months at one place with an employer: the branch is asked to
    /// transfer the relationship (应转尽转).
    pub transfer_suggestion_after_months: u32,
    /// Days before a return peak that branches are asked to plan training and home meetings.
    pub return_peak_notice_days: u32,
    /// When SMS is held, Asia/Shanghai (`21:00-08:00`); empty turns it off.
    pub sms_quiet_hours: String,
    /// The return peaks (春节, 五一, 国庆) per year: `2027 = ["2027-02-06", ...]`.
    pub return_peaks: ReturnPeaks,
}

impl PolicySettings {
    /// The staleness ladder, for every reader that shows where a record stands.
    pub fn ladder(&self) -> Ladder {
        Ladder {
            stale_after: self.stale_after_months,
            branch_list_after: self.branch_list_after_months,
            lost_contact_after: self.lost_contact_after_months,
        }
    }

    /// The monthly review's numbers.
    pub fn review(&self) -> ReviewPolicy {
        ReviewPolicy {
            ladder: self.ladder(),
            lapse_warning_after: self.lapse_warning_after_months,
            transfer_suggestion_after: self.transfer_suggestion_after_months,
        }
    }
}

impl PolicySettings {
    /// The spot check's rule as the dispatch applies it (validated at load: the share between
    /// 0 and 1, min at most max).
    pub fn spot_check(&self) -> SpotCheckRule {
        SpotCheckRule {
            share: self.spot_check_share,
            min: self.spot_check_min,
            max: self.spot_check_max,
        }
    }
}

/// Return-peak dates by year, as written in `[policy.return_peaks]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct ReturnPeaks(BTreeMap<String, Vec<String>>);

impl ReturnPeaks {
    /// Every listed date, checked: each is `YYYY-MM-DD` and lies in the year it is listed under.
    pub fn dates(&self) -> anyhow::Result<Vec<NaiveDate>> {
        let mut out = Vec::new();
        for (year, days) in &self.0 {
            for day in days {
                let date = hongyan_domain::fields::parse_date(day)
                    .map_err(|e| anyhow::anyhow!("policy.return_peaks.{year}: {e}"))?;
                if date.format("%Y").to_string() != *year {
                    anyhow::bail!(
                        "policy.return_peaks.{year} lists {day}, which is not in {year}; move it under its own year"
                    );
                }
                out.push(date);
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The schedules of DESIGN.md section 4, by name: 6-field cron expressions (seconds first, day
/// names), Asia/Shanghai. The scheduler parses them at start and names any it cannot.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulesSettings {
    pub monthly_review: String,
    pub monthly_reminder: String,
    pub monthly_second_nudge: String,
    pub activity_day: String,
    pub study_send_at: String,
    pub quarterly_dispatch: String,
    pub quarterly_talk: String,
    pub quarterly_talk_followup: String,
    pub family_visit: String,
    pub political_birthday: String,
    pub return_peaks: String,
    /// A missed firing runs once after downtime if it is at most this old; older ones are
    /// logged and skipped.
    pub grace_minutes: u64,
}

impl SchedulesSettings {
    /// Every schedule as (name, expression), in the order of DESIGN.md section 4.
    pub fn all(&self) -> [(ScheduleName, &str); 11] {
        ScheduleName::ALL.map(|name| (name, self.expression(name)))
    }

    /// The cron expression of `name`.
    pub fn expression(&self, name: ScheduleName) -> &str {
        match name {
            ScheduleName::MonthlyReview => &self.monthly_review,
            ScheduleName::MonthlyReminder => &self.monthly_reminder,
            ScheduleName::MonthlySecondNudge => &self.monthly_second_nudge,
            ScheduleName::ActivityDay => &self.activity_day,
            ScheduleName::StudySendAt => &self.study_send_at,
            ScheduleName::QuarterlyDispatch => &self.quarterly_dispatch,
            ScheduleName::QuarterlyTalk => &self.quarterly_talk,
            ScheduleName::QuarterlyTalkFollowup => &self.quarterly_talk_followup,
            ScheduleName::FamilyVisit => &self.family_visit,
            ScheduleName::PoliticalBirthday => &self.political_birthday,
            ScheduleName::ReturnPeaks => &self.return_peaks,
        }
    }
}
