//! Sending tasks to Celery workers and waiting for their results: [`Celery`], the
//! [`SendTask`] builder (`apply_async`'s options) and [`AsyncResult`].
//!
//! Results come back as Celery's `rpc://` backend sends them, to one reply queue per
//! [`Celery`]: exclusive and auto-deleted, so it goes with the connection (Celery's own is
//! transient and not exclusive, which RabbitMQ 4.3 refuses by default). A Python worker
//! replies only when its app is configured with `result_backend = "rpc://"`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value as Json};
use tokio::sync::Notify;

use super::protocol::{new_task_id, now, Signature, TaskMessage};
use super::result::{TaskResult, TaskState};
use crate::{
    Channel, Connection, Consumer, DeliveryMode, Error, ErrorKind, Exchange, ExchangeKind,
    Producer, Queue, Result,
};

/// Results kept for ids nobody waits for yet (Celery keeps 8,192).
const BUFFERED_RESULTS: usize = 8192;

/// A Celery client on one connection: sends tasks and collects their results.
#[derive(Clone)]
pub struct Celery {
    inner: Arc<Inner>,
}

struct Inner {
    channel: Channel,
    producer: Producer,
    default_queue: String,
    reply_queue: String,
    results: Mutex<Results>,
    arrived: Notify,
    /// The task collecting results, started by the first send or wait, and again if it ended
    /// (its consumer was cancelled, its channel closed).
    listener: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

#[derive(Default)]
struct Results {
    /// The latest result per task id.
    latest: HashMap<String, TaskResult>,
    /// Ids in the order their results came, to drop the oldest past the limit.
    order: std::collections::VecDeque<String>,
}

impl std::fmt::Debug for Celery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Celery")
            .field("default_queue", &self.inner.default_queue)
            .field("reply_queue", &self.inner.reply_queue)
            .finish()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(handle) = self.listener.get_mut().take() {
            handle.abort();
        }
    }
}

impl Celery {
    /// A client on a new channel of `connection`, sending to Celery's default queue,
    /// `celery`.
    pub async fn new(connection: &Connection) -> Result<Celery> {
        let channel = connection.channel().await?;
        let producer = Producer::new(&channel)
            .serializer("json")
            .delivery_mode(DeliveryMode::Persistent);
        Ok(Celery {
            inner: Arc::new(Inner {
                channel,
                producer,
                default_queue: "celery".to_owned(),
                reply_queue: new_task_id(),
                results: Mutex::new(Results::default()),
                arrived: Notify::new(),
                listener: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// Sends tasks to `queue` unless a task says otherwise (Celery's `task_default_queue`).
    pub fn default_queue(self, queue: impl Into<String>) -> Celery {
        let queue = queue.into();
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                inner.default_queue = queue;
                Celery {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => {
                // Shared already: a new client on the same channel.
                Celery {
                    inner: Arc::new(Inner {
                        channel: inner.channel.clone(),
                        producer: inner.producer.clone(),
                        default_queue: queue,
                        reply_queue: new_task_id(),
                        results: Mutex::new(Results::default()),
                        arrived: Notify::new(),
                        listener: tokio::sync::Mutex::new(None),
                    }),
                }
            }
        }
    }

    /// The queue results come back to (the `reply_to` of every task sent).
    pub fn reply_queue(&self) -> &str {
        &self.inner.reply_queue
    }

    /// A task to send: `celery.send_task("tasks.add").args((2, 2)).apply_async().await?`.
    pub fn send_task(&self, name: impl Into<String>) -> SendTask<'_> {
        SendTask {
            celery: self,
            message: TaskMessage::new(name),
            queue: None,
            declaration: None,
            exchange: None,
            priority: 0,
            countdown: None,
            expires_in: None,
            error: None,
        }
    }

    /// A handle on the result of a task sent earlier (by id).
    pub fn result(&self, task_id: impl Into<String>) -> AsyncResult {
        AsyncResult {
            id: task_id.into(),
            celery: self.clone(),
        }
    }

    /// Declares the reply queue and starts collecting results, unless that is running.
    async fn listen(&self) -> Result<()> {
        let mut listener = self.inner.listener.lock().await;
        if listener.as_ref().is_some_and(|h| !h.is_finished()) {
            return Ok(());
        }
        let queue = Queue::new(self.inner.reply_queue.clone())
            .durable(false)
            .exclusive(true)
            .auto_delete(true)
            .expires(Duration::from_secs(86_400));
        let mut consumer = Consumer::new(&self.inner.channel, [queue]).no_ack(true);
        consumer.consume().await?;
        let weak = Arc::downgrade(&self.inner);
        *listener = Some(tokio::spawn(async move {
            while let Some(delivery) = consumer.next().await {
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                let message = match delivery {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::warn!(error = %e, "celery: the result consumer failed");
                        continue;
                    }
                };
                match message.decode::<TaskResult>() {
                    Ok(result) => inner.store(result),
                    Err(e) => tracing::warn!(
                        error = %e,
                        correlation_id = ?message.properties().correlation_id,
                        "celery: a reply that is not a task result was dropped"
                    ),
                }
            }
        }));
        Ok(())
    }
}

impl Inner {
    fn store(&self, result: TaskResult) {
        if let Ok(mut results) = self.results.lock() {
            let id = result.task_id.clone();
            // A RETRY or STARTED that comes after the end (another worker process finished
            // the retried task first) does not hide it.
            if results
                .latest
                .get(&id)
                .is_some_and(|r| r.status.is_ready() && !result.status.is_ready())
            {
                return;
            }
            if results.latest.insert(id.clone(), result).is_none() {
                results.order.push_back(id);
                while results.order.len() > BUFFERED_RESULTS {
                    if let Some(old) = results.order.pop_front() {
                        results.latest.remove(&old);
                    }
                }
            }
        }
        self.arrived.notify_waiters();
    }
}

/// A task being sent, with Celery's `apply_async` options.
#[must_use = "a task is sent by `apply_async`"]
#[derive(Debug)]
pub struct SendTask<'a> {
    celery: &'a Celery,
    message: TaskMessage,
    queue: Option<String>,
    declaration: Option<Queue>,
    exchange: Option<(String, String)>,
    priority: u8,
    countdown: Option<Duration>,
    expires_in: Option<Duration>,
    error: Option<Error>,
}

impl SendTask<'_> {
    /// The positional arguments: a tuple, array or `Vec` (anything that serializes to a list).
    pub fn args<A: Serialize>(mut self, args: A) -> Self {
        match serde_json::to_value(args) {
            Ok(Json::Array(a)) => self.message.args = a,
            Ok(Json::Null) => self.message.args = Vec::new(),
            Ok(other) => {
                self.error = Some(Error::new(
                    ErrorKind::Encode,
                    format!("task arguments must be a list, not {other}"),
                ))
            }
            Err(e) => self.error = Some(Error::new(ErrorKind::Encode, e.to_string())),
        }
        self
    }

    /// The keyword arguments: a map or a struct (anything that serializes to an object).
    pub fn kwargs<K: Serialize>(mut self, kwargs: K) -> Self {
        match serde_json::to_value(kwargs) {
            Ok(Json::Object(m)) => self.message.kwargs = m,
            Ok(Json::Null) => self.message.kwargs = Map::new(),
            Ok(other) => {
                self.error = Some(Error::new(
                    ErrorKind::Encode,
                    format!("task keyword arguments must be an object, not {other}"),
                ))
            }
            Err(e) => self.error = Some(Error::new(ErrorKind::Encode, e.to_string())),
        }
        self
    }

    /// Appends one positional argument.
    pub fn arg<A: Serialize + ?Sized>(mut self, arg: &A) -> Self {
        match serde_json::to_value(arg) {
            Ok(value) => self.message.args.push(value),
            Err(e) => self.error = Some(Error::new(ErrorKind::Encode, e.to_string())),
        }
        self
    }

    /// Sets one keyword argument.
    pub fn kwarg<A: Serialize + ?Sized>(mut self, name: &str, value: &A) -> Self {
        match serde_json::to_value(value) {
            Ok(value) => {
                self.message.kwargs.insert(name.to_owned(), value);
            }
            Err(e) => self.error = Some(Error::new(ErrorKind::Encode, e.to_string())),
        }
        self
    }

    /// Sets one keyword argument if it is `Some`; with `None` the argument is not sent, so
    /// the task's default for it applies.
    pub fn kwarg_opt<A: Serialize>(self, name: &str, value: &Option<A>) -> Self {
        match value {
            Some(v) => self.kwarg(name, v),
            None => self,
        }
    }

    /// The task id (a new UUID unless given).
    pub fn task_id(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        if self.message.root_id == self.message.id {
            self.message.root_id = id.clone();
        }
        self.message.id = id;
        self
    }

    /// Sends it to this queue (through the default exchange, as Celery does for a direct
    /// route; an `exchange` given wins, as in Celery).
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.queue = Some(queue.into());
        self.declaration = None;
        self
    }

    /// Forgets an exchange given before, so that the task goes to its queue.
    pub(super) fn without_exchange(mut self) -> Self {
        self.exchange = None;
        self
    }

    /// Sends it to this queue, declared as given (for a queue with arguments: a priority
    /// queue's `x-max-priority`, a quorum queue), through the default exchange.
    pub fn queue_declaration(mut self, queue: Queue) -> Self {
        self.queue = Some(queue.name.clone());
        self.declaration = Some(queue);
        self
    }

    /// Sends it to `exchange` with `routing_key` instead of to a queue. A queue declaration
    /// given before (`queue_declaration`, whose bindings lead from the exchange) is still
    /// declared first, so that the task is not dropped before a worker has declared it.
    pub fn exchange(mut self, exchange: impl Into<String>, routing_key: impl Into<String>) -> Self {
        self.exchange = Some((exchange.into(), routing_key.into()));
        self
    }

    /// Runs it no sooner than `countdown` from now.
    pub fn countdown(mut self, countdown: Duration) -> Self {
        self.countdown = Some(countdown);
        self.message.eta = None;
        self
    }

    /// Runs it no sooner than `eta`.
    pub fn eta(mut self, eta: DateTime<Utc>) -> Self {
        self.message.eta = Some(eta);
        self.countdown = None;
        self
    }

    /// Revokes it as expired if it has not started `expires` from now.
    pub fn expires_in(mut self, expires: Duration) -> Self {
        self.expires_in = Some(expires);
        self.message.expires = None;
        self
    }

    /// Revokes it as expired if it has not started by `expires`.
    pub fn expires_at(mut self, expires: DateTime<Utc>) -> Self {
        self.message.expires = Some(expires);
        self.expires_in = None;
        self
    }

    /// The hard time limit: the worker stops the task and reports `TimeLimitExceeded`.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.message.time_limit = Some(limit);
        self
    }

    /// The soft time limit: the task gets `SoftTimeLimitExceeded`.
    pub fn soft_time_limit(mut self, limit: Duration) -> Self {
        self.message.soft_time_limit = Some(limit);
        self
    }

    /// The message priority (0 unless given, as Celery sends).
    pub fn priority(mut self, priority: u8) -> Self {
        self.priority = priority;
        self
    }

    /// Asks the worker not to send a result.
    pub fn ignore_result(mut self, ignore: bool) -> Self {
        self.message.ignore_result = Some(ignore);
        self
    }

    /// Sends `callback` with this task's result as its first argument when it succeeds.
    pub fn link(mut self, callback: Signature) -> Self {
        self.message
            .embed
            .callbacks
            .get_or_insert_with(Vec::new)
            .push(callback);
        self
    }

    /// Sends `errback` with this task's id as its first argument when it fails.
    pub fn link_error(mut self, errback: Signature) -> Self {
        self.message
            .embed
            .errbacks
            .get_or_insert_with(Vec::new)
            .push(errback);
        self
    }

    /// Makes this the first step of a chain: `steps` run after it, in order, each with the
    /// result of the one before. Each step gets a task id and this client's reply queue, so
    /// every step's result comes back here; their handles are returned by
    /// [`SendTask::apply_chain`].
    pub fn chain(mut self, steps: Vec<Signature>) -> Self {
        let reply_to = self.celery.reply_queue().to_owned();
        let root = self.message.root_id.clone();
        let mut steps: Vec<Signature> = steps
            .into_iter()
            .map(|mut s| {
                s.options
                    .entry("task_id")
                    .or_insert_with(|| Json::String(new_task_id()));
                s.options
                    .entry("reply_to")
                    .or_insert_with(|| Json::String(reply_to.clone()));
                s.options
                    .entry("root_id")
                    .or_insert_with(|| Json::String(root.clone()));
                s
            })
            .collect();
        // Celery keeps the rest of a chain last step first.
        steps.reverse();
        self.message.embed.chain = Some(steps);
        self
    }

    /// Sends it; the handle waits for its result.
    pub async fn apply_async(self) -> Result<AsyncResult> {
        let (first, _) = self.send().await?;
        Ok(first)
    }

    /// Sends a chain's first step; the handles of every step, first to last.
    pub async fn apply_chain(self) -> Result<Vec<AsyncResult>> {
        let (first, rest) = self.send().await?;
        let mut all = vec![first];
        all.extend(rest);
        Ok(all)
    }

    async fn send(mut self) -> Result<(AsyncResult, Vec<AsyncResult>)> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let celery = self.celery;
        if let Some(countdown) = self.countdown {
            self.message.eta = Some(after(countdown, "countdown")?);
        }
        if let Some(expires) = self.expires_in {
            self.message.expires = Some(after(expires, "expires")?);
        }
        // Celery always sends a reply queue, whether or not the worker replies.
        self.message.reply_to = Some(celery.reply_queue().to_owned());
        if self.message.ignore_result != Some(true) {
            celery.listen().await?;
        }
        let rest: Vec<AsyncResult> = (self.message.embed.chain.iter().flatten().rev())
            .filter_map(|s| s.task_id().map(|id| celery.result(id)))
            .collect();
        match self.exchange.take() {
            Some((exchange, key)) => {
                let producer = &celery.inner.producer;
                publish_task(
                    producer,
                    &self.message,
                    &exchange,
                    &key,
                    self.priority,
                    self.declaration.take(),
                )
                .await?
            }
            None => {
                let queue = self
                    .queue
                    .take()
                    .unwrap_or_else(|| celery.inner.default_queue.clone());
                // Declared as given, else as Celery declares a queue of its own: durable,
                // bound to a direct exchange of its name.
                let declare = self
                    .declaration
                    .take()
                    .unwrap_or_else(|| celery_queue(&queue));
                let producer = &celery.inner.producer;
                publish_task(
                    producer,
                    &self.message,
                    "",
                    &queue,
                    self.priority,
                    Some(declare),
                )
                .await?
            }
        }
        Ok((celery.result(self.message.id.clone()), rest))
    }
}

/// A queue as Celery declares one of its own: durable, bound to a direct exchange of its name
/// with its name as the routing key.
pub(super) fn celery_queue(name: &str) -> Queue {
    Queue::new(name).bind_to(Exchange::new(name, ExchangeKind::Direct), name)
}

/// Publishes a task message as Celery does (persistent; the task id as `correlation_id`; the
/// time left before `expires` as the AMQP `expiration`, as Celery 5.2+ sets it, so that the
/// broker drops it once expired), declaring `declare` first when given. The client and the
/// worker (retries, callbacks, chains) both send through it.
pub(super) async fn publish_task(
    producer: &Producer,
    message: &TaskMessage,
    exchange: &str,
    routing_key: &str,
    priority: u8,
    declare: Option<Queue>,
) -> Result<()> {
    let body = message.body();
    let mut publish = producer
        .publish(&body)
        .exchange(exchange)
        .routing_key(routing_key)
        .headers(message.headers())
        .correlation_id(message.id.clone())
        .delivery_mode(DeliveryMode::Persistent)
        .priority(priority);
    if let Some(reply_to) = &message.reply_to {
        publish = publish.reply_to(reply_to.clone());
    }
    if let Some(expires) = message.expires {
        let left = (expires - now()).to_std().unwrap_or(Duration::ZERO);
        publish = publish.expiration(left);
    }
    if let Some(queue) = declare {
        publish = publish.declare(queue);
    }
    publish.await
}

/// The time `delay` from now, or an `Encode` error naming `what` when it is past what a
/// timestamp holds.
pub(super) fn after(delay: Duration, what: &str) -> Result<DateTime<Utc>> {
    chrono::TimeDelta::from_std(delay)
        .ok()
        .and_then(|d| now().checked_add_signed(d))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Encode,
                format!("{what} {delay:?} is too far away"),
            )
        })
}

/// The result of a task, as it arrives.
#[derive(Clone)]
pub struct AsyncResult {
    id: String,
    celery: Celery,
}

impl std::fmt::Debug for AsyncResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncResult").field("id", &self.id).finish()
    }
}

impl AsyncResult {
    /// The task's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The latest state reported (PENDING when none has come).
    pub fn state(&self) -> TaskState {
        self.latest().map_or(TaskState::Pending, |r| r.status)
    }

    fn latest(&self) -> Option<TaskResult> {
        let results = self.celery.inner.results.lock().ok()?;
        results.latest.get(&self.id).cloned()
    }

    /// Waits up to `timeout` for the task to be over (SUCCESS, FAILURE or REVOKED) and returns
    /// that result message.
    pub async fn wait(&self, timeout: Duration) -> Result<TaskResult> {
        self.celery.listen().await?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.celery.inner.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(result) = self.latest().filter(|r| r.status.is_ready()) {
                return Ok(result);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "task {} did not finish within {timeout:?} (last state {})",
                        self.id,
                        self.state()
                    ),
                ));
            }
        }
    }

    /// Waits up to `timeout` for the task's return value, decoded as `T`. A FAILURE or REVOKED
    /// result is a [`TaskFailed`](ErrorKind::TaskFailed) error naming the exception.
    pub async fn get<T: DeserializeOwned>(&self, timeout: Duration) -> Result<T> {
        let result = self.wait(timeout).await?;
        match result.status {
            TaskState::Success => serde_json::from_value(result.result).map_err(|e| {
                Error::new(
                    ErrorKind::Decode,
                    format!("the result of task {}: {e}", self.id),
                )
            }),
            state => {
                let what = result
                    .exception_value()
                    .map_or_else(|| result.result.to_string(), |e| e.to_string());
                Err(Error::new(
                    ErrorKind::TaskFailed,
                    format!("task {} ended in {state}: {what}", self.id),
                ))
            }
        }
    }
}
