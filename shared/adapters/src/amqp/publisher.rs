//! Publishing with publisher confirms: a message counts as sent only once the broker has
//! confirmed it (RabbitMQ's "Consumer Acknowledgements and Publisher Confirms" guide). Batches
//! publish everything first and then wait for all confirms, which keeps the pipe full.
//!
//! Publishes are `mandatory`: a message no queue is bound for comes back (basic.return) before
//! its confirm, and lapin hands the returned message over with the confirmation. Such a message
//! was confirmed but went nowhere, so it counts as a failure, not as sent. Only announcements to
//! the world (`ledger.changed`, ...), which may have no subscriber at all, are published with
//! [`Routing::MayBeUnbound`].

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use lapin::{Confirmation, PublisherConfirm};

/// One message to publish.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub exchange: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub headers: FieldTable,
    pub message_id: Option<String>,
}

/// Whether a message must reach a queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routing {
    /// A queue must take it; a return is a failure (work, parked and retried copies).
    Mandatory,
    /// An announcement that may have no subscriber yet; the broker drops it if none is bound.
    MayBeUnbound,
}

/// What became of one confirmed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Routed {
    /// The broker took it into at least one queue (or it was an announcement).
    Queued,
    /// No queue was bound for it: the broker returned it.
    Returned,
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("Could not open a RabbitMQ publishing channel")]
    Open(#[source] Box<lapin::Error>),
    #[error("Could not publish to exchange {exchange:?} with key {routing_key:?}")]
    Send {
        exchange: String,
        routing_key: String,
        #[source]
        source: Box<lapin::Error>,
    },
    #[error("The broker did not confirm a publish (connection lost?); it will be tried again")]
    Confirm(#[source] Box<lapin::Error>),
    #[error("The broker refused (nack) a published message; it will be tried again")]
    Nacked,
    #[error(
        "No queue is bound for key {routing_key:?} on exchange {exchange:?}: the broker returned \
         the message. Start the role that consumes it (each role declares its own queues) or fix \
         the bindings; it will be tried again"
    )]
    Unroutable {
        exchange: String,
        routing_key: String,
    },
}

/// A channel in confirm mode.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
}

impl Publisher {
    pub async fn open(conn: &Connection) -> Result<Self, PublishError> {
        let channel = conn
            .create_channel()
            .await
            .map_err(|e| PublishError::Open(Box::new(e)))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| PublishError::Open(Box::new(e)))?;
        Ok(Self { channel })
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Publishes all messages persistently and mandatory, and returns once the broker confirmed
    /// every one into a queue. A message no queue takes fails the call
    /// ([`PublishError::Unroutable`]).
    pub async fn publish_all(&self, messages: &[Outgoing]) -> Result<(), PublishError> {
        let routed = self.publish_each(messages, |_| Routing::Mandatory).await?;
        match routed.iter().position(|r| *r == Routed::Returned) {
            Some(i) => Err(PublishError::Unroutable {
                exchange: messages[i].exchange.clone(),
                routing_key: messages[i].routing_key.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Publishes all messages and says, message by message, whether a queue took it. Fails
    /// only when the broker did not confirm (the caller tries the whole batch again).
    pub async fn publish_each(
        &self,
        messages: &[Outgoing],
        routing: impl Fn(&Outgoing) -> Routing,
    ) -> Result<Vec<Routed>, PublishError> {
        let mut confirms = Vec::with_capacity(messages.len());
        for m in messages {
            confirms.push(self.send(m, routing(m)).await?);
        }
        let mut routed = Vec::with_capacity(confirms.len());
        for c in confirms {
            routed.push(settled(
                c.await.map_err(|e| PublishError::Confirm(Box::new(e)))?,
            )?);
        }
        Ok(routed)
    }

    async fn send(&self, m: &Outgoing, routing: Routing) -> Result<PublisherConfirm, PublishError> {
        let mut props = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_headers(m.headers.clone());
        if let Some(id) = &m.message_id {
            props = props.with_message_id(id.as_str().into());
        }
        let opts = BasicPublishOptions {
            mandatory: routing == Routing::Mandatory,
            ..BasicPublishOptions::default()
        };
        self.channel
            .basic_publish(
                m.exchange.as_str().into(),
                m.routing_key.as_str().into(),
                opts,
                &m.body,
                props,
            )
            .await
            .map_err(|source| PublishError::Send {
                exchange: m.exchange.clone(),
                routing_key: m.routing_key.clone(),
                source: Box::new(source),
            })
    }
}

/// A confirmation carrying a returned message means the broker took it and routed it nowhere.
fn settled(confirmation: Confirmation) -> Result<Routed, PublishError> {
    if confirmation.is_nack() {
        return Err(PublishError::Nacked);
    }
    Ok(match confirmation.take_message() {
        Some(_) => Routed::Returned,
        None => Routed::Queued,
    })
}
