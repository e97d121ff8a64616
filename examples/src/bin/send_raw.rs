//! Sending raw bytes with a content type, as the kombu README's
//! `producer.publish(data, content_type="image/jpeg", content_encoding="binary")`: the body is
//! sent as it is, not serialized, and the consumer receives the same bytes.
//!
//! Its names are prefixed `send_raw.` so that it does not meet the other examples on a shared
//! broker. Runs on the in-memory broker; set `KOMBU_URL` to use another.

use std::time::Duration;

use kombu::{Connection, Exchange, ExchangeKind, Producer, Queue, SimpleQueue};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = run().await {
        eprintln!("send_raw: {e:#}");
        std::process::exit(1);
    }
}

async fn run() -> kombu::Result<()> {
    let conn = Connection::connect(&kombu_examples::broker_url()).await?;
    let channel = conn.channel().await?;

    let media = Exchange::new("send_raw.media", ExchangeKind::Direct);
    let images = Queue::new("send_raw.images").bind_to(media.clone(), "image.jpeg");
    channel.declare_queue(&images).await?;

    // A tiny JPEG header and some bytes that are not valid UTF-8.
    let jpeg: Vec<u8> = vec![
        0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, b'J', b'F', b'I', b'F', 0x00, 0xFE,
    ];
    let producer = Producer::new(&channel).exchange(media);
    producer
        .publish_body(jpeg.clone())
        .routing_key("image.jpeg")
        .content_type("image/jpeg")
        .content_encoding("binary")
        .compression("zlib")
        .await?;
    println!(
        "sent {} bytes as image/jpeg (zlib-compressed on the wire)",
        jpeg.len()
    );

    let message =
        images.attach(&channel).get(false).await?.ok_or_else(|| {
            kombu::Error::new(kombu::ErrorKind::Timeout, "the image did not arrive")
        })?;
    println!(
        "received {} bytes, content type {:?}, encoding {:?}, compression header {:?}",
        message.body().len(),
        message.content_type(),
        message.content_encoding(),
        message.header("compression").and_then(|v| v.as_str()),
    );
    assert_eq!(
        message.body(),
        jpeg.as_slice(),
        "raw bytes arrive unchanged"
    );
    message.ack()?;

    // Text goes the same way: text/plain, utf-8.
    let mut notes = SimpleQueue::new(&channel, "send_raw.notes").await?;
    notes.put_body("plain text, no serializer").await?;
    let note = notes.get(Duration::from_secs(5)).await?;
    println!(
        "received text {:?} as {:?}",
        note.payload()?.as_str(),
        note.content_type()
    );
    note.ack()?;
    conn.close().await
}
