//! Running handlers over a consumer's deliveries: up to N at once, one at a time on the queues
//! that need order, each delivery settled as its handler decides as soon as that handler ends,
//! and a stop that lets handlers finish within the shutdown's grace period.
//!
//! The typed consumers (`kombu-build`, `#[derive(Consumer)]`) run their `run()` here, and
//! [`Consumer::run`] offers the same to untyped handlers written as async closures.
//!
//! Acks go out in the order handlers finish, which is not the order of delivery once more than
//! one handler runs; the broker allows that on every transport. Batched acks
//! ([`Consumer::batch_ack`]) only ever cover messages whose handler has finished.

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Poll;

use futures_core::Stream;
use futures_util::stream::FuturesUnordered;
use futures_util::FutureExt;
use std::sync::atomic::Ordering;
use tracing::Instrument;

use crate::consumer::Consumer;
use crate::dispatch::{self, Disposition, FailurePolicy};
use crate::error::Result;
use crate::message::Message;
use crate::shutdown::Shutdown;
use crate::telemetry;

/// How [`Consumer::run`] (and a typed consumer's `run`) hands deliveries to handlers.
///
/// ```
/// use std::time::Duration;
/// use kombu::{RunOptions, Shutdown};
///
/// let shutdown = Shutdown::new(Duration::from_secs(30));
/// let options = RunOptions::new()
///     .concurrency(8)           // up to 8 handlers at once
///     .ordered("ledger")        // but deliveries from `ledger` one at a time, in order
///     .shutdown(shutdown.clone());
/// assert_eq!(options.limit(), 8);
/// ```
#[derive(Debug, Clone)]
pub struct RunOptions {
    concurrency: usize,
    ordered: HashSet<String>,
    shutdown: Option<Shutdown>,
    on_panic: FailurePolicy,
    name: String,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions::new()
    }
}

impl RunOptions {
    /// One handler at a time, no shutdown, a panicking handler's message dead-lettered.
    pub fn new() -> Self {
        RunOptions {
            concurrency: 1,
            ordered: HashSet::new(),
            shutdown: None,
            on_panic: FailurePolicy::DeadLetter,
            name: String::from("consumer"),
        }
    }

    /// Run up to `n` handlers at once (at least 1). More handlers than the consumer's prefetch
    /// never run: the broker sends no more unacknowledged messages than the prefetch.
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Hand deliveries from `queue` to one handler at a time, in the order they arrived, while
    /// other queues' handlers run beside it.
    pub fn ordered(mut self, queue: impl Into<String>) -> Self {
        self.ordered.insert(queue.into());
        self
    }

    /// Stop when `shutdown` is requested: stop taking deliveries (`basic.cancel`), let the
    /// handlers in flight finish within its grace period, and give back what was delivered but
    /// not started. Without one, `run` ends when the consumer's stream ends.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// What happens to the message of a handler that panics (default: rejected, so it goes to
    /// the dead-letter exchange). The panic is logged and `run` goes on.
    pub fn on_panic(mut self, policy: FailurePolicy) -> Self {
        self.on_panic = policy;
        self
    }

    /// The name logs give the consumer.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The most handlers that run at once.
    pub fn limit(&self) -> usize {
        self.concurrency
    }
}

impl Consumer {
    /// Handle deliveries with an async handler, up to `options`' concurrency at once, settling
    /// each message as the handler answers (a message the handler settled itself is left as
    /// it is), until the stream ends or the shutdown in `options` is done. See [`RunOptions`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use kombu::{Connection, Consumer, Disposition, Producer, Queue, RunOptions, Shutdown};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> kombu::Result<()> {
    /// let conn = Connection::connect("memory://consumer-run-doc").await?;
    /// let channel = conn.channel().await?;
    /// let mut consumer = Consumer::new(&channel, [Queue::new("thumbnails")]);
    /// consumer.consume().await?;
    /// let producer = Producer::new(&channel).routing_key("thumbnails");
    /// for n in 0..10 {
    ///     producer.publish(&serde_json::json!({ "n": n })).await?;
    /// }
    /// let shutdown = Shutdown::new(Duration::from_secs(5));
    /// let done = std::sync::atomic::AtomicUsize::new(0);
    /// let options = RunOptions::new().concurrency(4).shutdown(shutdown.clone());
    /// consumer
    ///     .run(options, async |message| {
    ///         tokio::time::sleep(Duration::from_millis(5)).await; // some awaited work
    ///         if done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1 == 10 {
    ///             shutdown.token().cancel();
    ///         }
    ///         match message.payload() {
    ///             Ok(_) => Disposition::Ack,
    ///             Err(_) => Disposition::Reject,
    ///         }
    ///     })
    ///     .await?;
    /// assert_eq!(done.into_inner(), 10);
    /// conn.close().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// [`RunOptions`]: crate::RunOptions
    pub async fn run(
        &mut self,
        options: RunOptions,
        handler: impl AsyncFn(&Message) -> crate::Disposition,
    ) -> Result<()> {
        run(self, &options, async |message, _queue| {
            handler(message).await
        })
        .await
    }
}

/// What the loop waits for next. (Built once per event and matched at once: boxing the
/// message would cost an allocation per delivery for nothing.)
#[allow(clippy::large_enum_variant)]
enum Event {
    /// A handler finished; its ordered lane, if it had one.
    Finished(Option<Arc<str>>),
    Delivery(Option<Result<Message>>),
    ShutdownRequested,
    GraceOver,
}

/// Runs `handle` over `consumer`'s deliveries as `options` say, settling each message as the
/// handler decides (unless the handler settled it itself). Returns `Ok` once the stream has
/// ended (cancelled, channel or connection closed) or shutdown finished; the stream's first
/// error (a broker cancel) is returned once the handlers in flight have finished.
pub(crate) async fn run<F>(consumer: &mut Consumer, options: &RunOptions, handle: F) -> Result<()>
where
    F: AsyncFn(&Message, Option<&str>) -> Disposition,
{
    let handle = &handle;
    let name = options.name.as_str();
    let in_flight = &std::sync::atomic::AtomicUsize::new(0);
    let start = |message: Message, queue: Option<String>, lane: Option<Arc<str>>| async move {
        telemetry::in_flight(name, in_flight.fetch_add(1, Ordering::Relaxed) + 1);
        let span = telemetry::process_span(
            name,
            queue.as_deref(),
            message.delivery(),
            message.delivery_tag(),
        );
        let started = std::time::Instant::now();
        let disposition = AssertUnwindSafe(handle(&message, queue.as_deref()))
            .catch_unwind()
            .instrument(span.clone())
            .await
            .unwrap_or_else(|_| {
                telemetry::failed_as(&span, "panic");
                tracing::error!(
                    consumer = name,
                    queue = queue.as_deref().unwrap_or("?"),
                    delivery_tag = message.delivery_tag(),
                    "a handler panicked; its message is settled by the panic policy"
                );
                options.on_panic.disposition()
            });
        telemetry::handled(name, queue.as_deref().unwrap_or(""), started.elapsed());
        span.in_scope(|| {
            dispatch::settle_and_report(name, queue.as_deref(), &message, disposition)
        });
        telemetry::in_flight(name, in_flight.fetch_sub(1, Ordering::Relaxed) - 1);
        lane
    };

    let mut running = FuturesUnordered::new();
    // Ordered queues: whether a handler runs for the lane, and what waits behind it.
    let mut backlog: HashMap<Arc<str>, VecDeque<(Message, Option<String>)>> = HashMap::new();
    let mut busy: HashSet<Arc<str>> = HashSet::new();
    let mut ended = false;
    let mut stopping = false;
    let mut outcome: Result<()> = Ok(());
    let never = Shutdown::new(std::time::Duration::ZERO);
    let shutdown = options.shutdown.as_ref().unwrap_or(&never);
    let mut requested = pin!(shutdown.token().cancelled());
    let mut grace: Option<Pin<Box<tokio::time::Sleep>>> = None;

    loop {
        let waiting = backlog.values().any(|b| !b.is_empty());
        if (ended || stopping) && running.is_empty() && !waiting {
            break;
        }
        let take = !ended && !stopping && running.len() < options.concurrency;
        let watch_shutdown = !stopping && options.shutdown.is_some();
        let event = std::future::poll_fn(|cx| {
            if let Poll::Ready(Some(lane)) = Pin::new(&mut running).poll_next(cx) {
                return Poll::Ready(Event::Finished(lane));
            }
            if watch_shutdown && requested.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Event::ShutdownRequested);
            }
            if let Some(sleep) = grace.as_mut() {
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Event::GraceOver);
                }
            }
            if take {
                if let Poll::Ready(item) = Pin::new(&mut *consumer).poll_next(cx) {
                    return Poll::Ready(Event::Delivery(item));
                }
            }
            Poll::Pending
        })
        .await;
        match event {
            Event::Finished(None) => {}
            Event::Finished(Some(lane)) => {
                let next = backlog.get_mut(&lane).and_then(VecDeque::pop_front);
                match next {
                    Some((message, queue)) if !stopping => {
                        running.push(start(message, queue, Some(lane)));
                    }
                    Some(unstarted) => {
                        // Stopping: what waited behind the lane goes back to the queue.
                        give_back(std::iter::once(unstarted));
                        busy.remove(&lane);
                    }
                    None => {
                        busy.remove(&lane);
                    }
                }
            }
            Event::Delivery(None) => ended = true,
            Event::Delivery(Some(Err(error))) => {
                tracing::warn!(consumer = name, %error, "the consumer's stream failed; finishing the handlers in flight");
                outcome = Err(error);
                ended = true;
            }
            Event::Delivery(Some(Ok(message))) => {
                let queue = consumer.queue_of(message.consumer_tag());
                let lane: Option<Arc<str>> = queue
                    .as_deref()
                    .filter(|q| options.ordered.contains(*q))
                    .map(Arc::from);
                match lane {
                    Some(lane) if busy.contains(&lane) => {
                        backlog.entry(lane).or_default().push_back((message, queue));
                    }
                    Some(lane) => {
                        busy.insert(Arc::clone(&lane));
                        running.push(start(message, queue, Some(lane)));
                    }
                    None => running.push(start(message, queue, None)),
                }
            }
            Event::ShutdownRequested => {
                stopping = true;
                tracing::info!(
                    consumer = name,
                    in_flight = running.len(),
                    "shutdown requested: no more deliveries; handlers in flight have {:?}",
                    shutdown.grace()
                );
                grace = Some(Box::pin(tokio::time::sleep(shutdown.grace())));
                // Where the broker still takes settlements of a cancelled consumer, stop its
                // deliveries now; elsewhere (STOMP) the cancel waits for the handlers in
                // flight, so that their acks count.
                if consumer.settles_after_cancel() {
                    if let Err(error) = consumer.cancel().await {
                        tracing::warn!(consumer = name, %error, "could not cancel the consumer");
                    }
                }
                give_back(backlog.values_mut().flat_map(std::mem::take));
            }
            Event::GraceOver => {
                tracing::warn!(
                    consumer = name,
                    cut_off = running.len(),
                    "the grace period ran out; the messages of the handlers cut off stay unsettled and are delivered again"
                );
                running.clear();
                give_back(backlog.values_mut().flat_map(std::mem::take));
                busy.clear();
            }
        }
    }
    if stopping {
        // Cancel (unless done already), and give back what was delivered after the last
        // handler started.
        let returned = shutdown.wind_down(consumer).await?;
        tracing::info!(consumer = name, returned, "consumer stopped");
    }
    outcome
}

/// Requeues messages that were delivered but whose handler never started.
fn give_back(messages: impl Iterator<Item = (Message, Option<String>)>) {
    for (message, _) in messages {
        if let Err(error) = message.requeue() {
            tracing::debug!(%error, "could not requeue an unstarted message; it returns when the channel closes");
        }
    }
}
