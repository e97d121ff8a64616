//! Celery tasks through the code kombu-build generates from a topology's `[tasks]`: the typed
//! client sends, a handler trait implementation runs them on the worker `into_worker` makes,
//! and arguments are bound as Python binds them. Runs on `memory://` and, with
//! `KOMBU_TEST_TRANSPORT=amqp`, on RabbitMQ. (Against real Celery, see `kombu/tests/celery.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use kombu::celery::{TaskError, TaskRequest};
use kombu::{Connection, ErrorKind, Shutdown};
use kombu_build_tests::celery_tasks::{self, Size, TaskClient, TaskHandler};
use serde_json::{json, Value as Json};

const WAIT: Duration = Duration::from_secs(10);

fn url(test: &str) -> String {
    match std::env::var("KOMBU_TEST_TRANSPORT").as_deref() {
        Ok("amqp") => std::env::var("KOMBU_TEST_AMQP_URL")
            .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672//".to_owned()),
        _ => format!("memory://kombu-build-tests-{test}"),
    }
}

/// A resize the handler ran: path, quality, keep_exif, retries.
type Resized = (String, Option<u8>, bool, u32);

/// The Rust side of the tasks; clones share what ran, so the test can look.
#[derive(Clone, Default)]
struct Images {
    pings: Arc<Mutex<Vec<String>>>,
    resized: Arc<Mutex<Vec<Resized>>>,
}

impl TaskHandler for Images {
    async fn add(&self, x: i64, y: i64, _: &TaskRequest) -> Result<i64, TaskError> {
        if x < 0 {
            return Err(TaskError::failure(
                "builtins",
                "ValueError",
                "negative numbers are not added here",
            ));
        }
        Ok(x + y)
    }

    async fn resize(
        &self,
        path: String,
        size: Size,
        quality: Option<u8>,
        keep_exif: bool,
        request: &TaskRequest,
    ) -> Result<Size, TaskError> {
        self.resized
            .lock()
            .unwrap()
            .push((path, quality, keep_exif, request.retries()));
        Ok(Size {
            width: size.width / 2,
            height: size.height / 2,
        })
    }

    async fn ping(&self, request: &TaskRequest) -> Result<(), TaskError> {
        self.pings.lock().unwrap().push(request.id().to_owned());
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typed_client_calls_the_handler_trait_through_a_worker() {
    let conn = Connection::connect(&url("tasks")).await.unwrap();
    let channel = conn.channel().await.unwrap();
    // The queues of an earlier run on a shared broker may hold its tasks.
    let (_, queues) = celery_tasks::declarations();
    for q in &queues {
        let mut q = q.attach(&channel);
        q.declare().await.unwrap();
        q.purge().await.unwrap();
    }
    let images = Images::default();
    let shutdown = Shutdown::new(Duration::from_secs(5));
    let worker = images.clone().into_worker(&conn);
    let running = tokio::spawn(worker.run(shutdown.clone()));
    let client = TaskClient::new(&conn).await.unwrap();

    // Positional arguments, a typed result.
    let sum = client.add(2, 40).apply_async().await.unwrap();
    assert_eq!(sum.get(WAIT).await.unwrap(), 42);

    // A message type as an argument and as the result; a keyword argument left out when
    // `None` and one given; routed through the exchange with its routing key.
    let size = Size {
        width: 640,
        height: 480,
    };
    let half = client
        .resize("a.png".into(), size.clone(), None, true)
        .apply_async()
        .await
        .unwrap();
    let quarter = client
        .resize("b.png".into(), size, Some(80), false)
        .apply_async()
        .await
        .unwrap();
    assert_eq!(
        half.get(WAIT).await.unwrap(),
        Size {
            width: 320,
            height: 240
        }
    );
    assert_eq!(quarter.get(WAIT).await.unwrap().width, 320);
    let mut resized = images.resized.lock().unwrap().clone();
    resized.sort();
    assert_eq!(
        resized,
        vec![
            ("a.png".to_owned(), None, true, 0),
            ("b.png".to_owned(), Some(80), false, 0)
        ]
    );

    // A failure the handler reports is the client's TaskFailed error, naming the exception.
    let err = client
        .add(-1, 1)
        .apply_async()
        .await
        .unwrap()
        .get(WAIT)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TaskFailed);
    assert!(
        err.to_string().contains("ValueError: negative numbers"),
        "{err}"
    );

    // Arguments as Python binds them, sent untyped as a Python caller may send them.
    let celery = client.celery();
    let send = |args: Json, kwargs: Json| {
        celery
            .send_task("tasks.add")
            .args(args)
            .kwargs(kwargs)
            .queue("celery")
            .apply_async()
    };
    let by_keyword = send(json!([1]), json!({"y": 2})).await.unwrap();
    assert_eq!(by_keyword.get::<i64>(WAIT).await.unwrap(), 3);
    let all_keywords = send(json!([]), json!({"y": 2, "x": 5})).await.unwrap();
    assert_eq!(all_keywords.get::<i64>(WAIT).await.unwrap(), 7);
    for (args, kwargs, expected) in [
        (
            json!([1]),
            json!({}),
            "TypeError: tasks.add() missing required argument: 'y'",
        ),
        (
            json!([1, 2, 3]),
            json!({}),
            "TypeError: tasks.add() takes 2 positional arguments but 3 were given",
        ),
        (
            json!([1, 2]),
            json!({"x": 1}),
            "TypeError: tasks.add() got multiple values for argument 'x'",
        ),
        (
            json!([1, 2]),
            json!({"z": 1}),
            "TypeError: tasks.add() got an unexpected keyword argument 'z'",
        ),
        (
            json!(["one", 2]),
            json!({}),
            "TypeError: tasks.add() argument 'x': invalid type: string \"one\", expected i64",
        ),
    ] {
        let result = send(args.clone(), kwargs.clone()).await.unwrap();
        let err = result.get::<i64>(WAIT).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TaskFailed, "{args} {kwargs}");
        assert!(err.to_string().contains(expected), "{args} {kwargs}: {err}");
    }

    // A task that reports no result still runs.
    let ping = client.ping().apply_async().await.unwrap();
    tokio::time::timeout(WAIT, async {
        while !images.pings.lock().unwrap().contains(&ping.id().to_owned()) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the ping task ran");

    shutdown.token().cancel();
    running.await.unwrap().unwrap();
    // Leave a shared broker as it was found: the topology's queues and exchange, and the
    // `celery` queue and exchange the worker declared as Celery does.
    let (exchanges, queues) = celery_tasks::declarations();
    for q in queues {
        q.attach(&channel).delete(false, false).await.unwrap();
    }
    for x in exchanges {
        x.attach(&channel).delete(false).await.unwrap();
    }
    let celery_queue = kombu::Queue::new("celery");
    celery_queue
        .attach(&channel)
        .delete(false, false)
        .await
        .unwrap();
    let celery_exchange = kombu::Exchange::new("celery", kombu::ExchangeKind::Direct);
    celery_exchange
        .attach(&channel)
        .delete(false)
        .await
        .unwrap();
    conn.close().await.unwrap();
}
