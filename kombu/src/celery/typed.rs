//! Typed tasks: what the task clients and handler traits that kombu-build generates from a
//! topology's `[tasks]` (and `#[derive(Tasks)]` from an enum) stand on. [`TypedSend`] is a
//! [`SendTask`] whose result has a Rust type; [`TypedResult`] is the handle it returns, whose
//! [`get`](TypedResult::get) decodes the result as that type.
//!
//! On the worker side, [`TaskRequest::arg`], [`TaskRequest::kwarg`] and
//! [`TaskRequest::check_arguments`] (and `arg_opt`/`kwarg_opt` for optional parameters) bind
//! a message's arguments to typed parameters the way Python binds a call's arguments to a
//! function's: a positional parameter may also come by keyword, an optional one may be
//! missing, and a missing required one or an extra or duplicated argument is a `TypeError`.

use std::marker::PhantomData;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use super::client::{AsyncResult, SendTask};
use super::protocol::Signature;
use super::result::{TaskResult, TaskState};
use super::worker::{TaskError, TaskRequest};
use crate::Result;

/// A task being sent whose result decodes as `R`: `apply_async` gives a [`TypedResult<R>`].
#[must_use = "a task is sent by `apply_async`"]
#[derive(Debug)]
pub struct TypedSend<'a, R> {
    send: SendTask<'a>,
    result: PhantomData<fn() -> R>,
}

impl<'a, R: DeserializeOwned> TypedSend<'a, R> {
    /// `send`, with its result typed as `R`.
    pub fn new(send: SendTask<'a>) -> Self {
        TypedSend {
            send,
            result: PhantomData,
        }
    }

    /// Any other `apply_async` option, set on the untyped builder.
    pub fn with(self, f: impl FnOnce(SendTask<'a>) -> SendTask<'a>) -> Self {
        TypedSend::new(f(self.send))
    }

    /// The task id (a new UUID unless given).
    pub fn task_id(self, id: impl Into<String>) -> Self {
        self.with(|s| s.task_id(id))
    }

    /// Sends it to this queue instead of the task's route (a deployment's own queue name).
    pub fn queue(self, queue: impl Into<String>) -> Self {
        self.with(|s| s.without_exchange().queue(queue))
    }

    /// Sends it to `exchange` with `routing_key` instead of the task's route.
    pub fn exchange(self, exchange: impl Into<String>, routing_key: impl Into<String>) -> Self {
        self.with(|s| s.exchange(exchange, routing_key))
    }

    /// Runs it no sooner than `countdown` from now.
    pub fn countdown(self, countdown: Duration) -> Self {
        self.with(|s| s.countdown(countdown))
    }

    /// Runs it no sooner than `eta`.
    pub fn eta(self, eta: DateTime<Utc>) -> Self {
        self.with(|s| s.eta(eta))
    }

    /// Revokes it if it has not started within `expires` (replacing the task's own expiry).
    pub fn expires_in(self, expires: Duration) -> Self {
        self.with(|s| s.expires_in(expires))
    }

    /// Revokes it if it has not started by `expires`.
    pub fn expires_at(self, expires: DateTime<Utc>) -> Self {
        self.with(|s| s.expires_at(expires))
    }

    /// The hard time limit (replacing the task's own).
    pub fn time_limit(self, limit: Duration) -> Self {
        self.with(|s| s.time_limit(limit))
    }

    /// The soft time limit (replacing the task's own).
    pub fn soft_time_limit(self, limit: Duration) -> Self {
        self.with(|s| s.soft_time_limit(limit))
    }

    /// The message priority (for a queue with `x-max-priority`).
    pub fn priority(self, priority: u8) -> Self {
        self.with(|s| s.priority(priority))
    }

    /// Sends `callback` with this task's result as its first argument when it succeeds.
    pub fn link(self, callback: Signature) -> Self {
        self.with(|s| s.link(callback))
    }

    /// Sends `errback` with this task's id as its first argument when it fails.
    pub fn link_error(self, errback: Signature) -> Self {
        self.with(|s| s.link_error(errback))
    }

    /// The untyped builder.
    pub fn into_untyped(self) -> SendTask<'a> {
        self.send
    }

    /// Sends it; the handle waits for its typed result.
    pub async fn apply_async(self) -> Result<TypedResult<R>> {
        Ok(TypedResult::new(self.send.apply_async().await?))
    }
}

/// The result of a task, as it arrives, decoded as `R`.
pub struct TypedResult<R> {
    inner: AsyncResult,
    result: PhantomData<fn() -> R>,
}

impl<R> Clone for TypedResult<R> {
    fn clone(&self) -> Self {
        TypedResult {
            inner: self.inner.clone(),
            result: PhantomData,
        }
    }
}

impl<R> std::fmt::Debug for TypedResult<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedResult")
            .field("id", &self.inner.id())
            .field("type", &std::any::type_name::<R>())
            .finish()
    }
}

impl<R: DeserializeOwned> TypedResult<R> {
    /// `result`, typed as `R`.
    pub fn new(result: AsyncResult) -> Self {
        TypedResult {
            inner: result,
            result: PhantomData,
        }
    }

    /// The task's id.
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// The latest state reported (PENDING when none has come).
    pub fn state(&self) -> TaskState {
        self.inner.state()
    }

    /// Waits up to `timeout` for the task's return value. A FAILURE or REVOKED result is a
    /// [`TaskFailed`](crate::ErrorKind::TaskFailed) error naming the exception; a value that
    /// is not an `R` is a decode error.
    pub async fn get(&self, timeout: Duration) -> Result<R> {
        self.inner.get::<R>(timeout).await
    }

    /// Waits up to `timeout` for the task to be over and returns the result message.
    pub async fn wait(&self, timeout: Duration) -> Result<TaskResult> {
        self.inner.wait(timeout).await
    }

    /// The untyped handle.
    pub fn untyped(&self) -> &AsyncResult {
        &self.inner
    }
}

impl TaskRequest {
    /// Positional parameter `index`, named `name`: the message's positional argument there,
    /// else its keyword argument `name`; neither is Python's "missing required argument"
    /// `TypeError`.
    pub fn arg<T: DeserializeOwned>(
        &self,
        index: usize,
        name: &str,
    ) -> std::result::Result<T, TaskError> {
        self.bind(self.positional(index, name), name)
    }

    /// An optional positional parameter: as [`arg`](Self::arg), but `None` when the message
    /// has neither (or `null`).
    pub fn arg_opt<T: DeserializeOwned>(
        &self,
        index: usize,
        name: &str,
    ) -> std::result::Result<Option<T>, TaskError> {
        self.bind_opt(self.positional(index, name), name)
    }

    /// Keyword parameter `name`; missing is Python's "missing required argument" `TypeError`.
    pub fn kwarg<T: DeserializeOwned>(&self, name: &str) -> std::result::Result<T, TaskError> {
        self.bind(self.message().kwargs.get(name), name)
    }

    /// An optional keyword parameter: `None` when the message does not have it (or `null`).
    pub fn kwarg_opt<T: DeserializeOwned>(
        &self,
        name: &str,
    ) -> std::result::Result<Option<T>, TaskError> {
        self.bind_opt(self.message().kwargs.get(name), name)
    }

    fn positional(&self, index: usize, name: &str) -> Option<&Json> {
        let message = self.message();
        message.args.get(index).or_else(|| message.kwargs.get(name))
    }

    fn bind_opt<T: DeserializeOwned>(
        &self,
        value: Option<&Json>,
        name: &str,
    ) -> std::result::Result<Option<T>, TaskError> {
        match value {
            None | Some(Json::Null) => Ok(None),
            Some(v) => self.bind(Some(v), name).map(Some),
        }
    }

    fn bind<T: DeserializeOwned>(
        &self,
        value: Option<&Json>,
        name: &str,
    ) -> std::result::Result<T, TaskError> {
        let task = &self.message().task;
        match value {
            Some(v) => T::deserialize(v).map_err(|e| {
                TaskError::failure(
                    "builtins",
                    "TypeError",
                    format!("{task}() argument '{name}': {e}"),
                )
            }),
            None => Err(TaskError::failure(
                "builtins",
                "TypeError",
                format!("{task}() missing required argument: '{name}'"),
            )),
        }
    }

    /// Checks the message's arguments against a signature of `positional` then `keyword`
    /// parameters, as Python checks a call: more positional arguments than positional
    /// parameters, a keyword argument no parameter has, or a parameter given both ways is a
    /// `TypeError`.
    pub fn check_arguments(
        &self,
        positional: &[&str],
        keyword: &[&str],
    ) -> std::result::Result<(), TaskError> {
        let message = self.message();
        let task = &message.task;
        let type_error = |text: String| TaskError::failure("builtins", "TypeError", text);
        if message.args.len() > positional.len() {
            return Err(type_error(format!(
                "{task}() takes {} positional argument{} but {} were given",
                positional.len(),
                if positional.len() == 1 { "" } else { "s" },
                message.args.len()
            )));
        }
        for key in message.kwargs.keys() {
            match positional.iter().position(|p| p == key) {
                Some(i) if i < message.args.len() => {
                    return Err(type_error(format!(
                        "{task}() got multiple values for argument '{key}'"
                    )));
                }
                Some(_) => {}
                None if keyword.contains(&key.as_str()) => {}
                None => {
                    return Err(type_error(format!(
                        "{task}() got an unexpected keyword argument '{key}'"
                    )));
                }
            }
        }
        Ok(())
    }
}
