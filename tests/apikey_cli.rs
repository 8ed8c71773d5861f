//! `trustgate apikey create|list|revoke` (issue 12), with the real binary against a running
//! daemon whose admin API serves on loopback: a key is printed once, alone on the last line
//! of stdout; it opens the API as Bearer and as HTTP Basic; `list` never shows a secret; and
//! a revoked key is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine as _;
use common::{TestConfig, cli_off_runtime};

/// `apikey create` with `scope`: the key on the last line, checked to be there once.
async fn create(cfg: &TestConfig, scope: &[&str]) -> String {
    let mut args = vec!["apikey", "create"];
    args.extend_from_slice(scope);
    args.extend(["--name", "ECI import job"]);
    let (code, out, err) = cli_off_runtime(cfg, &args).await;
    assert_eq!(code, 0, "{err}");
    let key = out.lines().last().unwrap().to_string();
    let (id, secret) = key.split_once('.').expect("<client id>.<secret>");
    assert!(!id.is_empty() && secret.len() >= 32, "{key}");
    assert_eq!(out.matches(secret).count(), 1, "the secret once: {out}");
    assert!(!err.contains(secret), "no secret on stderr: {err}");
    assert!(err.contains(id), "stderr names the key: {err}");
    key
}

/// The status of `GET path` with an `Authorization` header.
async fn status(base: &str, path: &str, authorization: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .header("authorization", authorization)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn basic(key: &str) -> String {
    let (id, secret) = key.split_once('.').unwrap();
    let pair = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    format!("Basic {pair}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_keys_open_the_api_are_listed_without_secrets_and_revoked_ones_are_refused() {
    let cfg = TestConfig::new();
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str("\n[admin]\nlisten = \"127.0.0.1:0\"\n");
    std::fs::write(&cfg.path, text).unwrap();
    let daemon = cfg.start().await;
    let base = format!(
        "http://{}",
        daemon.admin_addr.expect("[admin] starts the API")
    );

    let acme = create(&cfg, &["--organisation", "acme"]).await;
    let admin = create(&cfg, &["--admin"]).await;
    assert_ne!(acme, admin);
    let (code, _, err) =
        cli_off_runtime(&cfg, &["apikey", "create", "--organisation", "nobody"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("no organisation"), "{err}");
    let (code, _, _) = cli_off_runtime(&cfg, &["apikey", "create"]).await;
    assert_eq!(code, 2, "a scope is required");

    // Both forms open the API; the scope is the one asked for.
    for key in [&acme, &admin] {
        for auth in [bearer(key), basic(key)] {
            assert_eq!(
                status(&base, "/api/v1/messages", &auth).await,
                200,
                "{auth}"
            );
        }
    }
    assert_eq!(status(&base, "/metrics", &bearer(&acme)).await, 403);
    assert_eq!(status(&base, "/metrics", &basic(&admin)).await, 200);

    // The list names each key and its scope, never a secret, in both formats.
    let (acme_id, acme_secret) = acme.split_once('.').unwrap();
    let (admin_id, admin_secret) = admin.split_once('.').unwrap();
    let (code, table, err) = cli_off_runtime(&cfg, &["apikey", "list"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, json, err) = cli_off_runtime(&cfg, &["apikey", "list", "--json"]).await;
    assert_eq!(code, 0, "{err}");
    for out in [&table, &json] {
        assert!(out.contains(acme_id) && out.contains(admin_id), "{out}");
        assert!(
            !out.contains(acme_secret) && !out.contains(admin_secret),
            "a secret listed: {out}"
        );
    }
    assert!(table.contains("organisation acme"), "{table}");
    let rows = common::ndjson(&json);
    let row = |id: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["client_id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(row(acme_id)["scope"], "organisation", "{json}");
    assert_eq!(row(acme_id)["organisation"], "acme", "{json}");
    assert_eq!(row(admin_id)["scope"], "admin", "{json}");
    assert_eq!(row(acme_id)["name"], "ECI import job", "{json}");
    assert!(row(acme_id)["revoked_at"].is_null(), "{json}");

    // Revoked: refused in both forms, from the next request on; the other key still works.
    let (code, _, err) = cli_off_runtime(&cfg, &["apikey", "revoke", acme_id]).await;
    assert_eq!(code, 0, "{err}");
    for auth in [bearer(&acme), basic(&acme)] {
        assert_eq!(
            status(&base, "/api/v1/messages", &auth).await,
            401,
            "{auth}"
        );
    }
    assert_eq!(
        status(&base, "/api/v1/messages", &bearer(&admin)).await,
        200
    );
    let (_, json, _) = cli_off_runtime(&cfg, &["apikey", "list", "--json"]).await;
    assert!(
        common::ndjson(&json)
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["client_id"] == acme_id && r["revoked_at"].is_string()),
        "{json}"
    );
    // Revoking again says there is nothing to revoke.
    let (code, _, err) = cli_off_runtime(&cfg, &["apikey", "revoke", acme_id]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no key"), "{err}");

    daemon.stop().await;
}
