//! `trustgate organisation import FILE.csv`: many organisations at once, each with a generated
//! receiver per document type, for platforms that bring their administrations in bulk.
//!
//! Called by `cli::run`. Every row is checked first (each error names the line, the row and the
//! column), and nothing is written when any row is wrong. Then the organisations and receivers
//! are added in one edit through [`crate::config::edit`] (validated as a whole, written
//! atomically), and a CSV of the new addresses is printed on stdout for the platform to mail
//! out. With `--file-per-organisation DIR` each organisation and its receivers go into
//! `DIR/<id>.toml` (the id checked as a safe file-name stem, the files named by an `include` of
//! the main config); the whole config is validated with every new file before any is written,
//! then all temp files are written, then renamed.
//!
//! The file is CSV (RFC 4180, read by the `csv` crate: quotes, embedded commas and line breaks)
//! with a header row naming the columns in any order: `id` and `name` (required), `kvk`,
//! `vat_ids`, `endpoint_ids`, `no_kvk_reason`. A list column holds its values separated by `;`
//! (not spaces: a VAT id may be written with spaces, as the config allows). `no_kvk_reason`
//! must be filled exactly when `kvk` is empty; it is kept in the config as the organisation's
//! `no_kvk_reason`.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use super::receiver::{document_type, receiver_domain, tell_daemon};
use crate::config::edit::{self, ConfigFile, NewOrganisation, NewReceiver, TakenAddresses};
use crate::config::normalise_identifier;
use crate::config::validate::{is_id, is_vat_id, parse_endpoint_id};

/// `trustgate organisation ...`.
#[derive(Debug, clap::Subcommand)]
pub enum OrganisationCommand {
    /// Add the organisations of a CSV file (columns id, name, kvk, vat_ids, endpoint_ids,
    /// no_kvk_reason; lists separated by ;), each with a generated receiver per document
    /// type, and print organisation,document_type,address for each new address.
    Import {
        /// The CSV file, with a header row.
        file: std::path::PathBuf,
        /// A document type to create a receiver for; repeat it for several.
        #[arg(long, value_name = "TYPE", default_value = "purchase-invoice")]
        document_type: Vec<String>,
        /// The addresses' domain [default: [server] receiver_domain, else the domain of the
        /// existing receivers].
        #[arg(long, value_name = "DOMAIN")]
        domain: Option<String>,
        /// Write each organisation, with its receivers, into DIR/<organisation id>.toml
        /// instead of the main config (DIR relative to the main config's directory; an include
        /// of the main config must name those files, e.g. include = ["conf.d/*.toml"]).
        #[arg(long, value_name = "DIR")]
        file_per_organisation: Option<PathBuf>,
    },
}

/// The columns a file may have.
const COLUMNS: [&str; 6] = [
    "id",
    "name",
    "kvk",
    "vat_ids",
    "endpoint_ids",
    "no_kvk_reason",
];

/// Runs `organisation ...` on the config at `path`; returns the exit code.
///
/// # Errors
/// The config or the CSV cannot be read, a row is wrong, or the edit is refused; nothing is
/// written then.
pub fn run(cmd: OrganisationCommand, path: &Path, out: &mut dyn Write) -> anyhow::Result<i32> {
    let OrganisationCommand::Import {
        file: csv_path,
        document_type: types,
        domain,
        file_per_organisation,
    } = cmd;
    let mut types_checked: Vec<String> = Vec::new();
    for t in &types {
        let t = document_type(t)?;
        if !types_checked.contains(&t) {
            types_checked.push(t);
        }
    }
    let mut file = ConfigFile::open(path)?;
    let existing: HashMap<&str, ()> = file
        .config
        .organisations
        .iter()
        .map(|o| (o.id.as_str(), ()))
        .collect();
    let organisations = match read_rows(&csv_path, |id| existing.contains_key(id))? {
        Ok(orgs) => orgs,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            bail!(
                "{}: {} error{} in the file; nothing was imported",
                csv_path.display(),
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
        }
    };
    // With one file per organisation, each id names a file: refuse any that cannot, by row,
    // before anything else.
    let mut org_files: Vec<Option<PathBuf>> = Vec::with_capacity(organisations.len());
    if let Some(dir) = &file_per_organisation {
        let mut errors = Vec::new();
        for (i, org) in organisations.iter().enumerate() {
            match edit::organisation_file(dir, &org.id) {
                Ok(path) => org_files.push(Some(path)),
                Err(e) => errors.push(format!(
                    "{}: row {}, column id: {e}",
                    csv_path.display(),
                    i + 1
                )),
            }
        }
        if !errors.is_empty() {
            for e in &errors {
                eprintln!("{e}");
            }
            bail!("{}: nothing was imported", csv_path.display());
        }
    } else {
        org_files.resize(organisations.len(), None);
    }
    let domain = receiver_domain(&file.config, domain.as_deref())?;
    let length = file.config.server.receiver_address_length;
    let mut taken = TakenAddresses::of(&file.config);
    let mut rng = rand::rng();
    let mut created: Vec<(String, String, String)> = Vec::new();
    for (org, org_file) in organisations.iter().zip(&org_files) {
        let doc = match org_file {
            Some(written) => file.file_doc(written)?,
            None => &mut file.doc,
        };
        edit::add_organisation(doc, org)?;
        for t in &types_checked {
            let address = taken.generate(&mut rng, &domain, length)?;
            edit::add_receiver(
                doc,
                &NewReceiver {
                    address: &address,
                    organisation: &org.id,
                    document_type: t,
                },
            )?;
            created.push((org.id.clone(), t.clone(), address.to_string()));
        }
    }
    let (config, written) = file.save_files()?;
    let mut writer = csv::Writer::from_writer(&mut *out);
    writer.write_record(["organisation", "document_type", "address"])?;
    for (org, t, address) in &created {
        writer.write_record([org, t, address])?;
    }
    writer.flush()?;
    drop(writer);
    out.flush()?;
    tell_daemon(&config, &written);
    Ok(0)
}

/// Reads and checks every row. The outer error: the file cannot be read at all; the inner
/// one: every problem found, each as `FILE:LINE: row N, column C: what; fix`.
fn read_rows(
    csv_path: &Path,
    exists: impl Fn(&str) -> bool,
) -> anyhow::Result<Result<Vec<NewOrganisation>, Vec<String>>> {
    let shown = csv_path.display();
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(csv_path)
        .with_context(|| format!("{shown}: cannot read the CSV file"))?;
    let header = reader
        .headers()
        .with_context(|| format!("{shown}:1: cannot read the header row"))?
        .clone();
    let mut errors: Vec<String> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let lower = name.to_ascii_lowercase();
        match COLUMNS.iter().find(|c| **c == lower) {
            Some(c) if index.contains_key(c) => {
                errors.push(format!(
                    "{shown}:1: column {c} appears twice in the header; keep one"
                ));
            }
            Some(c) => {
                index.insert(c, i);
            }
            None => errors.push(format!(
                "{shown}:1: unknown column \"{}\" in the header; the columns are {}",
                name.escape_debug(),
                COLUMNS.join(", ")
            )),
        }
    }
    for required in ["id", "name"] {
        if !index.contains_key(required) {
            errors.push(format!(
                "{shown}:1: the header has no column {required}; the first row names the columns: {}",
                COLUMNS.join(",")
            ));
        }
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }

    let mut orgs: Vec<NewOrganisation> = Vec::new();
    let mut first_row_of: HashMap<String, usize> = HashMap::new();
    for (n, record) in reader.records().enumerate() {
        let row = n + 1;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                errors.push(format!(
                    "{shown}:{line}: row {row}: {e}; every row needs the {} columns of the header, and a value with a comma or quote is written in double quotes",
                    header.len()
                ));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        let cell =
            |column: &str| -> &str { index.get(column).and_then(|&i| record.get(i)).unwrap_or("") };
        let mut error = |column: &str, message: String| {
            errors.push(format!(
                "{shown}:{line}: row {row}, column {column}: {message}"
            ));
        };

        let id = cell("id").to_string();
        if !is_id(&id) {
            error(
                "id",
                format!(
                    "\"{}\" is not a valid id; use 1 to 64 lower-case letters, digits, - or _, starting with a letter or digit, e.g. acme",
                    id.escape_debug()
                ),
            );
        } else if exists(&id) {
            error(
                "id",
                format!(
                    "organisation \"{id}\" is already in the config; remove the row, or give it another id"
                ),
            );
        } else if let Some(first) = first_row_of.get(&id) {
            error(
                "id",
                format!(
                    "\"{id}\" is already used in row {first}; give each organisation its own id"
                ),
            );
        } else {
            first_row_of.insert(id.clone(), row);
        }

        let name = cell("name").to_string();
        if name.is_empty() {
            error(
                "name",
                "is empty; write the organisation's name, e.g. ACME B.V.".into(),
            );
        } else if name.chars().any(char::is_control) {
            error(
                "name",
                "holds a control character; write the name on one line".into(),
            );
        }

        let kvk = cell("kvk");
        let reason = cell("no_kvk_reason");
        if !kvk.is_empty() && (kvk.len() != 8 || !kvk.bytes().all(|b| b.is_ascii_digit())) {
            error(
                "kvk",
                format!(
                    "\"{}\" is not a KvK number; write its 8 digits, e.g. 12345678, or leave it empty and fill no_kvk_reason",
                    kvk.escape_debug()
                ),
            );
        }
        if kvk.is_empty() && reason.is_empty() {
            error(
                "no_kvk_reason",
                "is empty while kvk is empty too; fill kvk, or say why there is none, e.g. test or no-company".into(),
            );
        } else if !kvk.is_empty() && !reason.is_empty() {
            error(
                "no_kvk_reason",
                "is filled while kvk is too; leave no_kvk_reason empty when the KvK number is known".into(),
            );
        } else if reason.chars().any(char::is_control) {
            error(
                "no_kvk_reason",
                "holds a control character; write it on one line".into(),
            );
        }

        let mut vat_ids: Vec<String> = Vec::new();
        for written in list(cell("vat_ids")) {
            let vat = normalise_identifier(written);
            if !is_vat_id(&vat) {
                error(
                    "vat_ids",
                    format!(
                        "\"{}\" is not a VAT id; write the country code and the number, e.g. NL123456789B01, several separated by ;",
                        written.escape_debug()
                    ),
                );
            } else if vat_ids.iter().any(|v| normalise_identifier(v) == vat) {
                error(
                    "vat_ids",
                    format!("\"{written}\" is listed twice; remove one"),
                );
            } else {
                vat_ids.push(written.to_string());
            }
        }
        let mut endpoint_ids: Vec<String> = Vec::new();
        let mut parsed = Vec::new();
        for written in list(cell("endpoint_ids")) {
            match parse_endpoint_id(written) {
                Ok(e) if parsed.contains(&e) => {
                    error(
                        "endpoint_ids",
                        format!("\"{written}\" is listed twice (as {e}); remove one"),
                    );
                }
                Ok(e) => {
                    parsed.push(e);
                    endpoint_ids.push(written.to_string());
                }
                Err(why) => error(
                    "endpoint_ids",
                    format!(
                        "\"{}\" {why}; several are separated by ;",
                        written.escape_debug()
                    ),
                ),
            }
        }
        orgs.push(NewOrganisation {
            id,
            name,
            kvk: (!kvk.is_empty()).then(|| kvk.to_string()),
            no_kvk_reason: (kvk.is_empty() && !reason.is_empty()).then(|| reason.to_string()),
            vat_ids,
            endpoint_ids,
        });
    }
    if errors.is_empty() && orgs.is_empty() {
        errors.push(format!(
            "{shown}: no rows after the header; add one row per organisation"
        ));
    }
    Ok(if errors.is_empty() {
        Ok(orgs)
    } else {
        Err(errors)
    })
}

/// The values of a list cell: separated by `;`, trimmed, empty ones skipped.
fn list(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(';').map(str::trim).filter(|s| !s.is_empty())
}
