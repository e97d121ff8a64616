//! Declarations over AMQP: exchanges and queues (`exchange.declare`, `queue.declare`, with
//! kombu's errors or lapin's for the recovery path) and bindings, as a channel declares them
//! and as recovery declares them again.

use lapin::options::{ExchangeDeclareOptions, QueueDeclareOptions};

use super::convert::{error, to_table};
use super::topology::BindingRecord;
use crate::error::Result;
use crate::field::FieldTable;
use crate::{Exchange, ExchangeKind, Queue};

fn kind(kind: &ExchangeKind) -> lapin::ExchangeKind {
    match kind {
        ExchangeKind::Direct => lapin::ExchangeKind::Direct,
        ExchangeKind::Fanout => lapin::ExchangeKind::Fanout,
        ExchangeKind::Topic => lapin::ExchangeKind::Topic,
        ExchangeKind::Headers => lapin::ExchangeKind::Headers,
        ExchangeKind::Custom(name) => lapin::ExchangeKind::Custom(name.clone()),
    }
}

pub(super) async fn declare_exchange(ch: &lapin::Channel, exchange: &Exchange) -> Result<()> {
    exchange_declare(ch, exchange)
        .await
        .map_err(|e| error(&format!("declaring exchange '{}'", exchange.name), e))
}

pub(super) async fn exchange_declare(
    ch: &lapin::Channel,
    exchange: &Exchange,
) -> lapin::Result<()> {
    ch.exchange_declare(
        exchange.name.as_str().into(),
        kind(&exchange.kind),
        ExchangeDeclareOptions {
            passive: exchange.passive,
            durable: exchange.durable,
            auto_delete: exchange.auto_delete,
            internal: exchange.internal,
            nowait: false,
        },
        to_table(&exchange.arguments),
    )
    .await
}

pub(super) async fn declare_queue(ch: &lapin::Channel, queue: &Queue) -> Result<lapin::Queue> {
    queue_declare(ch, queue)
        .await
        .map_err(|e| error(&format!("declaring queue '{}'", queue.name), e))
}

pub(super) async fn queue_declare(
    ch: &lapin::Channel,
    queue: &Queue,
) -> lapin::Result<lapin::Queue> {
    ch.queue_declare(
        queue.name.as_str().into(),
        QueueDeclareOptions {
            passive: queue.passive,
            durable: queue.durable,
            exclusive: queue.exclusive,
            auto_delete: queue.is_auto_delete(),
            nowait: false,
        },
        to_table(&queue.declare_arguments()),
    )
    .await
}

/// What a binding leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link {
    Queue,
    Exchange,
}

/// `queue.bind`/`queue.unbind` or `exchange.bind`/`exchange.unbind` for one binding record.
pub(super) async fn apply_binding(
    ch: &lapin::Channel,
    link: Link,
    bind: bool,
    b: &BindingRecord,
) -> lapin::Result<()> {
    let (dest, source, key) = (
        b.destination.as_str(),
        b.source.as_str(),
        b.routing_key.as_str(),
    );
    let args = to_table(&b.arguments);
    match (link, bind) {
        (Link::Queue, true) => {
            ch.queue_bind(
                dest.into(),
                source.into(),
                key.into(),
                Default::default(),
                args,
            )
            .await
        }
        (Link::Queue, false) => {
            ch.queue_unbind(dest.into(), source.into(), key.into(), args)
                .await
        }
        (Link::Exchange, true) => {
            ch.exchange_bind(
                dest.into(),
                source.into(),
                key.into(),
                Default::default(),
                args,
            )
            .await
        }
        (Link::Exchange, false) => {
            ch.exchange_unbind(
                dest.into(),
                source.into(),
                key.into(),
                Default::default(),
                args,
            )
            .await
        }
    }
}

/// What an error about a binding says it was doing.
pub(super) fn binding_context(link: Link, bind: bool, b: &BindingRecord) -> String {
    let (verb, dir) = if bind {
        ("binding", "to")
    } else {
        ("unbinding", "from")
    };
    let what = match link {
        Link::Queue => "queue",
        Link::Exchange => "exchange",
    };
    format!(
        "{verb} {what} '{}' {dir} exchange '{}'",
        b.destination, b.source
    )
}

/// A binding record for the topology kept for recovery.
pub(super) fn record(
    destination: &str,
    source: &str,
    routing_key: &str,
    arguments: &FieldTable,
) -> BindingRecord {
    BindingRecord {
        destination: destination.to_owned(),
        source: source.to_owned(),
        routing_key: routing_key.to_owned(),
        arguments: arguments.clone(),
    }
}
