//! The export of one message (issue 12): its documents (`<id>-<n>.xml`, `.pdf`, `.json` with
//! the document's record and inspection report) and its raw message (`<id>.eml`). [`files`]
//! names and gathers them, and both ways out use it, so they write the same files under the
//! same names: `trustgate spool export ID --out DIR` (`cli::spool`, through the control
//! socket) into a directory, and `GET /api/v1/messages/{id}/export` here as a zip.
//!
//! Names are our ids only, never names from the mail, so no entry of the zip and no file of
//! the directory can climb out of where it is unpacked.

use std::io::Write as _;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, ApiState, Caller, ErrorBody, blocking, safe, visible_message};
use crate::delivery::stored::{self, Stored};
use crate::intake::IntakeLimits;
use crate::spool::MessageRecord;

/// The bytes of one document: its XML, and its PDF if one was paired.
pub type DocumentBytes = (Vec<u8>, Option<Vec<u8>>);

/// The files of `message`'s export, as (file name, bytes), in the order they are written:
/// per document its XML, PDF (if any) and JSON, then the raw message. `document` gives a
/// document's bytes by index and `raw` the message as received, from wherever the caller
/// reads the spool (the control socket, or the spool itself).
///
/// # Errors
/// What `document` or `raw` return, and a record that cannot be encoded as JSON.
pub fn files<E: From<serde_json::Error>>(
    message: &MessageRecord,
    mut document: impl FnMut(u32) -> Result<DocumentBytes, E>,
    raw: impl FnOnce() -> Result<Vec<u8>, E>,
) -> Result<Vec<(String, Vec<u8>)>, E> {
    // `MessageId` is `[A-Za-z0-9-]` (checked where it is parsed), so these are plain names.
    let mid = message.id.as_str();
    let mut out = Vec::new();
    for doc in &message.documents {
        let (xml, pdf) = document(doc.index)?;
        out.push((format!("{mid}-{}.xml", doc.index), xml));
        if let Some(pdf) = pdf {
            out.push((format!("{mid}-{}.pdf", doc.index), pdf));
        }
        let meta = serde_json::json!({
            "message": mid,
            "document": doc.index,
            "record": doc,
        });
        out.push((
            format!("{mid}-{}.json", doc.index),
            serde_json::to_vec_pretty(&meta)?,
        ));
    }
    out.push((format!("{mid}.eml"), raw()?));
    Ok(out)
}

/// The export's files as one zip, deflated, in the order given.
fn zip_of(files: &[(String, Vec<u8>)]) -> Result<Vec<u8>, zip::result::ZipError> {
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        zip.start_file(name.as_str(), options)?;
        zip.write_all(bytes)?;
    }
    Ok(zip.finish()?.into_inner())
}

impl From<serde_json::Error> for ApiError {
    fn from(err: serde_json::Error) -> ApiError {
        ApiError(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding a record: {err}"),
        )
    }
}

/// The export of a message the caller may see, read from the spool.
fn export_files(
    spool: &crate::spool::Spool,
    caller: &Caller,
    id: &str,
) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let message = visible_message(spool, caller, id)?;
    let gone = || ApiError::not_found(format_args!("message {}: it was deleted", safe(id)));
    if message.deleted_at.is_some() {
        return Err(gone());
    }
    // Found again in a message that passed the configured bounds when it was accepted.
    let limits = IntakeLimits::unbounded();
    files(
        &message,
        |index| {
            let doc = message
                .documents
                .iter()
                .find(|d| d.index == index)
                .ok_or_else(gone)?;
            match stored::load(spool, &message, doc, &limits)? {
                Stored::Bytes { xml, pdf, .. } => Ok((xml, pdf)),
                Stored::Gone => Err(gone()),
                Stored::Broken(why) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, why)),
            }
        },
        || spool.raw(&message.id)?.ok_or_else(gone),
    )
}

/// `GET /api/v1/messages/{id}/export`: as `trustgate spool export ID --out DIR`, the same
/// files under the same names, as one zip.
#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}/export",
    tag = "messages",
    params(("id" = String, Path, description = "The message id")),
    responses(
        (status = 200, description = "A zip of the documents (`<id>-<n>.xml`, `.pdf`, `.json` with the record and inspection report) and the raw message (`<id>.eml`), as `trustgate spool export` writes them", body = crate::admin::openapi::Binary, content_type = "application/zip"),
        (status = 401, description = "No key, or a wrong, unknown or revoked one", body = ErrorBody),
        (status = 404, description = "No such message, not the key's organisation's, or deleted", body = ErrorBody),
        (status = 500, description = "The stored bytes no longer match the record", body = ErrorBody),
        (status = 503, description = "The spool cannot answer right now: retry", body = ErrorBody),
    )
)]
pub(super) async fn export(
    caller: Caller,
    State(state): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let spool = state.spool.clone();
    let (name, zip) = blocking(move || {
        let files = export_files(&spool, &caller, &id)?;
        let zip = zip_of(&files).map_err(|err| {
            ApiError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("writing the zip: {err}"),
            )
        })?;
        // The id was found in the spool, so it is a `MessageId`: safe in a header.
        Ok((format!("{id}.zip"), zip))
    })
    .await?;
    let disposition = format!("attachment; filename=\"{name}\"");
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        zip,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zip_holds_each_file_under_its_name() {
        let files = vec![
            ("m-0.xml".to_string(), b"<Invoice/>".to_vec()),
            ("m.eml".to_string(), b"From: a\r\n\r\nx".to_vec()),
        ];
        let zip = zip_of(&files).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(archive.len(), 2);
        for (name, bytes) in &files {
            let mut entry = archive.by_name(name).unwrap();
            let mut read = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut read).unwrap();
            assert_eq!(&read, bytes);
        }
    }
}
