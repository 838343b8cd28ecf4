//! What the two SMS providers share: the message and the normalized delivery receipt
//! (短信回执).

use hongyan_domain::Phone;

/// One templated SMS to one phone.
///
/// One phone per send, not the provider's batch: SMS sends are not idempotent at the provider
/// (PROVIDERS.md, "Rules for every provider"), so each phone gets its own deduplicated
/// attempt, its own outcome and its own id in `OutId` / `SessionContext`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsMessage {
    /// Our notification id, sent as Aliyun's `OutId` or Tencent's `SessionContext` so
    /// receipts and the provider's console match back to the attempt.
    pub notification_id: String,
    pub phone: Phone,
    /// The provider's template: Aliyun's `TemplateCode` (`SMS_123456789`) or Tencent's
    /// `TemplateId` (`1234567`), from `notifier.sms.templates.<template>`.
    pub template: String,
    /// Template values in the template's order. Aliyun takes them by name (`TemplateParam`),
    /// Tencent by position (`TemplateParamSet`), so both the names and the order matter.
    pub params: Vec<(String, String)>,
}

/// A delivery receipt from either SMS provider, normalized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SmsReceipt {
    /// The id the send answer carried: Aliyun `BizId`, Tencent `SerialNo` (`sid`).
    pub provider_message_id: String,
    /// Our notification id when the receipt carries it (Aliyun's `out_id`; Tencent's receipt
    /// as described in PROVIDERS.md has none, so match it by `provider_message_id`).
    pub notification_id: Option<String>,
    /// The phone as the provider wrote it (unmasked: mask it before logging).
    pub phone: String,
    pub delivered: bool,
    /// The provider's status code (Aliyun `err_code`, Tencent `report_status`/`errmsg`).
    pub code: String,
    pub description: String,
    /// When the handset got it (or the report was made), as the provider wrote it: Beijing
    /// time, `yyyy-MM-dd HH:mm:ss`.
    pub reported_at: String,
}

/// A receipt body that is not the documented JSON array.
#[derive(Debug, thiserror::Error)]
#[error("The receipt body is not the documented JSON array: {0}")]
pub struct ReceiptError(#[from] serde_json::Error);

/// Drops repeats: providers may post the same receipt more than once (PROVIDERS.md, Aliyun
/// "Receipts"), keyed on message id and phone, keeping the first.
pub(crate) fn dedupe(receipts: Vec<SmsReceipt>) -> Vec<SmsReceipt> {
    let mut seen = std::collections::HashSet::new();
    receipts
        .into_iter()
        .filter(|r| seen.insert((r.provider_message_id.clone(), r.phone.clone())))
        .collect()
}
