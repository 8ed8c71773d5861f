//! Sender authentication over real sockets (issue 10, section 1): the daemon resolves through a
//! real DNS server on loopback (tests/support/dnsd.py) that serves SPF, DKIM and DMARC records,
//! and the mail is signed and ARC-sealed by an independent signer (dkimpy, through
//! tests/support/dkim_tool.py). Every refusal is asserted with its enhanced status code, every
//! acceptance with what the spool keeps.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::authdns::{DkimKey, DnsServer, KeyType, Zone, arc_seal, dkim_sign};
use common::{RECEIVER, Smtp, TestConfig, invoice_mail};
use trustgate::daemon::Daemon;
use trustgate::policy::auth::{Outcome, Proof};

/// The trusted supplier of the test config (`domain = "supplier.example"`).
const FROM: &str = "billing@supplier.example";
const DOMAIN: &str = "supplier.example";
/// A mail service that sends for its customers with its own bounce addresses (VERP).
const ESP: &str = "em.mailservice.example";
/// A forwarder that seals ARC (as Microsoft 365 or Google do).
const SEALER: &str = "sealer.example";
const HOSTNAME: &str = "mx.trust.example.test";

/// A daemon whose first receiver authenticates with `auth` and whose resolver is `dns`;
/// `server` goes into `[server]`.
async fn start(dns: &DnsServer, auth: &str, server: &str) -> (TestConfig, Daemon) {
    let extra = format!(
        "{server}\n[dns]\nnameservers = [\"{}\"]\ntimeout = \"1s\"\n",
        dns.addr()
    );
    let cfg = TestConfig::with_extras(&extra, &format!("auth = \"{auth}\"\n"), "");
    let daemon = cfg.start().await;
    (cfg, daemon)
}

/// Sends `body` from `mail_from` to the test receiver; returns the final reply (the RCPT
/// reply when RCPT is refused).
async fn send(daemon: &Daemon, mail_from: &str, body: &[u8]) -> String {
    let addr = daemon.smtp_addrs[0];
    let mail_from = mail_from.to_string();
    let body = String::from_utf8(body.to_vec()).unwrap();
    tokio::task::spawn_blocking(move || {
        let mut smtp = Smtp::connect(addr);
        smtp.cmd("EHLO client.supplier.example", "250");
        smtp.cmd(&format!("MAIL FROM:<{mail_from}>"), "250");
        smtp.send(&format!("RCPT TO:<{RECEIVER}>\r\n"));
        let rcpt = smtp.reply();
        if !rcpt.starts_with("250") {
            return rcpt;
        }
        smtp.cmd("DATA", "354");
        smtp.send(&body);
        smtp.send(".\r\n");
        smtp.reply()
    })
    .await
    .unwrap()
}

/// The one stored message's record and raw bytes.
fn stored(daemon: &Daemon) -> (trustgate::spool::MessageRecord, String) {
    let list = daemon.spool.list().unwrap();
    assert_eq!(list.len(), 1, "one message stored");
    let record = list.into_iter().next().unwrap();
    let raw = daemon.spool.raw(&record.id).unwrap().unwrap();
    (record, String::from_utf8(raw).unwrap())
}

fn rsa_key(dir: &tempfile::TempDir) -> DkimKey {
    DkimKey::generate(dir.path(), KeyType::Rsa)
}

fn signed_invoice(key: &DkimKey, domain: &str) -> Vec<u8> {
    dkim_sign(invoice_mail(FROM).as_bytes(), key, domain, "s1")
}

fn assert_refused(reply: &str, prefix: &str) {
    assert!(reply.starts_with(prefix), "expected {prefix}, got {reply}");
}

#[tokio::test]
async fn a_good_signature_is_accepted_and_recorded_whatever_the_envelope() {
    let dir = tempfile::tempdir().unwrap();
    let key = rsa_key(&dir);
    // The ERP's mail service bounces to itself (VERP) and signs for the supplier's domain.
    let dns = DnsServer::start(
        &Zone::new()
            .dkim_record("s1", DOMAIN, &key)
            .spf(ESP, "v=spf1 ip4:127.0.0.1 -all")
            .dmarc(DOMAIN, "v=DMARC1; p=none"),
    );
    let (_cfg, daemon) = start(&dns, "dmarc", "").await;
    let reply = send(
        &daemon,
        &format!("bounce-123@{ESP}"),
        &signed_invoice(&key, DOMAIN),
    )
    .await;
    assert!(reply.starts_with("250"), "{reply}");

    let (record, raw) = stored(&daemon);
    let auth = record.auth.expect("the results are kept");
    assert_eq!(auth.proven_by, vec![Proof::Dmarc]);
    assert_eq!(auth.results.dkim[0].result, Outcome::Pass);
    assert_eq!(auth.results.dkim[0].domain, DOMAIN);
    assert_eq!(auth.results.spf_mail_from.result, Outcome::Pass);
    assert_eq!(auth.results.spf_mail_from.domain, ESP);
    assert_eq!(auth.results.dmarc.result, Outcome::Pass);
    assert_eq!(auth.results.dmarc.policy.as_deref(), Some("none"));
    // The stored message: our Received, then our Authentication-Results, then as sent.
    assert!(
        raw.starts_with("Received: from client.supplier.example"),
        "{raw}"
    );
    let ar = raw
        .find(&format!("Authentication-Results: {HOSTNAME};"))
        .expect("our Authentication-Results");
    let from = raw.find("DKIM-Signature:").unwrap();
    assert!(ar < from);
    let header = &raw[ar..from];
    for expected in [
        "dkim=pass header.i=@supplier.example header.s=s1",
        "dmarc=pass header.from=supplier.example",
        "spf=pass",
        "smtp.mailfrom=bounce-123@em.mailservice.example",
    ] {
        assert!(header.contains(expected), "{expected} in {header}");
    }
}

#[tokio::test]
async fn an_ed25519_signature_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let key = DkimKey::generate(dir.path(), KeyType::Ed25519);
    let dns = DnsServer::start(&Zone::new().dkim_record("s1", DOMAIN, &key));
    let (_cfg, daemon) = start(&dns, "dkim", "").await;
    let reply = send(&daemon, FROM, &signed_invoice(&key, DOMAIN)).await;
    assert!(reply.starts_with("250"), "{reply}");
    let (record, _) = stored(&daemon);
    assert_eq!(record.auth.unwrap().proven_by, vec![Proof::Dkim]);
}

#[tokio::test]
async fn the_wrong_key_a_changed_body_and_an_unaligned_signature_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let published = rsa_key(&dir);
    let other = rsa_key(&dir);
    let dns = DnsServer::start(
        &Zone::new()
            .dkim_record("s1", DOMAIN, &published)
            .dkim_record("s1", ESP, &other),
    );
    let (_cfg, daemon) = start(&dns, "dmarc", "").await;

    // Signed with a key that is not the one published.
    let reply = send(&daemon, FROM, &signed_invoice(&other, DOMAIN)).await;
    assert_refused(&reply, "550 5.7.26");
    assert!(reply.contains("DKIM fail for supplier.example"), "{reply}");

    // The body changed after signing (an IBAN swapped on the way).
    let signed = String::from_utf8(signed_invoice(&published, DOMAIN)).unwrap();
    let tampered = signed.replacen("Please find our invoice", "Please find OUR invoice", 1);
    assert_ne!(signed, tampered);
    let reply = send(&daemon, FROM, tampered.as_bytes()).await;
    assert_refused(&reply, "550 5.7.26");

    // A valid signature, but for another domain than the From's.
    let reply = send(&daemon, FROM, &signed_invoice(&other, ESP)).await;
    assert_refused(&reply, "550 5.7.26");
    assert!(reply.contains(&format!("DKIM pass for {ESP}")), "{reply}");

    // Nothing of an unproven sender is stored.
    assert!(daemon.spool.list().unwrap().is_empty());
}

#[tokio::test]
async fn a_dkim_policy_refuses_with_5_7_20() {
    let dir = tempfile::tempdir().unwrap();
    let key = rsa_key(&dir);
    let dns = DnsServer::start(&Zone::new().spf(DOMAIN, "v=spf1 ip4:127.0.0.1 -all"));
    let (_cfg, daemon) = start(&dns, "dkim", "").await;
    // SPF passes aligned, but the receiver wants DKIM: the key is not published.
    let reply = send(&daemon, FROM, &signed_invoice(&key, DOMAIN)).await;
    assert_refused(&reply, "550 5.7.20");
}

#[tokio::test]
async fn spf_pass_fail_and_softfail() {
    let pass = DnsServer::start(&Zone::new().spf(DOMAIN, "v=spf1 ip4:127.0.0.1 -all"));
    let (_cfg, daemon) = start(&pass, "spf", "").await;
    let reply = send(&daemon, FROM, invoice_mail(FROM).as_bytes()).await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(stored(&daemon).0.auth.unwrap().proven_by, vec![Proof::Spf]);

    for record in ["v=spf1 ip4:192.0.2.1 -all", "v=spf1 ip4:192.0.2.1 ~all"] {
        let dns = DnsServer::start(&Zone::new().spf(DOMAIN, record));
        let (_cfg, daemon) = start(&dns, "spf", "").await;
        let reply = send(&daemon, FROM, invoice_mail(FROM).as_bytes()).await;
        assert_refused(&reply, "550 5.7.23");
        let word = if record.ends_with("-all") {
            "SPF fail"
        } else {
            "SPF softfail"
        };
        assert!(reply.contains(word), "{reply}");
        // Under the default policy the same mail fails DMARC.
        let (_cfg, daemon) = daemon_default(&dns).await;
        let reply = send(&daemon, FROM, invoice_mail(FROM).as_bytes()).await;
        assert_refused(&reply, "550 5.7.26");
    }
}

async fn daemon_default(dns: &DnsServer) -> (TestConfig, Daemon) {
    start(dns, "dmarc", "").await
}

#[tokio::test]
async fn a_domain_without_any_record_is_not_trusted() {
    let dns = DnsServer::start(&Zone::new());
    let (_cfg, daemon) = start(&dns, "dmarc", "").await;
    let reply = send(&daemon, FROM, invoice_mail(FROM).as_bytes()).await;
    assert_refused(&reply, "550 5.7.26");
    assert!(
        reply.contains("no DMARC record for supplier.example"),
        "{reply}"
    );
    assert!(reply.contains("no DKIM signature"), "{reply}");
}

#[tokio::test]
async fn a_dns_timeout_is_answered_451_so_the_sender_retries() {
    let dir = tempfile::tempdir().unwrap();
    let key = rsa_key(&dir);
    let dns = DnsServer::start(&Zone::new().timeout(DOMAIN));
    let (_cfg, daemon) = start(&dns, "dmarc", "").await;
    let reply = send(&daemon, FROM, &signed_invoice(&key, DOMAIN)).await;
    assert_refused(&reply, "451 4.7.24");
    assert!(daemon.spool.list().unwrap().is_empty());
}

/// The supplier's signed invoice as a forwarder passes it on: it checked the mail (all pass),
/// added a footer (which breaks DKIM), and sealed it.
fn forwarded(supplier: &DkimKey, sealer: &DkimKey) -> Vec<u8> {
    let signed = String::from_utf8(signed_invoice(supplier, DOMAIN)).unwrap();
    let checked = format!(
        "Authentication-Results: {SEALER}; dkim=pass header.d={DOMAIN}; spf=pass smtp.mailfrom={DOMAIN}; dmarc=pass header.from={DOMAIN}\r\n{signed}"
    );
    let with_footer = checked.replacen(
        "Please find our invoice attached.",
        "Please find our invoice attached.\r\n-- forwarded by the accountant",
        1,
    );
    arc_seal(with_footer.as_bytes(), sealer, SEALER, "arc", SEALER)
}

#[tokio::test]
async fn a_valid_arc_chain_counts_only_from_a_trusted_sealer() {
    let dir = tempfile::tempdir().unwrap();
    let supplier = rsa_key(&dir);
    let sealer = rsa_key(&dir);
    let zone = Zone::new()
        .dkim_record("s1", DOMAIN, &supplier)
        .dkim_record("arc", SEALER, &sealer)
        .spf(DOMAIN, "v=spf1 ip4:192.0.2.1 -all")
        .dmarc(DOMAIN, "v=DMARC1; p=reject");
    let mail = forwarded(&supplier, &sealer);

    // Trusted: the forwarder vouches for the DMARC pass it saw.
    let dns = DnsServer::start(&zone);
    let (_cfg, daemon) = start(
        &dns,
        "dmarc",
        &format!("trusted_arc_sealers = [\"{SEALER}\"]"),
    )
    .await;
    let reply = send(&daemon, FROM, &mail).await;
    assert!(reply.starts_with("250"), "{reply}");
    let (record, _) = stored(&daemon);
    let auth = record.auth.unwrap();
    assert_eq!(auth.proven_by, vec![Proof::Arc(SEALER.into())]);
    assert_eq!(auth.results.arc.result, Outcome::Pass);
    assert_ne!(
        auth.results.dkim[0].result,
        Outcome::Pass,
        "the footer broke DKIM"
    );

    // The same chain, from a sealer this gateway does not trust.
    let (_cfg, daemon) = start(&dns, "dmarc", "trusted_arc_sealers = [\"other.example\"]").await;
    let reply = send(&daemon, FROM, &mail).await;
    assert_refused(&reply, "550 5.7.26");
    assert!(daemon.spool.list().unwrap().is_empty());
}

#[tokio::test]
async fn via_trusts_the_platform_for_one_exact_address() {
    let dir = tempfile::tempdir().unwrap();
    let platform = rsa_key(&dir);
    let dns = DnsServer::start(&Zone::new().dkim_record("s1", "platform.example", &platform));
    let receiver = "auth = \"dmarc\"\n\n[[receiver.trusted_sender]]\nname = \"ERP customer\"\n\
                    contact = \"finance@erp-customer.example\"\naddress = \"invoices@erp-customer.example\"\n\
                    via = \"platform.example\"\n";
    let extra = format!(
        "\n[dns]\nnameservers = [\"{}\"]\ntimeout = \"1s\"\n",
        dns.addr()
    );
    let cfg = TestConfig::with_extras(&extra, receiver, "");
    let daemon = cfg.start().await;
    let mail = |from: &str| {
        dkim_sign(
            invoice_mail(from).as_bytes(),
            &platform,
            "platform.example",
            "s1",
        )
    };
    let reply = send(
        &daemon,
        "bounce-7@platform.example",
        &mail("invoices@erp-customer.example"),
    )
    .await;
    assert!(reply.starts_with("250"), "{reply}");
    assert_eq!(
        stored(&daemon).0.auth.unwrap().proven_by,
        vec![Proof::Via("platform.example".into())]
    );
    // The platform signs for everyone: another address of that domain is not the supplier.
    let reply = send(
        &daemon,
        "bounce-8@platform.example",
        &mail("ceo@erp-customer.example"),
    )
    .await;
    assert_refused(&reply, "550 5.7.1");
}

#[tokio::test]
async fn rcpt_refuses_an_envelope_that_can_never_pass_spf() {
    let dns = DnsServer::start(&Zone::new());
    let (_cfg, daemon) = start(&dns, "spf", "").await;
    // Under "spf" the envelope domain must align with a trusted sender: refused before DATA.
    let reply = send(&daemon, &format!("bounce@{ESP}"), b"").await;
    assert_refused(&reply, "550 5.7.1");
    assert!(reply.contains("envelope sender"), "{reply}");
}

#[tokio::test]
async fn spoofed_from_fields_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let attacker = rsa_key(&dir);
    let dns = DnsServer::start(
        &Zone::new()
            .dkim_record("s1", "attacker.example", &attacker)
            .spf("attacker.example", "v=spf1 ip4:127.0.0.1 -all")
            .spf(DOMAIN, "v=spf1 ip4:127.0.0.1 -all")
            .dmarc("attacker.example", "v=DMARC1; p=reject"),
    );
    let (_cfg, daemon) = start(&dns, "dmarc", "").await;
    let invoice = invoice_mail("evil@attacker.example");
    // "Composition Kills": the trusted address in the display name, an encoded word, a
    // second mailbox; each signed and SPF-aligned for the attacker's own domain.
    for from in [
        "\"billing@supplier.example\" <evil@attacker.example>",
        "=?utf-8?b?YmlsbGluZ0BzdXBwbGllci5leGFtcGxl?= <evil@attacker.example>",
        "billing@supplier.example, evil@attacker.example",
        "<billing@supplier.example>\r\nFrom: evil@attacker.example",
    ] {
        let mail = invoice.replacen(
            "From: Supplier <evil@attacker.example>",
            &format!("From: {from}"),
            1,
        );
        assert_ne!(mail, invoice);
        let signed = dkim_sign(mail.as_bytes(), &attacker, "attacker.example", "s1");
        let reply = send(&daemon, "evil@attacker.example", &signed).await;
        assert_refused(&reply, "550 5.7.1");
    }
    // SMTP-HARDENING 29: the envelope sender is the trusted supplier (and its SPF would
    // pass), the header From is the attacker's: the From is the identity judged.
    let signed = dkim_sign(invoice.as_bytes(), &attacker, "attacker.example", "s1");
    let reply = send(&daemon, FROM, &signed).await;
    assert_refused(&reply, "550 5.7.1");
    assert!(
        reply.contains("header From <evil@attacker.example>"),
        "{reply}"
    );
    // The trusted From written plainly, but proven only for the attacker's domain.
    let mail = invoice.replacen(
        "From: Supplier <evil@attacker.example>",
        "From: Supplier <billing@supplier.example>",
        1,
    );
    let signed = dkim_sign(mail.as_bytes(), &attacker, "attacker.example", "s1");
    let reply = send(&daemon, "evil@attacker.example", &signed).await;
    assert_refused(&reply, "550 5.7.26");
    assert!(daemon.spool.list().unwrap().is_empty());
}

#[tokio::test]
async fn a_forged_authentication_results_for_our_name_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let key = rsa_key(&dir);
    let dns = DnsServer::start(&Zone::new().dkim_record("s1", DOMAIN, &key));
    let (_cfg, daemon) = start(&dns, "dmarc", "").await;
    let forged = format!(
        "Authentication-Results: {HOSTNAME}; dmarc=pass header.from=other.example\r\n{}",
        invoice_mail(FROM)
    );
    let signed = dkim_sign(forged.as_bytes(), &key, DOMAIN, "s1");
    let reply = send(&daemon, FROM, &signed).await;
    assert!(reply.starts_with("250"), "{reply}");
    let (_, raw) = stored(&daemon);
    assert_eq!(
        raw.matches(&format!("Authentication-Results: {HOSTNAME};"))
            .count(),
        1,
        "{raw}"
    );
    assert!(!raw.contains("header.from=other.example"), "{raw}");
}

/// A notice goes only to the contact of a proven sender: a forged From (the supplier's
/// address, not signed, sent from the forger's own servers) carrying an invalid invoice is
/// refused for its authentication and the contact it names hears nothing. The same invalid
/// invoice signed by the supplier is refused for its content, and then the contact is told,
/// so the silence is the check's doing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_from_gets_no_notice_a_proven_one_does() {
    use common::peers::SmtpRelay;
    let dir = tempfile::tempdir().unwrap();
    let key = rsa_key(&dir);
    let dns = DnsServer::start(
        &Zone::new()
            .dkim_record("s1", DOMAIN, &key)
            .spf("forger.example", "v=spf1 ip4:127.0.0.1 -all")
            .spf(DOMAIN, "v=spf1 -all")
            .dmarc(DOMAIN, "v=DMARC1; p=reject"),
    );
    let relay = SmtpRelay::start();
    let server = format!(
        "\n[relay]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nmail_from = \"bounces@trust.example.test\"\n\n[notices]\nfrom = \"no-reply@trust.example.test\"\n",
        relay.addr.port()
    );
    // Goes where `[server]` keys would; tables may come in any order.
    let extra = format!(
        "\n[dns]\nnameservers = [\"{}\"]\ntimeout = \"1s\"\n{server}",
        dns.addr()
    );
    let cfg = TestConfig::with_extras(&extra, "auth = \"dmarc\"\n", "");
    let daemon = cfg.start().await;
    let xml = common::read_fixture("invoices/invalid/SI-UBL-2.0_BR-NL-1_error_wrong_scheme.xml");
    let invalid = common::mail(FROM, RECEIVER, &[("INV-NL1.xml", "application/xml", &xml)]);

    let reply = send(&daemon, "bounce@forger.example", invalid.as_bytes()).await;
    assert_refused(&reply, "550 5.7.26");
    // Time enough for a notice to reach the relay, had one been queued.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let forged = tokio::task::block_in_place(|| relay.wait_for(0, 1).len());
    assert_eq!(forged, 0, "no notice for a forged From");
    assert!(daemon.spool.list().unwrap().is_empty(), "nothing stored");

    let signed = dkim_sign(invalid.as_bytes(), &key, DOMAIN, "s1");
    let reply = send(&daemon, "bounce@forger.example", &signed).await;
    assert_refused(&reply, "550 5.6.0");
    let mails = tokio::task::block_in_place(|| relay.wait_for(1, 30));
    assert_eq!(mails.len(), 1, "the proven sender's contact is told");
    assert_eq!(
        mails[0].rcpt_to,
        vec!["billing@supplier.example".to_string()]
    );
    daemon.stop().await;
}
