//! `check-config` and `Config::load` on real files, and the shipped config files.
//!
//! The shipped files must stay valid, complete (every key of the schema is in the template and
//! in docs/config.md) and consistent (the template's values are the defaults the code applies,
//! and the defaults docs/config.md states).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use trustgate::cli::check_config;
use trustgate::config::validate::{self, Options};
use trustgate::config::{
    BuyerCheck, Config, DirectoryLayout, EndpointId, RelayTls, SinkKind, SmtpMode, TrustKind,
    WebhookPayload, defaults,
};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn template_text() -> String {
    std::fs::read_to_string(repo("config/trustgate.toml")).unwrap()
}

/// Runs check-config, returning (exit code, stdout, stderr).
fn check(path: &Path) -> (i32, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = check_config::run_to(path, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

const VALID: &str = r#"[server]
hostname = "mx.trust.example.test"
listen = ["127.0.0.1:2525"]

[spool]
path = "spool"

[[organisation]]
id = "acme"
name = "ACME B.V."

[[receiver]]
address = "AD64SDE@trust.example.test"
organisation = "acme"
document_type = "purchase-invoice"

[[receiver.trusted_sender]]
name = "Supplier B.V."
contact = "billing@supplier.example"
domain = "supplier.example"
"#;

#[test]
fn check_config_accepts_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("spool")).unwrap();
    let path = dir.path().join("trustgate.toml");
    std::fs::write(&path, VALID).unwrap();

    let (code, out, err) = check(&path);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(
        out,
        format!("OK: {}: 1 organisations, 1 receivers\n", path.display())
    );
    assert_eq!(err, "");

    let config = Config::load(&path).unwrap();
    assert_eq!(
        config.spool.path,
        std::fs::canonicalize(dir.path()).unwrap().join("spool")
    );
    assert_eq!(
        config.receivers[0].address.to_string(),
        "AD64SDE@trust.example.test"
    );
}

#[test]
fn check_config_warns_about_auth_none_and_still_accepts_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("spool")).unwrap();
    let path = dir.path().join("trustgate.toml");
    let text = VALID.replacen(
        "document_type = \"purchase-invoice\"",
        "document_type = \"purchase-invoice\"\nauth = \"none\"",
        1,
    );
    assert_ne!(text, VALID);
    std::fs::write(&path, &text).unwrap();
    let (code, out, err) = check(&path);
    assert_eq!(code, 0, "a warning is not an error: {err}");
    assert!(out.starts_with("OK: "), "{out}");
    let line = text.lines().position(|l| l == "auth = \"none\"").unwrap() + 1;
    assert!(
        err.starts_with(&format!("warning: {}:{line}:8: ", path.display())),
        "{err}"
    );
    assert!(err.contains("for tests only"), "{err}");
}

#[test]
fn check_config_prints_every_error_located_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("spool"), b"a file, not a directory").unwrap();
    let path = dir.path().join("trustgate.toml");
    let text = VALID
        .replace("\"mx.trust.example.test\"", "\"\"")
        .replace("organisation = \"acme\"", "organisation = \"acne\"")
        .replace(
            "domain = \"supplier.example\"",
            "domain = \"supplier.example\"\naddress = \"x@supplier.example\"",
        );
    std::fs::write(&path, text).unwrap();

    let (code, out, err) = check(&path);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    let lines: Vec<&str> = err.lines().collect();
    let file = path.display().to_string();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(
        lines[0].starts_with(&format!("{file}:2:12: hostname is empty; ")),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!("{file}:6:8: spool.path ")),
        "{err}"
    );
    assert!(
        lines[1].ends_with("is not a directory; point spool.path at a directory"),
        "{err}"
    );
    assert!(
        lines[2].starts_with(&format!("{file}:14:16: receiver "))
            && lines[2].ends_with("did you mean \"acme\"?"),
        "{err}"
    );
    assert!(
        lines[3].starts_with(&format!("{file}:21:11: "))
            && lines[3].contains("sets both domain and address"),
        "{err}"
    );

    // serve uses the same loader, so it refuses the same file.
    let errors = Config::load(&path).unwrap_err();
    assert_eq!(errors.0.len(), 4);
}

#[test]
fn check_config_reports_a_parse_error_and_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.toml");
    std::fs::write(&path, VALID.replace("listen =", "listn =")).unwrap();
    let (code, _, err) = check(&path);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "{}:3:1: unknown key `listn` in [server]; did you mean `listen`?\n",
            path.display()
        )
    );

    let (code, _, err) = check(&dir.path().join("missing.toml"));
    assert_eq!(code, 1);
    assert!(
        err.contains("missing.toml: cannot read the config file"),
        "{err}"
    );
}

#[test]
fn check_config_changes_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trustgate.toml");
    std::fs::write(
        &path,
        VALID.replace("path = \"spool\"", "path = \"not/yet/there\""),
    )
    .unwrap();
    let (code, _, err) = check(&path);
    assert_eq!(code, 0, "{err}");
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(entries, vec![std::ffi::OsString::from("trustgate.toml")]);
}

#[test]
fn local_config_is_valid() {
    let path = repo("config/local.toml");
    let (code, out, err) = check(&path);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.ends_with("local.toml: 2 organisations, 2 receivers\n"),
        "{out}"
    );

    let c = Config::load(&path).unwrap();
    assert_eq!(c.server.listen, vec!["127.0.0.1:2525".parse().unwrap()]);
    assert!(c.server.listen.iter().all(|a| a.ip().is_loopback()));
    assert_eq!(c.server.hostname, "mx.trust.example.test");
    assert_eq!(c.spool.path, std::fs::canonicalize(repo("spool")).unwrap());
    let org = &c.organisations[0];
    assert_eq!(
        (org.id.as_str(), org.kvk.as_deref()),
        ("acme", Some("11111111"))
    );
    assert_eq!(org.vat_ids, ["NL123456789B01"]);
    assert_eq!(org.endpoint_ids, [EndpointId::new("0106", "11111111")]);
    let beta = &c.organisations[1];
    assert_eq!(
        (beta.id.as_str(), beta.name.as_str(), beta.kvk.as_deref()),
        ("beta", "Beta B.V.", Some("87654321"))
    );
    assert_eq!(beta.endpoint_ids, [EndpointId::new("0106", "87654321")]);
    assert!(beta.vat_ids.is_empty() && beta.verified_users.is_empty());
    let r = &c.receivers[0];
    assert_eq!(r.address.to_string(), "AD64SDE@trust.example.test");
    assert_eq!((r.organisation, &r.organisations[..]), (0, &[0][..]));
    let kinds: Vec<String> = r
        .trusted_senders
        .iter()
        .map(|t| match &t.kind {
            TrustKind::Domain(d) => format!("domain {d}"),
            TrustKind::Address(a) => format!("address {a}"),
            TrustKind::VerifiedUsers => "verified_users".into(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "domain supplier.example",
            "address billing@other-supplier.example",
            "verified_users"
        ]
    );
    // The README's quick start sends from invoices@supplier.example.
    let sender = trustgate::address::Address::parse("invoices@supplier.example").unwrap();
    assert!(matches!(&r.trusted_senders[0].kind, TrustKind::Domain(d) if sender.domain() == d));

    // The shared address serves both, and trusts the same supplier domain.
    let shared = &c.receivers[1];
    assert_eq!(shared.address.to_string(), "SHARED1@trust.example.test");
    assert_eq!(
        (shared.organisation, &shared.organisations[..]),
        (0, &[0, 1][..])
    );
    assert_eq!(shared.trusted_senders.len(), 1);
    assert!(
        matches!(&shared.trusted_senders[0].kind, TrustKind::Domain(d) if sender.domain() == d)
    );
    // Both receivers keep the default rules.
    for r in &c.receivers {
        assert_eq!(r.buyer_check, BuyerCheck::Strict);
        assert!(r.accept_specifications.is_empty());
        assert!(!r.require_pdf && !r.refuse_warnings && !r.accept_partial && !r.refuse_duplicates);
    }
}

#[test]
fn check_config_reports_shared_receiver_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("spool")).unwrap();
    let path = dir.path().join("trustgate.toml");
    let text = VALID
        .replace(
            "name = \"ACME B.V.\"\n",
            "name = \"ACME B.V.\"\nendpoint_ids = [\"0106\"]\n",
        )
        .replace(
            "organisation = \"acme\"",
            "organisations = [\"acme\", \"acme\"]\nbuyer_check = \"loose\"\naccept_specifications = [\"nlcius\"]",
        );
    std::fs::write(&path, text).unwrap();
    let (code, out, err) = check(&path);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    let file = path.display().to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 4, "{err}");
    assert!(
        lines[0].starts_with(&format!(
            "{file}:11:17: organisation \"acme\": endpoint id \"0106\" is not of the form scheme:id"
        )),
        "{err}"
    );
    assert!(
        lines[1].starts_with(&format!("{file}:15:26: receiver "))
            && lines[1].contains("listed twice in organisations"),
        "{err}"
    );
    assert!(
        lines[2].starts_with(&format!("{file}:16:15: receiver "))
            && lines[2].contains("unknown buyer_check \"loose\""),
        "{err}"
    );
    assert!(
        lines[3].starts_with(&format!("{file}:17:26: receiver "))
            && lines[3].contains("unknown specification \"nlcius\""),
        "{err}"
    );
}

#[test]
fn check_config_reports_sink_errors_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("spool")).unwrap();
    let path = dir.path().join("trustgate.toml");
    let sinks = "[[sink]]\nname = \"erp\"\nkind = \"webhook\"\nurl = \"https://erp.example/hooks\"\npath = \"out\"\n\
                 [[sink]]\nname = \"platform\"\nkind = \"nats\"\nurl = \"nats://127.0.0.1:4222\"\nsubject = \"invoices.{organization}\"\n";
    let text = VALID
        .replace(
            "\n[[organisation]]",
            &format!("\n{sinks}\n[[organisation]]"),
        )
        .replace(
            "name = \"ACME B.V.\"\n",
            "name = \"ACME B.V.\"\ndeliver = [\"erp\", \"platfrom\"]\n",
        );
    std::fs::write(&path, text).unwrap();

    let (code, out, err) = check(&path);
    assert_eq!(code, 1);
    assert_eq!(out, "");
    let file = path.display().to_string();
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "{file}:12:8: sink \"erp\": `path` is not a key of a webhook sink; it belongs to directory sinks; remove it, or correct kind"
            ),
            format!(
                "{file}:17:11: sink \"platform\": subject \"invoices.{{organization}}\" has the placeholder {{organization}} (did you mean {{organisation}}?), but the only placeholders are {{organisation}} and {{receiver}}; write e.g. subject = \"invoices.{{organisation}}\""
            ),
            format!(
                "{file}:22:19: organisation \"acme\": unknown sink \"platfrom\" in deliver; did you mean \"platform\"?"
            ),
        ],
        "{err}"
    );
    assert_eq!(Config::load(&path).unwrap_err().0.len(), 3);
}

#[test]
fn template_is_valid_apart_from_the_spool_directory() {
    let path = repo("config/trustgate.toml");
    let relaxed = Options {
        check_spool_writable: false,
        ..Options::default()
    };
    let c = validate::load_with(&path, &relaxed).unwrap();
    assert_eq!(c.spool.path, Path::new("/var/spool/trustgate"));
    assert_eq!(
        c.server.listen,
        vec!["0.0.0.0:25".parse().unwrap(), "[::]:25".parse().unwrap()]
    );
    assert_eq!(c.receivers[0].trusted_senders.len(), 4);
    // The production template authenticates every sender, and says so without a warning.
    assert!(
        c.receivers[0]
            .trusted_senders
            .iter()
            .all(|t| t.auth == trustgate::config::AuthPolicy::Dmarc)
    );
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert_eq!(
        c.receivers[0].trusted_senders[3]
            .via
            .as_ref()
            .map(|d| d.as_str()),
        Some("erp-platform.example")
    );
    // With every check on, the spool directory is the only thing that may fail on this machine.
    if let Err(errors) = Config::load(&path) {
        for e in &errors.0 {
            assert!(
                e.message.starts_with("spool.path /var/spool/trustgate: "),
                "{e}"
            );
        }
    }
}

#[test]
fn template_values_are_the_defaults() {
    let c = validate::load_with(
        &repo("config/trustgate.toml"),
        &Options {
            check_spool_writable: false,
            ..Options::default()
        },
    )
    .unwrap();
    let s = &c.server;
    assert_eq!(s.max_message_size, defaults::MAX_MESSAGE_SIZE);
    assert_eq!(s.max_recipients, defaults::MAX_RECIPIENTS);
    assert_eq!(s.max_line_length, defaults::MAX_LINE_LENGTH);
    assert_eq!(s.max_connections, defaults::MAX_CONNECTIONS);
    assert_eq!(s.max_connections_per_ip, defaults::MAX_CONNECTIONS_PER_IP);
    assert_eq!(
        s.max_messages_per_session,
        defaults::MAX_MESSAGES_PER_SESSION
    );
    assert_eq!(s.max_errors, defaults::MAX_ERRORS);
    assert_eq!(s.command_timeout, defaults::COMMAND_TIMEOUT);
    assert_eq!(s.data_timeout, defaults::DATA_TIMEOUT);
    assert_eq!(s.session_timeout, defaults::SESSION_TIMEOUT);
    assert_eq!(s.shutdown_timeout, defaults::SHUTDOWN_TIMEOUT);
    assert_eq!(c.spool.large_body_threshold, defaults::LARGE_BODY_THRESHOLD);
    assert_eq!(c.spool.min_free_space, defaults::MIN_FREE_SPACE);
    assert_eq!(c.spool.retention, defaults::RETENTION);
    assert_eq!(c.spool.cache_size, defaults::SPOOL_CACHE_SIZE);
    assert_eq!(c.limits, trustgate::config::Limits::default());
    assert_eq!(c.limits.xml(), trustgate::invoice::Limits::default());
    // The template turns the admin API on, at its default address, without TLS.
    let admin = c.admin.as_ref().unwrap();
    assert_eq!(admin.listen, defaults::ADMIN_LISTEN);
    assert!(admin.tls.is_none(), "the API's TLS files are commented out");
    assert_eq!(c.log.format, defaults::LOG_FORMAT);
    assert!(s.tls.is_none(), "TLS is commented out in the template");
    let r = &c.receivers[0];
    assert_eq!(r.buyer_check, defaults::BUYER_CHECK);
    assert!(
        r.accept_specifications.is_empty(),
        "the default accepts every one"
    );
    assert_eq!(r.require_pdf, defaults::REQUIRE_PDF);
    assert_eq!(r.refuse_warnings, defaults::REFUSE_WARNINGS);
    assert_eq!(r.accept_partial, defaults::ACCEPT_PARTIAL);
    assert_eq!(r.refuse_duplicates, defaults::REFUSE_DUPLICATES);
    // The shared receiver is a commented example: one organisation, one receiver.
    assert_eq!((c.organisations.len(), c.receivers.len()), (1, 1));
    let org = &c.organisations[0];
    assert_eq!(org.vat_ids, ["NL123456789B01"]);
    assert_eq!(org.endpoint_ids.len(), 3);
    // Delivery: the schedule and every sink's optional keys at their defaults.
    let d = &c.delivery;
    assert_eq!(d.initial_backoff, defaults::INITIAL_BACKOFF);
    assert_eq!(d.max_backoff, defaults::MAX_BACKOFF);
    assert_eq!(d.max_age, defaults::MAX_AGE);
    assert_eq!(d.workers, defaults::WORKERS);
    let relay = c.relay.as_ref().unwrap();
    assert_eq!(relay.port, defaults::RELAY_PORT);
    assert_eq!(relay.tls, defaults::RELAY_TLS);
    assert_eq!(relay.timeout, defaults::RELAY_TIMEOUT);
    assert!(
        relay.username.is_none() && relay.password.is_none(),
        "the login is commented out in the template"
    );
    let kinds: Vec<&str> = c.sinks.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, ["webhook", "directory", "smtp", "nats"]);
    for sink in &c.sinks {
        assert_eq!(
            sink.concurrency,
            defaults::SINK_CONCURRENCY,
            "{}",
            sink.name
        );
        assert_eq!(sink.timeout, defaults::SINK_TIMEOUT, "{}", sink.name);
        match &sink.kind {
            SinkKind::Webhook {
                secret, payload, ..
            } => {
                assert!(secret.is_none(), "the secrets are commented out");
                assert_eq!(*payload, defaults::WEBHOOK_PAYLOAD);
                assert_eq!(*payload, WebhookPayload::Json);
            }
            SinkKind::Directory { layout, .. } => {
                assert_eq!(*layout, defaults::DIRECTORY_LAYOUT);
                assert_eq!(*layout, DirectoryLayout::Flat);
            }
            SinkKind::Smtp { mode, .. } => {
                assert_eq!(*mode, defaults::SMTP_MODE);
                assert_eq!(*mode, SmtpMode::Document);
            }
            SinkKind::Nats { .. } => {}
        }
    }
    assert_eq!(org.deliver, ["erp", "archive"]);
    assert_eq!(r.deliver, None, "the receiver's deliver is commented out");
    assert_eq!(c.deliver_for(r, 0), ["erp", "archive"]);
    assert_eq!(defaults::RELAY_TLS, RelayTls::StartTls);
    // The brief's numbers, so a change of default is a deliberate one.
    assert_eq!(defaults::MAX_MESSAGE_SIZE, 35 * 1024 * 1024);
    assert_eq!(defaults::COMMAND_TIMEOUT, Duration::from_secs(300));
    assert_eq!(defaults::SHUTDOWN_TIMEOUT, Duration::from_secs(30));
    assert_eq!(defaults::RETENTION, Duration::from_secs(90 * 24 * 3600));
    assert_eq!(defaults::ADMIN_LISTEN.to_string(), "127.0.0.1:8025");
    assert_eq!(defaults::LOG_FORMAT, trustgate::config::LogFormat::Text);
}

/// The keys a table accepts, read from the validator's own "unknown key" message.
fn schema_keys(text_with_bogus_key: &str) -> Vec<String> {
    let errors = validate::load_str(
        text_with_bogus_key,
        Path::new("t.toml"),
        &Options::default(),
    )
    .unwrap_err();
    let message = &errors.0[0].message;
    let (_, list) = message
        .split_once("the keys here are ")
        .unwrap_or_else(|| panic!("{message}"));
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Every key of the schema, by table, found by putting an unknown key in each table.
fn all_schema_keys() -> Vec<(String, Vec<String>)> {
    const BOGUS: &str = "zzzzzzzzzzzzzzzz = 1\n";
    let template = template_text();
    let tls = "\n[server.tls]\ncertificate = \"c\"\nkey = \"k\"\n[spool]\n";
    let mut out = Vec::new();
    for header in [
        "",
        "[server]\n",
        "[server.tls]\n",
        "[spool]\n",
        "[[organisation]]\n",
        "[[receiver]]\n",
        "[[receiver.trusted_sender]]\n",
        "[delivery]\n",
        "[relay]\n",
        "[[sink]]\n",
        "[limits]\n",
        "[dns]\n",
        "[notices]\n",
        "[admin]\n",
        "[log]\n",
    ] {
        let text = template.replacen("\n[spool]\n", tls, 1);
        let text = if header.is_empty() {
            format!("{BOGUS}{text}")
        } else {
            text.replacen(&format!("\n{header}"), &format!("\n{header}{BOGUS}"), 1)
        };
        out.push((header.trim().to_string(), schema_keys(&text)));
    }
    out
}

#[test]
fn every_key_of_the_schema_is_in_the_template_and_the_docs() {
    let template = template_text();
    let docs = std::fs::read_to_string(repo("docs/config.md")).unwrap();
    let all = all_schema_keys();
    assert_eq!(all.len(), 15);
    let mut seen = 0;
    for (header, keys) in all {
        assert!(!keys.is_empty(), "{header}");
        let table = header.trim_matches(|c| c == '[' || c == ']');
        for key in keys {
            let full = if table.is_empty() {
                key.clone()
            } else {
                format!("{table}.{key}")
            };
            // A key is either `key = value` (commented out for optional sections) or a section.
            let as_section = [format!("[{full}]"), format!("[[{full}]]")];
            let in_template = template.lines().any(|l| {
                let l = l.trim_start_matches('#').trim_start();
                l.starts_with(&format!("{key} = ")) || as_section.iter().any(|s| l == s)
            });
            assert!(in_template, "{full} is not in config/trustgate.toml");
            let in_docs = docs.contains(&format!("\n### {key} _"))
                || as_section
                    .iter()
                    .any(|s| docs.contains(&format!("\n## {s}\n")));
            assert!(
                in_docs,
                "{full} has no `### {key} _type_ (default)` or section in docs/config.md"
            );
            seen += 1;
        }
    }
    // Top level: include and 12 sections; then [server] 23, [server.tls] 2, [spool] 5,
    // [[organisation]] 8, [[receiver]] 13, [[receiver.trusted_sender]] 9, [delivery] 4,
    // [relay] 7, [[sink]] 14, [limits] 19, [dns] 3, [notices] 5, [admin] 3, [log] 1.
    assert_eq!(
        seen,
        13 + 23 + 2 + 5 + 8 + 13 + 9 + 4 + 7 + 14 + 19 + 3 + 5 + 3 + 1
    );
}

#[test]
fn docs_defaults_match_the_template() {
    let template = template_text();
    let docs = std::fs::read_to_string(repo("docs/config.md")).unwrap();
    let mut checked = 0;
    for heading in docs.lines().filter_map(|l| l.strip_prefix("### ")) {
        let (key, rest) = heading.split_once(' ').unwrap();
        let default = rest
            .rsplit_once('(')
            .map(|(_, d)| d.trim_end_matches(')'))
            .unwrap();
        // "(the receiver's)", "(the system's)": taken from elsewhere, no line of its own.
        if default.starts_with("required")
            || default.starts_with("the ")
            || matches!(default, "none" | "[]" | "false")
        {
            continue;
        }
        let line = format!("{key} = {default}");
        assert!(
            template.lines().any(|l| l == line),
            "docs/config.md says {key} defaults to {default}, but the template has no line `{line}`"
        );
        checked += 1;
    }
    assert_eq!(
        checked, 63,
        "every defaulted key of [server], [spool], [[receiver]], [delivery], [relay], [[sink]], [limits], [dns], [notices], [admin] and [log] is checked"
    );
}

#[test]
fn include_joins_the_tables_of_other_files_and_errors_name_them() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("spool")).unwrap();
    std::fs::create_dir(dir.path().join("conf.d")).unwrap();
    let path = dir.path().join("trustgate.toml");
    std::fs::write(&path, format!("include = [\"conf.d/*.toml\"]\n{VALID}")).unwrap();
    let beta = "# Beta's own file\n[[organisation]]\nid = \"beta\"\nname = \"Beta B.V.\"\n\n[[receiver]]\naddress = \"BETA001@trust.example.test\"\norganisation = \"beta\"\ndocument_type = \"purchase-invoice\"\n\n[[receiver.trusted_sender]]\nname = \"S\"\ncontact = \"s@supplier.example\"\ndomain = \"supplier.example\"\n";
    std::fs::write(dir.path().join("conf.d/beta.toml"), beta).unwrap();
    std::fs::write(dir.path().join("conf.d/notes.txt"), "not a config").unwrap();

    let (code, out, err) = check(&path);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("2 organisations, 2 receivers"), "{out}");
    let config = Config::load(&path).unwrap();
    assert_eq!(
        config.receivers[1].address.to_string(),
        "BETA001@trust.example.test"
    );

    // An error in an included file names that file and its own line.
    std::fs::write(
        dir.path().join("conf.d/beta.toml"),
        beta.replace("organisation = \"beta\"", "organisation = \"gamma\""),
    )
    .unwrap();
    let (code, _, err) = check(&path);
    assert_eq!(code, 1);
    let beta_path = dir.path().join("conf.d/beta.toml");
    assert!(
        err.starts_with(&format!("{}:8:16: ", beta_path.display())),
        "{err}"
    );

    // An included file may hold only tables.
    std::fs::write(dir.path().join("conf.d/a.toml"), "hostname = \"x\"\n").unwrap();
    let (code, _, err) = check(&path);
    assert_eq!(code, 1);
    assert!(err.contains("must hold only tables"), "{err}");
    assert!(
        err.starts_with(&format!("{}:1:11: ", path.display())),
        "{err}"
    );
}

#[test]
fn check_config_compiles_notice_templates_and_names_a_broken_one_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("spool")).unwrap();
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(
        templates.join("refused.en.subject"),
        "Refused: {{ message_id }}\n",
    )
    .unwrap();
    std::fs::write(
        templates.join("refused.nl.txt"),
        "Beste {{ organisation }},\n{% for rule in rules %}{{ rule.id }}\n",
    )
    .unwrap();
    // A typo in a name would silently keep the built-in: it is an error.
    std::fs::write(templates.join("invitaton.nl.txt"), "Welkom\n").unwrap();
    let path = dir.path().join("trustgate.toml");
    let text = format!(
        "{VALID}\n[relay]\nhost = \"127.0.0.1\"\ntls = \"none\"\nmail_from = \"bounces@trust.example.test\"\n\n[notices]\nfrom = \"no-reply@trust.example.test\"\ntemplates = \"templates\"\n"
    );
    std::fs::write(&path, &text).unwrap();
    let (code, out, err) = check(&path);
    assert_ne!(code, 0, "stdout: {out}");
    let base = std::fs::canonicalize(dir.path()).unwrap();
    for expected in [
        format!(
            "{}:2: notices.templates: syntax error: ",
            base.join("templates/refused.nl.txt").display()
        ),
        format!(
            "{}: notices.templates: \"invitaton.nl.txt\" is not a template's name",
            base.join("templates/invitaton.nl.txt").display()
        ),
    ] {
        assert!(
            err.lines().any(|l| l.starts_with(&expected)),
            "{expected}\n{err}"
        );
    }
    // Fixed, it passes.
    std::fs::write(
        templates.join("refused.nl.txt"),
        "Beste {{ organisation }},\n{% for rule in rules %}{{ rule.id }}\n{% endfor %}",
    )
    .unwrap();
    std::fs::rename(
        templates.join("invitaton.nl.txt"),
        templates.join("invitation.nl.txt"),
    )
    .unwrap();
    let (code, _, err) = check(&path);
    assert_eq!(code, 0, "stderr: {err}");
}
