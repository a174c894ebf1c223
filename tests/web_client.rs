//! SPEC §5.10: the web client loads nothing from third parties, runs no
//! inline script or style, and every page is served under a strict CSP.

mod common;

use common::TestServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn client_files() -> Vec<(String, String)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web-client");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("web-client/")
        .map(|e| e.expect("entry").path())
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read_to_string(&p).expect("text file"),
            )
        })
        .collect();
    files.sort();
    assert!(files.len() >= 5);
    files
}

#[test]
fn no_third_party_resources_and_no_inline_code() {
    for (path, text) in client_files() {
        for (i, line) in text.lines().enumerate() {
            // The SVG namespace is an identifier, not a resource.
            let line = line.replace("http://www.w3.org/2000/svg", "");
            assert!(
                !line.contains("http://") && !line.contains("https://"),
                "{path}:{}: {line}",
                i + 1
            );
            assert!(
                !line.contains("stun:") && !line.contains("turn:"),
                "{path}:{}: no default STUN/TURN",
                i + 1
            );
        }
        if path.ends_with(".html") {
            assert!(!text.contains("<style"), "{path}: inline style");
            assert!(!text.contains(" style="), "{path}: inline style attribute");
            assert!(!text.contains(" on"), "{path}: inline event handler");
            for script in text.split("<script").skip(1) {
                let tag = script.split('>').next().unwrap_or("");
                assert!(
                    tag.contains("src=\"/client/"),
                    "{path}: inline or foreign script: <script{tag}>"
                );
            }
        }
    }
}

async fn get(server: &TestServer, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

#[tokio::test]
async fn every_page_and_asset_carries_the_strict_policy() {
    let server = TestServer::start().await;
    for path in [
        "/",
        "/join",
        "/client/app.js",
        "/client/protocol.js",
        "/client/style.css",
        "/healthz",
    ] {
        let response = get(&server, path).await.to_lowercase();
        assert!(response.starts_with("http/1.1 200"), "{path}: {response}");
        let csp = response
            .lines()
            .find_map(|l| l.strip_prefix("content-security-policy: "))
            .unwrap_or_else(|| panic!("{path}: no CSP"));
        for directive in [
            "default-src 'none'",
            "script-src 'self'",
            "connect-src 'self'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval") && !csp.contains('*'),
            "{path}: {csp}"
        );
        assert!(response.contains("x-content-type-options: nosniff"));
        assert!(response.contains("referrer-policy: no-referrer"));
    }
    // Every file of web-client/ is embedded and served (a module left out
    // of src/web.rs would break the page with a failed import).
    for (path, _) in client_files() {
        let name = std::path::Path::new(&path)
            .file_name()
            .and_then(|n| n.to_str())
            .expect("file name");
        let response = get(&server, &format!("/client/{name}")).await;
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "/client/{name} is not served"
        );
    }
    // Assets are embedded in the binary: no path reaches the file system.
    let traversal = get(&server, "/client/../Cargo.toml").await;
    assert!(
        !traversal.starts_with("HTTP/1.1 200") && !traversal.contains("[package]"),
        "{traversal}"
    );
    server.stop().await;
}
