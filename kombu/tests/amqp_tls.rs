//! `amqps://` with certificate verification, against RabbitMQ behind a TLS terminator the test
//! runs (the broker itself listens only in plain TCP here): a certificate from a CA the client
//! trusts connects; the same certificate without that trust, or under another host name, is
//! refused, because verification is on by default.

#![cfg(feature = "tls")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use kombu::transport::amqp::AmqpOptions;
use kombu::{Connection, ConnectionOptions, Producer, Queue};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

/// A CA, a server certificate it signed for `localhost`, and a TLS terminator forwarding to
/// RabbitMQ's plain port. Returns the CA (PEM) and the terminator's port.
async fn terminator() -> (String, u16) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "kombu test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);

    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    let server = server_params.signed_by(&server_key, &issuer).unwrap();

    let chain = vec![CertificateDer::from(server.der().to_vec())];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return; // The client refused our certificate.
                };
                let Ok(mut broker) = TcpStream::connect("127.0.0.1:5672").await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut broker).await;
            });
        }
    });
    (ca.pem(), port)
}

fn options(ca: Option<&str>) -> ConnectionOptions {
    let mut amqp = AmqpOptions::default().connect_timeout(Duration::from_secs(5));
    if let Some(ca) = ca {
        amqp = amqp.tls_ca_pem(ca);
    }
    ConnectionOptions::default().amqp(amqp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqps_verifies_the_broker_certificate() {
    if TcpStream::connect("127.0.0.1:5672").await.is_err() {
        assert!(
            std::env::var("KOMBU_REQUIRE_BROKER").as_deref() != Ok("1"),
            "RabbitMQ is required (KOMBU_REQUIRE_BROKER=1) but not reachable"
        );
        eprintln!("skipped: RabbitMQ not reachable at 127.0.0.1:5672; set KOMBU_REQUIRE_BROKER=1 to make this a failure");
        return;
    }
    let (ca, port) = terminator().await;

    // Trusted CA, matching name: a working connection.
    let url = format!("amqps://guest:guest@localhost:{port}//");
    let conn = Connection::connect_with(&url, options(Some(&ca)))
        .await
        .unwrap();
    let channel = conn.channel().await.unwrap();
    let queue = Queue::new(format!("tls-{}", std::process::id())).exclusive(true);
    channel.declare_queue(&queue).await.unwrap();
    Producer::new(&channel)
        .routing_key(queue.name.as_str())
        .confirm(true)
        .publish(&serde_json::json!({"over": "tls"}))
        .await
        .unwrap();
    let message = queue.attach(&channel).get(true).await.unwrap().unwrap();
    assert_eq!(
        message.decode::<serde_json::Value>().unwrap()["over"],
        "tls"
    );
    conn.close().await.unwrap();

    // The CA not trusted: refused (verification is on by default).
    let err = Connection::connect_with(&url, options(None))
        .await
        .unwrap_err();
    // The TLS failure is the cause: in the chain (`{:#}`), not in the top-level message.
    let text = format!("{err:#}");
    assert!(err.is_connection() || err.is_timeout(), "{text}");
    assert!(text.contains("UnknownIssuer"), "{text}");

    // Trusted CA, but the certificate names another host: refused.
    let other = format!("amqps://guest:guest@127.0.0.1:{port}//");
    let err = Connection::connect_with(&other, options(Some(&ca)))
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(err.is_connection() || err.is_timeout(), "{text}");
    assert!(text.contains("not valid for name"), "{text}");
}
