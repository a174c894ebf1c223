//! SPEC §5.1: TLS with rustls from the configured certificate; HSTS over
//! HTTPS; nothing in plain HTTP on the TLS port.

mod common;

use std::sync::Arc;

use common::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

#[tokio::test]
async fn the_server_speaks_https_with_its_certificate_and_sends_hsts() {
    let certs = tempfile::tempdir().expect("temp dir");
    let made = circlekeeper::tls::generate_dev_certificate(certs.path()).expect("dev certificate");
    let (cert_file, key_file) = (made.cert_file.clone(), made.key_file.clone());
    let server = TestServer::start_with(move |c| {
        c.tls.cert_file = Some(cert_file);
        c.tls.key_file = Some(key_file);
    })
    .await;
    assert!(server.app.config.public_url().starts_with("https://"));

    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&made.cert_file).expect("pem"))
        .expect("root");
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = connector
        .connect(name, tcp)
        .await
        .expect("TLS handshake with our certificate");
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut response = String::new();
    tls.read_to_string(&mut response).await.ok();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_lowercase()
            .contains("strict-transport-security: max-age=31536000"),
        "{response}"
    );

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    server.stop().await;
}

#[tokio::test]
async fn plain_http_has_no_hsts_and_a_dev_key_is_private() {
    let server = TestServer::start().await;
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    assert!(response.starts_with("HTTP/1.1 200"));
    assert!(
        !response
            .to_lowercase()
            .contains("strict-transport-security")
    );
    let certs = tempfile::tempdir().expect("temp dir");
    let made = circlekeeper::tls::generate_dev_certificate(certs.path()).expect("dev certificate");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&made.key_file)
            .expect("key")
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "the key is readable by its owner only");
    }
    server.stop().await;
}
