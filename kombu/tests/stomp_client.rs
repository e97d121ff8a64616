//! The STOMP 1.2 client against RabbitMQ's STOMP plugin (port 61613): handshake, receipts,
//! subscriptions with client-individual acks, NUL bytes in bodies, NACK and redelivery, a
//! refused login, a message crossing from STOMP to AMQP, and heart-beats (against a silent
//! server of the test's own).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "stomp")]

mod common;

use std::time::Duration;

use kombu::transport::stomp::client::{Client, ConnectOptions};
use kombu::transport::stomp::frame::{Command, Frame};

const WAIT: Duration = Duration::from_secs(5);

async fn connect() -> Option<Client> {
    match Client::connect(&ConnectOptions::default()).await {
        Ok(c) => Some(c),
        Err(e) => {
            assert!(
                std::env::var("KOMBU_REQUIRE_BROKER").is_err(),
                "KOMBU_REQUIRE_BROKER is set but RabbitMQ's STOMP plugin is not reachable on 127.0.0.1:61613 ({e}); rabbitmq-plugins enable rabbitmq_stomp"
            );
            eprintln!("skipped: no STOMP on 127.0.0.1:61613 ({e})");
            None
        }
    }
}

#[tokio::test]
async fn send_subscribe_ack_with_nul_bytes_in_the_body() {
    let Some(client) = connect().await else {
        return;
    };
    assert!(
        client.server().starts_with("RabbitMQ"),
        "{}",
        client.server()
    );
    let queue = common::name(common::test_name!(), "ack");
    let destination = format!("/queue/{queue}");
    let (_, mut messages) = client
        .subscribe(
            &destination,
            &[
                ("auto-delete".to_owned(), "true".to_owned()),
                ("durable".to_owned(), "false".to_owned()),
            ],
        )
        .await
        .unwrap();
    client
        .send_with_receipt(
            Frame::new(Command::Send)
                .header_pair("destination", destination.clone())
                .header_pair("content-type", "application/octet-stream")
                .header_pair("x-note", "a:b\\c")
                .with_body(b"bin\0ary".to_vec()),
        )
        .await
        .unwrap();
    let m = tokio::time::timeout(WAIT, messages.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.body, b"bin\0ary");
    assert_eq!(m.header("x-note"), Some("a:b\\c"));
    assert_eq!(m.header("content-type"), Some("application/octet-stream"));
    client.ack(m.header("ack").unwrap()).unwrap();
    client.disconnect().await.unwrap();
    assert!(!client.is_open());
}

#[tokio::test]
async fn nack_with_requeue_redelivers() {
    let Some(client) = connect().await else {
        return;
    };
    let queue = common::name(common::test_name!(), "nack");
    let destination = format!("/queue/{queue}");
    let (_, mut messages) = client
        .subscribe(
            &destination,
            &[
                ("auto-delete".to_owned(), "true".to_owned()),
                ("durable".to_owned(), "false".to_owned()),
            ],
        )
        .await
        .unwrap();
    client
        .send_with_receipt(
            Frame::new(Command::Send)
                .header_pair("destination", destination)
                .with_body(b"again".to_vec()),
        )
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, messages.recv())
        .await
        .unwrap()
        .unwrap();
    client.nack(first.header("ack").unwrap(), true).unwrap();
    let second = tokio::time::timeout(WAIT, messages.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.body, b"again");
    assert_eq!(second.header("redelivered"), Some("true"));
    client.ack(second.header("ack").unwrap()).unwrap();
    client.disconnect().await.unwrap();
}

#[tokio::test]
async fn a_refused_login_says_why() {
    if connect().await.is_none() {
        return;
    }
    let options = ConnectOptions {
        passcode: "wrong".to_owned(),
        ..ConnectOptions::default()
    };
    let err = Client::connect(&options).await.unwrap_err();
    assert!(
        err.to_string().contains("the STOMP server refused"),
        "{err}"
    );
}

#[tokio::test]
async fn an_error_frame_fails_what_is_pending_with_the_server_message() {
    let Some(client) = connect().await else {
        return;
    };
    // RabbitMQ refuses a destination it does not understand with an ERROR frame.
    let err = client
        .send_with_receipt(Frame::new(Command::Send).header_pair("destination", "/nowhere/at/all"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("the STOMP server refused"),
        "{err}"
    );
    assert!(!client.is_open());
    let again = client.send(&Frame::new(Command::Send)).await.unwrap_err();
    assert!(again.to_string().contains("refused"), "{again}");
}

#[tokio::test]
async fn a_stomp_message_reaches_an_amqp_consumer_with_its_properties() {
    let Some(client) = connect().await else {
        return;
    };
    let conn = match kombu::Connection::connect("amqp://guest:guest@127.0.0.1:5672//").await {
        Ok(c) => c,
        Err(e) => panic!("AMQP is needed beside STOMP: {e}"),
    };
    let channel = conn.channel().await.unwrap();
    let queue = common::name(common::test_name!(), "cross");
    let mut bound = kombu::Queue::new(queue.clone())
        .durable(false)
        .auto_delete(true)
        .attach(&channel);
    bound.declare().await.unwrap();
    client
        .send_with_receipt(
            Frame::new(Command::Send)
                .header_pair("destination", format!("/amq/queue/{queue}"))
                .header_pair("content-type", "application/json")
                .header_pair("correlation-id", "c-1")
                .header_pair("reply-to", "/queue/replies")
                .header_pair("priority", "5")
                .header_pair("persistent", "true")
                .header_pair("x-custom", "yes")
                .with_body(br#"{"action":"import_feed"}"#.to_vec()),
        )
        .await
        .unwrap();
    let m = common::get_one(&bound).await;
    assert_eq!(m.content_type(), Some("application/json"));
    let p = m.properties();
    assert_eq!(p.correlation_id.as_deref(), Some("c-1"));
    assert_eq!(p.priority, Some(5));
    assert_eq!(p.delivery_mode, Some(kombu::DeliveryMode::Persistent));
    assert_eq!(m.header("x-custom").and_then(|v| v.as_str()), Some("yes"));
    assert_eq!(common::str_field(&m, "action"), "import_feed");
    m.ack().unwrap();
    // (Auto-delete only once a consumer has come and gone: this one never had one.)
    bound.delete(false, false).await.unwrap();
    client.disconnect().await.unwrap();
    conn.close().await.unwrap();
}

/// A server that completes the handshake, offering heart-beats, and then says nothing: the
/// client sends its heart-beats, and ends the session when the server's do not come.
#[tokio::test]
async fn heart_beats_go_out_and_a_silent_server_ends_the_session() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 1024];
        while !got.contains(&0) {
            let n = socket.read(&mut chunk).await.unwrap();
            got.extend_from_slice(&chunk[..n]);
        }
        socket
            .write_all(b"CONNECTED\nversion:1.2\nheart-beat:200,200\n\n\0")
            .await
            .unwrap();
        // Count the heart-beat EOLs the client sends until it hangs up.
        let mut beats = 0;
        loop {
            match socket.read(&mut chunk).await {
                Ok(0) | Err(_) => return beats,
                Ok(n) => beats += chunk[..n].iter().filter(|b| **b == b'\n').count(),
            }
        }
    });
    let options = ConnectOptions {
        address,
        heartbeat: (Duration::from_millis(200), Duration::from_millis(200)),
        ..ConnectOptions::default()
    };
    let client = Client::connect(&options).await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while client.is_open() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the session outlived a silent server"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let err = client
        .send(&Frame::new(Command::Send).header_pair("destination", "/queue/x"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("heart-beat"), "{err}");
    drop(client);
    let beats = tokio::time::timeout(WAIT, server).await.unwrap().unwrap();
    assert!(beats >= 1, "no heart-beat reached the server");
}

/// A server that completes the handshake and then sends a frame that never ends: the client
/// refuses it once it passes the frame limit, ends the session with a protocol error, and
/// closes the socket itself (the server reads the end of the stream while the client is
/// still held).
#[tokio::test]
async fn a_frame_past_the_limit_ends_the_session_and_closes_the_socket() {
    use kombu::transport::stomp::frame::Limits;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut got = Vec::new();
        let mut chunk = [0u8; 1024];
        while !got.contains(&0) {
            let n = socket.read(&mut chunk).await.unwrap();
            got.extend_from_slice(&chunk[..n]);
        }
        socket
            .write_all(b"CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0MESSAGE\nsubscription:s\n\n")
            .await
            .unwrap();
        // Body bytes without the NUL, until the client hangs up.
        let filler = vec![b'x'; 4096];
        let mut sent = 0usize;
        let (mut from_client, mut to_client) = socket.split();
        loop {
            tokio::select! {
                written = to_client.write_all(&filler) => match written {
                    Ok(()) => sent += filler.len(),
                    Err(_) => return sent,
                },
                read = from_client.read(&mut chunk) => match read {
                    Ok(0) | Err(_) => return sent,
                    Ok(_) => {}
                },
            }
        }
    });
    let options = ConnectOptions {
        address,
        heartbeat: (Duration::ZERO, Duration::ZERO),
        limits: Limits {
            max_frame: 64 * 1024,
            ..Limits::default()
        },
        ..ConnectOptions::default()
    };
    let client = Client::connect(&options).await.unwrap();
    let sent = tokio::time::timeout(WAIT, server)
        .await
        .expect("the client kept reading an endless frame")
        .unwrap();
    assert!(sent >= 64 * 1024, "refused after {sent} bytes");
    assert!(!client.is_open());
    let err = client
        .send(&Frame::new(Command::Send).header_pair("destination", "/queue/x"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), kombu::ErrorKind::Connection, "{err}");
    assert!(err.to_string().contains("larger than the limit"), "{err}");
}

/// CONNECT headers are not escaped, so a line break in a credential would end its header and
/// start another (`passcode:x` then `login:admin`): refused before anything is sent, and
/// without showing the passcode.
#[tokio::test]
async fn credentials_a_connect_frame_cannot_carry_are_refused_before_connecting() {
    for options in [
        ConnectOptions {
            passcode: "s3cret\nlogin:admin".to_owned(),
            ..ConnectOptions::default()
        },
        ConnectOptions {
            login: "guest\r".to_owned(),
            ..ConnectOptions::default()
        },
        ConnectOptions {
            vhost: "v\0".to_owned(),
            ..ConnectOptions::default()
        },
    ] {
        // Nothing listens here: only a check before connecting can answer InvalidUrl.
        let options = ConnectOptions {
            address: "127.0.0.1:1".to_owned(),
            ..options
        };
        let err = Client::connect(&options).await.unwrap_err();
        assert_eq!(err.kind(), kombu::ErrorKind::InvalidUrl, "{err}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
    }
}
