//! Celery interop against real Celery 5.5 workers and clients over the real RabbitMQ, both
//! directions, with the `rpc://` result backend.
//!
//! The Python side is `tests/celery/tasks.py` (a Celery app and its tasks, run as a real
//! `celery worker` process) and `tests/celery/send.py` (a Python client that calls the Rust
//! worker), run with the interop virtualenv's python (`tests/interop/setup.sh` installs
//! Celery beside Python kombu): `KOMBU_INTEROP_PYTHON`, else
//! `<workspace>/target/interop-venv/bin/python`. Without it or without RabbitMQ each test
//! prints `skipped: ...` and passes, unless `KOMBU_REQUIRE_BROKER=1`, where it fails.
//!
//! One test runs every case on one pair of workers (starting a Celery worker takes seconds):
//! 1. Rust sends, the Python worker runs: a result, a failure with its exception, a retry
//!    (re-published by Celery) that then succeeds, a task that expires while it waits for its
//!    ETA (REVOKED), keyword arguments, and a chain Rust → Python → Rust.
//! 2. Python sends, the Rust worker runs, and Python's `AsyncResult.get()` has the result: a
//!    value, keyword arguments, a failure raised in Python as the exception class it names, a
//!    retry, an unknown task (`NotRegistered`), an expired task, an ETA, a link callback to a
//!    Python task, a chain Python → Rust → Python, and the soft and hard time limits.
//!
//! Both directions also go through typed tasks (`#[derive(Tasks)]`): the generated client
//! calls Python's tasks, and a generated handler trait runs a Rust task that Python calls
//! with positional, keyword and badly typed arguments.

#![cfg(all(feature = "celery", feature = "amqp", feature = "derive"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kombu::celery::{Celery, Signature, TaskError, TaskOptions, TaskRequest, TaskState, Worker};

use kombu::{Connection, ErrorKind, Exchange, ExchangeKind, Queue, Shutdown};
use serde_json::{json, Value as Json};

const URL: &str = "amqp://guest:guest@127.0.0.1:5672//";
const WAIT: Duration = Duration::from_secs(30);

fn broker_required() -> bool {
    std::env::var("KOMBU_REQUIRE_BROKER").is_ok_and(|v| v == "1")
}

fn celery_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/celery")
}

/// The venv's python, once it imports Celery; else why not.
fn python() -> Result<PathBuf, String> {
    let python = match std::env::var_os("KOMBU_INTEROP_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/interop-venv/bin/python"),
    };
    let out = Command::new(&python)
        .args(["-c", "import celery; print(celery.__version__)"])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} cannot import celery: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    eprintln!(
        "celery: Celery {} at {}",
        String::from_utf8_lossy(&out.stdout).trim(),
        python.display()
    );
    Ok(python)
}

/// The names of one run's queues (each also a direct exchange, as Celery declares them).
struct Names {
    py: String,
    rs: String,
}

impl Names {
    fn new() -> Names {
        let run = format!(
            "{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis()
        );
        Names {
            py: format!("kombu-celery-py-{run}"),
            rs: format!("kombu-celery-rs-{run}"),
        }
    }

    fn env(&self, command: &mut Command) {
        command
            .env("KOMBU_CELERY_BROKER", URL)
            .env("KOMBU_CELERY_PY_QUEUE", &self.py)
            .env("KOMBU_CELERY_RS_QUEUE", &self.rs)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(celery_dir());
    }
}

/// A `celery worker` process, stopped (warm shutdown, then killed) when dropped.
struct PythonWorker {
    child: Child,
    log: PathBuf,
}

impl PythonWorker {
    fn start(python: &Path, names: &Names) -> PythonWorker {
        let log = std::env::temp_dir().join(format!("{}.log", names.py));
        let mut command = Command::new(python);
        command.args([
            "-m",
            "celery",
            "-A",
            "tasks",
            "worker",
            "-Q",
            &names.py,
            "-P",
            "solo",
            "-c",
            "1",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "info",
            "-n",
            &format!("{}@%h", names.py),
        ]);
        names.env(&mut command);
        let file = std::fs::File::create(&log).unwrap();
        command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        PythonWorker {
            child: command.spawn().unwrap(),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for PythonWorker {
    fn drop(&mut self) {
        // SIGTERM is Celery's warm shutdown.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_file(&self.log);
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Typed tasks of both sides (`#[derive(Tasks)]`): the Python ones the Rust client calls
/// through `TypedClient`, and a Rust one Python calls, run by a `TypedHandler`.
#[derive(kombu::Tasks)]
#[allow(dead_code)]
enum Typed {
    /// Python's `tasks.add` (sent, not served here).
    #[kombu(task = "tasks.add", result = "i64", client_only)]
    Add { x: i64, y: i64 },
    /// Python's `tasks.echo(*args, **kwargs)`, with a keyword argument left out when `None`.
    #[kombu(task = "tasks.echo", result = "serde_json::Value", client_only)]
    Echo {
        value: String,
        #[kombu(kwarg)]
        shout: Option<bool>,
    },
    /// A Rust task: a rectangle's area, scaled.
    #[kombu(task = "rust.area", queue = "rust", result = "f64", max_retries = 0)]
    Area {
        width: f64,
        height: f64,
        #[kombu(kwarg)]
        scale: Option<f64>,
    },
}

/// The Rust side of `Typed`: `rust.area` (the `client_only` tasks are Python's).
struct Rectangles;

impl TypedHandler for Rectangles {
    async fn area(
        &self,
        width: f64,
        height: f64,
        scale: Option<f64>,
        _: &TaskRequest,
    ) -> Result<f64, TaskError> {
        Ok(width * height * scale.unwrap_or(1.0))
    }
}

/// The Rust tasks the Python client calls: the typed ones of `Rectangles`, on the run's queue
/// instead of the derive's, and untyped ones registered beside them.
fn rust_worker(conn: &Connection, names: &Names) -> Worker {
    let quick = TaskOptions {
        default_retry_delay: Duration::from_secs(1),
        ..TaskOptions::default()
    };
    Rectangles
        .into_worker(conn)
        .clear_queues()
        .queue(names.rs.clone())
        .task("rust.add", quick.clone(), |req: TaskRequest| async move {
            let (x, y): (i64, i64) = req.args()?;
            Ok(json!(x + y))
        })
        .task(
            "rust.double",
            quick.clone(),
            |req: TaskRequest| async move {
                let (x,): (i64,) = req.args()?;
                Ok(json!(x * 2))
            },
        )
        .task("rust.greet", quick.clone(), |req: TaskRequest| async move {
            #[derive(serde::Deserialize)]
            struct Options {
                punctuation: String,
            }
            let (name,): (String,) = req.args()?;
            let options: Options = req.kwargs()?;
            Ok(json!(format!("Hello, {name}{}", options.punctuation)))
        })
        .task("rust.fail", quick.clone(), |req: TaskRequest| async move {
            let (why,): (String,) = req.args()?;
            Err(TaskError::failure("builtins", "ValueError", why))
        })
        .task("rust.sleep", quick.clone(), |req: TaskRequest| async move {
            let (secs,): (f64,) = req.args()?;
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
            Ok(json!(secs))
        })
        .task("rust.retry_once", quick, |req: TaskRequest| async move {
            let (value,): (i64,) = req.args()?;
            if req.retries() < 1 {
                return Err(TaskError::retry(Some(Duration::from_millis(500))));
            }
            Ok(json!({"value": value, "retries": req.retries()}))
        })
}

/// Runs `send.py` with these scenarios; one JSON object per scenario.
fn python_sends(python: &Path, names: &Names, scenarios: &[&str]) -> Vec<Json> {
    let mut command = Command::new(python);
    command.arg("send.py").args(scenarios);
    names.env(&mut command);
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "send.py failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn cleanup(conn: &Connection, names: &Names) {
    let channel = conn.channel().await.unwrap();
    for name in [&names.py, &names.rs] {
        let _ = Queue::new(name.clone())
            .attach(&channel)
            .delete(false, false)
            .await;
        let _ = Exchange::new(name.clone(), ExchangeKind::Direct)
            .attach(&channel)
            .delete(false)
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_and_celery_call_each_others_tasks() {
    let python = tokio::task::spawn_blocking(python).await.unwrap();
    let conn = Connection::connect(URL).await;
    let (python, conn) = match (python, conn) {
        (Ok(p), Ok(c)) => (p, c),
        (Err(p), _) => {
            assert!(!broker_required(), "the Celery suite is required (KOMBU_REQUIRE_BROKER=1): no Celery ({p}); run kombu/tests/interop/setup.sh");
            eprintln!("skipped: no Celery ({p})");
            return;
        }
        (_, Err(e)) => {
            assert!(
                !broker_required(),
                "the Celery suite is required (KOMBU_REQUIRE_BROKER=1): {e}"
            );
            eprintln!("skipped: no RabbitMQ ({e})");
            return;
        }
    };
    let names = Names::new();
    let py_worker = PythonWorker::start(&python, &names);
    let shutdown = Shutdown::new(Duration::from_secs(5));
    let rs_worker = tokio::spawn(rust_worker(&conn, &names).run(shutdown.clone()));

    let outcome = std::panic::AssertUnwindSafe(run_cases(&conn, &python, &names));
    let outcome = futures_util::FutureExt::catch_unwind(outcome).await;

    shutdown.token().cancel();
    rs_worker.await.unwrap().unwrap();
    let log = py_worker.log();
    drop(py_worker);
    cleanup(&conn, &names).await;
    conn.close().await.unwrap();
    if let Err(panic) = outcome {
        eprintln!("--- the Celery worker's log ---\n{log}");
        std::panic::resume_unwind(panic);
    }
}

async fn run_cases(conn: &Connection, python: &Path, names: &Names) {
    let celery = Celery::new(conn)
        .await
        .unwrap()
        .default_queue(names.py.clone());

    // 1. Rust sends, Python runs.
    let sum = celery
        .send_task("tasks.add")
        .args((2, 2))
        .apply_async()
        .await
        .unwrap();
    assert_eq!(sum.get::<i64>(WAIT).await.unwrap(), 4);

    let echo = celery
        .send_task("tasks.echo")
        .args(("a", 1))
        .kwargs(json!({"flag": true, "none": null}))
        .apply_async()
        .await
        .unwrap();
    assert_eq!(
        echo.get::<Json>(WAIT).await.unwrap(),
        json!({"args": ["a", 1], "kwargs": {"flag": true, "none": null}})
    );

    let failed = celery
        .send_task("tasks.fail")
        .args(("broken input",))
        .apply_async()
        .await
        .unwrap();
    let err = failed.get::<Json>(WAIT).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TaskFailed, "{err}");
    let result = failed.wait(WAIT).await.unwrap();
    let exception = result.exception_value().unwrap();
    assert_eq!(
        (exception.exc_module.as_str(), exception.exc_type.as_str()),
        ("builtins", "ValueError")
    );
    assert_eq!(exception.message(), "broken input");
    assert!(
        result
            .traceback
            .as_deref()
            .unwrap_or("")
            .contains("ValueError"),
        "{result:?}"
    );

    // Celery re-publishes the retry with retries + 1; the same id gets the final result.
    let retried = celery
        .send_task("tasks.retry_once")
        .args((5,))
        .apply_async()
        .await
        .unwrap();
    assert_eq!(
        retried.get::<Json>(WAIT).await.unwrap(),
        json!({"value": 5, "retries": 1})
    );

    // Expired while it waited for its ETA: revoked, not run.
    let expired = celery
        .send_task("tasks.add")
        .args((1, 1))
        .countdown(Duration::from_secs(2))
        .expires_in(Duration::from_secs(1))
        .apply_async()
        .await
        .unwrap();
    let result = expired.wait(WAIT).await.unwrap();
    assert_eq!(result.status, TaskState::Revoked, "{result:?}");
    assert_eq!(
        result.exception_value().unwrap().exc_type,
        "TaskRevokedError"
    );

    // A chain Rust → Python → Rust: add(3, 4) in Python, double in Rust, add 1 in Python.
    let steps = celery
        .send_task("rust.add")
        .queue(names.rs.clone())
        .args((3, 4))
        .chain(vec![
            Signature::new("tasks.add")
                .args(vec![json!(1)])
                .option("queue", names.py.clone()),
            Signature::new("rust.double").option("queue", names.rs.clone()),
        ])
        .apply_chain()
        .await
        .unwrap();
    let mut values = Vec::new();
    for step in &steps {
        values.push(step.get::<i64>(WAIT).await.unwrap());
    }
    assert_eq!(values, [7, 8, 16]);

    // Typed (`#[derive(Tasks)]`): the client's methods take the Python task's parameters and
    // `get` gives its result as the declared type; a keyword argument that is `None` is not
    // sent, so the Python function sees none.
    let typed = TypedClient::from_celery(celery.clone());
    let py = || names.py.clone();
    let sum = typed.add(20, 22).queue(py()).apply_async().await.unwrap();
    let sum: i64 = sum.get(WAIT).await.unwrap();
    assert_eq!(sum, 42);
    let loud = typed.echo("hi".into(), Some(true)).queue(py());
    let quiet = typed.echo("hi".into(), None).queue(py());
    let (loud, quiet) = (
        loud.apply_async().await.unwrap(),
        quiet.apply_async().await.unwrap(),
    );
    assert_eq!(
        loud.get(WAIT).await.unwrap(),
        json!({"args": ["hi"], "kwargs": {"shout": true}})
    );
    assert_eq!(
        quiet.get(WAIT).await.unwrap(),
        json!({"args": ["hi"], "kwargs": {}})
    );

    // 2. Python sends, Rust runs.
    let python = python.to_owned();
    let scenarios = [
        "typed",
        "typed_by_keyword",
        "typed_bad_argument",
        "add",
        "kwargs",
        "fail",
        "retry",
        "unknown",
        "expired",
        "eta",
        "chain",
        "link",
        "soft_limit",
        "hard_limit",
        "within_limit",
    ];
    let outcomes = tokio::task::spawn_blocking({
        let names = Names {
            py: names.py.clone(),
            rs: names.rs.clone(),
        };
        move || python_sends(&python, &names, &scenarios)
    })
    .await
    .unwrap();
    eprintln!("celery: Python -> Rust outcomes: {outcomes:?}");
    let by_name = |n: &str| {
        outcomes
            .iter()
            .find(|o| o["scenario"] == n)
            .unwrap_or_else(|| panic!("no outcome for {n}: {outcomes:?}"))
            .clone()
    };
    // The typed Rust task binds Python's arguments as Python would.
    assert_eq!(by_name("typed")["ok"], json!(12.0));
    assert_eq!(by_name("typed_by_keyword")["ok"], json!(24.0));
    assert_eq!(
        by_name("typed_bad_argument")["error"][0],
        json!("TypeError")
    );
    assert!(
        by_name("typed_bad_argument")["error"][1]
            .as_str()
            .is_some_and(|m| m.contains("rust.area() argument 'width'")),
        "{outcomes:?}"
    );
    assert_eq!(by_name("add")["ok"], json!(5));
    assert_eq!(by_name("kwargs")["ok"], json!("Hello, Ada!"));
    assert_eq!(
        by_name("fail")["error"],
        json!(["ValueError", "no such image"])
    );
    assert_eq!(by_name("retry")["ok"], json!({"value": 7, "retries": 1}));
    assert_eq!(by_name("unknown")["error"][0], json!("NotRegistered"));
    assert_eq!(by_name("expired")["error"][0], json!("TaskRevokedError"));
    assert_eq!(by_name("eta")["ok"], json!(42));
    assert_eq!(by_name("chain")["ok"], json!(16), "(1 + 2) * 2 + 10");
    assert_eq!(by_name("link")["ok"], json!([21, 121]));
    // Python raises the classes from `billiard.exceptions` that Celery's pool would.
    assert_eq!(
        by_name("soft_limit")["error"][0],
        json!("SoftTimeLimitExceeded")
    );
    assert_eq!(
        by_name("hard_limit")["error"][0],
        json!("TimeLimitExceeded")
    );
    assert_eq!(by_name("within_limit")["ok"], json!(0.1));
}

/// A protocol 1 message (an old sender's, or Celery 5 with `task_protocol = 1`): the task in
/// a body object, no Celery headers. Read on the in-memory broker: no Python needed.
#[tokio::test]
async fn a_protocol_1_message_reads_as_the_same_task() {
    use kombu::celery::TaskMessage;
    use kombu::{Consumer, Producer};

    let conn = Connection::connect("memory://celery-protocol-1")
        .await
        .unwrap();
    let channel = conn.channel().await.unwrap();
    let mut consumer = Consumer::new(&channel, [Queue::new("celery")]);
    consumer.consume().await.unwrap();
    let producer = Producer::new(&channel).routing_key("celery");
    producer
        .publish(&json!({
            "task": "tasks.add", "id": "b5f1d5d6-0000-4000-8000-000000000001",
            "args": [2, 2], "kwargs": {"z": 1}, "retries": 2,
            "eta": "2026-12-07T22:11:19.423997", "expires": null, "utc": true,
            "callbacks": [{"task": "tasks.log", "args": [], "kwargs": {}, "options": {}, "subtask_type": null, "immutable": false}],
            "errbacks": null, "timelimit": [10, null], "taskset": "g-1", "chord": null
        }))
        .reply_to("replies")
        .await
        .unwrap();
    let delivery = consumer.recv(WAIT).await.unwrap();
    let task = TaskMessage::from_message(&delivery).unwrap();
    assert_eq!(task.protocol, 1);
    assert_eq!(task.task, "tasks.add");
    assert_eq!(task.args, [json!(2), json!(2)]);
    assert_eq!(task.kwargs["z"], json!(1));
    assert_eq!(task.retries, 2);
    assert_eq!(task.group.as_deref(), Some("g-1"));
    assert_eq!(task.time_limit, Some(Duration::from_secs(10)));
    assert_eq!(task.soft_time_limit, None);
    assert_eq!(task.reply_to.as_deref(), Some("replies"));
    assert_eq!(
        kombu::celery::format_time(&task.eta.unwrap()),
        "2026-12-07T22:11:19.423997+00:00",
        "a naive eta is UTC"
    );
    assert_eq!(task.embed.callbacks.unwrap()[0].task, "tasks.log");
    delivery.ack().unwrap();

    // Not a task at all: a Decode error that says so.
    producer.publish(&json!({"hello": "world"})).await.unwrap();
    let delivery = consumer.recv(WAIT).await.unwrap();
    let err = TaskMessage::from_message(&delivery).unwrap_err();
    assert!(err.is_decode(), "{err}");
    assert!(
        err.to_string().contains("not a Celery task message"),
        "{err}"
    );
    delivery.ack().unwrap();
    conn.close().await.unwrap();
}

/// A worker holding messages for their ETA still takes the others (it raises its channel-wide
/// prefetch for each, as Celery does), and gives the held ones back at shutdown. Rust to Rust
/// over RabbitMQ: no Python needed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eta_tasks_wait_without_holding_up_the_others_and_go_back_at_shutdown() {
    let conn = match Connection::connect(URL).await {
        Ok(c) => c,
        Err(e) => {
            assert!(!broker_required(), "RabbitMQ is required: {e}");
            eprintln!("skipped: no RabbitMQ ({e})");
            return;
        }
    };
    let names = Names::new();
    let shutdown = Shutdown::new(Duration::from_secs(5));
    let worker = Worker::new(&conn)
        .queue(names.rs.clone())
        .prefetch(1)
        .concurrency(1)
        .task(
            "rust.add",
            TaskOptions::default(),
            |req: TaskRequest| async move {
                let (x, y): (i64, i64) = req.args()?;
                Ok(json!(x + y))
            },
        );
    let running = tokio::spawn(worker.run(shutdown.clone()));
    let celery = Celery::new(&conn)
        .await
        .unwrap()
        .default_queue(names.rs.clone());
    let mut later = Vec::new();
    for n in 0..3 {
        later.push(
            celery
                .send_task("rust.add")
                .args((n, 0))
                .countdown(Duration::from_secs(60))
                .apply_async()
                .await
                .unwrap(),
        );
    }
    let now = celery
        .send_task("rust.add")
        .args((1, 2))
        .apply_async()
        .await
        .unwrap();
    // With a prefetch of 1 per consumer, this one would wait behind the first ETA message.
    assert_eq!(now.get::<i64>(WAIT).await.unwrap(), 3);
    for handle in &later {
        assert_eq!(handle.state(), TaskState::Pending);
    }
    shutdown.token().cancel();
    running.await.unwrap().unwrap();
    // The three held messages are back in the queue, for the next worker.
    let channel = conn.channel().await.unwrap();
    let mut queue = Queue::new(names.rs.clone()).passive(true).attach(&channel);
    let mut waiting = 0;
    for _ in 0..50 {
        waiting = queue.declare().await.unwrap().message_count;
        if waiting == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(waiting, 3, "the ETA messages were given back");
    cleanup(&conn, &names).await;
    conn.close().await.unwrap();
}

/// Rust to Rust on the in-memory broker: a panicking task is a FAILURE (not a lost message),
/// and a link that is a group or a chain is sent as Celery sends them: each part of the group
/// with the result first in its arguments, and the chain step by step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_fail_the_task_and_group_and_chain_links_are_expanded() {
    use kombu::celery::new_task_id;

    let conn = Connection::connect("memory://celery-canvas").await.unwrap();
    let shutdown = Shutdown::new(Duration::from_secs(5));
    let worker = Worker::new(&conn)
        .task(
            "add",
            TaskOptions::default(),
            |req: TaskRequest| async move {
                let (x, y): (i64, i64) = req.args()?;
                Ok(json!(x + y))
            },
        )
        .task(
            "boom",
            TaskOptions::default(),
            |_req: TaskRequest| async move {
                if std::hint::black_box(true) {
                    panic!("out of cheese");
                }
                Ok(json!(null))
            },
        );
    let running = tokio::spawn(worker.run(shutdown.clone()));
    let celery = Celery::new(&conn).await.unwrap();
    let reply = celery.reply_queue().to_owned();
    let with_id = |s: Signature, id: &str| {
        s.option("task_id", id.to_owned())
            .option("reply_to", reply.clone())
    };

    let boom = celery.send_task("boom").apply_async().await.unwrap();
    let err = boom.get::<Json>(WAIT).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TaskFailed);
    assert!(
        err.to_string()
            .contains("RuntimeError: the task panicked: out of cheese"),
        "{err}"
    );

    // add(1, 2) then, as a group, add(3, 10) and add(3, 20).
    let (a, b) = (new_task_id(), new_task_id());
    let mut group = Signature::new("celery.group");
    group.subtask_type = Some("group".into());
    group.kwargs.insert(
        "tasks".into(),
        serde_json::to_value([
            with_id(Signature::new("add").args(vec![json!(10)]), &a),
            with_id(Signature::new("add").args(vec![json!(20)]), &b),
        ])
        .unwrap(),
    );
    // add(5, 5) then, as a chain, add(10, 1) and add(11, 100).
    let (c, d) = (new_task_id(), new_task_id());
    let mut chain = Signature::new("celery.chain");
    chain.subtask_type = Some("chain".into());
    chain.kwargs.insert(
        "tasks".into(),
        serde_json::to_value([
            with_id(Signature::new("add").args(vec![json!(1)]), &c),
            with_id(Signature::new("add").args(vec![json!(100)]), &d),
        ])
        .unwrap(),
    );
    let first = celery
        .send_task("add")
        .args((1, 2))
        .link(group)
        .apply_async()
        .await
        .unwrap();
    let second = celery
        .send_task("add")
        .args((5, 5))
        .link(chain)
        .apply_async()
        .await
        .unwrap();
    assert_eq!(first.get::<i64>(WAIT).await.unwrap(), 3);
    assert_eq!(celery.result(&a).get::<i64>(WAIT).await.unwrap(), 13);
    assert_eq!(celery.result(&b).get::<i64>(WAIT).await.unwrap(), 23);
    assert_eq!(second.get::<i64>(WAIT).await.unwrap(), 10);
    assert_eq!(celery.result(&c).get::<i64>(WAIT).await.unwrap(), 11);
    assert_eq!(celery.result(&d).get::<i64>(WAIT).await.unwrap(), 111);

    shutdown.token().cancel();
    running.await.unwrap().unwrap();
    conn.close().await.unwrap();
}

/// What Python kombu's JSON encoder sends for `datetime`, `UUID` and `bytes` arguments (its
/// `{"__type__", "__value__"}` wrappers) reaches a task as the plain values typed parameters
/// read: the ISO text, the hyphenated UUID, the bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_type_wrappers_in_arguments_read_as_plain_values() {
    let conn = Connection::connect("memory://celery-python-types")
        .await
        .unwrap();
    let shutdown = Shutdown::new(Duration::from_secs(5));
    let worker = Worker::new(&conn).typed_task(
        "tasks.stamp",
        TaskOptions::default(),
        |req: TaskRequest| async move {
            let when: String = req.arg(0, "when")?;
            let id: String = req.arg(1, "id")?;
            let blob: Vec<u8> = req.arg(2, "blob")?;
            let note: Option<String> = req.kwarg_opt("note")?;
            Ok((when, id, blob, note))
        },
    );
    let running = tokio::spawn(worker.run(shutdown.clone()));
    let celery = Celery::new(&conn).await.unwrap();
    let result = celery
        .send_task("tasks.stamp")
        .args(json!([
            {"__type__": "datetime", "__value__": "2026-12-07T10:00:00+00:00"},
            {"__type__": "uuid", "__value__": {"hex": "12345678123456781234567812345678"}},
            {"__type__": "bytes", "__value__": "abc"}
        ]))
        .apply_async()
        .await
        .unwrap();
    let (when, id, blob, note): (String, String, Vec<u8>, Option<String>) =
        result.get(WAIT).await.unwrap();
    assert_eq!(when, "2026-12-07T10:00:00+00:00");
    assert_eq!(id, "12345678-1234-5678-1234-567812345678");
    assert_eq!(blob, b"abc");
    assert_eq!(note, None);
    shutdown.token().cancel();
    running.await.unwrap().unwrap();
    conn.close().await.unwrap();
}

/// Bytes arguments become one JSON number per byte for the task: a body holding more than a
/// MiB of them is refused as a task message, not expanded into gigabytes.
#[tokio::test]
async fn a_task_with_huge_bytes_arguments_is_refused_not_expanded() {
    use kombu::celery::TaskMessage;
    use kombu::{Consumer, Producer};

    let conn = Connection::connect("memory://celery-huge-bytes")
        .await
        .unwrap();
    let channel = conn.channel().await.unwrap();
    let mut consumer = Consumer::new(&channel, [Queue::new("celery")]);
    consumer.consume().await.unwrap();
    let producer = Producer::new(&channel).routing_key("celery");
    for (size, accepted) in [(1000, true), ((1 << 20) + 1, false)] {
        producer
            .publish(&json!({
                "task": "tasks.store", "id": "b5f1d5d6-0000-4000-8000-000000000002",
                "args": [{"__type__": "bytes", "__value__": "a".repeat(size)}], "kwargs": {}
            }))
            .await
            .unwrap();
        let delivery = consumer.recv(WAIT).await.unwrap();
        let task = TaskMessage::from_message(&delivery);
        match (task, accepted) {
            (Ok(task), true) => assert_eq!(task.args[0].as_array().map(Vec::len), Some(size)),
            (Err(e), false) => assert!(e.to_string().contains("bytes of binary data"), "{e}"),
            (other, _) => panic!("{size} bytes: {other:?}"),
        }
        delivery.ack().unwrap();
    }
    conn.close().await.unwrap();
}
