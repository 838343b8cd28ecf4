//! The Chinese words a person reads for the ledger's codes (DESIGN.md section 3: "Codes are
//! shown as Chinese words"). One place, so the export, the reports and the member page say the
//! same thing.

use crate::ids::{EmployerType, Reason};
use crate::ledger::{FLAG_UNREPORTED_DEPARTURE, Status};
use crate::rules::monthly::{FLAG_LOST_CONTACT, FLAG_STALE};

/// 状态: 外出, 已报到, 回乡探亲, 已返回, 已转出.
pub fn status(s: Status) -> &'static str {
    match s {
        Status::Out => "外出",
        Status::CheckedIn => "已报到",
        Status::HomeVisit => "回乡探亲",
        Status::Returned => "已返回",
        Status::Transferred => "已转出",
    }
}

/// 外出原因: 务工, 经商, 学习, 其他.
pub fn reason(r: Reason) -> &'static str {
    match r {
        Reason::Work => "务工",
        Reason::Business => "经商",
        Reason::Study => "学习",
        Reason::Other => "其他",
    }
}

/// 单位类型 in the words of the statistics sheet 流动党员情况（二）.
pub fn employer_type(t: EmployerType) -> &'static str {
    match t {
        EmployerType::Government => "党政机关",
        EmployerType::Institution => "事业单位",
        EmployerType::StateOwned => "国有企业",
        EmployerType::Private => "民营企业",
        EmployerType::SelfEmployed => "个体经营",
        EmployerType::Community => "社区",
        EmployerType::Village => "村",
        EmployerType::Other => "其他",
    }
}

/// The word for the transfer suggestion (应转尽转), shown with the flags although the record
/// keeps it as its own field (`FlowRecord::transfer_suggested`).
pub const TRANSFER_SUGGESTED: &str = "应转尽转";

/// 标记: a ledger flag in words. A flag this table does not know yet is shown as it is, so a
/// new rule's flag is never hidden from the branch.
pub fn flag(f: &str) -> &str {
    match f {
        FLAG_UNREPORTED_DEPARTURE => "未报告外出",
        // One or two whole months without a confirmation (一月一更新), before 失联.
        FLAG_STALE => "逾期未更新",
        FLAG_LOST_CONTACT => "失联",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_word() {
        for t in EmployerType::ALL {
            assert!(!employer_type(*t).is_ascii(), "{t}");
        }
        for r in Reason::ALL {
            assert!(!reason(*r).is_ascii(), "{r}");
        }
        assert_eq!(status(Status::CheckedIn), "已报到");
        assert_eq!(flag("lost_contact"), "失联");
        assert_eq!(flag("some_new_flag"), "some_new_flag");
    }
}
