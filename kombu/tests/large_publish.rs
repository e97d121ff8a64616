//! A large confirmed publish holds its body about once: the producer moves it (no copy on the
//! way in), keeps it for a refusal by sharing it (no copy), and what remains is the transport's
//! own framing. Measured as the process's peak resident memory (Linux: `VmHWM`, reset through
//! `/proc/self/clear_refs`), in a test binary of its own so no other test allocates meanwhile.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use kombu::{Producer, Queue};

use common::{declare, open, test_name};

const MIB: usize = 1 << 20;

/// A field of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[tokio::test(flavor = "current_thread")]
async fn a_large_confirmed_publish_is_not_copied_on_the_way_out() {
    // Under RabbitMQ's default largest message (128 MiB).
    const SIZE: usize = 100 * MIB;
    if status_bytes("VmHWM:").is_none() || std::fs::write("/proc/self/clear_refs", "5").is_err() {
        eprintln!("skipped: peak memory cannot be measured here (needs Linux /proc)");
        return;
    }
    let t = test_name!();
    let (_conn, ch) = open(t).await;
    let q = declare(&ch, Queue::new(common::name(t, "q"))).await;
    let producer = Producer::new(&ch).routing_key(q.name()).confirm(true);
    // Warm up the connection's buffers with a small publish.
    producer.publish_body(vec![1u8; 1024]).await.unwrap();

    let body = vec![b'x'; SIZE];
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_bytes("VmRSS:").unwrap();
    producer.publish_body(body).await.unwrap();
    let peak = status_bytes("VmHWM:").unwrap();
    let extra = peak.saturating_sub(before);
    eprintln!(
        "{}: peak {} MiB above the {} MiB body already held ({:.2}x the body)",
        common::transport(),
        extra / MIB,
        SIZE / MIB,
        extra as f64 / SIZE as f64
    );
    // The body is held once already (counted in `before`); the AMQP transport's framing copies
    // it once more (lapin takes a slice). A copy more than that is a defect.
    assert!(
        extra < SIZE * 3 / 2,
        "publishing a {} MiB body took {} MiB more at its peak",
        SIZE / MIB,
        extra / MIB
    );
    common::wait_for_ready(&q, 2).await;
    q.delete(false, false).await.unwrap();
}
