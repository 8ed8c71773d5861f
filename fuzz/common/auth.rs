//! The auth fuzz target's body, shared with `tests/fuzz_regressions.rs` (included there with
//! `#[path]`), so the proptest equivalent and the regression inputs run the very same checks in
//! `cargo test`. See `fuzz/fuzz_targets/auth.rs` for what it covers and the input format.

use std::borrow::Borrow;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};

use mail_auth::common::headers::HeaderWriter;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::common::verify::DomainKey;
use mail_auth::dkim::{Atps, DomainKeyReport};
use mail_auth::dmarc::Dmarc;
use mail_auth::dmarc::verify::DmarcParameters;
use mail_auth::hickory_resolver::config::{ResolverConfig, ResolverOpts};
use mail_auth::hickory_resolver::proto::op::ResponseCode;
use mail_auth::spf::verify::SpfParameters;
use mail_auth::spf::{Macro, Spf};
use mail_auth::{
    AuthenticatedMessage, AuthenticationResults, DnsError, DnssecStatus, MX, MessageAuthenticator,
    Parameters, ReceivedSpf, RecordSet, ResolverCache, Txt,
};

/// The field whose values stand for the DNS TXT records of every name.
const TXT_FIELD: &[u8] = b"X-Fuzz-Txt";
/// The client address the SPF check is made for (TEST-NET-1).
const CLIENT_IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

struct Runtime {
    rt: tokio::runtime::Runtime,
    auth: MessageAuthenticator,
    /// `AUTH_FUZZ_DEBUG=1` prints the results of each input.
    debug: bool,
}

/// One runtime and one authenticator for the whole run. The resolver has no name server:
/// every answer comes from the caches below, and a name they missed would fail at once.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("tokio runtime");
        let auth = {
            let _guard = rt.enter();
            let mut opts = ResolverOpts::default();
            opts.attempts = 0;
            MessageAuthenticator::new(ResolverConfig::from_parts(None, vec![], vec![]), opts)
                .expect("resolver without name servers")
        };
        let debug = std::env::var_os("AUTH_FUZZ_DEBUG").is_some();
        Runtime { rt, auth, debug }
    })
}

/// Answers every TXT name from the message's `X-Fuzz-Txt` values, parsed as the record type the
/// name asks for (the verifiers unwrap the `Txt` variant they expect).
struct TxtAnswers<'a> {
    records: Vec<&'a [u8]>,
}

impl TxtAnswers<'_> {
    fn answer(&self, name: &str) -> Txt {
        fn first<T: TxtRecordParser + Into<Txt>>(records: &[&[u8]]) -> Txt {
            let mut last = Txt::Error(mail_auth::Error::Dns(DnsError::RecordNotFound(
                ResponseCode::NXDomain,
            )));
            for record in records {
                match T::parse(record) {
                    Ok(parsed) => return parsed.into(),
                    Err(err) => last = Txt::Error(err),
                }
            }
            last
        }
        let name = name.to_ascii_lowercase();
        if name.contains("._report._domainkey.") {
            first::<DomainKeyReport>(&self.records)
        } else if name.contains("._domainkey.") {
            first::<DomainKey>(&self.records)
        } else if name.contains("._atps.") {
            first::<Atps>(&self.records)
        } else if name.starts_with("_dmarc.") || name.contains("._dmarc.") {
            first::<Dmarc>(&self.records)
        } else {
            match first::<Spf>(&self.records) {
                Txt::Error(_) => first::<Macro>(&self.records),
                spf => spf,
            }
        }
    }
}

impl ResolverCache<Box<str>, Txt> for TxtAnswers<'_> {
    fn get<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        Some(self.answer(&key_text(name)))
    }
    fn remove<Q>(&self, name: &Q) -> Option<Txt>
    where
        Box<str>: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(name)
    }
    fn insert(&self, _: Box<str>, _: Txt, _: std::time::Instant) {}
}

/// The text of a cache key. The trait hands the key over only as `Hash + Eq` (it is `str` for
/// every lookup mail-auth makes), and `str` hashes by writing its bytes: record them.
fn key_text<Q: Hash + ?Sized>(name: &Q) -> String {
    #[derive(Default)]
    struct Recorder(Vec<u8>);
    impl std::hash::Hasher for Recorder {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.extend_from_slice(bytes);
        }
        // `str` ends its hash with a 0xff terminator: not part of the name.
        fn write_u8(&mut self, _: u8) {}
    }
    let mut recorder = Recorder::default();
    name.hash(&mut recorder);
    String::from_utf8_lossy(&recorder.0).into_owned()
}

/// Answers every name of one record type with the same records.
struct Fixed<V>(V);

impl<K, V: Clone> ResolverCache<K, V> for Fixed<V> {
    fn get<Q>(&self, _: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        Some(self.0.clone())
    }
    fn remove<Q>(&self, _: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        Some(self.0.clone())
    }
    fn insert(&self, _: K, _: V, _: std::time::Instant) {}
}

fn records<T>(items: Vec<T>) -> RecordSet<T> {
    RecordSet {
        rrset: Arc::from(items),
        dnssec_status: DnssecStatus::Indeterminate,
    }
}

/// A header written from untrusted values must stay one field: no CR or LF except CRLF
/// followed by folding white space, and no CRLF at its very end but the one closing it.
fn assert_one_field(header: &str) {
    let body = header.strip_suffix("\r\n").unwrap_or(header);
    let bytes = body.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\r' => assert!(
                bytes.get(i + 1) == Some(&b'\n') && matches!(bytes.get(i + 2), Some(b' ' | b'\t')),
                "bare CR or unfolded line in {header:?}"
            ),
            b'\n' => assert!(i > 0 && bytes[i - 1] == b'\r', "bare LF in {header:?}"),
            _ => {}
        }
    }
}

/// Walks what the parse hands out, the way `policy::auth` will: every value printable, the
/// ARC instance numbers in the range the chain is indexed by (1 to 50), the body within the
/// message.
fn walk(message: &AuthenticatedMessage<'_>) {
    for header in &message.dkim_headers {
        let _ = header.header.to_string();
    }
    for header in &message.ams_headers {
        // An ARC-Message-Signature without `i=` parses with `i == 0` (mail-auth checks the
        // range only where the tag is present): the chain check must not trust it.
        assert!(header.header.i <= 50, "{:?}", header.header);
    }
    for header in &message.as_headers {
        assert!((1..=50).contains(&header.header.i), "{:?}", header.header);
    }
    for header in &message.aar_headers {
        assert!((1..=50).contains(&header.header.i), "{:?}", header.header);
    }
    for header in &message.dkim2_signatures {
        let _ = header.header.to_string();
    }
    for header in &message.dkim2_instances {
        let _ = header.header.to_string();
    }
    for header in &message.errors {
        let _ = header.header.to_string();
    }
    for from in message.froms() {
        let _ = from.rsplit_once('@');
    }
    assert!(message.body_offset() <= message.raw_message().len());
    let _ = (message.raw_headers(), message.raw_body());
}

/// Runs one input through every parser and verifier; panics where a property fails. Returns
/// the Authentication-Results header written for a message (`None` for no message), so a test
/// can see that the seeds verify.
pub fn check(data: &[u8]) -> Option<String> {
    // trustgate's own readers of authentication input: the first ARC hop's results, and the
    // incoming Authentication-Results fields that claim our name (removed before storing).
    let hop = trustgate::gateway::authenticate::first_hop(data);
    assert!(hop.dkim.len() <= trustgate::gateway::authenticate::MAX_DKIM_SIGNATURES);
    let mut end = 0;
    for range in trustgate::intake::trace::own_auth_results(data, "mx.trustgate.test") {
        // Whole fields, in order, within the input.
        assert!(range.start >= end && range.start < range.end && range.end <= data.len());
        assert!(range.start == 0 || data[range.start - 1] == b'\n');
        end = range.end;
    }

    // Each parser alone, over the whole input.
    let _ = mail_auth::dkim::Signature::parse(data);
    let _ = mail_auth::arc::Signature::parse(data);
    let _ = mail_auth::arc::Seal::parse(data);
    let _ = mail_auth::arc::Results::parse(data);
    let _ = mail_auth::dkim2::Signature::parse(data);
    let _ = mail_auth::dkim2::MessageInstance::parse(data);
    // The DSN parser is mail-auth's one call of mail-parser's full parse on raw input, and
    // inherits its panics where debug assertions are on (see `intake::parse_message`): a
    // caller must run it under `catch_unwind`, as trustgate runs mail-parser.
    let _ = std::panic::catch_unwind(|| mail_auth::dkim2::Dkim2Dsn::parse(data).is_ok());
    let _ = Spf::parse(data);
    let _ = Macro::parse(data);
    let _ = Dmarc::parse(data);
    let _ = DomainKey::parse(data);
    let _ = Atps::parse(data);
    let _ = DomainKeyReport::parse(data);

    // The message as a whole, the way a receiver builds it: from the raw bytes, and from the
    // tree mail-parser already built (trustgate parses every message with it).
    if let Some(message) = AuthenticatedMessage::parse_with_opts(data, None, false) {
        walk(&message);
    }
    // mail-parser's quoted-printable decoder overflows where overflow checks are on (debug
    // builds: `cargo test`); trustgate parses under `catch_unwind` (`intake::parse_message`).
    let parsed = std::panic::catch_unwind(|| mail_parser::MessageParser::default().parse(data));
    if let Ok(Some(parsed)) = parsed {
        walk(&AuthenticatedMessage::from_parsed(&parsed, data, true));
    }
    let message = AuthenticatedMessage::parse(data)?;
    walk(&message);

    // The verifiers, with the DNS answered from the message.
    let txt = TxtAnswers {
        records: message
            .raw_parsed_headers()
            .iter()
            .filter(|(name, _)| name.trim_ascii().eq_ignore_ascii_case(TXT_FIELD))
            .map(|(_, value)| *value)
            .collect(),
    };
    for record in &txt.records {
        let _ = Spf::parse(record);
        let _ = Dmarc::parse(record);
        let _ = DomainKey::parse(record);
    }
    let mx = Fixed(records(vec![MX {
        exchanges: Box::new([Box::from("mx.example.com.")]),
        preference: 10,
    }]));
    let ipv4 = Fixed(records(vec![Ipv4Addr::new(192, 0, 2, 1)]));
    let ipv6 = Fixed(records(vec![Ipv6Addr::LOCALHOST]));
    let ptr = Fixed(records(vec![Box::<str>::from("mail.example.com.")]));
    macro_rules! with_caches {
        ($params:expr) => {
            Parameters::new($params)
                .with_txt_cache(&txt)
                .with_mx_cache(&mx)
                .with_ipv4_cache(&ipv4)
                .with_ipv6_cache(&ipv6)
                .with_ptr_cache(&ptr)
        };
    }
    let Runtime { rt, auth, debug } = runtime();
    let sender = message.from().to_string();
    let helo = "mail.example.com";
    rt.block_on(async {
        let dkim = auth.verify_dkim(with_caches!(&message)).await;
        let arc = auth.verify_arc(with_caches!(&message)).await;
        let spf = auth
            .verify_spf(with_caches!(SpfParameters::verify_mail_from(
                CLIENT_IP,
                helo,
                "mx.trustgate.test",
                &sender,
            )))
            .await;
        let mail_from_domain = sender.rsplit_once('@').map_or(helo, |(_, d)| d);
        let dmarc = auth
            .verify_dmarc(with_caches!(DmarcParameters {
                message: &message,
                dkim_output: &dkim,
                dkim2_output: None,
                rfc5321_mail_from_domain: mail_from_domain,
                spf_output: &spf,
            }))
            .await;
        let results = AuthenticationResults::new("mx.trustgate.test")
            .with_dkim_results(&dkim, message.from())
            .with_arc_result(&arc, CLIENT_IP)
            .with_spf_mailfrom_result(&spf, CLIENT_IP, &sender, helo)
            .with_dmarc_result(&dmarc);
        let header = results.to_header();
        if *debug {
            eprintln!("{header}");
        }
        assert_one_field(&header);
        let received = ReceivedSpf::new(&spf, CLIENT_IP, helo, &sender, "mx.trustgate.test");
        assert_one_field(&received.to_header());
        Some(header)
    })
}
