//! The OpenAPI description of the admin HTTP API (issue 12, section 2) against the code:
//! `docs/openapi.json` is exactly what `trustgate openapi` prints, every operation it describes
//! is served (and no other method on its paths), and the router has no route that bypasses
//! the document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::{TestConfig, cli};
use trustgate::admin::http::{ApiState, serve};

const REGENERATE: &str = "cargo run -- openapi > docs/openapi.json";

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

#[test]
fn the_file_is_what_the_code_generates() {
    // No config is read: the document depends on the code alone.
    let missing = repo("tests/no-such-config.toml");
    let (code, generated, stderr) = cli(&missing, &["openapi"]);
    assert_eq!(code, 0, "trustgate openapi failed: {stderr}");
    let document: serde_json::Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["title"], "trustgate admin API");

    let file = std::fs::read_to_string(repo("docs/openapi.json")).unwrap_or_default();
    if file != generated {
        let line = file
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| file.lines().count().min(generated.lines().count()));
        panic!(
            "docs/openapi.json does not match the admin API in the code (first difference at \
             line {}: file {:?}, code {:?}); run `{REGENERATE}` and commit the file",
            line + 1,
            file.lines().nth(line).unwrap_or("<end>"),
            generated.lines().nth(line).unwrap_or("<end>"),
        );
    }
}

/// Every (method, path) of the document, with whether it needs a key.
fn operations(document: &serde_json::Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            // `security: [{}]` overrides the document's: no key needed.
            let open = operation["security"] == serde_json::json!([{}]);
            out.push((method.to_uppercase(), path.clone(), !open));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_documented_operation_is_served_and_no_other_method() {
    let document = serde_json::to_value(trustgate::admin::openapi::document()).unwrap();
    let operations = operations(&document);
    assert!(operations.len() >= 18, "{operations:?}");

    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(serve(
        listener,
        ApiState {
            spool: daemon.spool.clone(),
            config: std::sync::Arc::new(arc_swap::ArcSwap::from_pointee(cfg.load())),
        },
        stop.clone(),
    ));
    // A real key, whose client id is then sent with a wrong secret.
    let known = trustgate::spool::apikeys::generate(
        trustgate::spool::apikeys::Scope::Admin,
        None,
        std::time::SystemTime::now(),
    );
    daemon
        .spool
        .add_api_key(known.client_id.clone(), known.record)
        .await
        .unwrap();
    let known = known.key;
    let http = reqwest::Client::new();
    let url = |path: &str| {
        format!(
            "{base}{}",
            path.replace("{id}", "20261203T100000Z-000001-0")
        )
    };

    // Served: without a key, 401 from the key check (not the router's 404 or 405), or 200
    // where the document says no key is needed.
    for (method, path, needs_key) in &operations {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = http
            .request(method.clone(), url(path))
            .send()
            .await
            .unwrap();
        let expected = if *needs_key { 401 } else { 200 };
        assert_eq!(
            response.status(),
            expected,
            "{method} {path} is in docs/openapi.json but is not served as described"
        );
        if *needs_key {
            // A wrong key (unknown client id, and a known id with a wrong secret) and a
            // malformed header are refused alike, on every route.
            for auth in [
                "Bearer tg_nobody.0000000000000000000000000000000000000000000",
                &format!("Bearer {}.wrongsecret", known.split('.').next().unwrap()),
                "Bearer",
                "Basic !!!",
            ] {
                let response = http
                    .request(method.clone(), url(path))
                    .header("authorization", auth)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 401, "{method} {path} with {auth:?}");
            }
        }
    }

    // No other method is served on a documented path (an undocumented one would be).
    for path in document["paths"].as_object().unwrap().keys() {
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if operations.iter().any(|(m, p, _)| m == method && p == path) {
                continue;
            }
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let response = http
                .request(method.clone(), url(path))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                405,
                "{method} {path} is served but not in the OpenAPI document"
            );
        }
    }

    // And a path the document lacks is the router's 404, without our error body.
    let response = http.get(url("/api/v1/nothing")).send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.text().await.unwrap(), "");

    stop.cancel();
    server.await.unwrap().unwrap();
}

/// Routes reach axum only through `http::routes()`, as `.routes(routes!(handler))`, which
/// takes the method and path from the handler's `#[utoipa::path]`. Anything that registers a
/// route by hand (`.route("/x", get(x))`, a nested or fallback service, a second `Router`)
/// would be served without being described, so it is refused here, wherever in `src/` it is.
#[test]
fn no_route_is_registered_around_the_document() {
    let forbidden = [
        ".route(",
        ".route_service(",
        ".nest(",
        ".nest_service(",
        ".fallback(",
        ".fallback_service(",
        "Router::new(",
    ];
    let mut found = Vec::new();
    let mut files = 0;
    let mut stack = vec![repo("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            files += 1;
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                if forbidden.iter().any(|f| code.contains(f)) {
                    found.push(format!("{}:{}: {}", path.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(files > 50, "walked only {files} files under src/");
    assert!(
        found.is_empty(),
        "routes registered outside the OpenAPI document:\n{}\nannotate the handler with \
         #[utoipa::path(...)], register it in admin::http::routes() as \
         .routes(routes!(handler)), then run `{REGENERATE}`",
        found.join("\n")
    );

    // Every annotated handler is registered (and so described), and nothing else is: the
    // handlers live in src/admin/http.rs and its modules under src/admin/http/.
    let http = std::fs::read_to_string(repo("src/admin/http.rs")).unwrap();
    let mut annotated = http.matches("#[utoipa::path(").count();
    for entry in std::fs::read_dir(repo("src/admin/http")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        annotated += text.matches("#[utoipa::path(").count();
    }
    let registered: usize = http
        .split(".routes(routes!(")
        .skip(1)
        .map(|call| call.split("))").next().unwrap_or("").split(',').count())
        .sum();
    assert_eq!(
        annotated, registered,
        "src/admin/http.rs and src/admin/http/ have {annotated} #[utoipa::path] handlers but \
         routes() registers {registered}"
    );
}
