//! Task results as Celery's `rpc://` backend sends them: a JSON object of `task_id`, `status`,
//! `result`, `traceback` and `children`, published to the sender's `reply_to` queue through the
//! default exchange with the task id as `correlation_id`. A failure's `result` is the exception
//! as `{exc_type, exc_message, exc_module}`.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};

/// A task's state, as Celery names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum TaskState {
    /// Not known yet (never sent by a backend).
    Pending,
    /// Received by a worker.
    Received,
    /// Started (sent only for tasks that track it).
    Started,
    /// Done; `result` is the return value.
    Success,
    /// Failed; `result` is the exception.
    Failure,
    /// Revoked, or expired before it ran.
    Revoked,
    /// Rejected.
    Rejected,
    /// Will be retried; `result` is the exception that caused it, if any.
    Retry,
    /// Ignored.
    Ignored,
}

impl TaskState {
    /// Whether the task is over: SUCCESS, FAILURE or REVOKED.
    pub fn is_ready(self) -> bool {
        matches!(
            self,
            TaskState::Success | TaskState::Failure | TaskState::Revoked
        )
    }

    /// The state's name as Celery writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "PENDING",
            TaskState::Received => "RECEIVED",
            TaskState::Started => "STARTED",
            TaskState::Success => "SUCCESS",
            TaskState::Failure => "FAILURE",
            TaskState::Revoked => "REVOKED",
            TaskState::Rejected => "REJECTED",
            TaskState::Retry => "RETRY",
            TaskState::Ignored => "IGNORED",
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An exception as Celery encodes one for JSON: the class, its arguments and its module.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskException {
    /// The class name (`ValueError`, `TimeLimitExceeded`).
    pub exc_type: String,
    /// The exception's arguments (`exc.args`).
    pub exc_message: Json,
    /// The class's module (`builtins`, `celery.exceptions`, `billiard.exceptions`).
    pub exc_module: String,
}

impl TaskException {
    /// An exception of class `exc_type` in `exc_module` with one argument, `message`.
    pub fn new(
        exc_module: impl Into<String>,
        exc_type: impl Into<String>,
        message: impl Into<Json>,
    ) -> Self {
        TaskException {
            exc_type: exc_type.into(),
            exc_message: Json::Array(vec![message.into()]),
            exc_module: exc_module.into(),
        }
    }

    /// The message: the arguments joined as Python's `str(exc)` shows one argument.
    pub fn message(&self) -> String {
        match &self.exc_message {
            Json::Array(a) if a.len() == 1 => match &a[0] {
                Json::String(s) => s.clone(),
                other => other.to_string(),
            },
            Json::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for TaskException {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{}: {}",
            self.exc_module,
            self.exc_type,
            self.message()
        )
    }
}

/// One result message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskResult {
    /// The task's id.
    pub task_id: String,
    /// Its state.
    pub status: TaskState,
    /// The return value (SUCCESS), the exception (FAILURE, RETRY, REVOKED) or other state data.
    #[serde(default)]
    pub result: Json,
    /// The traceback of a failure, as text.
    #[serde(default)]
    pub traceback: Option<String>,
    /// Results of tasks this one started.
    #[serde(default)]
    pub children: Vec<Json>,
}

impl TaskResult {
    /// A SUCCESS result.
    pub fn success(task_id: impl Into<String>, value: Json) -> Self {
        TaskResult {
            task_id: task_id.into(),
            status: TaskState::Success,
            result: value,
            traceback: None,
            children: Vec::new(),
        }
    }

    /// A result in an exception state (FAILURE, RETRY, REVOKED).
    pub fn exception(
        task_id: impl Into<String>,
        status: TaskState,
        exception: &TaskException,
        traceback: Option<String>,
    ) -> Self {
        TaskResult {
            task_id: task_id.into(),
            status,
            result: json!({
                "exc_type": exception.exc_type,
                "exc_message": exception.exc_message,
                "exc_module": exception.exc_module,
            }),
            traceback,
            children: Vec::new(),
        }
    }

    /// The exception of a FAILURE, RETRY or REVOKED result, when it holds one.
    pub fn exception_value(&self) -> Option<TaskException> {
        serde_json::from_value(self.result.clone()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_reads_and_writes_as_celery_does() {
        let body = json!({
            "task_id": "t1", "status": "FAILURE",
            "result": {"exc_type": "ValueError", "exc_message": ["bad"], "exc_module": "builtins"},
            "traceback": "Traceback ...", "children": []
        });
        let r: TaskResult = serde_json::from_value(body.clone()).unwrap();
        assert_eq!(r.status, TaskState::Failure);
        assert!(r.status.is_ready());
        let e = r.exception_value().unwrap();
        assert_eq!(e.to_string(), "builtins.ValueError: bad");
        assert_eq!(serde_json::to_value(&r).unwrap(), body);
        let again =
            TaskResult::exception("t1", TaskState::Failure, &e, Some("Traceback ...".into()));
        assert_eq!(again, r);
    }
}
