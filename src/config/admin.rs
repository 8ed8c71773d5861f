//! `[admin]`: the admin HTTP API (status, spool, the ERP pull API, metrics).
//!
//! The validated [`Admin`] and the check that builds it from [`raw::Admin`], called by
//! [`super::validate`]. The table absent means no HTTP API at all. The API takes bearer keys
//! and serves invoices, so it listens on loopback unless it has TLS: a `listen` elsewhere
//! without `tls_cert` and `tls_key` is a config error, not a warning.

use std::net::SocketAddr;

use super::defaults;
use super::raw;
use super::server::Tls;
use super::validate::Validator;

/// `[admin]`: where the admin HTTP API listens, and with which TLS files.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The address the API listens on: a loopback address unless `tls` is set.
    pub listen: SocketAddr,
    /// The certificate chain and key of HTTPS (`tls_cert`, `tls_key`); `None`: plain HTTP,
    /// which the check allows on loopback only.
    pub tls: Option<Tls>,
}

impl Default for Admin {
    /// The values of an `[admin]` table without keys (see [`defaults`]).
    fn default() -> Admin {
        Admin {
            listen: defaults::ADMIN_LISTEN,
            tls: None,
        }
    }
}

impl Validator<'_> {
    /// `[admin]`. `smtp` is every address the SMTP listener takes (`listen` and `listen_tls`),
    /// which the API may not take too.
    pub(super) fn admin(&mut self, raw: &raw::Admin, smtp: &[SocketAddr]) -> Admin {
        let mut admin = Admin::default();
        if let Some(value) = &raw.listen {
            let written = value.get_ref().trim();
            match written.parse::<SocketAddr>() {
                // Port 0 (any free port, for tests) never clashes.
                Ok(addr) if addr.port() != 0 && smtp.contains(&addr) => self.error(
                    value,
                    format!("admin.listen \"{addr}\" is also an SMTP listen address of [server]; give the API its own port, e.g. listen = \"127.0.0.1:8025\""),
                ),
                Ok(addr) => admin.listen = addr,
                Err(_) => self.error(
                    value,
                    format!("admin.listen \"{written}\" is not IP:PORT; write e.g. listen = \"127.0.0.1:8025\" (host names are not resolved)"),
                ),
            }
        }
        admin.tls = match (&raw.tls_cert, &raw.tls_key) {
            (Some(cert), Some(key)) => {
                Some(self.tls_files(cert, key, "admin.tls_cert", "admin.tls_key"))
            }
            (Some(cert), None) => {
                self.error(cert, "admin sets tls_cert but not tls_key; set both to serve the API over HTTPS, or neither to serve it on loopback only".into());
                None
            }
            (None, Some(key)) => {
                self.error(key, "admin sets tls_key but not tls_cert; set both to serve the API over HTTPS, or neither to serve it on loopback only".into());
                None
            }
            (None, None) => None,
        };
        // API keys and invoices never cross a network in the clear. (When only one of the TLS
        // files is set, that is the error to fix.)
        if !admin.listen.ip().is_loopback()
            && raw.tls_cert.is_none()
            && raw.tls_key.is_none()
            && let Some(value) = &raw.listen
        {
            self.error(
                value,
                format!("admin.listen \"{}\" is not a loopback address, so API keys and invoices would cross the network in the clear; add tls_cert and tls_key, or listen on 127.0.0.1 (listen = \"127.0.0.1:8025\")", admin.listen),
            );
        }
        admin
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::validate::testing::*;
    use crate::config::validate::{Options, load_str};

    #[test]
    fn absent_is_no_api_and_an_empty_table_is_loopback_8025() {
        assert!(valid(HEAD).admin.is_none());
        let admin = valid(&format!("{HEAD}[admin]\n")).admin.unwrap();
        assert_eq!(admin.listen, "127.0.0.1:8025".parse().unwrap());
        assert!(admin.tls.is_none());
        for listen in ["[::1]:9000", "127.0.0.2:80", "127.0.0.1:0"] {
            let c = valid(&format!("{HEAD}[admin]\nlisten = \"{listen}\"\n"));
            assert_eq!(c.admin.unwrap().listen, listen.parse().unwrap());
        }
    }

    #[test]
    fn off_loopback_needs_tls() {
        for listen in ["0.0.0.0:8025", "[::]:8025", "192.0.2.7:443"] {
            let text = format!("{HEAD}[admin]\nlisten = \"{listen}\"\n");
            assert_eq!(
                errors(&text),
                [format!(
                    "t.toml:7:10: admin.listen \"{}\" is not a loopback address, so API keys and invoices would cross the network in the clear; add tls_cert and tls_key, or listen on 127.0.0.1 (listen = \"127.0.0.1:8025\")",
                    listen.parse::<SocketAddr>().unwrap()
                )],
            );
        }
        // With both files it may listen anywhere; they are paths from the config's directory.
        let text = format!(
            "{HEAD}[admin]\nlisten = \"0.0.0.0:8443\"\ntls_cert = \"api.pem\"\ntls_key = \"/etc/trustgate/api.key\"\n"
        );
        let admin = valid(&text).admin.unwrap();
        let tls = admin.tls.unwrap();
        assert!(tls.certificate.is_absolute() && tls.certificate.ends_with("api.pem"));
        assert_eq!(tls.key, Path::new("/etc/trustgate/api.key"));
    }

    #[test]
    fn mistakes_are_located() {
        let text = format!("{HEAD}[admin]\nlisten = \"localhost:8025\"\ntls_cert = \"c.pem\"\n");
        assert_eq!(
            errors(&text),
            [
                "t.toml:7:10: admin.listen \"localhost:8025\" is not IP:PORT; write e.g. listen = \"127.0.0.1:8025\" (host names are not resolved)",
                "t.toml:8:12: admin sets tls_cert but not tls_key; set both to serve the API over HTTPS, or neither to serve it on loopback only",
            ]
        );
        let text = format!("{HEAD}[admin]\ntls_key = \"k.pem\"\n");
        assert_one(&text, "7:11", "admin sets tls_key but not tls_cert");
        // Not an address SMTP listens on.
        let text = format!("{HEAD}[admin]\nlisten = \"127.0.0.1:2525\"\n");
        assert_one(
            &text,
            "7:10",
            "admin.listen \"127.0.0.1:2525\" is also an SMTP listen address of [server]",
        );
        let text = format!("{HEAD}[admin]\nlisten = \"\"\n");
        assert_one(&text, "7:10", "admin.listen \"\" is not IP:PORT");
        let text = format!("{HEAD}[admin]\nport = 8025\n");
        assert_one(
            &text,
            "7:1",
            "unknown key `port` in [admin]; remove it, the keys here are `listen`, `tls_cert`, `tls_key`",
        );
    }

    #[test]
    fn tls_files_are_checked_like_the_smtp_ones() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("trustgate.toml");
        let ck =
            rcgen::generate_simple_self_signed(vec!["mx.trust.example.test".to_string()]).unwrap();
        std::fs::write(dir.path().join("cert.pem"), ck.cert.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), ck.signing_key.serialize_pem()).unwrap();
        let options = Options {
            check_spool_writable: false,
            check_tls_files: true,
        };
        let with = |cert: &str, key: &str| {
            let text = format!(
                "{HEAD}[admin]\nlisten = \"0.0.0.0:8443\"\ntls_cert = \"{cert}\"\ntls_key = \"{key}\"\n"
            );
            load_str(&text, &cfg, &options)
        };
        let tls = with("cert.pem", "key.pem")
            .unwrap()
            .admin
            .unwrap()
            .tls
            .unwrap();
        assert!(tls.certificate.ends_with("cert.pem") && tls.key.ends_with("key.pem"));
        let errs = with("missing.pem", "cert.pem").unwrap_err().0;
        assert_eq!(errs.len(), 2, "{errs:#?}");
        assert_eq!((errs[0].line, errs[0].column), (8, 12));
        assert!(
            errs[0].message.starts_with("admin.tls_cert ")
                && errs[0].message.contains("cannot be read"),
            "{}",
            errs[0]
        );
        assert_eq!((errs[1].line, errs[1].column), (9, 11));
        assert!(
            errs[1].message.starts_with("admin.tls_key ")
                && errs[1].message.contains("holds no PEM private key"),
            "{}",
            errs[1]
        );
        // Not read when the check is off.
        assert!(
            load_str(
                &format!("{HEAD}[admin]\ntls_cert = \"a\"\ntls_key = \"b\"\n"),
                &cfg,
                &no_io()
            )
            .is_ok()
        );
    }
}
