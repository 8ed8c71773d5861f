//! The admin HTTP API and the ERP pull API (issue 12, section 2) over real sockets: a daemon
//! takes invoices over SMTP, the API serves on loopback, and a real HTTP client (reqwest) plays
//! the ERP batch job: poll, fetch, acknowledge. Keys are checked on every route, and one
//! organisation's key never sees another organisation's data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::SystemTime;

use base64::Engine as _;
use common::{SUPPLIER, TestConfig};
use trustgate::admin::http::{ApiState, serve};
use trustgate::spool::Spool;
use trustgate::spool::apikeys::{self, Scope};

/// Sends invoice number `n` (with a PDF); returns the message id from the 250.
fn send(addr: std::net::SocketAddr, n: usize) -> String {
    common::send_numbered_invoice(addr, SUPPLIER, &format!("P-{n}"))
}

async fn key(spool: &Spool, scope: Scope) -> String {
    let new = apikeys::generate(scope, None, SystemTime::now());
    spool
        .add_api_key(new.client_id.clone(), new.record)
        .await
        .unwrap();
    new.key
}

fn org(id: &str) -> Scope {
    Scope::Organisation {
        organisation: id.into(),
    }
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    async fn get(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        req.send().await.unwrap()
    }

    async fn post(&self, path: &str, key: &str, body: serde_json::Value) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .bearer_auth(key)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn json(&self, path: &str, key: &str) -> serde_json::Value {
        let response = self.get(path, Some(key)).await;
        assert_eq!(response.status(), 200, "{path}");
        response.json().await.unwrap()
    }
}

/// The API on an ephemeral loopback port over `daemon`'s spool and `cfg`: the client, the
/// token that stops it, and its task.
async fn serve_api(
    daemon: &trustgate::daemon::Daemon,
    cfg: &TestConfig,
) -> (
    Api,
    tokio_util::sync::CancellationToken,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
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
    let api = Api {
        base,
        http: reqwest::Client::new(),
    };
    (api, stop, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_erp_polls_fetches_and_acks_and_sees_only_its_own() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let (api, stop, server) = serve_api(&daemon, &cfg).await;
    let acme = key(&daemon.spool, org("acme")).await;
    let beta = key(&daemon.spool, org("beta")).await;
    let admin = key(&daemon.spool, Scope::Admin).await;

    // Health needs no key; everything else does, and a wrong key is refused.
    assert_eq!(api.get("/health", None).await.status(), 200);
    for path in [
        "/ready",
        "/api/v1/documents?status=ready",
        "/api/v1/messages",
        "/api/v1/documents/20261203T100000Z-000001-0/xml",
        "/api/v1/messages/20261203T100000Z-000001/raw",
    ] {
        let none = api.get(path, None).await;
        assert_eq!(none.status(), 401, "{path}");
        assert!(none.headers().contains_key("www-authenticate"), "{path}");
        let wrong = format!("{}x", &acme[..acme.len() - 1]);
        assert_eq!(api.get(path, Some(&wrong)).await.status(), 401, "{path}");
        assert_eq!(api.get(path, Some("garbage")).await.status(), 401, "{path}");
    }
    assert_eq!(api.json("/ready", &acme).await["ready"], true);

    // Metrics: admin keys only; they move when mail flows.
    assert_eq!(api.get("/metrics", Some(&acme)).await.status(), 403);
    let before = api
        .get("/metrics", Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    let accepted = |text: &str| -> f64 {
        text.lines()
            .find(|l| {
                l.starts_with("trustgate_messages_total{") && l.contains("outcome=\"accepted\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0.0, |v| v.parse().unwrap())
    };
    let (m1, m2) = tokio::task::spawn_blocking(move || (send(addr, 1), send(addr, 2)))
        .await
        .unwrap();
    let (d1, d2) = (format!("{m1}-0"), format!("{m2}-0"));
    let after = api
        .get("/metrics", Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    // At least these two (the registry is the process's: another test of this binary may
    // send at the same time).
    assert!(accepted(&after) - accepted(&before) >= 2.0, "{after}");
    for family in [
        "trustgate_smtp_connections_total",
        "trustgate_smtp_replies_total{code=\"250\",enhanced=\"2.0.0\"}",
        "trustgate_documents_total{status=\"ready\"",
        "trustgate_spool_commit_seconds_bucket",
        "trustgate_spool_bytes",
    ] {
        assert!(after.contains(family), "{family} in\n{after}");
    }

    // The batch job polls: both wait, oldest first.
    let list = api.json("/api/v1/documents?status=ready", &acme).await;
    let ids: Vec<&str> = list["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [d1.as_str(), d2.as_str()]);
    assert_eq!(list["documents"][0]["invoice_number"], "P-1");
    // Paging with the cursor.
    let page = api
        .json("/api/v1/documents?status=ready&limit=1", &acme)
        .await;
    assert_eq!(page["documents"].as_array().unwrap().len(), 1);
    let next = page["next"].as_str().unwrap().to_string();
    let page = api
        .json(
            &format!("/api/v1/documents?status=ready&limit=1&after={next}"),
            &acme,
        )
        .await;
    assert_eq!(page["documents"][0]["id"], d2.as_str());

    // Fetch: the XML as received, the PDF, the metadata; fetching changes nothing.
    let xml = api
        .get(&format!("/api/v1/documents/{d1}/xml"), Some(&acme))
        .await;
    assert_eq!(xml.status(), 200);
    assert_eq!(xml.headers()["content-type"], "application/xml");
    assert!(xml.text().await.unwrap().contains("P-1"));
    let pdf = api
        .get(&format!("/api/v1/documents/{d1}/pdf"), Some(&acme))
        .await;
    assert_eq!(pdf.bytes().await.unwrap().as_ref(), b"%PDF-1.4\n%test\n");
    let meta = api
        .json(&format!("/api/v1/documents/{d1}/json"), &acme)
        .await;
    assert_eq!(meta["document_id"], d1.as_str());
    assert!(meta["ack"].is_null());

    // Ack: once recorded, again idempotent, a different answer refused.
    let ack = api
        .post(
            &format!("/api/v1/documents/{d1}/ack"),
            &acme,
            serde_json::json!({"status": "imported"}),
        )
        .await;
    assert_eq!(ack.status(), 200);
    assert_eq!(
        ack.json::<serde_json::Value>().await.unwrap()["changed"],
        true
    );
    let again = api
        .post(
            &format!("/api/v1/documents/{d1}/ack"),
            &acme,
            serde_json::json!({"status": "imported"}),
        )
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        again.json::<serde_json::Value>().await.unwrap()["changed"],
        false
    );
    let other = api
        .post(
            &format!("/api/v1/documents/{d1}/ack"),
            &acme,
            serde_json::json!({"status": "failed", "reason": "unknown supplier"}),
        )
        .await;
    assert_eq!(other.status(), 409);
    let failed_without_reason = api
        .post(
            &format!("/api/v1/documents/{d2}/ack"),
            &acme,
            serde_json::json!({"status": "failed"}),
        )
        .await;
    assert_eq!(failed_without_reason.status(), 400);
    // The fetched but unacknowledged one still waits; the acknowledged one does not.
    let list = api.json("/api/v1/documents?status=ready", &acme).await;
    assert_eq!(list["documents"].as_array().unwrap().len(), 1);
    assert_eq!(list["documents"][0]["id"], d2.as_str());
    // A later status goes to the event log, only after the ack.
    let booked = api
        .post(
            &format!("/api/v1/documents/{d1}/status"),
            &acme,
            serde_json::json!({"status": "booked"}),
        )
        .await;
    assert_eq!(booked.status(), 200);
    let early = api
        .post(
            &format!("/api/v1/documents/{d2}/status"),
            &acme,
            serde_json::json!({"status": "paid"}),
        )
        .await;
    assert_eq!(early.status(), 409);
    let events = api
        .json(&format!("/api/v1/messages/{m1}/events"), &acme)
        .await;
    let text = events["events"].to_string();
    assert!(text.contains("imported by the ERP"), "{text}");
    assert!(text.contains("the ERP says booked"), "{text}");
    assert_eq!(
        api.json(&format!("/api/v1/documents/{d1}/json"), &acme)
            .await["ack"]["status"],
        "imported"
    );

    // Another organisation's key sees none of it: 404 as if it did not exist.
    assert!(
        api.json("/api/v1/documents?status=ready", &beta).await["documents"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        api.json("/api/v1/messages", &beta).await["messages"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    for path in [
        format!("/api/v1/documents/{d2}/xml"),
        format!("/api/v1/documents/{d2}/pdf"),
        format!("/api/v1/documents/{d2}/json"),
        format!("/api/v1/messages/{m2}"),
        format!("/api/v1/messages/{m2}/raw"),
        format!("/api/v1/messages/{m2}/events"),
    ] {
        assert_eq!(api.get(&path, Some(&beta)).await.status(), 404, "{path}");
    }
    let steal = api
        .post(
            &format!("/api/v1/documents/{d2}/ack"),
            &beta,
            serde_json::json!({"status": "imported"}),
        )
        .await;
    assert_eq!(steal.status(), 404);
    // Even asking for its organisation by name does not widen an organisation key.
    assert!(
        api.json("/api/v1/documents?status=ready&organisation=acme", &beta)
            .await["documents"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // HTTP Basic with the two halves works as the Bearer form does.
    let (id, secret) = acme.split_once('.').unwrap();
    let basic = api
        .http
        .get(format!("{}/api/v1/messages/{m2}", api.base))
        .header(
            "authorization",
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
            ),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);
    let raw = api
        .get(&format!("/api/v1/messages/{m2}/raw"), Some(&acme))
        .await;
    assert!(raw.text().await.unwrap().contains("INV-1.xml"));

    // Queue operations need an admin key.
    let hold = api
        .post(
            &format!("/api/v1/messages/{m2}/hold"),
            &acme,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(hold.status(), 403);
    let hold = api
        .post(
            &format!("/api/v1/messages/{m2}/hold"),
            &admin,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(hold.status(), 200);
    assert_eq!(
        api.json("/api/v1/messages?status=held", &admin).await["messages"][0]["id"],
        m2.as_str()
    );
    // The admin sees every organisation's waiting documents.
    assert_eq!(
        api.json("/api/v1/documents?status=ready", &admin).await["documents"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A revoked key is refused from then on.
    let (client_id, _) = beta.split_once('.').unwrap();
    assert!(
        daemon
            .spool
            .revoke_api_key(client_id.to_string())
            .await
            .unwrap()
    );
    assert_eq!(api.get("/api/v1/messages", Some(&beta)).await.status(), 401);

    // Without [notices] the gateway sends no mail: an invitation is refused, saying why.
    let refused = api
        .post(
            "/api/v1/senders/invite",
            &acme,
            serde_json::json!({"receiver": common::RECEIVER, "contact": "billing@supplier.example"}),
        )
        .await;
    assert_eq!(refused.status(), 409);
    let why: serde_json::Value = refused.json().await.unwrap();
    assert!(
        why["error"].as_str().unwrap().contains("[notices]"),
        "{why}"
    );

    stop.cancel();
    server.await.unwrap().unwrap();
    daemon.stop().await;
}

/// `[admin]` starts the API with the daemon; with `tls_cert`/`tls_key` it speaks HTTPS only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_table_serves_https() {
    trustgate::delivery::sink::install_crypto_provider();
    let cfg = TestConfig::new();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = cfg.dir.path().join("admin-cert.pem");
    let key_file = cfg.dir.path().join("admin-key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key_file, ck.signing_key.serialize_pem()).unwrap();
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str(&format!(
        "\n[admin]\nlisten = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
        cert.display(),
        key_file.display()
    ));
    std::fs::write(&cfg.path, text).unwrap();
    let daemon = cfg.start().await;
    let addr = daemon.admin_addr.expect("[admin] starts the API");
    let admin = key(&daemon.spool, Scope::Admin).await;
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ck.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", addr)
        .build()
        .unwrap();
    let health = https
        .get(format!("https://localhost:{}/health", addr.port()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let ready = https
        .get(format!("https://localhost:{}/ready", addr.port()))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    // Plain HTTP gets no answer from a TLS listener.
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/health"))
        .timeout(std::time::Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    daemon.stop().await;
}

/// The senders routes: a list with lifecycle states that an organisation's key sees only for
/// receivers that serve it, and invitations that go out through the relay and turn the sender
/// `invited`; another organisation's key cannot invite for a receiver that is not its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn senders_are_listed_and_invited_within_the_organisation() {
    let relay = common::peers::SmtpRelay::start();
    let cfg = TestConfig::new();
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str(&format!(
        "\n[relay]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nmail_from = \"bounces@trust.example.test\"\n\n[notices]\nfrom = \"no-reply@trust.example.test\"\n",
        relay.addr.port()
    ));
    std::fs::write(&cfg.path, text).unwrap();
    let daemon = cfg.start().await;
    let (api, stop, server) = serve_api(&daemon, &cfg).await;
    let acme = key(&daemon.spool, org("acme")).await;
    let beta = key(&daemon.spool, org("beta")).await;
    let admin = key(&daemon.spool, Scope::Admin).await;
    let contacts = |list: &serde_json::Value| -> Vec<(String, String, String)> {
        list["senders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["receiver"].as_str().unwrap().to_string(),
                    s["contact"].as_str().unwrap().to_string(),
                    s["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };

    // The admin sees every sender, all pending; acme its own and the shared receiver's; beta
    // only the shared receiver's.
    let all = contacts(&api.json("/api/v1/senders", &admin).await);
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(all.iter().all(|(_, _, state)| state == "pending"));
    let mine = contacts(&api.json("/api/v1/senders", &acme).await);
    assert_eq!(mine.len(), 4, "{mine:?}");
    let theirs = contacts(&api.json("/api/v1/senders", &beta).await);
    assert_eq!(
        theirs,
        vec![(
            common::SHARED.to_string(),
            "billing@supplier.example".to_string(),
            "pending".to_string()
        )]
    );
    assert_eq!(
        api.get("/api/v1/senders?state=asleep", Some(&acme))
            .await
            .status(),
        400
    );

    // beta cannot invite for acme's own receiver: as if it did not exist.
    let body =
        serde_json::json!({"receiver": common::RECEIVER, "contact": "billing@supplier.example"});
    assert_eq!(
        api.post("/api/v1/senders/invite", &beta, body.clone())
            .await
            .status(),
        404
    );
    let unknown =
        serde_json::json!({"receiver": common::RECEIVER, "contact": "nobody@nowhere.example"});
    assert_eq!(
        api.post("/api/v1/senders/invite", &acme, unknown)
            .await
            .status(),
        404
    );
    assert!(relay.wait_for(0, 1).is_empty());

    // acme invites its supplier: queued, the sender is invited, the relay gets the mail.
    let invited = api.post("/api/v1/senders/invite", &acme, body).await;
    assert_eq!(invited.status(), 202);
    let invited: serde_json::Value = invited.json().await.unwrap();
    assert_eq!(invited["sender"]["state"], "invited", "{invited}");
    assert_eq!(invited["sender"]["invited"]["count"], 1, "{invited}");
    let queued = invited["queued"].as_str().unwrap().to_string();
    let mail = relay.wait_for(1, 30);
    assert_eq!(
        mail[0].rcpt_to,
        vec!["billing@supplier.example".to_string()]
    );
    let now = contacts(&api.json("/api/v1/senders?state=invited", &acme).await);
    assert_eq!(
        now,
        vec![(
            common::RECEIVER.to_string(),
            "billing@supplier.example".to_string(),
            "invited".to_string()
        )]
    );
    // The invitation is a message of the spool the admin can follow.
    let message = api
        .json(&format!("/api/v1/messages/{queued}"), &admin)
        .await;
    assert_eq!(message["message"]["id"], queued.as_str(), "{message}");
    assert_eq!(
        message["message"]["notice"]["kind"], "invitation",
        "{message}"
    );

    // An import the ERP reports failed tells the supplier's contact, with the ERP's reason,
    // once however often it is acknowledged.
    let addr = daemon.smtp_addrs[0];
    let id = tokio::task::spawn_blocking(move || send(addr, 7))
        .await
        .unwrap();
    let document = format!("{id}-0");
    let failed =
        serde_json::json!({"status": "failed", "reason": "supplier 4711 unknown in the ERP"});
    for _ in 0..2 {
        let acked = api
            .post(
                &format!("/api/v1/documents/{document}/ack"),
                &acme,
                failed.clone(),
            )
            .await;
        assert_eq!(acked.status(), 200);
    }
    let mail = relay.wait_for(2, 30);
    let notice = String::from_utf8_lossy(&mail[1].data).into_owned();
    assert_eq!(
        mail[1].rcpt_to,
        vec!["billing@supplier.example".to_string()]
    );
    assert!(
        notice.contains("supplier 4711 unknown in the ERP"),
        "{notice}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(relay.wait_for(0, 1).len(), 2, "one notice only");

    stop.cancel();
    server.await.unwrap().unwrap();
    daemon.stop().await;
}

/// The ids of a document list answer.
fn document_ids(list: &serde_json::Value) -> Vec<String> {
    list["documents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect()
}

/// The document list takes the message list's filters (receiver, sender, since, until, and
/// organisation for admin keys), pages through a filtered list with its cursor, and refuses
/// a status other than `ready`, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_list_takes_the_message_lists_filters() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let (api, stop, server) = serve_api(&daemon, &cfg).await;
    let acme = key(&daemon.spool, org("acme")).await;
    let beta = key(&daemon.spool, org("beta")).await;
    let admin = key(&daemon.spool, Scope::Admin).await;
    let other = "billing@other-supplier.example";
    let (m1, m2, m3, m4) = tokio::task::spawn_blocking(move || {
        (
            send(addr, 1),
            common::send_numbered_invoice(addr, other, "P-2"),
            common::send_numbered_invoice_to(addr, SUPPLIER, common::SHARED, "P-3"),
            send(addr, 4),
        )
    })
    .await
    .unwrap();
    let [d1, d2, d3, d4] = [&m1, &m2, &m3, &m4].map(|m| format!("{m}-0"));
    let list = |query: String| {
        let (api, acme) = (&api, &acme);
        async move { document_ids(&api.json(&format!("/api/v1/documents?{query}"), acme).await) }
    };

    assert_eq!(
        list(String::new()).await,
        [d1.as_str(), d2.as_str(), d3.as_str(), d4.as_str()]
    );
    assert_eq!(
        list(format!(
            "status=ready&receiver={}",
            common::SHARED.to_lowercase()
        ))
        .await,
        [d3.as_str()]
    );
    assert_eq!(
        list(format!("receiver=<{}>", common::RECEIVER)).await,
        [d1.as_str(), d2.as_str(), d4.as_str()]
    );
    assert_eq!(
        list("sender=other-supplier.example".into()).await,
        [d2.as_str()]
    );
    assert_eq!(
        list(format!("sender={SUPPLIER}")).await,
        [d1.as_str(), d3.as_str(), d4.as_str()]
    );
    assert_eq!(list("since=2000-01-01".into()).await.len(), 4);
    assert!(list("until=2000-01-01".into()).await.is_empty());
    assert!(list("since=2999-01-01T00:00:00Z".into()).await.is_empty());

    // A filtered list pages with its cursor, without loss or repetition.
    let mut paged = Vec::new();
    let mut query = format!("sender={SUPPLIER}&limit=1");
    loop {
        let page = api.json(&format!("/api/v1/documents?{query}"), &acme).await;
        paged.extend(document_ids(&page));
        let Some(next) = page["next"].as_str() else {
            break;
        };
        query = format!("sender={SUPPLIER}&limit=1&after={next}");
        assert!(paged.len() <= 3, "the cursor never ends: {paged:?}");
    }
    assert_eq!(paged, [d1.as_str(), d3.as_str(), d4.as_str()]);

    // The organisation: an admin key's choice; an organisation key's own, whatever it asks.
    assert_eq!(
        document_ids(
            &api.json(
                "/api/v1/documents?organisation=acme&sender=supplier.example",
                &admin
            )
            .await
        ),
        [d1.as_str(), d3.as_str(), d4.as_str()]
    );
    assert!(
        document_ids(
            &api.json("/api/v1/documents?organisation=beta", &admin)
                .await
        )
        .is_empty()
    );
    assert!(
        document_ids(
            &api.json(
                &format!(
                    "/api/v1/documents?organisation=acme&receiver={}",
                    common::SHARED
                ),
                &beta
            )
            .await
        )
        .is_empty()
    );

    // Other statuses are refused in JSON that names the one allowed; so is a bad date.
    for query in ["status=delivered", "status=imported", "status=READY"] {
        let refused = api
            .get(&format!("/api/v1/documents?{query}"), Some(&acme))
            .await;
        assert_eq!(refused.status(), 400, "{query}");
        let body: serde_json::Value = refused.json().await.unwrap();
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("\"ready\""), "{query}: {error}");
    }
    let refused = api
        .get("/api/v1/documents?since=yesterday", Some(&acme))
        .await;
    assert_eq!(refused.status(), 400);
    assert!(
        refused.json::<serde_json::Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .starts_with("since:")
    );

    stop.cancel();
    server.await.unwrap().unwrap();
    daemon.stop().await;
}

/// The names and bytes of the files of a zip.
fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            (entry.name().unwrap().into_owned(), data)
        })
        .collect()
}

/// `GET /api/v1/messages/{id}/export` zips the same files, under the same names and with the
/// same bytes, as `trustgate spool export` writes; another organisation's key gets 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_export_route_zips_what_spool_export_writes() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let (api, stop, server) = serve_api(&daemon, &cfg).await;
    let acme = key(&daemon.spool, org("acme")).await;
    let beta = key(&daemon.spool, org("beta")).await;
    let admin = key(&daemon.spool, Scope::Admin).await;
    let mid = tokio::task::spawn_blocking(move || send(addr, 1))
        .await
        .unwrap();
    let path = format!("/api/v1/messages/{mid}/export");

    let response = api.get(&path, Some(&acme)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/zip");
    assert_eq!(
        response.headers()["content-disposition"],
        format!("attachment; filename=\"{mid}.zip\"").as_str()
    );
    let zipped = unzip(&response.bytes().await.unwrap());

    // The CLI, asking this daemon over its control socket, writes the same files.
    let dir = cfg.dir.path().join("export");
    let (config, out_dir, id) = (cfg.path.clone(), dir.clone(), mid.clone());
    let (code, _, err) = tokio::task::spawn_blocking(move || {
        common::cli(
            &config,
            &["spool", "export", &id, "--out", out_dir.to_str().unwrap()],
        )
    })
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let written: std::collections::BTreeMap<String, Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    let names: Vec<&String> = zipped.keys().collect();
    assert_eq!(
        names,
        [
            &format!("{mid}-0.json"),
            &format!("{mid}-0.pdf"),
            &format!("{mid}-0.xml"),
            &format!("{mid}.eml"),
        ]
    );
    assert_eq!(zipped, written, "the zip and `spool export` differ");
    assert_eq!(zipped[&format!("{mid}-0.pdf")], b"%PDF-1.4\n%test\n");
    let raw = api
        .get(&format!("/api/v1/messages/{mid}/raw"), Some(&acme))
        .await;
    assert_eq!(
        raw.bytes().await.unwrap().as_ref(),
        zipped[&format!("{mid}.eml")].as_slice()
    );

    // The admin may export it too; another organisation's key gets what an unknown id gets.
    assert_eq!(api.get(&path, Some(&admin)).await.status(), 200);
    let theirs = api.get(&path, Some(&beta)).await;
    assert_eq!(theirs.status(), 404);
    assert_eq!(
        theirs.json::<serde_json::Value>().await.unwrap()["error"],
        format!("no message {mid}")
    );
    let unknown = api
        .get(
            "/api/v1/messages/20990101T000000Z-000001/export",
            Some(&admin),
        )
        .await;
    assert_eq!(unknown.status(), 404);

    // A deleted message has nothing left to export.
    let deleted = api
        .http
        .delete(format!("{}/api/v1/messages/{mid}", api.base))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    assert_eq!(api.get(&path, Some(&admin)).await.status(), 404);

    stop.cancel();
    server.await.unwrap().unwrap();
    daemon.stop().await;
}

/// Asserts `response` is the 404 of an unknown document `id`: the same status and sentence.
async fn is_unknown_document(response: reqwest::Response, id: &str) {
    assert_eq!(response.status(), 404, "{id}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({ "error": format!("no document {id}") })
    );
}

/// Polls `path` with `key` until `done` holds for its JSON (30 s at most).
async fn wait_until(
    api: &Api,
    path: &str,
    key: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let value = api.json(path, key).await;
        if done(&value) {
            return value;
        }
        assert!(std::time::Instant::now() < deadline, "{path}: {value}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Another organisation's key gets the 404 of an unknown id from a document's metadata, its
/// ERP status and its re-offer, and changes nothing; an admin key re-offers a delivered
/// document, which is delivered again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organisations_key_changes_no_document_and_an_admin_reoffers() {
    let hook = common::peers::WebhookServer::start();
    // AD64SDE delivers to the webhook; SHARED1 leaves its documents to the pull API.
    let cfg = TestConfig::with_extras("", "deliver = [\"erp\"]", "");
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str(&format!(
        "\n[[sink]]\nname = \"erp\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\ntimeout = \"5s\"\n",
        hook.url()
    ));
    std::fs::write(&cfg.path, text).unwrap();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let (api, stop, server) = serve_api(&daemon, &cfg).await;
    let acme = key(&daemon.spool, org("acme")).await;
    let beta = key(&daemon.spool, org("beta")).await;
    let admin = key(&daemon.spool, Scope::Admin).await;
    let (delivered, pulled) = tokio::task::spawn_blocking(move || {
        (
            send(addr, 1),
            common::send_numbered_invoice_to(addr, SUPPLIER, common::SHARED, "P-2"),
        )
    })
    .await
    .unwrap();
    let (d1, d2) = (format!("{delivered}-0"), format!("{pulled}-0"));
    let message = format!("/api/v1/messages/{delivered}");
    let before = wait_until(&api, &message, &admin, |m| {
        m["deliveries"][0]["state"] == "delivered"
    })
    .await;
    let acked = api
        .post(
            &format!("/api/v1/documents/{d2}/ack"),
            &acme,
            serde_json::json!({"status": "imported"}),
        )
        .await;
    assert_eq!(acked.status(), 200);
    let events_before = api
        .json(&format!("/api/v1/messages/{pulled}/events"), &acme)
        .await;

    // The metadata: as for an unknown id.
    for d in [&d1, &d2] {
        is_unknown_document(
            api.get(&format!("/api/v1/documents/{d}"), Some(&beta))
                .await,
            d,
        )
        .await;
    }
    let unknown = format!("{pulled}-7");
    is_unknown_document(
        api.get(&format!("/api/v1/documents/{unknown}"), Some(&acme))
            .await,
        &unknown,
    )
    .await;

    // The ERP status: as for an unknown id, and not in the event log.
    let paid = serde_json::json!({"status": "paid"});
    is_unknown_document(
        api.post(
            &format!("/api/v1/documents/{d2}/status"),
            &beta,
            paid.clone(),
        )
        .await,
        &d2,
    )
    .await;
    is_unknown_document(
        api.post(&format!("/api/v1/documents/{unknown}/status"), &acme, paid)
            .await,
        &unknown,
    )
    .await;
    assert_eq!(
        api.json(&format!("/api/v1/messages/{pulled}/events"), &acme)
            .await,
        events_before
    );
    assert_eq!(
        api.json(&format!("/api/v1/documents/{d2}"), &acme).await["ack"]["status"],
        "imported"
    );

    // The re-offer: as for an unknown id, and the delivery untouched.
    for d in [&d1, &d2] {
        is_unknown_document(
            api.post(
                &format!("/api/v1/documents/{d}/reoffer"),
                &beta,
                serde_json::json!({}),
            )
            .await,
            d,
        )
        .await;
    }
    let after = api.json(&message, &admin).await;
    assert_eq!(after["deliveries"], before["deliveries"]);
    assert_eq!(after["attempts"], before["attempts"]);
    assert_eq!(hook.requests().len(), 1);

    // An admin key re-offers it: queued again, and the webhook gets it a second time.
    let reoffer = api
        .post(
            &format!("/api/v1/documents/{d1}/reoffer"),
            &admin,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(reoffer.status(), 200);
    let answer: serde_json::Value = reoffer.json().await.unwrap();
    assert_eq!(answer, serde_json::json!({"id": d1, "reoffered": 1}));
    let again = wait_until(&api, &message, &admin, |m| {
        m["attempts"].as_array().unwrap().len() == 2 && m["deliveries"][0]["state"] == "delivered"
    })
    .await;
    assert_eq!(again["deliveries"].as_array().unwrap().len(), 1);
    let requests = hook.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].json()["data"]["document_id"], d1.as_str());
    assert_eq!(requests[1].json()["data"]["document_id"], d1.as_str());

    stop.cancel();
    server.await.unwrap().unwrap();
    daemon.stop().await;
}
