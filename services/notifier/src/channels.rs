//! The providers behind each one-to-one channel, built once from the settings.

use std::time::Duration;

use hongyan_adapters::config::{self, NotifierSettings};

use hongyan_adapters::ratelimit::Limit;
use sha2::{Digest, Sha256};

use crate::providers::{
    Provider, ProviderError, Secret, SettingsProblem, aliyun, console::Console, dingtalk, feishu,
    tencent, webhook, wecom,
};
use crate::route::{Robot, RobotKind};

/// What `sms`, `webhook` and `console` send through.
#[derive(Clone, Debug)]
pub struct Channels {
    /// The configured SMS provider; `console` prints instead (the quick start's default).
    pub sms: Provider,
    /// The generic signed webhook, when configured.
    pub webhook: Option<Provider>,
    /// Prints and records; also what `sms` is when the SMS provider is `console`.
    pub console: Console,
    /// Shared by every provider, robots included: one connection pool, one timeout.
    http: reqwest::Client,
    /// Sends per minute per WeCom or DingTalk robot.
    robot_per_minute: u32,
}

impl Channels {
    pub fn from_settings(s: &NotifierSettings, console: Console) -> Result<Self, ProviderError> {
        // Providers' APIs answer where they are asked; a redirect would be a misconfigured
        // base URL, better reported than followed with a signed request.
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(s.send_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProviderError::Settings {
                provider: "http",
                problem: SettingsProblem::Client(e),
            })?;
        let secret = |v: &Option<secrecy::SecretString>| Secret::new(config::expose(v));
        let sms = match s.sms.provider.as_str() {
            "aliyun" => {
                let a = &s.sms.aliyun;
                Provider::Aliyun(aliyun::AliyunSms::new(
                    aliyun::AliyunSettings {
                        base_url: a.base_url.clone(),
                        access_key_id: config::expose(&a.access_key_id).to_owned(),
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
                        secret_id: config::expose(&t.secret_id).to_owned(),
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
        let http = client.clone();
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
            http,
            robot_per_minute: s.limits.robot_per_minute,
        })
    }

    /// The provider for an org's group robot, built from its `chat` when a broadcast goes out
    /// (an org may change its robot at any time). A bad URL is a settings error naming the
    /// provider, never echoing the URL, which carries the robot's key.
    pub fn robot(&self, robot: &Robot) -> Result<Provider, ProviderError> {
        let webhook = Secret::new(robot.chat.webhook.clone());
        let secret = robot.chat.secret.clone().map(Secret::new);
        let client = self.http.clone();
        Ok(match robot.kind {
            RobotKind::WeCom => Provider::WeCom(wecom::WeComRobot::new(
                wecom::WeComSettings { webhook },
                client,
            )?),
            RobotKind::DingTalk => Provider::DingTalk(dingtalk::DingTalkRobot::new(
                dingtalk::DingTalkSettings { webhook, secret },
                client,
            )?),
            RobotKind::Feishu => Provider::Feishu(feishu::FeishuBot::new(
                feishu::FeishuSettings { webhook, secret },
                client,
            )?),
        })
    }

    /// The limits a robot's sends count against, named by a digest of its webhook (two orgs
    /// sharing a robot share its limit; the key itself, a credential, never reaches Redis).
    /// WeCom and DingTalk take `robot_per_minute` (20); Feishu 100 a minute and 5 a second
    /// (PROVIDERS.md).
    pub fn robot_limits(&self, robot: &Robot) -> Vec<(String, Limit)> {
        let digest = Sha256::digest(robot.chat.webhook.as_bytes());
        let name = format!(
            "robot:{}:{}",
            robot.kind.as_str(),
            hex::encode(&digest[..12])
        );
        match robot.kind {
            RobotKind::WeCom | RobotKind::DingTalk => {
                vec![(name, Limit::per_minute(self.robot_per_minute))]
            }
            RobotKind::Feishu => vec![
                (format!("{name}:minute"), Limit::per_minute(100)),
                (format!("{name}:second"), Limit::per_second(5)),
            ],
        }
    }
}
