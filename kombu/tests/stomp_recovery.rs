//! Connection loss on STOMP, made with a TCP proxy the test controls: a consumer and a
//! confirmed producer on `stomp://` lose their sessions in the middle of a stream, reconnect
//! with bounded backoff, resubscribe under the same consumer tag, and nothing confirmed is
//! lost (at least once: a message whose session died before its ack comes again, marked
//! redelivered).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "common/proxy.rs"]
mod proxy;

use std::collections::BTreeSet;
use std::time::Duration;

use kombu::transport::stomp::StompOptions;
use kombu::{Connection, ConnectionOptions, Consumer, ErrorKind, Producer, Queue};
use proxy::Proxy;
use tokio::net::TcpStream;

const MESSAGES: u64 = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_lost_mid_stream_reconnect_resubscribe_and_lose_nothing_confirmed() {
    if TcpStream::connect("127.0.0.1:61613").await.is_err() {
        assert!(
            std::env::var("KOMBU_REQUIRE_BROKER").as_deref() != Ok("1"),
            "RabbitMQ's STOMP plugin is required (KOMBU_REQUIRE_BROKER=1) but not reachable"
        );
        eprintln!("skipped: RabbitMQ's STOMP plugin not reachable at 127.0.0.1:61613; set KOMBU_REQUIRE_BROKER=1 to make this a failure");
        return;
    }
    // The queue is declared over AMQP (STOMP cannot declare).
    let amqp = Connection::connect("amqp://guest:guest@127.0.0.1:5672//")
        .await
        .unwrap();
    let achannel = amqp.channel().await.unwrap();
    let queue_name = format!("stomp.recovery.{}", std::process::id());
    let mut declared = Queue::new(queue_name.as_str()).attach(&achannel);
    declared.declare().await.unwrap();
    declared.purge().await.unwrap();

    let proxy = Proxy::start(61613).await;
    let options = ConnectionOptions::default().stomp(
        StompOptions::default()
            .backoff(Duration::from_millis(50), Duration::from_millis(400))
            .recovery_timeout(Duration::from_secs(20)),
    );
    let url = format!("stomp://guest:guest@127.0.0.1:{}/", proxy.port);
    let conn = Connection::connect_with(&url, options).await.unwrap();
    let consume_channel = conn.channel().await.unwrap();
    let mut consumer = Consumer::new(
        &consume_channel,
        [Queue::new(queue_name.as_str()).no_declare(true)],
    )
    .prefetch_count(20);
    consumer.consume().await.unwrap();

    let publish_channel = conn.channel().await.unwrap();
    let producer = Producer::new(&publish_channel)
        .routing_key(queue_name.as_str())
        .confirm(true);

    let publisher = tokio::spawn(async move {
        let mut confirmed = BTreeSet::new();
        for n in 0..MESSAGES {
            // A publish whose session dies before its receipt is sent again: at least once.
            loop {
                match producer.publish(&serde_json::json!({ "n": n })).await {
                    Ok(_) => break,
                    Err(e) => {
                        assert!(
                            matches!(
                                e.kind(),
                                ErrorKind::Connection | ErrorKind::Channel | ErrorKind::Timeout
                            ),
                            "{e}"
                        );
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            confirmed.insert(n);
            if n % 50 == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        confirmed
    });

    let mut seen = BTreeSet::new();
    let mut redelivered = 0;
    let mut cuts = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while seen.len() < MESSAGES as usize {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {MESSAGES} messages arrived",
            seen.len()
        );
        // Cut the network twice, a third and two thirds of the way through.
        if (cuts == 0 && seen.len() >= MESSAGES as usize / 3)
            || (cuts == 1 && seen.len() >= 2 * MESSAGES as usize / 3)
        {
            proxy.cut();
            tokio::time::sleep(Duration::from_millis(300)).await;
            proxy.restore().await;
            cuts += 1;
        }
        let message = match consumer.recv(Duration::from_secs(30)).await {
            Ok(m) => m,
            Err(e) => panic!("the consumer stopped after {} messages: {e}", seen.len()),
        };
        let n = message
            .payload()
            .unwrap()
            .get("n")
            .and_then(|v| v.as_i64())
            .unwrap() as u64;
        if message.redelivered() {
            redelivered += 1;
        }
        // An ack for a delivery of a lost session fails clearly; the broker sends it again.
        match message.ack() {
            Ok(()) => {
                seen.insert(n);
            }
            Err(e) => assert!(e.to_string().contains("session"), "{e}"),
        }
    }
    let confirmed = publisher.await.unwrap();
    assert_eq!(cuts, 2);
    assert!(
        confirmed.is_subset(&seen),
        "confirmed but never consumed: {:?}",
        confirmed.difference(&seen).collect::<Vec<_>>()
    );
    eprintln!("{MESSAGES} messages, 2 cuts, {redelivered} redelivered");
    conn.close().await.unwrap();
    declared.delete(false, false).await.unwrap();
    amqp.close().await.unwrap();
}
