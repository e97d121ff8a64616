//! Failover on a 3-node RabbitMQ cluster (started by `scripts/rabbitmq-cluster.sh start`, which
//! prints the URLs; `scripts/rabbitmq-cluster.sh env` gives the variables below). Each test
//! publishes persistent messages to a quorum queue, many in flight on one producer with
//! publisher confirms, while a consumer acks throughout; then a node is killed (SIGKILL) or the
//! cluster is restarted node by node. Afterwards the consumer's record is compared with the
//! confirms: every confirmed message was processed at least once (0 lost), a message processed
//! twice carries `redelivered` the second time, and the counts are printed.
//!
//! `KOMBU_CLUSTER_URLS` (the `;`-joined AMQP URLs of the nodes) and `KOMBU_CLUSTER_SCRIPT` (the
//! script, to kill and start nodes) select the cluster; without them the tests skip, unless
//! `KOMBU_REQUIRE_CLUSTER=1` (CI), which makes a missing cluster a failure. The tests take
//! turns: each changes the cluster the others use.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use kombu::transport::amqp::AmqpOptions;
use kombu::{
    Connection, ConnectionOptions, Consumer, DeliveryMode, ErrorKind, Producer, Queue, QueueType,
};

/// One test at a time: each kills or restarts nodes the others are using.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Cluster {
    urls: Vec<String>,
    script: String,
}

impl Cluster {
    fn from_env() -> Option<Cluster> {
        let urls = std::env::var("KOMBU_CLUSTER_URLS").ok();
        let script = std::env::var("KOMBU_CLUSTER_SCRIPT").ok();
        match (urls, script) {
            (Some(urls), Some(script)) => Some(Cluster {
                urls: urls.split(';').map(str::to_owned).collect(),
                script,
            }),
            _ if std::env::var("KOMBU_REQUIRE_CLUSTER").as_deref() == Ok("1") => panic!(
                "a RabbitMQ cluster is required (KOMBU_REQUIRE_CLUSTER=1): run \
                 `scripts/rabbitmq-cluster.sh start` and export what `scripts/rabbitmq-cluster.sh env` prints"
            ),
            _ => {
                eprintln!("skipped: no cluster (KOMBU_CLUSTER_URLS); see scripts/rabbitmq-cluster.sh");
                None
            }
        }
    }

    /// The failover list starting at node `first` (1-based), then the others in order.
    fn urls_from(&self, first: usize, name: &str) -> String {
        let n = self.urls.len();
        (0..n)
            .map(|i| {
                let url = &self.urls[(first - 1 + i) % n];
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}connection_name={name}")
            })
            .collect::<Vec<_>>()
            .join(";")
    }

    async fn script(&self, args: &[&str]) {
        let script = self.script.clone();
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let argv = args.clone();
        let out = tokio::task::spawn_blocking(move || {
            std::process::Command::new("bash")
                .arg(&script)
                .args(&argv)
                .output()
                .expect("the cluster script runs")
        })
        .await
        .unwrap();
        assert!(
            out.status.success(),
            "{} {args:?} failed:\n{}{}",
            self.script,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            args = args
        );
    }

    async fn kill(&self, node: usize) {
        self.script(&["kill", &node.to_string()]).await;
    }

    async fn stop(&self, node: usize) {
        self.script(&["stop-node", &node.to_string()]).await;
    }

    async fn start(&self, node: usize) {
        self.script(&["start-node", &node.to_string()]).await;
    }

    /// Every node running and in the cluster (a test that failed half-way may have left one
    /// down).
    async fn heal(&self) {
        self.script(&["start"]).await;
    }

    /// The cluster, whole, for this test alone (until the guard drops); `None` to skip.
    async fn take_turn() -> Option<(Arc<Cluster>, tokio::sync::MutexGuard<'static, ()>)> {
        let cluster = Cluster::from_env()?;
        let turn = TURN.lock().await;
        cluster.heal().await;
        Some((Arc::new(cluster), turn))
    }
}

fn options() -> ConnectionOptions {
    ConnectionOptions::default().amqp(
        AmqpOptions::default()
            // A node restart takes 10-30 s here; operations wait for it.
            .recovery_timeout(Duration::from_secs(90))
            .backoff(Duration::from_millis(100), Duration::from_secs(1))
            .connect_timeout(Duration::from_secs(3))
            .confirm_timeout(Duration::from_secs(30)),
    )
}

fn unique(case: &str) -> String {
    format!(
        "cluster-{case}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    )
}

/// What a run counted (printed; `lost` is also asserted).
#[derive(Debug, Default)]
#[allow(dead_code)]
struct Counts {
    published: u64,
    /// Confirmed, after retries.
    confirmed: u64,
    /// Publishes that failed (nacked, or the confirm lost with the connection), each retried.
    failed_attempts: u64,
    /// Messages published more than once.
    retried: u64,
    consumed: usize,
    duplicates: usize,
    lost: usize,
    /// From each disruption to the next confirmed publish.
    recovery: Vec<Duration>,
}

/// Publishes persistent messages (up to `window` in flight on one producer, one every `pace`)
/// to a quorum queue whose leader is node 1, while a consumer acks every delivery, and runs
/// `disrupt` once `messages / 5` are confirmed. Publishing stops after `messages`, or when the
/// disruption is over if that is later. Returns the counts after checking that every
/// confirmed message was consumed and every second delivery was flagged.
async fn run<F, Fut>(
    cluster: &Cluster,
    case: &str,
    messages: u64,
    window: usize,
    pace: Duration,
    disrupt: F,
) -> Counts
where
    F: FnOnce(Arc<Progress>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<Duration>> + Send,
{
    let run = unique(case);
    let queue = Queue::new(run.as_str())
        .durable(true)
        .queue_type(QueueType::Quorum)
        // The leader on node 1 (where the declaring connection is), so that killing node 1
        // kills the leader and the clients' connections at once.
        .argument("x-queue-leader-locator", "client-local");

    let producer_conn =
        Connection::connect_with(&cluster.urls_from(1, &format!("{run}-producer")), options())
            .await
            .unwrap();
    let consumer_conn =
        Connection::connect_with(&cluster.urls_from(1, &format!("{run}-consumer")), options())
            .await
            .unwrap();
    let channel = producer_conn.channel().await.unwrap();
    channel.declare_queue(&queue).await.unwrap();

    let progress = Arc::new(Progress::default());
    let mut consumer =
        Consumer::new(&consumer_conn.channel().await.unwrap(), [queue.clone()]).prefetch_count(500);
    consumer.consume().await.unwrap();

    let publishing = {
        let progress = Arc::clone(&progress);
        let queue_name = run.clone();
        tokio::spawn(async move {
            let producer = Producer::new(&channel)
                .routing_key(queue_name)
                .delivery_mode(DeliveryMode::Persistent)
                .confirm(true);
            let producer = &producer;
            let progress = &progress;
            // Many publishes in flight on one producer, each awaiting its own confirm.
            let results: Vec<Outcome> = futures_util::stream::iter(0..)
                .take_while(|n| {
                    std::future::ready(*n < messages || !progress.disrupted.load(Ordering::Relaxed))
                })
                .then(|n| async move {
                    if !pace.is_zero() {
                        tokio::time::sleep(pace).await;
                    }
                    n
                })
                .map(|n| async move {
                    // What an at-least-once publisher does: a publish that fails (nacked,
                    // or its confirm lost with the connection) is published again, for
                    // up to a minute.
                    let first = Instant::now();
                    let mut errors = Vec::new();
                    loop {
                        match producer.publish(&serde_json::json!({ "n": n })).await {
                            Ok(()) => {
                                progress.confirmed();
                                break Outcome {
                                    n,
                                    errors,
                                    confirmed: true,
                                };
                            }
                            Err(e) => {
                                progress.failed.fetch_add(1, Ordering::Relaxed);
                                progress.failures.lock().unwrap().push(Instant::now());
                                errors.push(format!("{:?}: {e}", e.kind()));
                                if first.elapsed() > Duration::from_secs(60) {
                                    break Outcome {
                                        n,
                                        errors,
                                        confirmed: false,
                                    };
                                }
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                        }
                    }
                })
                .buffer_unordered(window)
                .collect()
                .await;
            progress.finished.store(true, Ordering::Relaxed);
            results
        })
    };
    let disrupting = tokio::spawn({
        let progress = Arc::clone(&progress);
        async move {
            progress.wait_confirmed(messages / 5).await;
            let recovery = disrupt(Arc::clone(&progress)).await;
            progress.disrupted.store(true, Ordering::Relaxed);
            recovery
        }
    });

    let mut seen: BTreeMap<u64, Vec<bool>> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut published = None;
    let mut publishing = Some(publishing);
    loop {
        if publishing.as_ref().is_some_and(|p| p.is_finished()) {
            published = Some(publishing.take().unwrap().await.unwrap());
        }
        if let Some(results) = &published {
            if disrupting.is_finished()
                && results
                    .iter()
                    .filter(|o| o.confirmed)
                    .all(|o| seen.contains_key(&o.n))
            {
                break;
            }
        }
        if Instant::now() >= deadline {
            progress.report(case);
        }
        assert!(
            Instant::now() < deadline,
            "{case}: timed out with {} distinct messages consumed, {} confirmed",
            seen.len(),
            progress.confirmed.load(Ordering::Relaxed)
        );
        let message = match consumer.recv(Duration::from_millis(500)).await {
            Ok(m) => m,
            Err(e) if e.is_timeout() => continue,
            Err(e) if e.kind() == ErrorKind::Connection => {
                // The consumer's node is down and recovery has not finished yet.
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => panic!("{case}: the consumer failed: {e:#}"),
        };
        let n = message.decode::<serde_json::Value>().unwrap()["n"]
            .as_u64()
            .unwrap();
        seen.entry(n).or_default().push(message.redelivered());
        // A delivery from a channel that died cannot be acked; the broker redelivers it.
        let _ = message.ack();
    }
    let recovery = disrupting.await.unwrap();
    progress.report(case);
    let results = published.unwrap();
    let confirmed: BTreeSet<u64> = results
        .iter()
        .filter(|o| o.confirmed)
        .map(|o| o.n)
        .collect();
    let failures: Vec<&String> = results.iter().flat_map(|o| &o.errors).collect();
    // Published more than once: a second copy in the queue is not a redelivery.
    let retried: BTreeSet<u64> = results
        .iter()
        .filter(|o| !o.errors.is_empty())
        .map(|o| o.n)
        .collect();
    let lost: Vec<u64> = confirmed
        .iter()
        .filter(|n| !seen.contains_key(n))
        .copied()
        .collect();
    let unflagged: Vec<u64> = seen
        .iter()
        .filter(|(n, _)| !retried.contains(n))
        .filter(|(_, flags)| flags.iter().skip(1).any(|redelivered| !redelivered))
        .map(|(n, _)| *n)
        .collect();
    let counts = Counts {
        published: results.len() as u64,
        confirmed: confirmed.len() as u64,
        failed_attempts: failures.len() as u64,
        retried: retried.len() as u64,
        consumed: seen.len(),
        duplicates: seen.values().filter(|f| f.len() > 1).count(),
        lost: lost.len(),
        recovery,
    };
    eprintln!("{case}: {counts:?}");
    if !failures.is_empty() {
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for f in &failures {
            *kinds.entry(f.as_str()).or_default() += 1;
        }
        eprintln!("{case}: failed publishes by error: {kinds:#?}");
    }

    consumer.cancel().await.unwrap();
    let cleanup = consumer_conn.channel().await.unwrap();
    queue.attach(&cleanup).delete(false, false).await.unwrap();
    producer_conn.close().await.unwrap();
    consumer_conn.close().await.unwrap();

    assert!(
        lost.is_empty(),
        "{case}: confirmed but never consumed: {} ({:?}...)",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
    assert!(
        unflagged.is_empty(),
        "{case}: consumed again without redelivered = true: {unflagged:?}"
    );
    assert_eq!(
        counts.confirmed, counts.published,
        "{case}: publishes never confirmed, even retried for a minute"
    );
    counts
}

/// One message's publishing.
#[derive(Debug)]
struct Outcome {
    n: u64,
    /// The failed attempts' errors.
    errors: Vec<String>,
    confirmed: bool,
}

/// How far publishing has got, for the task that disrupts the cluster.
#[derive(Debug, Default)]
struct Progress {
    confirmed: AtomicU64,
    failed: AtomicUsize,
    /// When the last confirm came.
    last_confirm: Mutex<Option<Instant>>,
    /// The disruption is over.
    disrupted: AtomicBool,
    /// Publishing is over.
    finished: AtomicBool,
    /// When publishes failed.
    failures: Mutex<Vec<Instant>>,
    /// What the disruption did, and when.
    events: Mutex<Vec<(String, Instant)>>,
}

impl Progress {
    fn confirmed(&self) {
        self.confirmed.fetch_add(1, Ordering::Relaxed);
        *self.last_confirm.lock().unwrap() = Some(Instant::now());
    }

    fn event(&self, what: impl Into<String>) {
        self.events
            .lock()
            .unwrap()
            .push((what.into(), Instant::now()));
    }

    /// The disruption's timeline, with when publishes failed and were last confirmed.
    fn report(&self, case: &str) {
        let events = self.events.lock().unwrap();
        let Some(t0) = events.first().map(|e| e.1) else {
            return;
        };
        for (what, at) in events.iter() {
            eprintln!("{case}: {what} at +{:?}", at.saturating_duration_since(t0));
        }
        let failures = self.failures.lock().unwrap();
        if let (Some(a), Some(b)) = (failures.first(), failures.last()) {
            eprintln!(
                "{case}: {} failed publishes, from +{:?} to +{:?}",
                failures.len(),
                a.saturating_duration_since(t0),
                b.saturating_duration_since(t0)
            );
        }
        if let Some(at) = *self.last_confirm.lock().unwrap() {
            eprintln!(
                "{case}: last confirm at +{:?}",
                at.saturating_duration_since(t0)
            );
        }
    }

    async fn wait_confirmed(&self, at_least: u64) {
        while self.confirmed.load(Ordering::Relaxed) < at_least {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How long after `since` the next publish was confirmed, if one was within `bound`.
    async fn recovered_after(&self, since: Instant, bound: Duration) -> Option<Duration> {
        loop {
            if let Some(at) = *self.last_confirm.lock().unwrap() {
                if at > since {
                    return Some(at - since);
                }
            }
            assert!(
                !self.finished.load(Ordering::Relaxed),
                "publishing ended before the cluster recovered"
            );
            if since.elapsed() > bound {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_quorum_leaders_node_loses_no_confirmed_message() {
    let Some((cluster, _turn)) = Cluster::take_turn().await else {
        return;
    };
    let disruptor = Arc::clone(&cluster);
    let counts = run(
        &cluster,
        "kill-leader",
        50_000,
        500,
        Duration::ZERO,
        move |progress| async move {
            let killed = Instant::now();
            progress.event("kill -9 node 1");
            disruptor.kill(1).await;
            progress.event("node 1 gone");
            // Publishing goes on without node 1 for a while, then it comes back. On RabbitMQ
            // 3.10 a channel opened after the kill may have every publish to the quorum queue
            // nacked until node 1 returns (see docs/scaling.md); kombu replaces such a channel
            // after 2 s. Should confirms still not resume, node 1 is brought back after 30 s,
            // and the recovery time is until the first confirm after that.
            let before_restart = progress
                .recovered_after(killed, Duration::from_secs(30))
                .await;
            if before_restart.is_some() {
                tokio::time::sleep(Duration::from_secs(3)).await;
            } else {
                progress.event("no confirm within 30 s of the kill");
            }
            progress.event("starting node 1");
            disruptor.start(1).await;
            progress.event("node 1 started");
            let recovery = match before_restart {
                Some(took) => took,
                None => progress
                    .recovered_after(killed, Duration::from_secs(180))
                    .await
                    .expect("confirms resume once node 1 is back"),
            };
            vec![recovery]
        },
    )
    .await;
    assert_eq!(counts.lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_the_whole_cluster_loses_no_confirmed_message() {
    let Some((cluster, _turn)) = Cluster::take_turn().await else {
        return;
    };
    let disruptor = Arc::clone(&cluster);
    // Paced (about 500 a second) so that publishing spans the whole restart.
    let counts = run(
        &cluster,
        "rolling",
        20_000,
        500,
        Duration::from_millis(2),
        move |progress| async move {
            let mut recovery = Vec::new();
            for node in 1..=3 {
                let stopped = Instant::now();
                progress.event(format!("stopping node {node}"));
                disruptor.stop(node).await;
                progress.event(format!("node {node} stopped"));
                recovery.push(
                    progress
                        .recovered_after(stopped, Duration::from_secs(120))
                        .await
                        .expect("confirms resume within two minutes of a graceful stop"),
                );
                disruptor.start(node).await;
                progress.event(format!("node {node} started"));
            }
            recovery
        },
    )
    .await;
    assert_eq!(counts.lost, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_whose_confirm_never_comes_fails_within_its_bound() {
    let Some((cluster, _turn)) = Cluster::take_turn().await else {
        return;
    };
    let run = unique("no-quorum");
    let queue = Queue::new(run.as_str())
        .durable(true)
        .queue_type(QueueType::Quorum);
    let bound = Duration::from_secs(3);
    let conn = Connection::connect_with(
        &cluster.urls_from(1, &run),
        ConnectionOptions::default().amqp(AmqpOptions::default().confirm_timeout(bound)),
    )
    .await
    .unwrap();
    let channel = conn.channel().await.unwrap();
    channel.declare_queue(&queue).await.unwrap();
    let producer = Producer::new(&channel)
        .routing_key(run.as_str())
        .delivery_mode(DeliveryMode::Persistent)
        .confirm(true);
    producer.publish("before").await.unwrap();

    // Two of three members gone: the queue has no quorum, so nothing is confirmed.
    cluster.stop(3).await;
    cluster.stop(2).await;
    let started = Instant::now();
    let result = producer.publish("no quorum").await;
    let took = started.elapsed();
    cluster.start(2).await;
    cluster.start(3).await;

    let err = result.expect_err("a publish without a quorum is not confirmed");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:#}");
    assert!(
        err.returned_message().is_some(),
        "the unconfirmed message is handed back: {err:#}"
    );
    // The bound, plus scheduling; not the minutes a hang would be.
    assert!(took < bound * 4, "the publish failed after {took:?}");
    eprintln!("no-quorum: the publish failed after {took:?} (bound {bound:?}): {err}");

    // With the quorum back, the queue takes publishes again.
    producer.publish("after").await.unwrap();
    queue.attach(&channel).delete(false, false).await.unwrap();
    conn.close().await.unwrap();
}
