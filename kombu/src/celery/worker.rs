//! A worker for tasks that Celery senders (Python's `send_task`, `delay`, canvas) or
//! [`Celery`](super::Celery) clients send: [`Worker`] consumes Celery queues, runs the
//! registered task functions and behaves as a Celery worker does where a sender can tell:
//!
//! - acks before running the task, or after it when the task is `acks_late`;
//! - an `expires` in the past: REVOKED (`TaskRevokedError('expired')`) and ack;
//! - an `eta` in the future: the message is held (unacked) until then while others run; at
//!   shutdown it is given back (rejected with requeue);
//! - time limits (the message's `timelimit`, else the task's): past the soft limit the task is
//!   stopped with `SoftTimeLimitExceeded`, past the hard one with `TimeLimitExceeded` (a Rust
//!   task cannot catch the soft limit as a Python one can: it ends there, as an uncaught
//!   `SoftTimeLimitExceeded` ends a Python task); a panic fails the task with `RuntimeError`;
//! - [`TaskError::retry`] re-publishes the message with `retries + 1` and an `eta`, and
//!   reports RETRY; past `max_retries` the task fails with `MaxRetriesExceededError`;
//! - on success the `link` callbacks (the result put first in their arguments unless
//!   immutable; a chain as its first step with the rest to follow, a group as each of its
//!   tasks) and the next step of a chain are sent before SUCCESS is reported, with their
//!   `apply_async` options (queue or exchange and routing key, else
//!   [`Worker::default_queue`]; countdown, eta, expires, priority, time limits); on failure
//!   the `link_error` errbacks get the task id, and FAILURE is reported for the steps of the
//!   chain that will not run; chords are not supported (`rpc://` refuses them too);
//! - a retry keeps the message's own headers, but not `compression` (the body goes out
//!   decompressed) or the broker's `x-death` record, and keeps its priority;
//! - results go to the message's `reply_to` as Celery's `rpc://` backend sends them;
//! - an unknown task name: rejected, and FAILURE `NotRegistered` reported;
//! - a message that is not a task: rejected (dead-lettered if the queue says so), logged.
//!
//! Like Celery, the worker raises its channel-wide prefetch by one for each ETA message it
//! holds (RabbitMQ's `basic.qos` with `global = true`), so waiting messages never use up the
//! prefetch of the others. Where there is no channel-wide prefetch (the in-memory broker,
//! STOMP, and quorum queues and streams, which refuse one), held ETA messages count against
//! the consumer's prefetch.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{json, Value as Json};
use tokio::task::JoinSet;

use super::client::publish_task;
use super::protocol::{now, Signature, TaskMessage};
use super::result::{TaskException, TaskResult, TaskState};
use crate::{
    Connection, Consumer, DeliveryMode, Error, ErrorKind, Message, Producer, Queue, Result,
    Shutdown,
};

/// How a task ended other than by returning a value.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum TaskError {
    /// FAILURE with this exception (and traceback text).
    Failure {
        /// The exception reported.
        exception: Box<TaskException>,
        /// The traceback, as text.
        traceback: Option<String>,
    },
    /// Retry after `countdown` (the task's default retry delay when `None`), reporting RETRY
    /// with `exception`.
    Retry {
        /// How long to wait before the retry.
        countdown: Option<Duration>,
        /// Why (reported with the RETRY state).
        exception: Option<Box<TaskException>>,
    },
    /// Reject the message (requeued or not); no result is reported.
    Reject {
        /// Whether the broker should deliver it again.
        requeue: bool,
    },
}

impl TaskError {
    /// A FAILURE with a Python exception class from `module` (`builtins` for `ValueError`).
    pub fn failure(
        module: impl Into<String>,
        exc_type: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        TaskError::Failure {
            exception: Box::new(TaskException::new(module, exc_type, message.into())),
            traceback: None,
        }
    }

    /// A retry after `countdown` (`None`: the task's default delay).
    pub fn retry(countdown: Option<Duration>) -> Self {
        TaskError::Retry {
            countdown,
            exception: None,
        }
    }
}

impl From<Error> for TaskError {
    /// A kombu error inside a task (arguments that do not decode, a failed publish) fails
    /// it with a `RuntimeError` naming the error, or a `TypeError` for bad arguments.
    fn from(e: Error) -> Self {
        let exc_type = if e.is_decode() {
            "TypeError"
        } else {
            "RuntimeError"
        };
        TaskError::failure("builtins", exc_type, e.to_string())
    }
}

/// How a task is run, as Celery's task options say.
#[derive(Debug, Clone)]
pub struct TaskOptions {
    /// Ack after the task has run instead of before.
    pub acks_late: bool,
    /// Retries allowed (Celery's default is 3); `None` for no limit.
    pub max_retries: Option<u32>,
    /// The delay of a retry that gives none (Celery's default is 180 s).
    pub default_retry_delay: Duration,
    /// The hard time limit when the message gives none.
    pub time_limit: Option<Duration>,
    /// The soft time limit when the message gives none.
    pub soft_time_limit: Option<Duration>,
    /// Report STARTED before running.
    pub track_started: bool,
    /// Report no result unless the message asks for one.
    pub ignore_result: bool,
}

impl Default for TaskOptions {
    fn default() -> Self {
        TaskOptions {
            acks_late: false,
            max_retries: Some(3),
            default_retry_delay: Duration::from_secs(180),
            time_limit: None,
            soft_time_limit: None,
            track_started: false,
            ignore_result: false,
        }
    }
}

/// One task to run: the message and what the worker knows about its delivery.
#[derive(Debug, Clone)]
pub struct TaskRequest {
    message: TaskMessage,
}

impl TaskRequest {
    /// The task message as it came.
    pub fn message(&self) -> &TaskMessage {
        &self.message
    }

    /// The task id.
    pub fn id(&self) -> &str {
        &self.message.id
    }

    /// How many times it was retried before.
    pub fn retries(&self) -> u32 {
        self.message.retries
    }

    /// The positional arguments decoded as `T` (a tuple, a `Vec`, a struct read from a list).
    pub fn args<T: DeserializeOwned>(&self) -> std::result::Result<T, TaskError> {
        serde_json::from_value(Json::Array(self.message.args.clone())).map_err(|e| {
            TaskError::failure(
                "builtins",
                "TypeError",
                format!("{}: bad arguments: {e}", self.message.task),
            )
        })
    }

    /// The keyword arguments decoded as `T` (a struct or a map).
    pub fn kwargs<T: DeserializeOwned>(&self) -> std::result::Result<T, TaskError> {
        serde_json::from_value(Json::Object(self.message.kwargs.clone())).map_err(|e| {
            TaskError::failure(
                "builtins",
                "TypeError",
                format!("{}: bad keyword arguments: {e}", self.message.task),
            )
        })
    }
}

type TaskFuture = Pin<Box<dyn Future<Output = std::result::Result<Json, TaskError>> + Send>>;
type TaskFn = Arc<dyn Fn(TaskRequest) -> TaskFuture + Send + Sync>;

struct Registered {
    run: TaskFn,
    options: TaskOptions,
}

/// A Celery worker in Rust: register task functions, then [`Worker::run`].
pub struct Worker {
    connection: Connection,
    queues: Vec<Queue>,
    default_queue: String,
    prefetch: u16,
    concurrency: usize,
    tasks: HashMap<String, Registered>,
    hostname: String,
}

impl Worker {
    /// A worker on `connection` consuming Celery's default queue, `celery`.
    pub fn new(connection: &Connection) -> Worker {
        Worker {
            connection: connection.clone(),
            queues: Vec::new(),
            default_queue: "celery".to_owned(),
            prefetch: 16,
            concurrency: 4,
            tasks: HashMap::new(),
            hostname: format!("kombu@{}", std::process::id()),
        }
    }

    /// Consumes this queue (declared as Celery declares its queues); repeatable. Without one,
    /// `celery`.
    pub fn queue(mut self, queue: impl Into<String>) -> Worker {
        self.queues.push(super::client::celery_queue(&queue.into()));
        self
    }

    /// Consumes this queue, declared as given (a priority queue's `x-max-priority`, a quorum
    /// queue); repeatable. With a quorum queue or a stream among them, the prefetch is the
    /// consumer's (RabbitMQ refuses a channel-wide one there), and ETA messages count against
    /// it.
    pub fn queue_declaration(mut self, queue: Queue) -> Worker {
        self.queues.push(queue);
        self
    }

    /// Consumes none of the queues given so far (the ones a generated `into_worker` names,
    /// say), so that others can be given instead: a deployment's own queue names.
    pub fn clear_queues(mut self) -> Worker {
        self.queues.clear();
        self
    }

    /// Where callbacks and chain steps that name no queue are sent (Celery's
    /// `task_default_queue`; `celery` unless given).
    pub fn default_queue(mut self, queue: impl Into<String>) -> Worker {
        self.default_queue = queue.into();
        self
    }

    /// How many messages the broker may send ahead (16 unless given; ETA messages that wait
    /// count against it).
    pub fn prefetch(mut self, prefetch: u16) -> Worker {
        self.prefetch = prefetch.max(1);
        self
    }

    /// How many tasks run at once (4 unless given).
    pub fn concurrency(mut self, concurrency: usize) -> Worker {
        self.concurrency = concurrency.max(1);
        self
    }

    /// Registers the function that runs task `name`.
    pub fn task<F, Fut>(mut self, name: impl Into<String>, options: TaskOptions, run: F) -> Worker
    where
        F: Fn(TaskRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<Json, TaskError>> + Send + 'static,
    {
        let run: TaskFn = Arc::new(move |request| Box::pin(run(request)) as TaskFuture);
        self.tasks.insert(name.into(), Registered { run, options });
        self
    }

    /// Registers the function that runs task `name`, whose value is serialized as the
    /// task's result (a value that does not serialize fails the task with
    /// `kombu.exceptions.EncodeError`, as in Celery).
    pub fn typed_task<F, Fut, R>(
        self,
        name: impl Into<String>,
        options: TaskOptions,
        run: F,
    ) -> Worker
    where
        F: Fn(TaskRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = std::result::Result<R, TaskError>> + Send + 'static,
        R: serde::Serialize,
    {
        self.task(name, options, move |request| {
            let running = run(request);
            async move {
                let value = running.await?;
                serde_json::to_value(value).map_err(|e| {
                    TaskError::failure("kombu.exceptions", "EncodeError", e.to_string())
                })
            }
        })
    }

    /// Runs until `shutdown` is requested: then stops consuming, lets running tasks finish
    /// within the grace period, and gives back what waits (ETA messages, prefetched ones).
    pub async fn run(self, shutdown: Shutdown) -> Result<()> {
        let channel = self.connection.channel().await?;
        let queues: Vec<Queue> = if self.queues.is_empty() {
            vec![super::client::celery_queue("celery")]
        } else {
            self.queues.clone()
        };
        // A channel-wide prefetch, raised for each held ETA message, where the transport has
        // one and the queues take one (quorum queues and streams do not); else the consumer's.
        let classic = queues.iter().all(|q| q.kind() == crate::QueueType::Classic);
        let raisable = classic
            && match channel.basic_qos_channel(self.prefetch).await {
                Ok(()) => true,
                Err(e) if e.kind() == ErrorKind::Unsupported => false,
                Err(e) => return Err(e),
            };
        let per_consumer = if raisable { 0 } else { self.prefetch };
        let mut consumer = Consumer::new(&channel, queues).prefetch_count(per_consumer);
        consumer.consume().await?;
        let prefetch = Prefetch {
            channel: raisable.then(|| channel.clone()),
            base: self.prefetch,
            held: tokio::sync::Mutex::new(0),
        };
        let out = self.connection.channel().await?;
        let ctx = Arc::new(Context {
            tasks: self.tasks,
            producer: Producer::new(&out).serializer("json"),
            shutdown: shutdown.clone(),
            hostname: self.hostname,
            prefetch,
            default_queue: self.default_queue,
        });
        let slots = Arc::new(tokio::sync::Semaphore::new(self.concurrency));
        let mut running = JoinSet::new();
        let mut failed = None;
        while let Some(delivery) = shutdown.next(&mut consumer).await {
            let message = match delivery {
                Ok(m) => m,
                Err(e) if e.kind() == ErrorKind::ContentDisallowed || e.is_decode() => {
                    tracing::warn!(error = %e, "celery worker: a delivery was refused");
                    continue;
                }
                Err(e) => {
                    // (A cancelled consumer, a closed channel.) The tasks running finish as at
                    // a shutdown, then the error is returned.
                    tracing::warn!(error = %e, "celery worker: consuming failed; stopping");
                    shutdown.token().cancel();
                    failed = Some(e);
                    break;
                }
            };
            while running.try_join_next().is_some() {}
            let ctx = Arc::clone(&ctx);
            let slots = Arc::clone(&slots);
            running.spawn(async move { ctx.handle(message, slots).await });
        }
        // Running tasks finish within the grace period; waiting ETA messages were given back
        // when the shutdown was requested.
        let drained = tokio::time::timeout(shutdown.grace(), async {
            while running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "celery worker: tasks still running after the grace period were stopped"
            );
            running.abort_all();
        }
        let wound_down = shutdown.wind_down(&mut consumer).await;
        match failed {
            Some(e) => Err(e),
            None => wound_down.map(|_| ()),
        }
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut tasks: Vec<&String> = self.tasks.keys().collect();
        tasks.sort();
        f.debug_struct("Worker")
            .field("queues", &self.queues)
            .field("prefetch", &self.prefetch)
            .field("concurrency", &self.concurrency)
            .field("tasks", &tasks)
            .finish()
    }
}

struct Context {
    tasks: HashMap<String, Registered>,
    producer: Producer,
    shutdown: Shutdown,
    hostname: String,
    prefetch: Prefetch,
    default_queue: String,
}

/// The channel-wide prefetch: `base` plus one per ETA message held.
struct Prefetch {
    channel: Option<crate::Channel>,
    base: u16,
    held: tokio::sync::Mutex<u16>,
}

impl Prefetch {
    async fn hold(&self, change: i32) {
        let Some(channel) = &self.channel else {
            return;
        };
        let mut held = self.held.lock().await;
        let next = (i32::from(*held) + change).clamp(0, i32::from(u16::MAX - self.base));
        *held = u16::try_from(next).unwrap_or(0);
        if let Err(e) = channel.basic_qos_channel(self.base + *held).await {
            tracing::warn!(error = %e, "celery worker: the prefetch could not be changed");
        }
    }
}

impl Context {
    async fn handle(&self, delivery: Message, slots: Arc<tokio::sync::Semaphore>) {
        let task = match TaskMessage::from_message(&delivery) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "celery worker: rejected a message that is not a task");
                let _ = delivery.reject();
                return;
            }
        };
        let Some(registered) = self.tasks.get(&task.task) else {
            tracing::warn!(task = %task.task, id = %task.id, "celery worker: unknown task");
            let _ = delivery.reject();
            let exc = TaskException::new(
                "celery.exceptions",
                "NotRegistered",
                Json::String(task.task.clone()),
            );
            self.report(
                &task,
                TaskResult::exception(&task.id, TaskState::Failure, &exc, None),
            )
            .await;
            return;
        };
        // As Celery up to 5.6.2 decides: the header can only turn results off (Python always
        // sends it, `False` unless asked), the task's own setting too.
        let wants_result = !(task.ignore_result == Some(true) || registered.options.ignore_result);
        if let Some(eta) = task.eta {
            if let Ok(wait) = (eta - now()).to_std() {
                self.prefetch.hold(1).await;
                let sleep = std::pin::pin!(tokio::time::sleep(wait));
                let cancelled = std::pin::pin!(self.shutdown.token().cancelled());
                let waited = futures_util::future::select(sleep, cancelled).await;
                self.prefetch.hold(-1).await;
                if let futures_util::future::Either::Right(_) = waited {
                    // Given back: another worker (or this one, restarted) runs it.
                    let _ = delivery.requeue();
                    return;
                }
            }
        }
        let Ok(_slot) = slots.acquire().await else {
            let _ = delivery.requeue();
            return;
        };
        if self.shutdown.is_requested() {
            let _ = delivery.requeue();
            return;
        }
        if task.expires.is_some_and(|e| e <= now()) {
            if wants_result {
                let exc = TaskException::new("celery.exceptions", "TaskRevokedError", "expired");
                self.report(
                    &task,
                    TaskResult::exception(&task.id, TaskState::Revoked, &exc, None),
                )
                .await;
            }
            let _ = delivery.ack();
            return;
        }
        let options = &registered.options;
        if !options.acks_late {
            let _ = delivery.ack();
        }
        if options.track_started && wants_result {
            let started = TaskResult {
                task_id: task.id.clone(),
                status: TaskState::Started,
                result: json!({"pid": std::process::id(), "hostname": self.hostname}),
                traceback: None,
                children: Vec::new(),
            };
            self.report(&task, started).await;
        }
        let outcome = self.run_limited(registered, &task).await;
        let settle = match outcome {
            Ok(value) => {
                self.after_success(&task, &value).await;
                if wants_result {
                    self.report(&task, TaskResult::success(&task.id, value))
                        .await;
                }
                Settle::Ack
            }
            Err(TaskError::Retry {
                countdown,
                exception,
            }) => {
                let from = (
                    delivery.exchange(),
                    delivery.routing_key(),
                    delivery.properties().priority.unwrap_or(0),
                );
                self.retry(&task, options, countdown, exception, wants_result, from)
                    .await
            }
            Err(TaskError::Failure {
                exception,
                traceback,
            }) => {
                self.fail(&task, &exception, traceback, wants_result).await;
                Settle::Ack
            }
            Err(TaskError::Reject { requeue }) => {
                if requeue {
                    Settle::Requeue
                } else {
                    Settle::Reject
                }
            }
        };
        // Before the task ran, an early ack already settled the message; a reject asked for
        // by the task still applies under acks_late only, as in Celery.
        if options.acks_late {
            let _ = match settle {
                Settle::Ack => delivery.ack(),
                Settle::Reject => delivery.reject(),
                Settle::Requeue => delivery.requeue(),
            };
        }
    }

    /// Runs the task within its time limits (the message's, else the task's).
    async fn run_limited(
        &self,
        registered: &Registered,
        task: &TaskMessage,
    ) -> std::result::Result<Json, TaskError> {
        let hard = task.time_limit.or(registered.options.time_limit);
        let soft = task.soft_time_limit.or(registered.options.soft_time_limit);
        let run = (registered.run)(TaskRequest {
            message: task.clone(),
        });
        // A panic in the task is its failure, as an exception is in Python.
        let run = async move {
            match futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(run)).await {
                Ok(outcome) => outcome,
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "a panic".to_owned());
                    Err(TaskError::failure(
                        "builtins",
                        "RuntimeError",
                        format!("the task panicked: {what}"),
                    ))
                }
            }
        };
        // The first limit to pass stops the task (it is dropped at its next await point).
        let limit = match (soft, hard) {
            (Some(s), Some(h)) if s < h => Some((s, "SoftTimeLimitExceeded", false)),
            (_, Some(h)) => Some((h, "TimeLimitExceeded", true)),
            (Some(s), None) => Some((s, "SoftTimeLimitExceeded", false)),
            (None, None) => None,
        };
        match limit {
            None => run.await,
            Some((limit, exc_type, hard)) => match tokio::time::timeout(limit, run).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    // As billiard raises them: `TimeLimitExceeded(<hard seconds>)` and
                    // `SoftTimeLimitExceeded()`.
                    let args = if hard {
                        vec![json!(limit.as_secs_f64())]
                    } else {
                        Vec::new()
                    };
                    Err(TaskError::Failure {
                        exception: Box::new(TaskException {
                            exc_type: exc_type.to_owned(),
                            exc_message: Json::Array(args),
                            exc_module: "billiard.exceptions".to_owned(),
                        }),
                        traceback: None,
                    })
                }
            },
        }
    }

    /// Sends the `link` callbacks and the next step of the chain with the result.
    async fn after_success(&self, task: &TaskMessage, value: &Json) {
        for callback in task.embed.callbacks.iter().flatten() {
            let mut next = callback.clone();
            if !next.immutable {
                next.args.insert(0, value.clone());
            }
            if let Err(e) = self.send_signature(task, next, None).await {
                tracing::warn!(error = %e, task = %callback.task, "celery worker: a callback could not be sent");
            }
        }
        if let Some(chain) = &task.embed.chain {
            let mut rest = chain.clone();
            if let Some(mut next) = rest.pop() {
                if !next.immutable {
                    next.args.insert(0, value.clone());
                }
                let name = next.task.clone();
                if let Err(e) = self.send_signature(task, next, Some(rest)).await {
                    tracing::warn!(error = %e, task = %name, "celery worker: the next step of a chain could not be sent");
                }
            }
        }
    }

    /// Reports FAILURE (for this task and the chain steps that will not run) and sends the
    /// errbacks.
    async fn fail(
        &self,
        task: &TaskMessage,
        exception: &TaskException,
        traceback: Option<String>,
        wants_result: bool,
    ) {
        if wants_result {
            self.report(
                task,
                TaskResult::exception(&task.id, TaskState::Failure, exception, traceback.clone()),
            )
            .await;
        }
        for step in task.embed.chain.iter().flatten() {
            if let (Some(id), Some(reply_to)) = (step.task_id(), step.option_str("reply_to")) {
                let result =
                    TaskResult::exception(id, TaskState::Failure, exception, traceback.clone());
                self.publish_result(reply_to, id, &result).await;
            }
        }
        for errback in task.embed.errbacks.iter().flatten() {
            let mut next = errback.clone();
            if !next.immutable {
                next.args.insert(0, Json::String(task.id.clone()));
            }
            if let Err(e) = self.send_signature(task, next, None).await {
                tracing::warn!(error = %e, task = %errback.task, "celery worker: an errback could not be sent");
            }
        }
    }

    async fn retry(
        &self,
        task: &TaskMessage,
        options: &TaskOptions,
        countdown: Option<Duration>,
        exception: Option<Box<TaskException>>,
        wants_result: bool,
        from: (&str, &str, u8),
    ) -> Settle {
        if options.max_retries.is_some_and(|max| task.retries >= max) {
            let exception = exception.map(|e| *e).unwrap_or_else(|| {
                TaskException::new(
                    "celery.exceptions",
                    "MaxRetriesExceededError",
                    format!(
                        "Can't retry {}[{}] args:{} kwargs:{}",
                        task.task, task.id, task.argsrepr, task.kwargsrepr
                    ),
                )
            });
            self.fail(task, &exception, None, wants_result).await;
            return Settle::Ack;
        }
        let mut again = task.clone();
        again.retries += 1;
        let countdown = countdown.unwrap_or(options.default_retry_delay);
        again.eta = match super::client::after(countdown, "the retry's countdown") {
            Ok(eta) => Some(eta),
            Err(e) => {
                let exc = TaskException::new("builtins", "ValueError", e.to_string());
                self.fail(task, &exc, None, wants_result).await;
                return Settle::Ack;
            }
        };
        // Celery recomputes the reprs of the arguments it sends again.
        again.argsrepr.clear();
        again.kwargsrepr.clear();
        // Where it came from: the same exchange and routing key (for the default exchange,
        // the queue), as Celery does.
        let (exchange, routing_key, priority) = from;
        if let Err(e) = publish_task(
            &self.producer,
            &again,
            exchange,
            routing_key,
            priority,
            None,
        )
        .await
        {
            tracing::warn!(error = %e, id = %task.id, "celery worker: a retry could not be sent; the message is rejected");
            return Settle::Reject;
        }
        if wants_result {
            let exc = exception.map(|e| *e).unwrap_or_else(|| {
                TaskException::new(
                    "celery.exceptions",
                    "Retry",
                    format!("Retry in {}s", countdown.as_secs()),
                )
            });
            self.report(
                task,
                TaskResult::exception(&task.id, TaskState::Retry, &exc, None),
            )
            .await;
        }
        Settle::Ack
    }

    /// Sends a signature as a new task (or, for a chain or a group, its tasks) whose parent
    /// is `parent`; `chain` is what runs after it, last step first.
    async fn send_signature(
        &self,
        parent: &TaskMessage,
        signature: Signature,
        chain: Option<Vec<Signature>>,
    ) -> Result<()> {
        let parts = |signature: &Signature| -> Result<Vec<Signature>> {
            let tasks = signature.kwargs.get("tasks").cloned().unwrap_or(Json::Null);
            serde_json::from_value::<Vec<Signature>>(tasks).map_err(|e| {
                Error::new(
                    ErrorKind::Decode,
                    format!("the tasks of a {}: {e}", signature.task),
                )
            })
        };
        // What the composite was given goes before each part's own arguments.
        let given = |part: &mut Signature, args: &[Json]| {
            if !part.immutable {
                part.args.splice(0..0, args.iter().cloned());
            }
        };
        match signature.subtask_type.as_deref() {
            None => self.send_one(parent, signature, chain, None).await,
            Some("chain") => {
                let mut steps = parts(&signature)?.into_iter();
                let Some(mut first) = steps.next() else {
                    return Ok(());
                };
                given(&mut first, &signature.args);
                if first.subtask_type.is_some() {
                    return Err(unsupported(&first));
                }
                // The chain's later steps run before what came after the chain.
                let mut rest = chain.unwrap_or_default();
                rest.extend(steps.rev());
                self.send_one(parent, first, Some(rest), None).await
            }
            Some("group") => {
                if chain.as_ref().is_some_and(|c| !c.is_empty()) {
                    // A group followed by more is a chord, which `rpc://` does not support.
                    return Err(unsupported(&signature));
                }
                let group_id = signature
                    .option_str("group_id")
                    .map_or_else(super::protocol::new_task_id, str::to_owned);
                for (index, mut part) in parts(&signature)?.into_iter().enumerate() {
                    given(&mut part, &signature.args);
                    if part.subtask_type.is_some() {
                        return Err(unsupported(&part));
                    }
                    let index = i64::try_from(index).unwrap_or(i64::MAX);
                    self.send_one(parent, part, None, Some((group_id.clone(), index)))
                        .await?;
                }
                Ok(())
            }
            Some(_) => Err(unsupported(&signature)),
        }
    }

    /// Sends one plain signature, with its `apply_async` options.
    async fn send_one(
        &self,
        parent: &TaskMessage,
        signature: Signature,
        chain: Option<Vec<Signature>>,
        group: Option<(String, i64)>,
    ) -> Result<()> {
        let mut message = TaskMessage::new(signature.task.clone());
        if let Some(id) = signature.task_id() {
            message.id = id.to_owned();
        }
        message.args = signature.args.clone();
        message.kwargs = signature.kwargs.clone();
        message.root_id = parent.root_id.clone();
        message.parent_id = Some(parent.id.clone());
        message.reply_to = signature
            .option_str("reply_to")
            .map(str::to_owned)
            .or_else(|| parent.reply_to.clone());
        message.embed.chain = chain.filter(|c| !c.is_empty());
        let options = &signature.options;
        if let Some(link) = options.get("link") {
            message.embed.callbacks = serde_json::from_value(as_list(link)).ok();
        }
        if let Some(link) = options.get("link_error") {
            message.embed.errbacks = serde_json::from_value(as_list(link)).ok();
        }
        let seconds = |key: &str| {
            options
                .get(key)
                .and_then(Json::as_f64)
                .filter(|s| *s > 0.0)
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
        };
        let time = |key: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>> {
            match options.get(key) {
                Some(Json::String(t)) => super::protocol::parse_time(t)
                    .map(Some)
                    .map_err(|e| Error::new(ErrorKind::Decode, format!("`{key}`: {e}"))),
                Some(Json::Number(_)) => match seconds(key) {
                    Some(d) => super::client::after(d, key).map(Some),
                    None => Ok(Some(now())),
                },
                _ => Ok(None),
            }
        };
        message.eta = match seconds("countdown") {
            Some(d) => Some(super::client::after(d, "countdown")?),
            None => time("eta")?,
        };
        message.expires = time("expires")?;
        message.time_limit = seconds("time_limit");
        message.soft_time_limit = seconds("soft_time_limit");
        message.shadow = signature.option_str("shadow").map(str::to_owned);
        if let Some((group, index)) = group {
            message.group = Some(group);
            message.group_index = Some(index);
        } else {
            message.group = signature.option_str("group_id").map(str::to_owned);
            message.group_index = options.get("group_index").and_then(Json::as_i64);
        }
        if let Some(Json::Object(headers)) = options.get("headers") {
            for (k, v) in headers {
                message
                    .extra_headers
                    .insert(k.clone(), super::protocol::json_to_field(v));
            }
        }
        let priority = options
            .get("priority")
            .and_then(Json::as_u64)
            .and_then(|p| u8::try_from(p).ok())
            .unwrap_or(0);
        let (exchange, routing_key) = match (
            signature.option_str("exchange"),
            signature.option_str("routing_key"),
            signature.option_str("queue"),
        ) {
            (Some(x), Some(k), _) if !x.is_empty() => (x.to_owned(), k.to_owned()),
            (_, _, Some(q)) => (String::new(), q.to_owned()),
            (_, Some(k), None) => (String::new(), k.to_owned()),
            _ => (String::new(), self.default_queue.clone()),
        };
        publish_task(
            &self.producer,
            &message,
            &exchange,
            &routing_key,
            priority,
            None,
        )
        .await
    }

    /// Sends a result to the task's `reply_to`, as the `rpc://` backend does (nothing when the
    /// sender gave no reply queue).
    async fn report(&self, task: &TaskMessage, result: TaskResult) {
        if let Some(reply_to) = &task.reply_to {
            self.publish_result(reply_to, &task.id, &result).await;
        }
    }

    async fn publish_result(&self, reply_to: &str, task_id: &str, result: &TaskResult) {
        let sent = self
            .producer
            .publish(result)
            .exchange("")
            .routing_key(reply_to)
            .correlation_id(task_id)
            .delivery_mode(DeliveryMode::Transient)
            .priority(0)
            .await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, id = task_id, state = %result.status, "celery worker: a result could not be sent");
        }
    }
}

fn unsupported(signature: &Signature) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "a {} signature (`{}`) after a task is not supported by the Rust worker (chains and groups of tasks are; chords need a result backend other than rpc://)",
            signature.subtask_type.as_deref().unwrap_or("task"),
            signature.task
        ),
    )
}

fn as_list(v: &Json) -> Json {
    match v {
        Json::Array(_) => v.clone(),
        other => Json::Array(vec![other.clone()]),
    }
}

enum Settle {
    Ack,
    Reject,
    Requeue,
}
