//! The directory sink, for ERP batch imports that read a folder: `<document-id>.xml`,
//! `<document-id>.pdf` (when there is one) and `<document-id>.json` (the metadata, as the
//! webhook sends it without the files).
//!
//! Each file is written to a hidden temporary name, fsynced, renamed into place, and the
//! folder fsynced; the `.json` comes last, so an importer that waits for the `.json` always
//! finds the whole set. A retry after a crash writes the same names again (rename replaces).
//! No name comes from the mail: the document id is ours, the organisation id is the config's
//! (and is checked again here).

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::{Attempt, Sink};
use crate::delivery::{DocumentMeta, Item, Outcome};

/// Where documents go in the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// All in the folder itself.
    Flat,
    /// One subfolder per organisation id.
    ByOrganisation,
}

/// A `[[sink]] kind = "directory"`.
#[derive(Debug, Clone)]
pub struct DirectorySink {
    root: PathBuf,
    layout: Layout,
}

/// The `.json` written beside the files.
#[derive(Serialize)]
struct Metadata<'a> {
    /// The same id as the webhook's `webhook-id`.
    delivery_id: &'a str,
    #[serde(flatten)]
    meta: &'a DocumentMeta,
}

impl DirectorySink {
    /// A sink writing under `root` (created, mode 0750, at the first delivery if missing).
    pub fn new(root: PathBuf, layout: Layout) -> DirectorySink {
        DirectorySink { root, layout }
    }

    fn write(&self, item: &Item) -> std::io::Result<()> {
        let dir = match self.layout {
            Layout::Flat => self.root.clone(),
            Layout::ByOrganisation => self.root.join(safe_name(&item.meta.organisation)?),
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o750)
            .create(&dir)?;
        let stem = safe_name(&item.meta.document_id)?;
        write_file(&dir, &format!("{stem}.xml"), &item.xml)?;
        if let Some(pdf) = &item.pdf {
            write_file(&dir, &format!("{stem}.pdf"), pdf)?;
        }
        // The folder's fsync makes the names above durable before the `.json` appears.
        sync_dir(&dir)?;
        let json = serde_json::to_vec_pretty(&Metadata {
            delivery_id: &item.delivery_id,
            meta: &item.meta,
        })
        .map_err(std::io::Error::other)?;
        // Last: an importer that waits for the `.json` finds the files durable beside it.
        write_file(&dir, &format!("{stem}.json"), &json)?;
        sync_dir(&dir)
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Sink for DirectorySink {
    fn deliver<'a>(&'a self, item: &'a Item) -> Attempt<'a> {
        Box::pin(async move {
            let this = self.clone();
            let item = item.clone();
            match tokio::task::spawn_blocking(move || this.write(&item).map(|()| item)).await {
                Ok(Ok(item)) => Outcome::Delivered {
                    answer: format!("written as {}.json", item.meta.document_id),
                },
                // A full disk, a permission or a missing mount may all be mended by the
                // admin: retried, then a dead letter after max_age.
                Ok(Err(err)) => {
                    Outcome::retry(format!("cannot write to {}: {err}", self.root.display()))
                }
                Err(err) => Outcome::retry(format!("write task failed: {err}")),
            }
        })
    }
}

/// `name` if it is a plain file name of `[A-Za-z0-9_-]` (ours always are).
fn safe_name(name: &str) -> std::io::Result<&str> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(name)
    } else {
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{name:?} is not a safe file name"),
        ))
    }
}

/// Writes `bytes` to `dir/name` through a hidden temporary file, fsynced, then renamed (the
/// caller fsyncs the folder).
fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, dir.join(name))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(org: &str) -> Item {
        Item {
            delivery_id: "20261122T101530Z-000001-0.archive".into(),
            attempt: 1,
            meta: DocumentMeta {
                gateway: "mx1.trust.example.test".into(),
                document_id: "20261122T101530Z-000001-0".into(),
                message_id: "20261122T101530Z-000001".into(),
                index: 0,
                receiver: "ad64sde@trust.example.test".into(),
                organisation: org.into(),
                envelope_sender: "billing@supplier.example".into(),
                header_from: Some("billing@supplier.example".into()),
                tls: None,
                auth: None,
                notice: None,
                header_message_id: None,
                received_at: "2026-11-22T10:15:30.000Z".into(),
                format: "ubl-invoice".into(),
                specification: None,
                invoice_number: Some("INV-1".into()),
                inspection: serde_json::json!({"invoice_number": "INV-1"}),
                xml: crate::delivery::payload::FileMeta {
                    name: "../../etc/passwd.xml".into(),
                    size: 5,
                    sha256: None,
                    content_type: "application/xml".into(),
                    archive: None,
                },
                pdf: None,
            },
            xml: b"<a/>\n".to_vec(),
            pdf: Some(b"%PDF-1.4".to_vec()),
            raw: None,
        }
    }

    #[tokio::test]
    async fn writes_the_set_under_our_ids_with_the_json_last() {
        let tmp = tempfile::tempdir().unwrap();
        let sink = DirectorySink::new(tmp.path().join("out"), Layout::ByOrganisation);
        let outcome = sink.deliver(&item("acme")).await;
        assert!(matches!(outcome, Outcome::Delivered { .. }), "{outcome:?}");
        let dir = tmp.path().join("out/acme");
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "20261122T101530Z-000001-0.json",
                "20261122T101530Z-000001-0.pdf",
                "20261122T101530Z-000001-0.xml"
            ]
        );
        assert_eq!(
            fs::read(dir.join("20261122T101530Z-000001-0.xml")).unwrap(),
            b"<a/>\n"
        );
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("20261122T101530Z-000001-0.json")).unwrap())
                .unwrap();
        assert_eq!(json["delivery_id"], "20261122T101530Z-000001-0.archive");
        assert_eq!(json["xml"]["name"], "../../etc/passwd.xml");
        // Delivering again (a retry after a crash) replaces the same files.
        assert!(matches!(
            sink.deliver(&item("acme")).await,
            Outcome::Delivered { .. }
        ));
    }

    #[tokio::test]
    async fn an_unsafe_organisation_or_an_unwritable_folder_is_a_retry() {
        let tmp = tempfile::tempdir().unwrap();
        let sink = DirectorySink::new(tmp.path().to_path_buf(), Layout::ByOrganisation);
        assert!(matches!(
            sink.deliver(&item("../x")).await,
            Outcome::Retry { .. }
        ));
        let file = tmp.path().join("file");
        fs::write(&file, b"").unwrap();
        let sink = DirectorySink::new(file.join("sub"), Layout::Flat);
        assert!(matches!(
            sink.deliver(&item("acme")).await,
            Outcome::Retry { .. }
        ));
    }
}
