//! The providers behind each one-to-one channel, built once from the settings.

use std::time::Duration;

use hongyan_adapters::config::NotifierSettings;

use crate::providers::{
    Provider, ProviderError, Secret, aliyun, console::Console, tencent, webhook,
};

/// What `sms`, `webhook` and `console` send through.
#[derive(Clone, Debug)]
pub struct Channels {
    /// The configured SMS provider; `console` prints instead (the quick start's default).
    pub sms: Provider,
    /// The generic signed webhook, when configured.
    pub webhook: Option<Provider>,
    /// Prints and records; also what `sms` is when the SMS provider is `console`.
    pub console: Console,
}

impl Channels {
    pub fn from_settings(s: &NotifierSettings, console: Console) -> Result<Self, ProviderError> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(s.send_timeout_ms))
            .build()
            .map_err(|e| ProviderError::Settings {
                provider: "http",
                reason: e.to_string(),
            })?;
        let secret = |v: &Option<String>| Secret::new(v.clone().unwrap_or_default());
        let sms = match s.sms.provider.as_str() {
            "aliyun" => {
                let a = &s.sms.aliyun;
                Provider::Aliyun(aliyun::AliyunSms::new(
                    aliyun::AliyunSettings {
                        base_url: a.base_url.clone(),
                        access_key_id: a.access_key_id.clone().unwrap_or_default(),
                        access_key_secret: secret(&a.access_key_secret),
                        sign_name: a.sign_name.clone(),
                    },
                    client.clone(),
                )?)
            }
            "tencent" => {
                let t = &s.sms.tencent;
                Provider::Tencent(tencent::TencentSms::new(
                    tencent::TencentSettings {
                        base_url: t.base_url.clone(),
                        secret_id: t.secret_id.clone().unwrap_or_default(),
                        secret_key: secret(&t.secret_key),
                        sdk_app_id: t.sdk_app_id.clone(),
                        sign_name: t.sign_name.clone(),
                        region: t.region.clone(),
                    },
                    client.clone(),
                )?)
            }
            _ => Provider::Console(console.clone()),
        };
        let webhook = if s.webhook.url.is_empty() {
            None
        } else {
            Some(Provider::Webhook(webhook::Webhook::new(
                webhook::WebhookSettings {
                    url: Secret::new(s.webhook.url.clone()),
                    secret: secret(&s.webhook.secret),
                },
                client,
            )?))
        };
        Ok(Self {
            sms,
            webhook,
            console,
        })
    }
}
