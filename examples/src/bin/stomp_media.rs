//! The media topology over STOMP: the topology file is declared over AMQP (STOMP cannot
//! declare, as a deployment would do with `kombu apply`), then a producer and a consumer on
//! `stomp://` publish a video and handle it, with the same API as on AMQP.
//!
//! Needs RabbitMQ with its STOMP plugin:
//!
//! ```sh
//! cargo run -p kombu-examples --bin stomp_media
//! ```
//!
//! `KOMBU_URL` (default `stomp://guest:guest@localhost:61613/`) is where the clients connect,
//! as in the other examples; `KOMBU_AMQP_URL` (default `amqp://guest:guest@localhost:5672//`)
//! is where the topology is declared. It shares the media example's topology file, so its names
//! and their settings are the media example's.

use std::time::Duration;

use kombu::topology::Topology;
use kombu::{Connection, Consumer, Producer};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("stomp_media: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> kombu::Result<()> {
    let stomp_url = std::env::var("KOMBU_URL")
        .unwrap_or_else(|_| "stomp://guest:guest@localhost:61613/".to_owned());
    let amqp_url = std::env::var("KOMBU_AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@localhost:5672//".to_owned());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/media/topology.toml");
    let topology = Topology::from_path(path)?;

    // The operator's side: declare the reviewed topology over AMQP.
    let admin = Connection::connect(&amqp_url).await?;
    topology.declare_all(&admin.channel().await?).await?;
    admin.close().await?;
    println!("declared {path} over AMQP");

    // The clients' side: everything over STOMP, with the declarations marked as done.
    let conn = Connection::connect(&stomp_url).await?;
    let channel = conn.channel().await?;
    let missing =
        |what: &str| kombu::Error::new(kombu::ErrorKind::InvalidTopology, what.to_owned());
    let media = topology
        .exchange("media")
        .ok_or_else(|| missing("no exchange `media`"))?
        .no_declare(true);
    let video = topology
        .queue("video")
        .ok_or_else(|| missing("no queue `video`"))?
        .no_declare(true);

    let mut consumer = Consumer::new(&channel, [video]);
    consumer.consume().await?;
    Producer::new(&channel)
        .exchange(media)
        .confirm(true)
        .publish(&serde_json::json!({"name": "/tmp/lolcat1.avi", "size": 1301013}))
        .routing_key("video")
        .compression("zlib")
        .await?;
    println!("published a video to /exchange/media/video (confirmed by a receipt)");

    let message = consumer.recv(Duration::from_secs(10)).await?;
    let payload = message.payload()?;
    println!(
        "received over STOMP from exchange `{}` with key `{}`: {payload}",
        message.exchange(),
        message.routing_key()
    );
    message.ack()?;
    conn.close().await
}
