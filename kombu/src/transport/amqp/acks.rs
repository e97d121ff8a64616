//! Acknowledgements over AMQP: one ordered queue of acks and rejects per channel, sent by a task
//! of its own (`basic.ack` has no reply, so callers need not wait).
//!
//! The task takes every command queued since it last ran and sends them in order without
//! waiting for each frame to be written. Acks that finish in order are coalesced: the longest
//! run of acked messages at the bottom of what the channel has delivered and not settled goes
//! out as one `multiple = true` ack, which never covers a message still being handled (or one
//! rejected later). Batching (`AckBatching`) holds acks back to make such runs longer.

use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::Poll;

use lapin::options::{BasicAckOptions, BasicRejectOptions};
use tokio::sync::{mpsc, oneshot};

use super::channel::{close_safely, AmqpChannel, Slot, TAG_BITS, TAG_MASK};
use super::convert::error;
use crate::sync::lock;
use crate::transport::AckBatching;

/// The most commands one pass of the ack task takes before sending what it has.
const MAX_PASS: usize = 4096;

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

/// What the channel delivered and the user has not settled yet, and the batch.
#[derive(Default)]
pub(super) struct BatchState {
    pub(super) config: Mutex<Option<AckBatching>>,
    pub(super) enabled: AtomicBool,
    /// Delivered with manual acknowledgement, not yet settled on the wire (encoded tags).
    /// Only the ack task removes from it, when it sends the settlement.
    pub(super) outstanding: Mutex<BTreeSet<u64>>,
    /// Consumers with manual acknowledgement, counted from before their `basic.consume` until
    /// their forwarding task ends, and `basic.get`s in flight. Each of them adds to
    /// `outstanding` from a task of its own; only while there is at most one consumer and no
    /// get is every delivery below an outstanding one already in `outstanding`, which is what
    /// a multiple ack needs.
    pub(super) receivers: AtomicUsize,
    pub(super) gets: AtomicUsize,
    /// Handled (acked by the user), not yet sent, and since when the oldest waits. Kept here
    /// rather than sent to the ack task one by one: the task is woken once per batch.
    pub(super) done: Mutex<(BTreeSet<u64>, Option<tokio::time::Instant>)>,
}

impl BatchState {
    pub(super) fn delivered(&self, tag: u64) {
        lock(&self.outstanding).insert(tag);
    }

    fn coalescing_is_exact(&self) -> bool {
        self.receivers.load(Ordering::SeqCst) <= 1 && self.gets.load(Ordering::SeqCst) == 0
    }
}

/// Counts a receiver (a consumer or a get) in `BatchState` while it lives.
pub(super) struct Receiving {
    batch: Arc<BatchState>,
    get: bool,
}

impl Receiving {
    pub(super) fn consumer(batch: &Arc<BatchState>) -> Self {
        batch.receivers.fetch_add(1, Ordering::SeqCst);
        Receiving {
            batch: Arc::clone(batch),
            get: false,
        }
    }
    pub(super) fn get(batch: &Arc<BatchState>) -> Self {
        batch.gets.fetch_add(1, Ordering::SeqCst);
        Receiving {
            batch: Arc::clone(batch),
            get: true,
        }
    }
}

impl Receiving {
    /// A delivery this receiver got, to be settled by the user.
    pub(super) fn delivered(&self, tag: u64) {
        self.batch.delivered(tag);
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        let counter = if self.get {
            &self.batch.gets
        } else {
            &self.batch.receivers
        };
        counter.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One frame to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    Ack { tag: u64, multiple: bool },
    Reject { tag: u64, requeue: bool },
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
                    let mut frames = Vec::new();
                    batched(&batch, true, &mut frames);
                    send(&slot, &batch, frames).await;
                    continue;
                }
            },
            None => rx.recv().await,
        };
        let Some(first) = next else { return };

        // Everything queued so far, in order: single acks gather in `acks` until a reject or
        // an explicit multiple ack (which must not overtake them) or the end of the pass.
        let mut frames = Vec::new();
        let mut acks = Vec::new();
        let (mut settled, mut taken) = (0usize, 0usize);
        let (mut batch_due, mut batch_all) = (false, false);
        let mut replies = Vec::new();
        let mut close = None;
        let mut cmd = Some(first);
        while let Some(c) = cmd.take() {
            taken += 1;
            match c {
                AckCmd::Ack {
                    tag,
                    multiple: false,
                } => {
                    acks.push(tag);
                    settled += 1;
                }
                AckCmd::Ack {
                    tag,
                    multiple: true,
                } => {
                    coalesce(&batch, &mut acks, &mut frames);
                    frames.push(Settle::Ack {
                        tag,
                        multiple: true,
                    });
                    settled += 1;
                }
                AckCmd::Reject { tag, requeue } => {
                    coalesce(&batch, &mut acks, &mut frames);
                    frames.push(Settle::Reject { tag, requeue });
                    settled += 1;
                }
                AckCmd::Batch => batch_due = true,
                AckCmd::Flush(reply) => {
                    batch_all = true;
                    replies.push(reply);
                }
                AckCmd::Close { prefetch } => {
                    batch_all = true;
                    close = Some(prefetch);
                    break;
                }
            }
            if taken < MAX_PASS {
                cmd = rx.try_recv().ok();
            }
        }
        coalesce(&batch, &mut acks, &mut frames);
        if batch_all {
            batched(&batch, true, &mut frames);
        } else if batch_due {
            let max_count = lock(&batch.config).map_or(1, |c| c.max_count);
            if lock(&batch.done).0.len() >= max_count {
                batched(&batch, false, &mut frames);
            }
        }
        send(&slot, &batch, frames).await;
        if let Some(ch) = channel.upgrade() {
            ch.pending_acks.fetch_sub(settled, Ordering::SeqCst);
        }
        for reply in replies {
            let _ = reply.send(());
        }
        if let Some(prefetch) = close {
            let current = lock(&slot).take();
            if let Some(current) = current {
                let _ = close_safely(current.channel.clone(), prefetch).await;
            }
            return;
        }
    }
}

/// The acks in `acked` as frames: one multiple ack for the longest run of them at the bottom of
/// what is outstanding, when that is exact, then the others one by one, in the order given.
fn coalesce(batch: &BatchState, acked: &mut Vec<u64>, frames: &mut Vec<Settle>) {
    if acked.is_empty() {
        return;
    }
    let covered = if acked.len() > 1 && batch.coalescing_is_exact() {
        // Both in order: one walk finds the run at the bottom of `outstanding` that is acked.
        let mut sorted = acked.clone();
        sorted.sort_unstable();
        let mut acks = sorted.iter().copied().peekable();
        let mut highest = None;
        for &tag in lock(&batch.outstanding).iter() {
            while acks.next_if(|&a| a < tag).is_some() {}
            if acks.next_if_eq(&tag).is_none() {
                break;
            }
            highest = Some(tag);
        }
        highest
    } else {
        None
    };
    match covered {
        Some(highest) => {
            frames.push(Settle::Ack {
                tag: highest,
                multiple: true,
            });
            frames.extend(
                acked
                    .drain(..)
                    .filter(|&tag| tag > highest)
                    .map(|tag| Settle::Ack {
                        tag,
                        multiple: false,
                    }),
            );
        }
        None => frames.extend(acked.drain(..).map(|tag| Settle::Ack {
            tag,
            multiple: false,
        })),
    }
}

/// The batch's acks that are due: with one `multiple = true`, every finished message below the
/// oldest one still being handled (nothing unfinished is ever covered); with `all`, the
/// finished messages above it one by one, so no ack waits longer than the batch delay.
fn batched(batch: &BatchState, all: bool, frames: &mut Vec<Settle>) {
    let exact = batch.coalescing_is_exact();
    let due: Vec<u64> = {
        let mut guard = lock(&batch.done);
        let (done, since) = &mut *guard;
        if done.is_empty() {
            return;
        }
        let taken = if all || !exact {
            std::mem::take(done)
        } else {
            // The oldest delivery not yet handled: the finished ones below it go together.
            let floor = lock(&batch.outstanding)
                .iter()
                .find(|tag| !done.contains(tag))
                .copied()
                .unwrap_or(u64::MAX);
            let above = done.split_off(&floor);
            std::mem::replace(done, above)
        };
        *since = (!done.is_empty()).then(tokio::time::Instant::now);
        taken.into_iter().collect()
    };
    let mut due = due;
    coalesce(batch, &mut due, frames);
}

/// Send `frames` in order: each is queued in lapin before the next, and the writes are awaited
/// together. What was settled leaves `outstanding`.
async fn send(slot: &Mutex<Option<Slot>>, batch: &BatchState, frames: Vec<Settle>) {
    if frames.is_empty() {
        return;
    }
    let current = lock(slot).clone();
    let generation = current.as_ref().map(|s| u64::from(s.generation));
    {
        let mut outstanding = lock(&batch.outstanding);
        for frame in &frames {
            match *frame {
                Settle::Ack {
                    tag,
                    multiple: true,
                } => {
                    let above = outstanding.split_off(&(tag + 1));
                    *outstanding = above;
                }
                Settle::Ack { tag, .. } | Settle::Reject { tag, .. } => {
                    outstanding.remove(&tag);
                }
            }
        }
    }
    let Some(current) = current else { return };
    type Write<'a> = Pin<Box<dyn Future<Output = (Settle, lapin::Result<()>)> + Send + 'a>>;
    let mut writes: Vec<Write<'_>> = Vec::with_capacity(frames.len());
    for frame in frames {
        // Tags of a channel that died can no longer be settled; the broker redelivers them.
        let (Settle::Ack { tag, .. } | Settle::Reject { tag, .. }) = frame;
        if Some(tag >> TAG_BITS) != generation {
            continue;
        }
        let channel = &current.channel;
        writes.push(match frame {
            Settle::Ack { tag, multiple } => Box::pin(async move {
                let sent = channel
                    .basic_ack(tag & TAG_MASK, BasicAckOptions { multiple })
                    .await;
                (frame, sent)
            }),
            Settle::Reject { tag, requeue } => Box::pin(async move {
                let sent = channel
                    .basic_reject(tag & TAG_MASK, BasicRejectOptions { requeue })
                    .await;
                (frame, sent)
            }),
        });
    }
    // One poll each, in order, queues every frame in order; then wait for the writes.
    let mut pending = Vec::with_capacity(writes.len());
    let mut failed = Vec::new();
    std::future::poll_fn(|cx| {
        for mut write in writes.drain(..) {
            match write.as_mut().poll(cx) {
                Poll::Ready((frame, Err(e))) => failed.push((frame, e)),
                Poll::Ready((_, Ok(()))) => {}
                Poll::Pending => pending.push(write),
            }
        }
        Poll::Ready(())
    })
    .await;
    for (frame, result) in futures_util::future::join_all(pending).await {
        if let Err(e) = result {
            failed.push((frame, e));
        }
    }
    for (frame, e) in failed {
        let what = match frame {
            Settle::Ack { .. } => "basic.ack",
            Settle::Reject { .. } => "basic.reject",
        };
        let (Settle::Ack { tag, .. } | Settle::Reject { tag, .. }) = frame;
        tracing::warn!(
            error = format_args!("{:#}", error(what, e)),
            delivery_tag = tag & TAG_MASK,
            "settling a delivery failed; the broker will redeliver it"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(outstanding: &[u64], receivers: usize) -> BatchState {
        let batch = BatchState::default();
        lock(&batch.outstanding).extend(outstanding.iter().copied());
        batch.receivers.store(receivers, Ordering::SeqCst);
        batch
    }

    fn ack(tag: u64, multiple: bool) -> Settle {
        Settle::Ack { tag, multiple }
    }

    #[test]
    fn acks_at_the_bottom_of_what_is_outstanding_become_one_multiple_ack() {
        let batch = state(&[1, 2, 3, 4, 5], 1);
        let mut frames = Vec::new();
        coalesce(&batch, &mut vec![2, 1, 3, 5], &mut frames);
        // 4 is still being handled: 5 goes on its own.
        assert_eq!(frames, vec![ack(3, true), ack(5, false)]);
    }

    #[test]
    fn an_unfinished_message_at_the_bottom_is_never_covered() {
        let batch = state(&[1, 2, 3], 1);
        let mut frames = Vec::new();
        coalesce(&batch, &mut vec![2, 3], &mut frames);
        assert_eq!(frames, vec![ack(2, false), ack(3, false)]);
    }

    #[test]
    fn two_receivers_on_the_channel_send_acks_one_by_one() {
        // Another consumer's delivery below these may not be recorded yet.
        let batch = state(&[1, 2], 2);
        let mut frames = Vec::new();
        coalesce(&batch, &mut vec![1, 2], &mut frames);
        assert_eq!(frames, vec![ack(1, false), ack(2, false)]);
        batch.receivers.store(1, Ordering::SeqCst);
        batch.gets.store(1, Ordering::SeqCst);
        coalesce(&batch, &mut vec![1, 2], &mut frames);
        assert_eq!(frames.len(), 4);
        assert!(frames
            .iter()
            .all(|f| !matches!(f, Settle::Ack { multiple: true, .. })));
    }

    #[test]
    fn a_batch_acks_below_the_oldest_unfinished_message_and_keeps_the_rest() {
        let batch = state(&[1, 2, 3, 4, 5], 1);
        lock(&batch.done).0.extend([1, 2, 4]);
        let mut frames = Vec::new();
        batched(&batch, false, &mut frames);
        assert_eq!(frames, vec![ack(2, true)]);
        assert_eq!(
            lock(&batch.done).0.iter().copied().collect::<Vec<_>>(),
            vec![4]
        );
        batched(&batch, true, &mut frames);
        // 1 and 2 are still outstanding here (nothing was sent), so 4 goes on its own.
        assert_eq!(frames, vec![ack(2, true), ack(4, false)]);
    }
}
