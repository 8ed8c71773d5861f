//! The tables generated from the official EN 16931 XSLTs against their source (issue 14):
//! `src/invoice/rules/codelists.rs` must be exactly what `scripts/codelists.py` makes of the
//! XSLTs in `../shared/oracle/xslt`, and `src/invoice/rules/binding_tables.rs` what
//! `scripts/binding_rules.py` makes of them, so a hand edit of a table or a new release of the
//! artefacts fails here until the file is regenerated.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

const REGENERATE: &str = "python3 scripts/codelists.py";

#[test]
fn generated_code_lists_match_the_official_xslts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let xslt = root.join("../shared/oracle/xslt");
    for file in ["EN16931-UBL-validation.xslt", "EN16931-CII-validation.xslt"] {
        assert!(
            xslt.join(file).is_file(),
            "{} is missing: the code lists are checked against the official XSLTs, which must \
             be in ../shared/oracle/xslt beside the repository (see ../shared/oracle/README.md)",
            xslt.join(file).display()
        );
    }
    let out = Command::new("python3")
        .arg("scripts/codelists.py")
        .arg("--check")
        .current_dir(root)
        .output()
        .expect("python3 must be installed to check the generated code lists");
    assert!(
        out.status.success(),
        "src/invoice/rules/codelists.rs does not match the XSLTs ({}); regenerate with \
         `{REGENERATE}`\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn generated_binding_rules_match_the_official_xslts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg("scripts/binding_rules.py")
        .arg("--check")
        .current_dir(root)
        .output()
        .expect("python3 must be installed to check the generated binding rules");
    assert!(
        out.status.success(),
        "src/invoice/rules/binding_tables.rs does not match the XSLTs ({}); regenerate with \
         `python3 scripts/binding_rules.py`\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
