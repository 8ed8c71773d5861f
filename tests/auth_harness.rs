//! Proves the authentication test harness with mail-auth itself, before trustgate uses it: a
//! real DNS server on loopback serves SPF, DKIM and DMARC records, dkimpy signs and seals the
//! mail, and mail-auth (resolving through that server only) must reach the expected verdicts.
//! No trustgate code is involved; the lead's tests build on the same helpers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::IpAddr;

use common::authdns::{
    DkimKey, DnsServer, KeyType, Zone, arc_seal, authenticator, dkim_sign, resolver_parts,
};
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::{
    AuthenticatedMessage, DkimOutput, DkimResult, DmarcResult, MessageAuthenticator, SpfOutput,
    SpfResult,
};

const DOMAIN: &str = "supplier.test";
/// An ERP's mail platform, which signs and bounces for its customers under its own domain.
const PLATFORM: &str = "platform.test";
const HELO: &str = "mx.supplier.test";
const US: &str = "mx.trust.example.test";

fn invoice_mail(from_domain: &str) -> Vec<u8> {
    format!(
        "From: Billing <billing@{from_domain}>\r\n\
         To: ap@trust.example.test\r\n\
         Subject: Invoice 2024-001\r\n\
         Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n\
         Message-ID: <2024-001@{from_domain}>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         Please find the invoice attached.\r\n"
    )
    .into_bytes()
}

async fn dkim(auth: &MessageAuthenticator, raw: &[u8]) -> Vec<DkimResult> {
    let msg = AuthenticatedMessage::parse(raw).expect("a parsable message");
    auth.verify_dkim(&msg)
        .await
        .iter()
        .map(|o| o.result().clone())
        .collect()
}

async fn spf(auth: &MessageAuthenticator, ip: &str, sender: &str) -> SpfOutput {
    let ip: IpAddr = ip.parse().unwrap();
    auth.verify_spf(SpfParameters::verify_mail_from(ip, HELO, US, sender))
        .await
}

#[tokio::test]
async fn dkim_rsa_and_ed25519_signatures_verify_and_a_changed_body_fails() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = DkimKey::generate(dir.path(), KeyType::Rsa);
    let ed = DkimKey::generate(dir.path(), KeyType::Ed25519);
    let stranger = DkimKey::generate(dir.path(), KeyType::Rsa);
    assert!(rsa.txt.starts_with("v=DKIM1; k=rsa; p="), "{}", rsa.txt);
    // An RSA 2048 key does not fit one TXT character-string: the server must split it.
    assert!(rsa.txt.len() > 255);
    assert!(ed.txt.starts_with("v=DKIM1; k=ed25519; p="), "{}", ed.txt);
    let dns = DnsServer::start(
        &Zone::new()
            .dkim_record("rsa", DOMAIN, &rsa)
            .dkim_record("ed", DOMAIN, &ed),
    );
    let auth = authenticator(dns.addr());
    let mail = invoice_mail(DOMAIN);

    let signed = dkim_sign(&mail, &rsa, DOMAIN, "rsa");
    assert_eq!(dkim(&auth, &signed).await, [DkimResult::Pass]);

    let signed_ed = dkim_sign(&mail, &ed, DOMAIN, "ed");
    assert_eq!(dkim(&auth, &signed_ed).await, [DkimResult::Pass]);

    // Both signatures on one message: one result per signature.
    let both = dkim_sign(&signed, &ed, DOMAIN, "ed");
    assert_eq!(
        dkim(&auth, &both).await,
        [DkimResult::Pass, DkimResult::Pass]
    );

    // The body changed after signing (an IBAN swapped in transit).
    let mut tampered = signed.clone();
    let at = tampered.len() - 2;
    tampered.splice(at..at, b" IBAN NL00EVIL0123456789".iter().copied());
    let got = dkim(&auth, &tampered).await;
    println!("DKIM, body changed after signing: {got:?}");
    // mail-auth calls a body hash mismatch Neutral, not Fail: a policy must treat every
    // result but Pass as "not authenticated".
    assert!(
        matches!(
            got[..],
            [DkimResult::Neutral(mail_auth::Error::Dkim(
                mail_auth::dkim::DkimError::FailedBodyHashMatch
            ))]
        ),
        "{got:?}"
    );

    // Signed with a key that is not the one published under the selector.
    let wrong = dkim_sign(&mail, &stranger, DOMAIN, "rsa");
    let got = dkim(&auth, &wrong).await;
    println!("DKIM, signed with the wrong key: {got:?}");
    assert!(matches!(got[..], [DkimResult::Fail(_)]), "{got:?}");

    // A selector with no record at all.
    let unpublished = dkim_sign(&mail, &rsa, DOMAIN, "nokey");
    let got = dkim(&auth, &unpublished).await;
    println!("DKIM, selector without a record: {got:?}");
    assert!(matches!(got[..], [DkimResult::PermError(_)]), "{got:?}");

    // No signature at all: no results.
    assert_eq!(dkim(&auth, &mail).await, []);
}

#[tokio::test]
async fn spf_pass_fail_softfail_and_none() {
    let dns = DnsServer::start(
        &Zone::new()
            .spf(DOMAIN, "v=spf1 ip4:127.0.0.1 -all")
            .spf("soft.test", "v=spf1 ip4:127.0.0.1 ~all"),
    );
    let auth = authenticator(dns.addr());

    let pass = spf(&auth, "127.0.0.1", "billing@supplier.test").await;
    assert_eq!(pass.result(), SpfResult::Pass);
    // Names are case-insensitive.
    let pass = spf(&auth, "127.0.0.1", "billing@SUPPLIER.test").await;
    assert_eq!(pass.result(), SpfResult::Pass);
    let fail = spf(&auth, "127.0.0.2", "billing@supplier.test").await;
    assert_eq!(fail.result(), SpfResult::Fail);
    let soft = spf(&auth, "127.0.0.2", "billing@soft.test").await;
    assert_eq!(soft.result(), SpfResult::SoftFail);
    let none = spf(&auth, "127.0.0.1", "billing@norecords.test").await;
    println!("SPF for a domain without records: {none:?}");
    assert_eq!(none.result(), SpfResult::None);
}

#[tokio::test]
async fn dmarc_passes_aligned_and_reports_a_domain_without_records() {
    let dir = tempfile::tempdir().unwrap();
    let key = DkimKey::generate(dir.path(), KeyType::Rsa);
    let platform = DkimKey::generate(dir.path(), KeyType::Ed25519);
    let dns = DnsServer::start(
        &Zone::new()
            .spf(DOMAIN, "v=spf1 ip4:127.0.0.1 -all")
            .dkim_record("s1", DOMAIN, &key)
            .dmarc(DOMAIN, "v=DMARC1; p=reject")
            .spf(PLATFORM, "v=spf1 ip4:127.0.0.1 -all")
            .dkim_record("s1", PLATFORM, &platform),
    );
    let auth = authenticator(dns.addr());

    let signed = dkim_sign(&invoice_mail(DOMAIN), &key, DOMAIN, "s1");
    let msg = AuthenticatedMessage::parse(&signed).unwrap();
    let dkim_out: Vec<DkimOutput> = auth.verify_dkim(&msg).await;
    let spf_out = spf(&auth, "127.0.0.1", "billing@supplier.test").await;
    let dmarc = auth
        .verify_dmarc(DmarcParameters::new(&msg, &dkim_out, DOMAIN, &spf_out))
        .await;
    assert_eq!(dmarc.result(), DmarcResult::Pass);
    assert_eq!(dmarc.dkim_result(), &DmarcResult::Pass);
    assert_eq!(dmarc.spf_result(), &DmarcResult::Pass);
    assert_eq!(dmarc.domain(), DOMAIN);
    assert_eq!(dmarc.policy(), mail_auth::dmarc::Policy::Reject);

    // SPF from a wrong address, DKIM still aligned: DMARC still passes (either suffices).
    let spf_fail = spf(&auth, "127.0.0.2", "billing@supplier.test").await;
    let dmarc = auth
        .verify_dmarc(DmarcParameters::new(&msg, &dkim_out, DOMAIN, &spf_fail))
        .await;
    assert_eq!(dmarc.result(), DmarcResult::Pass);
    println!("DMARC with SPF failing, DKIM aligned: {dmarc:?}");
    // A failed SPF is no DMARC "fail" but None; Fail(NotAligned) means passed but not aligned.
    assert_eq!(dmarc.spf_result(), &DmarcResult::None);

    // The From is supplier.test, but DKIM (d=) and SPF (MAIL FROM) pass for the platform only:
    // nothing aligns, and p=reject applies.
    let platform_signed = dkim_sign(&invoice_mail(DOMAIN), &platform, PLATFORM, "s1");
    let msg = AuthenticatedMessage::parse(&platform_signed).unwrap();
    let dkim_out = auth.verify_dkim(&msg).await;
    assert_eq!(dkim_out[0].result(), &DkimResult::Pass);
    let spf_out = spf(&auth, "127.0.0.1", "bounce-42@platform.test").await;
    assert_eq!(spf_out.result(), SpfResult::Pass);
    let dmarc = auth
        .verify_dmarc(DmarcParameters::new(&msg, &dkim_out, PLATFORM, &spf_out))
        .await;
    println!("DMARC with DKIM and SPF passing for another domain: {dmarc:?}");
    assert!(matches!(
        dmarc.result(),
        DmarcResult::Fail(mail_auth::Error::NotAligned)
    ));
    assert!(matches!(
        dmarc.dkim_result(),
        DmarcResult::Fail(mail_auth::Error::NotAligned)
    ));
    assert!(matches!(
        dmarc.spf_result(),
        DmarcResult::Fail(mail_auth::Error::NotAligned)
    ));

    // A From domain with no records at all.
    let bare = invoice_mail("norecords.test");
    let msg = AuthenticatedMessage::parse(&bare).unwrap();
    let dkim_out = auth.verify_dkim(&msg).await;
    let spf_out = spf(&auth, "127.0.0.1", "billing@norecords.test").await;
    let dmarc = auth
        .verify_dmarc(DmarcParameters::new(
            &msg,
            &dkim_out,
            "norecords.test",
            &spf_out,
        ))
        .await;
    println!("DMARC for a domain without records: {dmarc:?}");
    assert_eq!(dmarc.result(), DmarcResult::None);
    assert!(dmarc.dmarc_record().is_none());
}

#[tokio::test]
async fn a_dns_timeout_is_a_temporary_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = DkimKey::generate(dir.path(), KeyType::Rsa);
    let dns = DnsServer::start(&Zone::new().timeout("slow.test").servfail("broken.test"));
    let auth = authenticator(dns.addr());
    let (_, opts) = resolver_parts(dns.addr());

    let started = std::time::Instant::now();
    let out = spf(&auth, "127.0.0.1", "billing@slow.test").await;
    println!(
        "SPF on a DNS timeout: {out:?} after {:?}",
        started.elapsed()
    );
    assert_eq!(out.result(), SpfResult::TempError);
    // One try of one timeout, not the 5 s × (1 + 2 retries) of hickory's defaults.
    assert!(
        started.elapsed() < opts.timeout * 2,
        "{:?}",
        started.elapsed()
    );

    let signed = dkim_sign(&invoice_mail("slow.test"), &key, "slow.test", "s1");
    let started = std::time::Instant::now();
    let got = dkim(&auth, &signed).await;
    println!(
        "DKIM on a DNS timeout: {got:?} after {:?}",
        started.elapsed()
    );
    assert!(matches!(got[..], [DkimResult::TempError(_)]), "{got:?}");

    let msg = AuthenticatedMessage::parse(&signed).unwrap();
    let spf_out = spf(&auth, "127.0.0.1", "billing@slow.test").await;
    let dkim_out = auth.verify_dkim(&msg).await;
    let dmarc = auth
        .verify_dmarc(DmarcParameters::new(&msg, &dkim_out, "slow.test", &spf_out))
        .await;
    println!("DMARC on a DNS timeout: {dmarc:?}");
    assert!(
        matches!(dmarc.result(), DmarcResult::TempError(_)),
        "{dmarc:?}"
    );

    let out = spf(&auth, "127.0.0.1", "billing@broken.test").await;
    println!("SPF on SERVFAIL: {out:?}");
    assert_eq!(out.result(), SpfResult::TempError);
}

#[tokio::test]
async fn a_valid_arc_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let supplier = DkimKey::generate(dir.path(), KeyType::Rsa);
    let sealer = DkimKey::generate(dir.path(), KeyType::Rsa);
    let dns = DnsServer::start(
        &Zone::new()
            .dkim_record("s1", DOMAIN, &supplier)
            .dkim_record("arc", "sealer.test", &sealer),
    );
    let auth = authenticator(dns.addr());

    // What a forwarder does: verify, record its verdict, seal, then (as forwarders do) change
    // the message so that the supplier's own signature no longer verifies.
    let signed = dkim_sign(&invoice_mail(DOMAIN), &supplier, DOMAIN, "s1");
    let mut with_ar = b"Authentication-Results: sealer.test; dkim=pass header.d=supplier.test; \
        spf=pass smtp.mailfrom=supplier.test; dmarc=pass header.from=supplier.test\r\n"
        .to_vec();
    with_ar.extend_from_slice(&signed);
    let sealed = arc_seal(&with_ar, &sealer, "sealer.test", "arc", "sealer.test");
    let msg = AuthenticatedMessage::parse(&sealed).unwrap();
    let arc = auth.verify_arc(&msg).await;
    println!("ARC, one set by sealer.test: {:?}", arc.result());
    assert_eq!(arc.result(), &DkimResult::Pass);
    let seals: Vec<&str> = arc
        .sets()
        .iter()
        .map(|s| s.seal.header.d.as_str())
        .collect();
    assert_eq!(seals, ["sealer.test"]);

    // The same chain with the sealed body altered: the chain no longer verifies.
    let mut broken = sealed.clone();
    let at = broken.len() - 2;
    broken.splice(at..at, b" changed".iter().copied());
    let msg = AuthenticatedMessage::parse(&broken).unwrap();
    let arc = auth.verify_arc(&msg).await;
    println!("ARC, body changed after sealing: {:?}", arc.result());
    assert!(
        matches!(
            arc.result(),
            DkimResult::Neutral(mail_auth::Error::Arc(
                mail_auth::arc::ArcError::FailedBodyHashMatch
            ))
        ),
        "{:?}",
        arc.result()
    );
}

#[tokio::test]
async fn an_answer_too_big_for_udp_comes_over_tcp() {
    // Larger than hickory's EDNS payload (1232): the server truncates the UDP answer (TC) and
    // the resolver must ask again over TCP. Large SPF or DKIM records (RSA 4096) do this.
    let big: String = (0..2000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let dns = DnsServer::start(&Zone::new().txt("big.supplier.test", &big));
    let auth = authenticator(dns.addr());
    let got = auth.txt_raw_lookup("big.supplier.test").await.unwrap();
    assert_eq!(String::from_utf8(got).unwrap(), big);
}
