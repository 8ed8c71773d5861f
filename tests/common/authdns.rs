//! The harness for the SPF, DKIM, DMARC and ARC tests: a real authoritative DNS server on
//! loopback (`tests/support/dnsd.py`, serving a [`Zone`] over UDP and TCP), keys and signatures
//! made by an independent signer (dkimpy, through `tests/support/dkim_tool.py`), and a
//! mail-auth [`MessageAuthenticator`] that asks only that server.
//! Needs python3 with dnslib, dkimpy, authres, PyNaCl and cryptography (scripts/test.sh
//! installs them). These are test helpers: they panic with the tool's stderr on failure.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use mail_auth::MessageAuthenticator;

/// How long the resolver waits for one answer. Short, so the timeout test is quick; loopback
/// answers come in microseconds.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(1);

fn support(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/support")
        .join(file)
}

/// The records a [`DnsServer`] serves. Names are case-insensitive; a trailing dot is optional.
#[derive(Debug, Clone, Default)]
pub struct Zone {
    records: Vec<serde_json::Value>,
    timeout: Vec<String>,
    servfail: Vec<String>,
}

impl Zone {
    pub fn new() -> Zone {
        Zone::default()
    }

    /// Any record: `rtype` is A, AAAA, TXT, MX (`"10 mx.example"`), CNAME or PTR.
    pub fn record(mut self, name: &str, rtype: &str, value: &str) -> Zone {
        self.records
            .push(serde_json::json!({"name": name, "type": rtype, "value": value}));
        self
    }

    /// A TXT record; values over 255 bytes are split into character-strings by the server.
    pub fn txt(self, name: &str, value: &str) -> Zone {
        self.record(name, "TXT", value)
    }

    pub fn a(self, name: &str, ip: Ipv4Addr) -> Zone {
        self.record(name, "A", &ip.to_string())
    }

    pub fn aaaa(self, name: &str, ip: std::net::Ipv6Addr) -> Zone {
        self.record(name, "AAAA", &ip.to_string())
    }

    pub fn mx(self, name: &str, preference: u16, host: &str) -> Zone {
        self.record(name, "MX", &format!("{preference} {host}"))
    }

    pub fn cname(self, name: &str, target: &str) -> Zone {
        self.record(name, "CNAME", target)
    }

    pub fn ptr(self, name: &str, target: &str) -> Zone {
        self.record(name, "PTR", target)
    }

    /// The SPF record of `domain` (a TXT at the domain itself).
    pub fn spf(self, domain: &str, record: &str) -> Zone {
        self.txt(domain, record)
    }

    /// The public key of `key` at `selector._domainkey.domain`.
    pub fn dkim_record(self, selector: &str, domain: &str, key: &DkimKey) -> Zone {
        let name = format!("{selector}._domainkey.{domain}");
        self.txt(&name, &key.txt)
    }

    /// The DMARC record of `domain` (a TXT at `_dmarc.domain`).
    pub fn dmarc(self, domain: &str, record: &str) -> Zone {
        self.txt(&format!("_dmarc.{domain}"), record)
    }

    /// Every name at or under `suffix` goes unanswered: the client sees a DNS timeout.
    pub fn timeout(mut self, suffix: &str) -> Zone {
        self.timeout.push(suffix.to_string());
        self
    }

    /// Every name at or under `suffix` gets SERVFAIL.
    pub fn servfail(mut self, suffix: &str) -> Zone {
        self.servfail.push(suffix.to_string());
        self
    }

    pub fn to_json(&self) -> String {
        serde_json::json!({
            "records": self.records,
            "timeout": self.timeout,
            "servfail": self.servfail,
        })
        .to_string()
    }
}

/// `tests/support/dnsd.py` serving a zone on 127.0.0.1 (UDP and TCP, one port). Killed on drop;
/// it also exits by itself when this process dies, because its stdin (held here) closes.
pub struct DnsServer {
    child: Child,
    // Held only to keep the pipe open: the server exits when it closes.
    _stdin: ChildStdin,
    addr: SocketAddr,
    _zone_dir: tempfile::TempDir,
}

impl DnsServer {
    pub fn start(zone: &Zone) -> DnsServer {
        let dir = tempfile::tempdir().unwrap();
        let zone_path = dir.path().join("zone.json");
        std::fs::write(&zone_path, zone.to_json()).unwrap();
        let mut child = Command::new("python3")
            .arg(support("dnsd.py"))
            .arg(&zone_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 is needed for the DNS test server");
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let Ok(port) = line.trim().parse::<u16>() else {
            let _ = child.kill();
            let status = child.wait().unwrap();
            panic!("dnsd.py did not start ({status}); is dnslib installed? it printed {line:?}");
        };
        DnsServer {
            child,
            _stdin: stdin,
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            _zone_dir: dir,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The resolver settings for the test server: one name server, no /etc/hosts, a short timeout,
/// no retry, and no cache (each test has its own zone; a stale answer would only confuse).
pub fn resolver_parts(dns: SocketAddr) -> (ResolverConfig, ResolverOpts) {
    // ConnectionConfig::udp()/tcp() default to port 53: the port must be set on each.
    let mut udp = ConnectionConfig::udp();
    udp.port = dns.port();
    let mut tcp = ConnectionConfig::tcp();
    tcp.port = dns.port();
    let server = NameServerConfig::new(dns.ip(), true, vec![udp, tcp]);
    let config = ResolverConfig::from_parts(None, vec![], vec![server]);
    // ResolverOpts is #[non_exhaustive]: start from the default and set fields.
    let mut opts = ResolverOpts::default();
    opts.timeout = DNS_TIMEOUT;
    // `attempts` counts retries after the first try (RetryDnsHandle), so a lookup that times out
    // takes timeout × (attempts + 1). Within one try hickory already resends over UDP.
    opts.attempts = 0;
    opts.cache_size = 0;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.num_concurrent_reqs = 1;
    (config, opts)
}

/// A mail-auth authenticator that resolves through the test server at `dns` only.
pub fn authenticator(dns: SocketAddr) -> MessageAuthenticator {
    let (config, opts) = resolver_parts(dns);
    MessageAuthenticator::new(config, opts).expect("a resolver for the test DNS server")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Rsa,
    Ed25519,
}

impl KeyType {
    fn arg(self) -> &'static str {
        match self {
            KeyType::Rsa => "rsa",
            KeyType::Ed25519 => "ed25519",
        }
    }
}

/// A DKIM key made by dkimpy's side: the private key file and the DNS TXT value to publish.
#[derive(Debug, Clone)]
pub struct DkimKey {
    pub path: PathBuf,
    pub key_type: KeyType,
    /// `v=DKIM1; k=rsa; p=...` or `v=DKIM1; k=ed25519; p=...`.
    pub txt: String,
}

static KEY_SEQ: AtomicU64 = AtomicU64::new(0);

impl DkimKey {
    /// A fresh key (RSA 2048 or ed25519), stored in `dir`.
    pub fn generate(dir: &Path, key_type: KeyType) -> DkimKey {
        let n = KEY_SEQ.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("dkim-{}-{n}.key", key_type.arg()));
        let out = run_tool(
            &[
                "keygen",
                "--type",
                key_type.arg(),
                "--out",
                path.to_str().unwrap(),
            ],
            b"",
        );
        let txt = String::from_utf8(out).unwrap().trim().to_string();
        DkimKey {
            path,
            key_type,
            txt,
        }
    }
}

/// `msg` with a DKIM-Signature by dkimpy prepended (d=`domain`, s=`selector`, relaxed/simple,
/// signing from, to, subject, date and message-id).
pub fn dkim_sign(msg: &[u8], key: &DkimKey, domain: &str, selector: &str) -> Vec<u8> {
    run_tool(
        &[
            "sign",
            "--key",
            key.path.to_str().unwrap(),
            "--domain",
            domain,
            "--selector",
            selector,
            "--type",
            key.key_type.arg(),
        ],
        msg,
    )
}

/// `msg` with the next ARC set by dkimpy prepended. `msg` must carry an
/// `Authentication-Results: {srv_id}; ...` header. ARC is RSA only in dkimpy.
pub fn arc_seal(msg: &[u8], key: &DkimKey, domain: &str, selector: &str, srv_id: &str) -> Vec<u8> {
    assert_eq!(key.key_type, KeyType::Rsa, "dkimpy seals ARC with RSA only");
    run_tool(
        &[
            "arc-seal",
            "--key",
            key.path.to_str().unwrap(),
            "--domain",
            domain,
            "--selector",
            selector,
            "--srv-id",
            srv_id,
        ],
        msg,
    )
}

fn run_tool(args: &[&str], input: &[u8]) -> Vec<u8> {
    let mut child = Command::new("python3")
        .arg(support("dkim_tool.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for dkim_tool.py");
    // Written from a thread: a large message must not deadlock against a full stdout pipe.
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    assert!(
        out.status.success(),
        "dkim_tool.py {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The loopback address the tests' SPF records authorise (`ip4:127.0.0.1`).
pub const AUTHORISED_IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
