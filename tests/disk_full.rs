//! A full disk on a real, small volume (a 20 MiB tmpfs mounted for the test): a message that
//! does not fit gets 452 and gives its space back, and the next message on the same volume is
//! accepted, before and after a restart. Needs root to mount; skipped with a notice without.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{INVOICE_XML, Process, RECEIVER, SUPPLIER, Smtp, mail, read_fixture};

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct Volume {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

impl Volume {
    fn mount(size: &str) -> Option<Volume> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vol");
        std::fs::create_dir(&path).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(&path)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Volume { _dir: dir, path })
    }

    fn used(&self) -> u64 {
        let out = Command::new("df")
            .args(["--output=used", "-B1"])
            .arg(&self.path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

fn config(dir: &Path, spool: &Path) -> PathBuf {
    config_with_reserve(dir, spool, "512KiB")
}

fn config_with_reserve(dir: &Path, spool: &Path, reserve: &str) -> PathBuf {
    let text = std::fs::read_to_string(common::TestConfig::new().path).unwrap();
    // The standard test config with its spool on the small volume and a small reserve.
    let start = text.find("[spool]").unwrap();
    let end = start + text[start..].find("\n\n").unwrap();
    let text = format!(
        "{}[spool]\npath = \"{}\"\nmin_free_space = \"{reserve}\"\n{}",
        &text[..start].replace(
            "listen = [\"127.0.0.1:0\"]",
            "listen = [\"127.0.0.1:0\"]\nmax_message_size = \"35MiB\""
        ),
        spool.display(),
        &text[end..]
    );
    let path = dir.join("trustgate.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_message_that_fills_the_disk_gets_452_and_the_next_one_is_accepted() {
    let Some(volume) = Volume::mount("20m") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root (CI runs as root)");
        return;
    };
    let conf_dir = tempfile::tempdir().unwrap();
    let spool = volume.path.join("spool");
    std::fs::create_dir(&spool).unwrap();
    let cfg = config(conf_dir.path(), &spool);
    let daemon = Process::serve(&cfg);
    let baseline = volume.used();

    // 25 MiB of PDF does not fit on 20 MiB.
    let xml = read_fixture(INVOICE_XML);
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.resize(25 << 20, b'x');
    let big = mail(
        SUPPLIER,
        RECEIVER,
        &[
            ("INV-1.xml", "application/xml", &xml),
            ("INV-1.pdf", "application/pdf", &pdf),
        ],
    );
    let r = Smtp::connect(daemon.addr).transaction(SUPPLIER, RECEIVER, &big);
    assert!(r.starts_with("452 4.3.1"), "{r}");
    // Its space is given back: the volume is as full as before it.
    let after = volume.used();
    assert!(
        after <= baseline + (1 << 20),
        "the failed message left {} bytes on the volume",
        after.saturating_sub(baseline)
    );
    let small = mail(
        SUPPLIER,
        RECEIVER,
        &[("INV-1.xml", "application/xml", &xml)],
    );
    let r = Smtp::connect(daemon.addr).transaction(SUPPLIER, RECEIVER, &small);
    assert!(r.starts_with("250 2.0.0"), "the next message: {r}");
    assert_eq!(daemon.terminate(), Some(0));

    // And after a restart on the same volume.
    let daemon = Process::serve(&cfg);
    let r = Smtp::connect(daemon.addr).transaction(
        SUPPLIER,
        RECEIVER,
        &small.replace("12115118", "12115119"),
    );
    assert!(r.starts_with("250 2.0.0"), "after a restart: {r}");
    assert_eq!(daemon.terminate(), Some(0));
}

#[test]
fn a_disk_that_fills_before_the_commit_gets_452_never_250() {
    let Some(volume) = Volume::mount("20m") else {
        eprintln!("SKIPPED: mounting a tmpfs needs root (CI runs as root)");
        return;
    };
    let conf_dir = tempfile::tempdir().unwrap();
    let spool = volume.path.join("spool");
    std::fs::create_dir(&spool).unwrap();
    // No reserve: the check at MAIL passes, and the disk fills between DATA and the commit.
    let cfg = config_with_reserve(conf_dir.path(), &spool, "0");
    let daemon = Process::serve(&cfg);
    // A message under large_body_threshold (1 MiB) is held in memory during DATA and written
    // only by the commit. Leave it less room than it needs.
    let xml = read_fixture(INVOICE_XML);
    let mut pdf = b"%PDF-1.4\n".to_vec();
    pdf.resize(600 << 10, b'z');
    let message = mail(
        SUPPLIER,
        RECEIVER,
        &[
            ("INV-1.xml", "application/xml", &xml),
            ("INV-1.pdf", "application/pdf", &pdf),
        ],
    );
    let filler = volume.path.join("filler");
    let free = (20u64 << 20).saturating_sub(volume.used());
    std::fs::write(
        &filler,
        vec![0u8; usize::try_from(free - (256 << 10)).unwrap()],
    )
    .unwrap();
    let r = Smtp::connect(daemon.addr).transaction(SUPPLIER, RECEIVER, &message);
    assert!(r.starts_with("452 4.3.1"), "{r}");
    // Room again: the same message is accepted, and it is the only one stored.
    std::fs::remove_file(&filler).unwrap();
    let r = Smtp::connect(daemon.addr).transaction(SUPPLIER, RECEIVER, &message);
    assert!(r.starts_with("250 2.0.0"), "{r}");
    assert_eq!(daemon.terminate(), Some(0));
    let (code, out, err) = common::cli(&cfg, &["spool", "list", "--json", "--full"]);
    assert_eq!(code, 0, "{err}");
    let list = common::ndjson(&out);
    assert_eq!(list.as_array().unwrap().len(), 1, "{out}");
}
