use hongyan_domain::Phone;
use hongyan_notifier::providers::console::Console;
use hongyan_notifier::providers::wecom::WeComMessage;
use hongyan_notifier::providers::{Message, Provider, SmsMessage};

use crate::ctx;

#[tokio::test]
async fn the_console_takes_any_message_and_records_it_with_phones_masked() {
    let console = Console::new();
    let provider = Provider::Console(console.clone());
    let sms = Message::Sms(SmsMessage {
        notification_id: "n-1".into(),
        phone: Phone::parse("+8613812345678").unwrap(),
        template: "monthly_reminder".into(),
        params: vec![("name".into(), "张三".into())],
    });
    let robot = Message::WeCom(WeComMessage::Markdown {
        content: "联系人 13900001111".into(),
    });
    assert!(provider.send(&sms, &ctx()).await.unwrap().is_delivered());
    assert!(provider.send(&robot, &ctx()).await.unwrap().is_delivered());
    let sent = console.sent();
    assert_eq!(sent.len(), 2);
    assert_eq!(
        (sent[0].channel, sent[0].phone.as_deref()),
        ("sms", Some("13812345678"))
    );
    assert_eq!(sent[0].text, "[monthly_reminder] name=张三");
    assert_eq!(sent[1].channel, "wecom");
    assert_eq!(sent[1].line, "联系人 139****1111");
}
