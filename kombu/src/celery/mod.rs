//! Celery beside kombu: send tasks to Python Celery workers and run tasks that Python sends,
//! speaking Celery's task message protocol (version 2, as Celery 5.x writes it; version 1 read
//! from old senders) and its `rpc://` result backend. Other result backends (Redis,
//! databases) are out of scope: a Python worker must be configured with
//! `result_backend = "rpc://"` for a Rust client to get results, and a Python client must use
//! `rpc://` to get results from a Rust [`Worker`].
//!
//! - [`Celery`] sends: `celery.send_task("tasks.add").args((2, 2)).apply_async().await?`, then
//!   `result.get::<i64>(timeout)`.
//! - [`Worker`] runs tasks: `Worker::new(&conn).task("resize", options, |req| async move {..})`.
//! - Typed tasks: kombu-build generates a client with one method per task of a topology's
//!   `[tasks]` (`tasks.add(2, 2).apply_async().await?.get(timeout)`, a [`TypedSend`] and
//!   [`TypedResult`]) and a handler trait whose `into_worker` registers every task on a
//!   [`Worker`]; `#[derive(Tasks)]` does the same from an enum.
//! - [`TaskMessage`] and [`TaskResult`] are the wire formats, for those who build their own.
//!
//! The wire facts, with their sources in Celery's code, are in `docs/celery-protocol.md`.

mod client;
mod protocol;
mod result;
mod typed;
mod worker;

pub use client::{AsyncResult, Celery, SendTask};
pub use protocol::{format_time, new_task_id, parse_time, Embed, Signature, TaskMessage};
pub use result::{TaskException, TaskResult, TaskState};
pub use typed::{TypedResult, TypedSend};
pub use worker::{TaskError, TaskOptions, TaskRequest, Worker};
