//! Publishing with publisher confirms: a message counts as sent only once the broker has
//! confirmed it (RabbitMQ's "Consumer Acknowledgements and Publisher Confirms" guide). Batches
//! publish everything first and then wait for all confirms, which keeps the pipe full.

use anyhow::{Context, bail};
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};

/// One message to publish.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub exchange: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub headers: FieldTable,
    pub message_id: Option<String>,
}

/// A channel in confirm mode.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
}

impl Publisher {
    pub async fn open(conn: &Connection) -> anyhow::Result<Self> {
        let channel = conn
            .create_channel()
            .await
            .context("Could not open a RabbitMQ channel")?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .context("Could not enable publisher confirms")?;
        Ok(Self { channel })
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Publishes all messages persistently and returns once the broker confirmed every one.
    pub async fn publish_all(&self, messages: &[Outgoing]) -> anyhow::Result<()> {
        let mut confirms = Vec::with_capacity(messages.len());
        for m in messages {
            let mut props = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into())
                .with_headers(m.headers.clone());
            if let Some(id) = &m.message_id {
                props = props.with_message_id(id.as_str().into());
            }
            let confirm = self
                .channel
                .basic_publish(
                    m.exchange.as_str().into(),
                    m.routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &m.body,
                    props,
                )
                .await
                .with_context(|| {
                    format!(
                        "Could not publish to {:?} with key {:?}",
                        m.exchange, m.routing_key
                    )
                })?;
            confirms.push(confirm);
        }
        for c in confirms {
            let confirmation = c.await.context("The broker did not confirm a publish")?;
            if confirmation.is_nack() {
                bail!("The broker refused (nack) a published message; it will be tried again");
            }
        }
        Ok(())
    }
}
