//! Acknowledgements over AMQP: one ordered queue of acks and rejects per channel, sent by a task
//! of its own (`basic.ack` has no reply, so callers need not wait), and batching that acks with
//! `multiple = true` only what has finished, however out of order handlers finish.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use lapin::options::{BasicAckOptions, BasicRejectOptions};
use tokio::sync::{mpsc, oneshot};

use super::channel::{close_safely, AmqpChannel, Slot, TAG_BITS, TAG_MASK};
use super::convert::error;
use crate::sync::lock;
use crate::transport::AckBatching;

pub(super) enum AckCmd {
    Ack {
        tag: u64,
        multiple: bool,
    },
    /// Finished messages wait in the batch: look whether one is due.
    Batch,
    Reject {
        tag: u64,
        requeue: bool,
    },
    Flush(oneshot::Sender<()>),
    /// The channel was dropped without `close`: send what is queued, then close it.
    Close {
        prefetch: Option<u16>,
    },
}

/// Batched acknowledgement: which delivered messages are still being handled.
#[derive(Default)]
pub(super) struct BatchState {
    pub(super) config: Mutex<Option<AckBatching>>,
    pub(super) enabled: AtomicBool,
    /// Delivered, not yet settled (encoded tags), tracked while batching is on.
    pub(super) outstanding: Mutex<BTreeSet<u64>>,
    /// Handled (acked by the user), not yet sent, and since when the oldest waits. Kept here
    /// rather than sent to the ack task one by one: the task is woken once per batch.
    pub(super) done: Mutex<(BTreeSet<u64>, Option<tokio::time::Instant>)>,
}

impl BatchState {
    pub(super) fn delivered(&self, tag: u64) {
        if self.enabled.load(Ordering::Relaxed) {
            lock(&self.outstanding).insert(tag);
        }
    }
}

/// Sends acks and rejects in the order they were made. It owns what it needs to send them
/// (the slot and the batch), so what was queued still goes out after the channel is dropped;
/// then it closes the channel.
pub(super) async fn ack_loop(
    channel: Weak<AmqpChannel>,
    slot: Arc<Mutex<Option<Slot>>>,
    batch: Arc<BatchState>,
    mut rx: mpsc::UnboundedReceiver<AckCmd>,
) {
    loop {
        // While finished messages wait in the batch, wake up when the oldest is due.
        // One lock at a time: `ack` takes them in the other order, and holding `config` while
        // taking `done` here once deadlocked a consumer with batched acks.
        let config = *lock(&batch.config);
        let since = lock(&batch.done).1;
        let due = config.and_then(|config| since.map(|since| since + config.max_delay));
        let next = match due {
            Some(at) => match tokio::time::timeout_at(at, rx.recv()).await {
                Ok(cmd) => cmd,
                Err(_) => {
                    send_batch(&slot, &batch, true).await;
                    continue;
                }
            },
            None => rx.recv().await,
        };
        let Some(cmd) = next else { return };
        let (tag, outcome) = match cmd {
            AckCmd::Flush(reply) => {
                send_batch(&slot, &batch, true).await;
                let _ = reply.send(());
                continue;
            }
            AckCmd::Batch => {
                let max_count = lock(&batch.config).map_or(1, |c| c.max_count);
                if lock(&batch.done).0.len() >= max_count {
                    send_batch(&slot, &batch, false).await;
                }
                continue;
            }
            AckCmd::Close { prefetch } => {
                send_batch(&slot, &batch, true).await;
                let current = lock(&slot).take();
                if let Some(current) = current {
                    let _ = close_safely(current.channel, prefetch).await;
                }
                return;
            }
            AckCmd::Ack { tag, multiple } => (tag, {
                match slot_for(&slot, tag) {
                    Some(slot) => slot
                        .channel
                        .basic_ack(tag & TAG_MASK, BasicAckOptions { multiple })
                        .await
                        .map_err(|e| error("basic.ack", e)),
                    None => Ok(()),
                }
            }),
            AckCmd::Reject { tag, requeue } => (tag, {
                match slot_for(&slot, tag) {
                    Some(slot) => slot
                        .channel
                        .basic_reject(tag & TAG_MASK, BasicRejectOptions { requeue })
                        .await
                        .map_err(|e| error("basic.reject", e)),
                    None => Ok(()),
                }
            }),
        };
        if let Some(ch) = channel.upgrade() {
            ch.pending_acks.fetch_sub(1, Ordering::SeqCst);
        }
        if let Err(e) = outcome {
            tracing::warn!(
                error = format_args!("{e:#}"),
                delivery_tag = tag & TAG_MASK,
                "settling a delivery failed; the broker will redeliver it"
            );
        }
    }
}

/// Ack, with one `multiple = true`, every finished message below the oldest one still being
/// handled: nothing unfinished is ever covered. With `all`, the finished messages above it are
/// then acked one by one, so no ack waits longer than the batch delay.
pub(super) async fn send_batch(slot: &Mutex<Option<Slot>>, batch: &BatchState, all: bool) {
    let generation = lock(slot).as_ref().map(|s| u64::from(s.generation));
    let acks: Vec<(u64, bool)> = {
        let floor = lock(&batch.outstanding)
            .first()
            .copied()
            .unwrap_or(u64::MAX);
        let mut guard = lock(&batch.done);
        let (done, since) = &mut *guard;
        // Tags of a channel that died can no longer be acked.
        done.retain(|t| Some(t >> TAG_BITS) == generation);
        let mut acks = Vec::new();
        if let Some(&highest) = done.range(..floor).next_back() {
            acks.push((highest, true));
        }
        *done = done.split_off(&floor);
        if all {
            acks.extend(std::mem::take(done).into_iter().map(|t| (t, false)));
        }
        *since = (!done.is_empty()).then(tokio::time::Instant::now);
        acks
    };
    for (tag, multiple) in acks {
        if let Some(slot) = slot_for(slot, tag) {
            if let Err(e) = slot
                .channel
                .basic_ack(tag & TAG_MASK, BasicAckOptions { multiple })
                .await
            {
                tracing::warn!(error = %e, "a batched ack failed; the broker will redeliver those messages");
            }
        }
    }
}

pub(super) fn slot_for(slot: &Mutex<Option<Slot>>, tag: u64) -> Option<Slot> {
    let generation = u32::try_from(tag >> TAG_BITS).ok()?;
    lock(slot).clone().filter(|s| s.generation == generation)
}
