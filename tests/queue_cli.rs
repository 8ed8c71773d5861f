//! The queue from the CLI, the way Postfix admins know it (issue 12, section 2b), with the real
//! binary against a running daemon and a real webhook peer on loopback: `spool list` with
//! filters and NDJSON, `spool hold` / `release` (no attempt while held, the delivery on
//! release), `spool delete --force` and `spool export`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::peers::{HttpAnswer, WebhookServer};
use common::{RECEIVER, SUPPLIER, TestConfig, cli_off_runtime, ndjson};

fn config(hook: &WebhookServer) -> TestConfig {
    let cfg = TestConfig::with_extras("", "deliver = [\"erp\"]", "");
    let mut text = std::fs::read_to_string(&cfg.path).unwrap();
    text.push_str(&format!(
        "\n[[sink]]\nname = \"erp\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\ntimeout = \"5s\"\n\n[delivery]\ninitial_backoff = \"1s\"\nmax_backoff = \"1s\"\n",
        hook.url()
    ));
    std::fs::write(&cfg.path, text).unwrap();
    cfg
}

/// Sends invoice number `n` from `from`; returns the id from the 250.
fn send(addr: std::net::SocketAddr, from: &str, n: usize) -> String {
    common::send_numbered_invoice(addr, from, &format!("Q-{n}"))
}

/// The ids `spool list --json` prints with `args` as filters.
async fn ids(cfg: &TestConfig, args: &[&str]) -> Vec<String> {
    let mut all = vec!["spool", "list", "--json"];
    all.extend_from_slice(args);
    let (code, out, err) = cli_off_runtime(cfg, &all).await;
    assert_eq!(code, 0, "{err}");
    ndjson(&out)
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_hold_release_delete_and_export() {
    let hook = WebhookServer::start();
    // The ERP is down: deliveries stay pending until it answers.
    hook.set_default(HttpAnswer::status(503));
    let cfg = config(&hook);
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let (a, b) = tokio::task::spawn_blocking(move || {
        (
            send(addr, SUPPLIER, 1),
            send(addr, "billing@other-supplier.example", 2),
        )
    })
    .await
    .unwrap();

    // Filters, and the summary lines of --json.
    assert_eq!(ids(&cfg, &[]).await, vec![a.clone(), b.clone()]);
    assert_eq!(
        ids(&cfg, &["--sender", "supplier.example"]).await,
        vec![a.clone()]
    );
    assert_eq!(
        ids(&cfg, &["--sender", "billing@other-supplier.example"]).await,
        vec![b.clone()]
    );
    assert_eq!(ids(&cfg, &["--organisation", "acme"]).await.len(), 2);
    assert!(ids(&cfg, &["--organisation", "beta"]).await.is_empty());
    assert_eq!(ids(&cfg, &["--receiver", RECEIVER]).await.len(), 2);
    assert!(ids(&cfg, &["--until", "2000-01-01"]).await.is_empty());
    assert_eq!(ids(&cfg, &["--since", "2000-01-01"]).await.len(), 2);
    assert_eq!(ids(&cfg, &["--status", "pending"]).await.len(), 2);
    let (_, out, _) = cli_off_runtime(&cfg, &["spool", "list", "--json"]).await;
    let first = &ndjson(&out)[0];
    assert_eq!(first["status"], "accepted");
    assert_eq!(first["invoice_numbers"][0], "Q-1");
    assert_eq!(first["deliveries"][0]["sink"], "erp");
    assert!(first.get("events").is_none(), "a summary, not the record");
    let (_, full, _) = cli_off_runtime(&cfg, &["spool", "list", "--json", "--full"]).await;
    assert!(ndjson(&full)[0].get("events").is_some());

    // Hold: no attempt while held, whatever the ERP says.
    let (code, out, err) = cli_off_runtime(&cfg, &["spool", "hold", &a]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("held"), "{out}");
    assert_eq!(ids(&cfg, &["--status", "held"]).await, vec![a.clone()]);
    // An attempt in flight when the hold came may still land: let it.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let count_a = || {
        hook.requests()
            .iter()
            .filter(|r| String::from_utf8_lossy(&r.body).contains("\"Q-1\""))
            .count()
    };
    let at_hold = count_a();
    hook.set_default(HttpAnswer::status(200));
    // b is delivered on its next attempt (1 s back-off); a, held, is not tried at all.
    let requests = hook.requests.clone();
    tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.status == 200 && String::from_utf8_lossy(&r.body).contains("\"Q-2\""))
        {
            assert!(
                std::time::Instant::now() < deadline,
                "b was never delivered"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        std::thread::sleep(std::time::Duration::from_secs(3));
    })
    .await
    .unwrap();
    let for_a_while_held = count_a();
    assert_eq!(for_a_while_held, at_hold, "no attempt while held");
    let (_, before, _) = cli_off_runtime(&cfg, &["spool", "show", &a]).await;
    assert!(before.contains("held"), "{before}");
    assert_eq!(ids(&cfg, &["--status", "delivered"]).await, vec![b.clone()]);

    // Release: delivered now.
    let (code, out, _) = cli_off_runtime(&cfg, &["spool", "release", &a]).await;
    assert_eq!(code, 0);
    assert!(out.starts_with("released"), "{out}");
    let requests = hook.requests.clone();
    tokio::task::spawn_blocking(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let n = requests
                .lock()
                .unwrap()
                .iter()
                .filter(|r| r.status == 200 && String::from_utf8_lossy(&r.body).contains("\"Q-1\""))
                .count();
            if n > 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "a was never delivered"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    })
    .await
    .unwrap();

    // Export: our names only, the documents, their records and the raw message.
    let out_dir = cfg.dir.path().join("export");
    let (code, out, err) = cli_off_runtime(
        &cfg,
        &["spool", "export", &a, "--out", out_dir.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let mut names: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            format!("{a}-0.json"),
            format!("{a}-0.pdf"),
            format!("{a}-0.xml"),
            format!("{a}.eml"),
        ],
        "{out}"
    );
    let xml = std::fs::read_to_string(out_dir.join(format!("{a}-0.xml"))).unwrap();
    assert!(xml.contains("Q-1"));
    // A second export into the same directory overwrites nothing.
    let (code, _, err) = cli_off_runtime(
        &cfg,
        &["spool", "export", &a, "--out", out_dir.to_str().unwrap()],
    )
    .await;
    assert_eq!(code, 1);
    assert!(err.contains("exists already"), "{err}");

    // Delete needs --force; then the record stays with the event, the bytes are gone.
    let (code, _, err) = cli_off_runtime(&cfg, &["spool", "delete", &b]).await;
    assert_eq!(code, 1);
    assert!(err.contains("--force"), "{err}");
    let (code, out, err) = cli_off_runtime(&cfg, &["spool", "delete", &b, "--force"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("deleted"), "{out}");
    let (_, show, _) = cli_off_runtime(&cfg, &["spool", "show", &b]).await;
    assert!(show.contains("deleted by an admin"), "{show}");
    let (code, _, _) = cli_off_runtime(&cfg, &["spool", "show", &b, "--raw"]).await;
    assert_eq!(code, 1, "no raw message any more");
    assert_eq!(ids(&cfg, &["--status", "deleted"]).await, vec![b.clone()]);
    assert_eq!(ids(&cfg, &["--status", "accepted"]).await, vec![a.clone()]);
    let (code, _, err) = cli_off_runtime(&cfg, &["spool", "hold", "20990101T000000Z-000001"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("no message"), "{err}");
    daemon.stop().await;
}

/// One page of `spool list` with `args`: the ids it lists and the cursor it gives, from the
/// table's last line, or with `--json` from stderr (stdout must stay pure NDJSON).
async fn page(cfg: &TestConfig, args: &[&str]) -> (Vec<String>, Option<String>) {
    let mut all = vec!["spool", "list"];
    all.extend_from_slice(args);
    let (code, out, err) = cli_off_runtime(cfg, &all).await;
    assert_eq!(code, 0, "{err}");
    if args.contains(&"--json") {
        // Every line a record: `ndjson` panics on anything else.
        let ids = ndjson(&out)
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        let cursor = err
            .lines()
            .find_map(|l| l.strip_prefix("more: --after "))
            .map(str::to_string);
        return (ids, cursor);
    }
    let mut lines: Vec<&str> = out.lines().skip(1).collect();
    let cursor = match lines
        .last()
        .and_then(|l| l.strip_prefix("more: trustgate spool list --after "))
    {
        Some(next) => {
            let next = next.to_string();
            lines.pop();
            Some(next)
        }
        None => None,
    };
    // The rows, then a line of counts.
    let counts = lines.pop().unwrap();
    assert!(counts.contains(" message(s): "), "{out}");
    let ids = lines
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    (ids, cursor)
}

/// Every id, page by page with `--limit N` and `--after`, in the table or with `extra`.
async fn every_page(cfg: &TestConfig, limit: usize, extra: &[&str]) -> Vec<Vec<String>> {
    let limit = limit.to_string();
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut args = vec!["--limit", limit.as_str()];
        args.extend_from_slice(extra);
        if let Some(a) = &after {
            args.extend(["--after", a.as_str()]);
        }
        let (ids, next) = page(cfg, &args).await;
        pages.push(ids);
        assert!(pages.len() <= 10, "the cursor never ends: {pages:?}");
        match next {
            Some(next) => after = Some(next),
            None => return pages,
        }
    }
}

/// `spool list --limit N` pages through every message with `--after`, without loss or
/// repetition, in the table and in NDJSON; with `--json` the cursor goes to stderr.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_and_after_page_through_every_message_in_both_formats() {
    let cfg = TestConfig::new();
    let daemon = cfg.start().await;
    let addr = daemon.smtp_addrs[0];
    let sent = tokio::task::spawn_blocking(move || {
        (1..=5).map(|n| send(addr, SUPPLIER, n)).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(ids(&cfg, &[]).await, sent);

    for (limit, extra) in [
        (2, &[][..]),
        (1, &[][..]),
        (2, &["--json"][..]),
        (3, &["--json", "--full"][..]),
    ] {
        let pages = every_page(&cfg, limit, extra).await;
        assert!(
            pages.iter().all(|p| p.len() <= limit && !p.is_empty()),
            "{limit} {extra:?}: {pages:?}"
        );
        assert_eq!(pages.concat(), sent, "{limit} {extra:?}: {pages:?}");
    }
    // A page that holds the rest gives no cursor; without --limit there is none either.
    assert_eq!(
        page(&cfg, &["--limit", "5", "--json"]).await,
        (sent.clone(), None)
    );
    let (code, _, err) = cli_off_runtime(&cfg, &["spool", "list", "--json"]).await;
    assert_eq!(code, 0);
    assert!(!err.contains("more:"), "{err}");
    daemon.stop().await;
}
