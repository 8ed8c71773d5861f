//! Every default value and every allowed range of the config, in one place.
//!
//! [`super::validate`] applies them; `config/trustgate.toml` and `docs/config.md` document them
//! (`tests/config_check.rs` checks that the template's values are these defaults and that the
//! docs state the template's values). Nothing else may hard-code a default of a config key.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::ops::RangeInclusive;
use std::time::Duration;

use super::{BuyerCheck, DirectoryLayout, Language, LogFormat, RelayTls, SmtpMode, WebhookPayload};

/// 1 KiB in bytes.
pub const KIB: u64 = 1024;
/// 1 MiB in bytes.
pub const MIB: u64 = 1024 * KIB;
/// 1 GiB in bytes.
pub const GIB: u64 = 1024 * MIB;

/// A day in seconds.
const DAY: u64 = 24 * 60 * 60;
/// A year in seconds, as humantime counts one (365.25 days), so `"10y"` is the largest
/// `spool.retention`.
const YEAR: u64 = 31_557_600;

/// `server.max_message_size`: 35 MiB, what large mail providers accept, room for PDFs.
pub const MAX_MESSAGE_SIZE: u64 = 35 * MIB;
/// A message must be at least 1 byte and at most 1 GiB (intake parses a whole message at once).
pub const MAX_MESSAGE_SIZE_RANGE: RangeInclusive<u64> = 1..=GIB;

/// `server.receiver_address_length`: 8 characters of a 31-symbol alphabet, about 40 bits, so
/// an address cannot be guessed by trying, yet a clerk can still type it.
pub const RECEIVER_ADDRESS_LENGTH: usize = 8;
/// Allowed `server.receiver_address_length`: at least 7 (issue 11: "at least 7 characters"),
/// at most 32 (a local part may hold 64 octets, RFC 5321 4.5.3.1.1).
pub const RECEIVER_ADDRESS_LENGTH_RANGE: RangeInclusive<usize> = 7..=32;

/// `receiver.trusted_sender.language`: the platform's home language.
pub const LANGUAGE: Language = Language::Nl;

/// `server.max_recipients`: RFC 5321 4.5.3.1.8 asks a server to buffer at least 100.
pub const MAX_RECIPIENTS: usize = 100;
/// Allowed `server.max_recipients`: the RFC minimum up to 10000.
pub const MAX_RECIPIENTS_RANGE: RangeInclusive<usize> = 100..=10_000;

/// `server.max_line_length`: RFC 5321 4.5.3.1.4, 512 octets including CRLF.
pub const MAX_LINE_LENGTH: usize = 512;
/// Allowed `server.max_line_length`: the RFC minimum up to 4096 (what the SMTP parser allows).
pub const MAX_LINE_LENGTH_RANGE: RangeInclusive<usize> = 512..=4096;

/// `server.max_connections`.
pub const MAX_CONNECTIONS: usize = 4000;
/// Allowed `server.max_connections`.
pub const MAX_CONNECTIONS_RANGE: RangeInclusive<usize> = 1..=1_000_000;

/// `server.max_connections_per_ip`.
pub const MAX_CONNECTIONS_PER_IP: usize = 50;
/// Allowed `server.max_connections_per_ip` (also at most `max_connections`).
pub const MAX_CONNECTIONS_PER_IP_RANGE: RangeInclusive<usize> = 1..=1_000_000;

/// `server.max_messages_per_session`.
pub const MAX_MESSAGES_PER_SESSION: usize = 100;
/// Allowed `server.max_messages_per_session`.
pub const MAX_MESSAGES_PER_SESSION_RANGE: RangeInclusive<usize> = 1..=10_000;

/// `server.max_errors`.
pub const MAX_ERRORS: usize = 10;
/// Allowed `server.max_errors`.
pub const MAX_ERRORS_RANGE: RangeInclusive<usize> = 1..=1000;

/// `server.command_timeout`: RFC 5321 4.5.3.2.7 suggests at least 5 minutes.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// Allowed `server.command_timeout`.
pub const COMMAND_TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(60 * 60);

/// `server.data_timeout`: RFC 5321 4.5.3.2.5, 3 minutes between chunks of DATA.
pub const DATA_TIMEOUT: Duration = Duration::from_secs(3 * 60);
/// Allowed `server.data_timeout`.
pub const DATA_TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(60 * 60);

/// `server.session_timeout`.
pub const SESSION_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Allowed `server.session_timeout`.
pub const SESSION_TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(24 * 60 * 60);

/// `server.shutdown_timeout`: how long SIGTERM waits for DATA in progress and deliveries in
/// flight. 30 seconds lets a large message finish arriving and a webhook answer (a sink's own
/// `timeout` is 30 s too), and stays well inside systemd's default stop timeout of 90 s.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);
/// Allowed `server.shutdown_timeout`: at least a second, so a message being committed is
/// never cut off; at most 10 minutes, so a stop or restart is never held up for long.
pub const SHUTDOWN_TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(10 * 60);

/// `spool.large_body_threshold`.
pub const LARGE_BODY_THRESHOLD: u64 = MIB;
/// Allowed `spool.large_body_threshold` (0 puts every body in its own file).
pub const LARGE_BODY_THRESHOLD_RANGE: RangeInclusive<u64> = 0..=64 * MIB;

/// `spool.min_free_space`.
pub const MIN_FREE_SPACE: u64 = 100 * MIB;
/// Allowed `spool.min_free_space`: any size (0 keeps no reserve).
pub const MIN_FREE_SPACE_RANGE: RangeInclusive<u64> = 0..=u64::MAX;

/// `spool.retention`: how long a message's record, raw message and documents are kept after
/// its last delivery or its refusal, then purged. 90 days covers a quarter's disputes and the
/// ERP's reconciliation; the invoices themselves are archived by their receiver, not by the
/// gateway.
pub const RETENTION: Duration = Duration::from_secs(90 * DAY);
/// Allowed `spool.retention`: a minute (for tests and benchmarks, which must see the purge
/// at work; under a day is warned about, since a message could be purged while someone looks
/// at it) to 10 years (longer than any bookkeeping law asks of a mail gateway).
pub const RETENTION_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(60)..=Duration::from_secs(10 * YEAR);
/// A `spool.retention` below this is valid but warned about.
pub const RETENTION_WARN_BELOW: Duration = Duration::from_secs(DAY);

/// `spool.cache_size`: redb's page cache, instead of redb's default of 1 GiB. The spool's reads
/// are index lookups whose pages stay hot; bodies and documents are written once and read back
/// at most once, so a larger cache only holds pages that are not read again.
pub const SPOOL_CACHE_SIZE: u64 = 64 * MIB;
/// Allowed `spool.cache_size`.
pub const SPOOL_CACHE_SIZE_RANGE: RangeInclusive<u64> = MIB..=64 * GIB;

/// Largest TLS certificate or key file read by the check (PEM files are a few KiB).
pub const MAX_TLS_FILE_SIZE: u64 = MIB;

/// `receiver.buyer_check`: refuse a buyer that clearly names another organisation.
pub const BUYER_CHECK: BuyerCheck = BuyerCheck::Strict;
/// `receiver.require_pdf`: a document without a PDF visual is accepted.
pub const REQUIRE_PDF: bool = false;
/// `receiver.warnings = "pass"`: only fatal rule findings refuse a document.
pub const REFUSE_WARNINGS: bool = false;
/// `receiver.partial = "refuse"`: one failing invoice refuses the whole message, so the
/// supplier resends a corrected one.
pub const ACCEPT_PARTIAL: bool = false;
/// `receiver.duplicates = "accept"`: a duplicate is accepted, marked and not delivered again.
pub const REFUSE_DUPLICATES: bool = false;

/// `delivery.initial_backoff`: the first retry a minute after a failed attempt.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(60);
/// Allowed `delivery.initial_backoff` (also at most `max_backoff` and `max_age`).
pub const INITIAL_BACKOFF_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(24 * 60 * 60);

/// `delivery.max_backoff`: at most 4 hours between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(4 * 60 * 60);
/// Allowed `delivery.max_backoff`.
pub const MAX_BACKOFF_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(24 * 60 * 60);

/// `delivery.max_age`: 5 days of retries, then dead-letter, as MTAs bounce.
pub const MAX_AGE: Duration = Duration::from_secs(5 * 24 * 60 * 60);
/// Allowed `delivery.max_age`.
pub const MAX_AGE_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(30 * 24 * 60 * 60);

/// `delivery.workers`: delivery attempts running at once, across all sinks.
pub const WORKERS: usize = 4;
/// Allowed `delivery.workers`.
pub const WORKERS_RANGE: RangeInclusive<usize> = 1..=256;

/// `relay.port`: the submission port (RFC 6409).
pub const RELAY_PORT: u16 = 587;
/// Allowed `relay.port`.
pub const RELAY_PORT_RANGE: RangeInclusive<usize> = 1..=65535;

/// `relay.tls`: STARTTLS, required to succeed.
pub const RELAY_TLS: RelayTls = RelayTls::StartTls;

/// `relay.timeout`.
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(30);
/// Allowed `relay.timeout`.
pub const RELAY_TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(60 * 60);

/// `sink.concurrency`: attempts to one sink running at once.
pub const SINK_CONCURRENCY: usize = 4;
/// Allowed `sink.concurrency`.
pub const SINK_CONCURRENCY_RANGE: RangeInclusive<usize> = 1..=256;

/// `sink.timeout`: the limit on one attempt.
pub const SINK_TIMEOUT: Duration = Duration::from_secs(30);
/// Allowed `sink.timeout`.
pub const SINK_TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(60 * 60);

/// `sink.payload` of a webhook sink.
pub const WEBHOOK_PAYLOAD: WebhookPayload = WebhookPayload::Json;
/// `sink.layout` of a directory sink.
pub const DIRECTORY_LAYOUT: DirectoryLayout = DirectoryLayout::Flat;
/// `sink.mode` of an smtp sink.
pub const SMTP_MODE: SmtpMode = SmtpMode::Document;

/// Largest `secret_file` or `relay.password_file` read (a key or password is a few bytes).
pub const MAX_SECRET_FILE_SIZE: u64 = 64 * KIB;

/// The fixed values of `receiver.accept_specifications`: every
/// `crate::invoice::Specification::id()` except the versioned XRechnung ones, plus the families
/// `xrechnung` (every version) and `zugferd-1` (every profile). `xrechnung-X.Y` and
/// `xrechnung-X.Y-extension` are allowed besides these.
pub const SPECIFICATIONS: &[&str] = &[
    "en16931",
    "peppol-bis-3",
    "peppol-self-billing-3",
    "si-ubl-2.0",
    "si-ubl-2.0-gaccount",
    "xrechnung",
    "factur-x-minimum",
    "factur-x-basic-wl",
    "factur-x-basic",
    "factur-x-extended",
    "zugferd-1",
    "zugferd-1-basic",
    "zugferd-1-comfort",
    "zugferd-1-extended",
    "ubl-2.0",
    "other",
    "none",
];

// ---- [limits]: what one message may cost to take apart (docs/security.md) ----

/// `limits.max_header_bytes`. Largest header block of any one MIME part (the message's own included), in bytes.
pub const MAX_HEADER_BYTES: u64 = 256 * KIB;
/// Allowed `limits.max_header_bytes`.
pub const MAX_HEADER_BYTES_RANGE: RangeInclusive<u64> = KIB..=16 * MIB;

/// `limits.max_header_fields`. Most header fields in the header block of any one MIME part.
pub const MAX_HEADER_FIELDS: usize = 1_000;
/// Allowed `limits.max_header_fields`.
pub const MAX_HEADER_FIELDS_RANGE: RangeInclusive<usize> = 10..=100_000;

/// `limits.max_total_header_bytes`. Most bytes in all header blocks of a message together, nested messages included.
pub const MAX_TOTAL_HEADER_BYTES: u64 = MIB;
/// Allowed `limits.max_total_header_bytes`.
pub const MAX_TOTAL_HEADER_BYTES_RANGE: RangeInclusive<u64> = KIB..=256 * MIB;

/// `limits.max_total_header_fields`. Most header fields in all header blocks of a message together.
pub const MAX_TOTAL_HEADER_FIELDS: usize = 10_000;
/// Allowed `limits.max_total_header_fields`.
pub const MAX_TOTAL_HEADER_FIELDS_RANGE: RangeInclusive<usize> = 10..=1_000_000;

/// `limits.max_mime_parts`. Most MIME parts in a message, nested messages included.
pub const MAX_MIME_PARTS: usize = 1_000;
/// Allowed `limits.max_mime_parts`.
pub const MAX_MIME_PARTS_RANGE: RangeInclusive<usize> = 1..=100_000;

/// `limits.max_mime_depth`. Deepest multipart/message nesting.
pub const MAX_MIME_DEPTH: usize = 32;
/// Allowed `limits.max_mime_depth`.
pub const MAX_MIME_DEPTH_RANGE: RangeInclusive<usize> = 1..=256;

/// `limits.max_nested_messages`. Most nested messages (message/rfc822, message/global, digest entries).
pub const MAX_NESTED_MESSAGES: usize = 64;
/// Allowed `limits.max_nested_messages`.
pub const MAX_NESTED_MESSAGES_RANGE: RangeInclusive<usize> = 0..=10_000;

/// `limits.max_pdf_bytes`. Largest PDF searched for an embedded invoice XML.
pub const MAX_PDF_BYTES: u64 = 64 * MIB;
/// Allowed `limits.max_pdf_bytes`.
pub const MAX_PDF_BYTES_RANGE: RangeInclusive<u64> = KIB..=GIB;

/// `limits.max_pdf_objects`. Most objects one PDF may hold, counted as the PDF reader holds them (object streams included).
pub const MAX_PDF_OBJECTS: usize = 200_000;
/// Allowed `limits.max_pdf_objects`.
pub const MAX_PDF_OBJECTS_RANGE: RangeInclusive<usize> = 100..=10_000_000;

/// `limits.max_pdf_values`. Most values parsed from the objects the search for an embedded invoice reads.
pub const MAX_PDF_VALUES: usize = 100_000;
/// Allowed `limits.max_pdf_values`.
pub const MAX_PDF_VALUES_RANGE: RangeInclusive<usize> = 100..=10_000_000;

/// `limits.max_pdf_stream_bytes`. Largest size any one PDF stream may decompress to (the embedded XML included).
pub const MAX_PDF_STREAM_BYTES: u64 = 16 * MIB;
/// Allowed `limits.max_pdf_stream_bytes`.
pub const MAX_PDF_STREAM_BYTES_RANGE: RangeInclusive<u64> = KIB..=GIB;

/// `limits.max_pdf_decompressed_bytes`. Most bytes one PDF may decompress in total (every stream the search reads).
pub const MAX_PDF_DECOMPRESSED_BYTES: u64 = 32 * MIB;
/// Allowed `limits.max_pdf_decompressed_bytes`.
pub const MAX_PDF_DECOMPRESSED_BYTES_RANGE: RangeInclusive<u64> = KIB..=4 * GIB;

/// `limits.max_pdf_embedded_files`. Most name-tree nodes and file specifications visited in one PDF.
pub const MAX_PDF_EMBEDDED_FILES: usize = 1_000;
/// Allowed `limits.max_pdf_embedded_files`.
pub const MAX_PDF_EMBEDDED_FILES_RANGE: RangeInclusive<usize> = 1..=100_000;

/// `limits.max_pdf_expansion`. Most bytes one PDF may decompress, as a multiple of its own size (at least 1 MiB), within max_pdf_decompressed_bytes: a small PDF cannot cost the whole budget.
pub const MAX_PDF_EXPANSION: usize = 100;
/// Allowed `limits.max_pdf_expansion`.
pub const MAX_PDF_EXPANSION_RANGE: RangeInclusive<usize> = 1..=100_000;

/// `limits.max_parallel_inspections`. Most messages taken apart (MIME, PDF, XML) at once; more wait at end of data. Inspection is CPU work, so more than a few per core only adds memory. 0: twice the number of cores.
pub const MAX_PARALLEL_INSPECTIONS: usize = 0;
/// Allowed `limits.max_parallel_inspections`.
pub const MAX_PARALLEL_INSPECTIONS_RANGE: RangeInclusive<usize> = 0..=4096;

/// `server.max_connections_per_minute`. Connections one IP address may open per minute.
pub const MAX_CONNECTIONS_PER_MINUTE: u32 = 120;
/// Allowed `server.max_connections_per_minute`.
pub const MAX_CONNECTIONS_PER_MINUTE_RANGE: RangeInclusive<usize> = 0..=100_000;

/// `server.max_connections_per_minute_per_network`. Connections one network may open per minute.
pub const MAX_CONNECTIONS_PER_MINUTE_PER_NETWORK: u32 = 600;
/// Allowed `server.max_connections_per_minute_per_network`.
pub const MAX_CONNECTIONS_PER_MINUTE_PER_NETWORK_RANGE: RangeInclusive<usize> = 0..=1_000_000;

/// `server.max_messages_per_minute`. Messages one IP address may start per minute.
pub const MAX_MESSAGES_PER_MINUTE: u32 = 300;
/// Allowed `server.max_messages_per_minute`.
pub const MAX_MESSAGES_PER_MINUTE_RANGE: RangeInclusive<usize> = 0..=1_000_000;

/// `server.max_messages_per_minute_per_network`. Messages one network may start per minute.
pub const MAX_MESSAGES_PER_MINUTE_PER_NETWORK: u32 = 1200;
/// Allowed `server.max_messages_per_minute_per_network`.
pub const MAX_MESSAGES_PER_MINUTE_PER_NETWORK_RANGE: RangeInclusive<usize> = 0..=10_000_000;

/// `receiver.auth = "dmarc"`: a trusted sender's mail must pass DMARC (SPF or DKIM aligned
/// with the From domain), whatever policy the domain publishes.
pub const AUTH: super::AuthPolicy = super::AuthPolicy::Dmarc;

/// `notices.rate_per_hour`. Notices one contact gets per hour: an ERP that sends a broken
/// invoice every minute must not fill its accountant's mailbox.
pub const NOTICES_RATE_PER_HOUR: u32 = 10;
/// Allowed `notices.rate_per_hour`.
pub const NOTICES_RATE_PER_HOUR_RANGE: RangeInclusive<usize> = 1..=10_000;

/// `notices.rate_window`. The window `rate_per_hour` counts over: an hour, as its name says.
/// Shorter only to test the digest without waiting an hour.
pub const NOTICES_RATE_WINDOW: Duration = Duration::from_secs(3600);
/// Allowed `notices.rate_window`: never longer than the hour the cap is named after.
pub const NOTICES_RATE_WINDOW_RANGE: RangeInclusive<Duration> =
    Duration::from_secs(1)..=Duration::from_secs(3600);

/// `dns.timeout`. One DNS query; a slower answer counts as a temporary failure (451), so the
/// sender retries rather than being refused for our resolver's trouble.
pub const DNS_TIMEOUT: Duration = Duration::from_secs(5);
/// Allowed `dns.timeout`.
pub const DNS_TIMEOUT_RANGE: RangeInclusive<Duration> =
    Duration::from_millis(100)..=Duration::from_secs(60);

/// `dns.cache_size`. DNS answers kept: suppliers are few and send often, so their SPF, DKIM
/// and DMARC records are mostly answered from memory.
pub const DNS_CACHE_SIZE: usize = 4096;
/// Allowed `dns.cache_size`.
pub const DNS_CACHE_SIZE_RANGE: RangeInclusive<usize> = 0..=1_000_000;

// ---- [limits]: one invoice XML, as the inspector reads it ----

/// `limits.max_xml_bytes`. Largest invoice XML inspected: as large as the largest PDF searched,
/// since an XML may embed its PDF visual in base64.
pub const MAX_XML_BYTES: u64 = 64 * MIB;
/// Allowed `limits.max_xml_bytes`.
pub const MAX_XML_BYTES_RANGE: RangeInclusive<u64> = KIB..=GIB;

/// `limits.max_xml_depth`. Deepest element nesting of an invoice XML (the root is depth 1):
/// real invoices nest about 10 deep; 64 leaves room for extensions and signatures.
pub const MAX_XML_DEPTH: usize = 64;
/// Allowed `limits.max_xml_depth`: below 16 some real invoices would be refused.
pub const MAX_XML_DEPTH_RANGE: RangeInclusive<usize> = 16..=4096;

/// `limits.max_xml_elements`. Most elements in one invoice XML: an invoice of 10,000 lines has
/// a few hundred thousand.
pub const MAX_XML_ELEMENTS: usize = 2_000_000;
/// Allowed `limits.max_xml_elements`.
pub const MAX_XML_ELEMENTS_RANGE: RangeInclusive<usize> = 1_000..=100_000_000;

/// `limits.max_xml_text_bytes`. Longest text kept from one element other than an embedded
/// binary object; longer text is cut, not refused (identifiers and codes are short; only
/// attachments are large).
pub const MAX_XML_TEXT_BYTES: u64 = 64 * KIB;
/// Allowed `limits.max_xml_text_bytes`.
pub const MAX_XML_TEXT_BYTES_RANGE: RangeInclusive<u64> = KIB..=16 * MIB;

// ---- [admin] and [log] ----

/// `admin.listen`: this host only, so no API key or invoice crosses a network in the clear;
/// port 8025 is SMTP's 25 in the 8000s, clear of the common web ports.
pub const ADMIN_LISTEN: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8025));

/// `log.format`: lines for people (`journalctl`); `json` is for log shippers.
pub const LOG_FORMAT: LogFormat = LogFormat::Text;
