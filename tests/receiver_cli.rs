//! The config-editing commands through the built binary on a temp copy of a config:
//! `receiver add|list|remove`, `sender add|remove`, `senders list`, `organisation import`.
//! Issue 11, section 1: generated addresses, comments kept, broken edits refused with the file
//! left byte for byte as it was, a bulk import of 1,000 rows.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Instant;

use common::{RECEIVER, SHARED, TestConfig, cli};

/// The test config with a comment of its own at the top and between sections.
fn commented() -> TestConfig {
    let config = TestConfig::new();
    let text = std::fs::read_to_string(&config.path).unwrap();
    let text = format!("# Admin's header: do not lose me\n{text}")
        .replacen(
            "[[organisation]]",
            "# The customers. Added by hand.\n[[organisation]]",
            1,
        )
        .replacen(
            "[[receiver]]",
            "# First address (ticket 1234).\n[[receiver]]",
            1,
        );
    std::fs::write(&config.path, text).unwrap();
    config
}

fn read(config: &TestConfig) -> String {
    std::fs::read_to_string(&config.path).unwrap()
}

fn is_generated(address: &str, domain: &str) -> bool {
    let Some((local, d)) = address.split_once('@') else {
        return false;
    };
    // ^[A-HJKMNP-Z2-9]{8}@domain$
    d == domain
        && local.len() == 8
        && local.bytes().all(
            |b| matches!(b, b'A'..=b'H' | b'J' | b'K' | b'M' | b'N' | b'P'..=b'Z' | b'2'..=b'9'),
        )
}

#[test]
fn receiver_add_prints_a_generated_address_and_keeps_the_comments() {
    let config = commented();
    let before = read(&config);
    let (code, out, err) = cli(
        &config.path,
        &[
            "receiver",
            "add",
            "--organisation",
            "beta",
            "--document-type",
            "purchase-invoice",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let address = out.lines().last().unwrap();
    // The receivers share trust.example.test, so that is the default domain.
    assert!(is_generated(address, "trust.example.test"), "{out:?}");
    assert!(err.contains("no daemon is running"), "{err}");
    let after = read(&config);
    assert!(
        after.starts_with(before.trim_end()),
        "the old text changed:\n{after}"
    );
    assert!(after.contains(&format!("address = \"{address}\"")));

    let (code, out, err) = cli(&config.path, &["receiver", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[2]["address"], address);
    assert_eq!(list[2]["organisations"], serde_json::json!(["beta"]));
    assert_eq!(list[2]["document_type"], "purchase-invoice");
    assert_eq!(list[2]["trusted_senders"], 0);
    assert_eq!(
        list[1]["organisations"],
        serde_json::json!(["acme", "beta"])
    );

    // Removing it gives back the file as it was, comments and all.
    let (code, _, err) = cli(
        &config.path,
        &["receiver", "remove", &address.to_lowercase()],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(read(&config).trim_end(), before.trim_end());
}

#[test]
fn receiver_add_uses_receiver_domain_and_length() {
    let config = TestConfig::with_server_extra(
        "receiver_domain = \"in.example.test\"\nreceiver_address_length = 12",
    );
    let (code, out, err) = cli(
        &config.path,
        &[
            "receiver",
            "add",
            "--organisation",
            "acme",
            "--document-type",
            "credit-note",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (local, domain) = out.trim().split_once('@').unwrap();
    assert_eq!((local.len(), domain), (12, "in.example.test"), "{out}");
}

#[test]
fn receiver_add_without_a_domain_to_take_says_what_to_pass() {
    let config = TestConfig::new();
    let text = read(&config).replace(
        "address = \"SHARED1@trust.example.test\"",
        "address = \"SHARED1@other.example.test\"",
    );
    std::fs::write(&config.path, &text).unwrap();
    let (code, _, err) = cli(
        &config.path,
        &[
            "receiver",
            "add",
            "--organisation",
            "acme",
            "--document-type",
            "purchase-invoice",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("several domains") && err.contains("--domain"),
        "{err}"
    );
    assert_eq!(read(&config), text);
}

#[test]
fn sender_add_for_an_unknown_receiver_changes_nothing() {
    let config = commented();
    let before = std::fs::read(&config.path).unwrap();
    let (code, _, err) = cli(
        &config.path,
        &[
            "sender",
            "add",
            "NOBODY12@trust.example.test",
            "--name",
            "X",
            "--contact",
            "x@x.example",
            "--domain",
            "x.example",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("no receiver NOBODY12@trust.example.test"),
        "{err}"
    );
    assert_eq!(std::fs::read(&config.path).unwrap(), before);
}

#[test]
fn a_sender_the_validator_refuses_is_not_written() {
    let config = commented();
    let before = std::fs::read(&config.path).unwrap();
    // supplier.example is already trusted by this receiver: the validator's error, located.
    let (code, _, err) = cli(
        &config.path,
        &[
            "sender",
            "add",
            RECEIVER,
            "--name",
            "Again",
            "--contact",
            "b@supplier.example",
            "--domain",
            "supplier.example",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("trustgate.toml:") && err.contains("repeats domain supplier.example"),
        "{err}"
    );
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(std::fs::read(&config.path).unwrap(), before);
    // Usage errors are clap's: exit 2.
    let (code, _, _) = cli(
        &config.path,
        &[
            "sender",
            "add",
            RECEIVER,
            "--name",
            "X",
            "--contact",
            "x@x.example",
        ],
    );
    assert_eq!(code, 2);
}

#[test]
fn senders_are_added_listed_and_removed() {
    let config = commented();
    let (code, _, err) = cli(
        &config.path,
        &[
            "sender",
            "add",
            SHARED,
            "--name",
            "Acme's accountant",
            "--contact",
            "desk@accountant.example",
            "--verified-users",
            "--language",
            "en",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(&config.path, &["senders", "list", "--json"]);
    assert_eq!(code, 0, "{err}");
    let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(list.len(), 5);
    let new = &list[4];
    assert_eq!(new["receiver"], SHARED);
    assert_eq!(new["kind"], "verified_users");
    assert_eq!(new["value"], serde_json::Value::Null);
    assert_eq!(new["language"], "en");
    assert_eq!(list[0]["language"], "nl");
    assert_eq!(list[0]["value"], "supplier.example");
    // The test config sets auth on the receivers, not on the senders.
    assert_eq!(list[0]["auth"], serde_json::Value::Null);

    let (code, out, _) = cli(&config.path, &["senders", "list"]);
    assert_eq!(code, 0);
    assert!(out.lines().next().unwrap().starts_with("RECEIVER"), "{out}");
    assert_eq!(out.lines().count(), 6);

    let (code, _, err) = cli(
        &config.path,
        &[
            "sender",
            "remove",
            SHARED,
            "--contact",
            "DESK@accountant.example",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = cli(&config.path, &["senders", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<Vec<serde_json::Value>>(&out)
            .unwrap()
            .len(),
        4
    );
    let (code, _, err) = cli(
        &config.path,
        &[
            "sender",
            "remove",
            SHARED,
            "--contact",
            "desk@accountant.example",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("no trusted sender with contact"), "{err}");
}

#[test]
fn an_import_with_a_bad_row_writes_nothing_and_names_row_and_column() {
    let config = commented();
    let before = std::fs::read(&config.path).unwrap();
    let csv = config.dir.path().join("orgs.csv");
    std::fs::write(
        &csv,
        "id,name,kvk,vat_ids,endpoint_ids,no_kvk_reason\n\
         good,Good B.V.,12345678,NL123456789B01,0106:12345678,\n\
         nokvk,No KvK,,,,\n\
         \"bad,one\",\"Bad, B.V.\",1234,,,\n",
    )
    .unwrap();
    let (code, out, err) = cli(
        &config.path,
        &["organisation", "import", csv.to_str().unwrap()],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.is_empty(), "{out}");
    for expected in [
        "orgs.csv:3: row 2, column no_kvk_reason: is empty while kvk is empty too",
        "orgs.csv:4: row 3, column id: \"bad,one\" is not a valid id",
        "orgs.csv:4: row 3, column kvk: \"1234\" is not a KvK number",
        "nothing was imported",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert_eq!(std::fs::read(&config.path).unwrap(), before);
}

#[test]
fn an_import_of_a_thousand_rows_gives_a_thousand_receivers_and_a_valid_config() {
    let config = commented();
    let csv = config.dir.path().join("orgs.csv");
    let mut text = String::from("id,name,kvk,vat_ids,endpoint_ids,no_kvk_reason\n");
    for i in 0..1000 {
        if i % 10 == 0 {
            text.push_str(&format!("admin-{i},\"Administratie {i}, B.V.\",,,,test\n"));
        } else {
            text.push_str(&format!(
                "admin-{i},Administratie {i},{:08},NL{:09}B01,0106:{:08};0190:{:020},\n",
                20_000_000 + i,
                100_000_000 + i,
                20_000_000 + i,
                i
            ));
        }
    }
    std::fs::write(&csv, text).unwrap();
    let started = Instant::now();
    let (code, out, err) = cli(
        &config.path,
        &["organisation", "import", csv.to_str().unwrap()],
    );
    let import = started.elapsed();
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("organisation,document_type,address"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 1000);
    let mut addresses = std::collections::HashSet::new();
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row[0], format!("admin-{i}"));
        assert_eq!(row[1], "purchase-invoice");
        assert!(is_generated(row[2], "trust.example.test"), "{row:?}");
        assert!(addresses.insert(row[2].to_lowercase()));
    }

    let started = Instant::now();
    let (code, out, err) = cli(&config.path, &["check-config"]);
    let check = started.elapsed();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1002 organisations, 1002 receivers"), "{out}");
    let (_, out, _) = cli(&config.path, &["receiver", "list", "--json"]);
    let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(list.len(), 1002);
    assert!(read(&config).contains("# First address (ticket 1234)."));
    // Reported, not asserted (timing asserts are flaky): see the report of issue 11.
    eprintln!(
        "import of 1000 rows: {:.3}s; check-config on the result: {:.3}s",
        import.as_secs_f64(),
        check.as_secs_f64()
    );
}

/// The test config with `include = ["conf.d/*.toml"]` at its top and an empty `conf.d/`.
fn with_include() -> TestConfig {
    let config = commented();
    let text = read(&config);
    std::fs::write(
        &config.path,
        format!("include = [\"conf.d/*.toml\"]\n{text}"),
    )
    .unwrap();
    std::fs::create_dir(config.dir.path().join("conf.d")).unwrap();
    config
}

/// An included file of one organisation, commented as an admin writes it.
const GAMMA: &str = "# Gamma's own file: keep this comment\n\
[[organisation]]\n\
id = \"gamma\"   # the id the platform uses\n\
name = \"Gamma B.V.\"\n\
no_kvk_reason = \"test\"\n\
\n\
# Gamma's first address (ticket 77).\n\
[[receiver]]\n\
address = \"GAMMA23@trust.example.test\"\n\
organisation = \"gamma\"\n\
document_type = \"purchase-invoice\"\n\
\n\
[[receiver.trusted_sender]]\n\
name = \"Gamma's supplier\"\n\
contact = \"ap@gamma-supplier.example\"\n\
domain = \"gamma-supplier.example\"\n\
# Trailing remark in gamma's file.\n";

#[test]
fn receiver_add_with_file_writes_into_the_included_file_and_keeps_its_comments() {
    let config = with_include();
    let gamma = config.dir.path().join("conf.d/gamma.toml");
    std::fs::write(&gamma, GAMMA).unwrap();
    let main_before = std::fs::read(&config.path).unwrap();

    let (code, out, err) = cli(
        &config.path,
        &[
            "receiver",
            "add",
            "--organisation",
            "gamma",
            "--document-type",
            "credit-note",
            "--file",
            "conf.d/gamma.toml",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let address = out.lines().last().unwrap();
    assert!(is_generated(address, "trust.example.test"), "{out:?}");
    assert!(
        err.contains("conf.d/gamma.toml changed") && err.contains("no daemon is running"),
        "{err}"
    );
    // The main file is not touched; the included file keeps every line and gains the receiver.
    assert_eq!(std::fs::read(&config.path).unwrap(), main_before);
    let after = std::fs::read_to_string(&gamma).unwrap();
    for line in GAMMA.lines() {
        assert!(after.contains(line), "lost {line:?} in:\n{after}");
    }
    assert!(
        after.contains(&format!(
            "[[receiver]]\naddress = \"{address}\"\norganisation = \"gamma\"\ndocument_type = \"credit-note\"\n"
        )),
        "{after}"
    );

    let (code, out, err) = cli(&config.path, &["check-config"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 organisations, 4 receivers"), "{out}");
    let (_, out, _) = cli(&config.path, &["receiver", "list", "--json"]);
    let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(list[3]["address"], address);
    assert_eq!(list[3]["organisations"], serde_json::json!(["gamma"]));

    // A file that does not exist yet is created, with the main file's mode, and included.
    let (code, out, err) = cli(
        &config.path,
        &[
            "receiver",
            "add",
            "--organisation",
            "gamma",
            "--document-type",
            "order",
            "--file",
            "conf.d/gamma-orders.toml",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let orders =
        std::fs::read_to_string(config.dir.path().join("conf.d/gamma-orders.toml")).unwrap();
    assert!(orders.contains(out.trim()), "{orders}");
    assert_eq!(std::fs::read(&config.path).unwrap(), main_before);
    let (code, out, err) = cli(&config.path, &["check-config"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("5 receivers"), "{out}");
}

#[test]
fn a_file_that_no_include_names_is_refused_and_nothing_is_written() {
    let add_into = |config: &TestConfig, file: &str| {
        cli(
            &config.path,
            &[
                "receiver",
                "add",
                "--organisation",
                "acme",
                "--document-type",
                "purchase-invoice",
                "--file",
                file,
            ],
        )
    };
    // No include at all: the message gives the line to add.
    let config = commented();
    std::fs::create_dir(config.dir.path().join("conf.d")).unwrap();
    let before = std::fs::read(&config.path).unwrap();
    let (code, out, err) = add_into(&config, "conf.d/acme.toml");
    assert_eq!(code, 1, "{out}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("conf.d/acme.toml: trustgate would not read this file")
            && err.contains("add include = [\"conf.d/*.toml\"] at the top of")
            && err.contains("nothing was written"),
        "{err}"
    );
    assert_eq!(std::fs::read(&config.path).unwrap(), before);
    assert!(!config.dir.path().join("conf.d/acme.toml").exists());
    assert_eq!(
        std::fs::read_dir(config.dir.path().join("conf.d"))
            .unwrap()
            .count(),
        0
    );

    // An include of another directory: the message names the entry to add to it, and where.
    let config = with_include();
    std::fs::create_dir(config.dir.path().join("other")).unwrap();
    let before = std::fs::read(&config.path).unwrap();
    let (code, _, err) = add_into(&config, "other/acme.toml");
    assert_eq!(code, 1);
    assert!(
        err.contains("add \"other/*.toml\" to include = [\"conf.d/*.toml\"] at")
            && err.contains("trustgate.toml:1,"),
        "{err}"
    );
    assert_eq!(std::fs::read(&config.path).unwrap(), before);
    assert_eq!(
        std::fs::read_dir(config.dir.path().join("other"))
            .unwrap()
            .count(),
        0
    );
    // A name the glob does not match, in the right directory, is refused too.
    let (code, _, err) = add_into(&config, "conf.d/acme.conf");
    assert_eq!(code, 1);
    assert!(err.contains("would not read this file"), "{err}");
    assert!(!config.dir.path().join("conf.d/acme.conf").exists());
}

/// A CSV of `n` organisations `org-0`, `org-1`, ...
fn organisations_csv(n: usize) -> String {
    let mut text = String::from("id,name,kvk,vat_ids,endpoint_ids,no_kvk_reason\n");
    for i in 0..n {
        text.push_str(&format!(
            "org-{i},Organisatie {i},{:08},NL{:09}B01,0106:{:08},\n",
            30_000_000 + i,
            200_000_000 + i,
            30_000_000 + i,
        ));
    }
    text
}

#[test]
fn an_import_with_file_per_organisation_gives_one_file_each_and_a_valid_config() {
    let config = with_include();
    let main_before = std::fs::read(&config.path).unwrap();
    let csv = config.dir.path().join("orgs.csv");
    std::fs::write(&csv, organisations_csv(1000)).unwrap();
    let started = Instant::now();
    let (code, out, err) = cli(
        &config.path,
        &[
            "organisation",
            "import",
            csv.to_str().unwrap(),
            "--document-type",
            "purchase-invoice",
            "--document-type",
            "credit-note",
            "--file-per-organisation",
            "conf.d/",
        ],
    );
    let import = started.elapsed();
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("997 more files changed"), "{err}");
    assert_eq!(std::fs::read(&config.path).unwrap(), main_before);
    let rows: Vec<Vec<&str>> = out
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2000);

    let mut files: Vec<String> = std::fs::read_dir(config.dir.path().join("conf.d"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files.len(), 1000, "temp files left? {:?}", &files[..5]);
    // Each organisation's file holds it and its two receivers, with the addresses printed.
    let org_7 = std::fs::read_to_string(config.dir.path().join("conf.d/org-7.toml")).unwrap();
    assert!(
        org_7.starts_with("[[organisation]]\nid = \"org-7\"\n"),
        "{org_7}"
    );
    assert_eq!(org_7.matches("[[organisation]]").count(), 1, "{org_7}");
    assert_eq!(org_7.matches("[[receiver]]").count(), 2, "{org_7}");
    for row in rows.iter().filter(|r| r[0] == "org-7") {
        assert!(
            org_7.contains(&format!("address = \"{}\"", row[2])),
            "{org_7}"
        );
    }

    let (code, out, err) = cli(&config.path, &["check-config"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1002 organisations, 2002 receivers"), "{out}");
    // Reported, not asserted (timing asserts are flaky): see the report of issue 11.
    eprintln!(
        "import of 1000 rows into 1000 files: {:.3}s",
        import.as_secs_f64()
    );
}

#[test]
fn an_import_with_file_per_organisation_and_a_bad_row_writes_no_file() {
    let config = with_include();
    let main_before = std::fs::read(&config.path).unwrap();
    let csv = config.dir.path().join("orgs.csv");
    // Row 3's id would be a path; row 4 has no name.
    let text = organisations_csv(2) + "../../etc/evil,Evil,12345678,,,\nlast,,,,,test\n";
    std::fs::write(&csv, text).unwrap();
    let (code, out, err) = cli(
        &config.path,
        &[
            "organisation",
            "import",
            csv.to_str().unwrap(),
            "--file-per-organisation",
            "conf.d",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert!(out.is_empty(), "{out}");
    for expected in [
        "orgs.csv:4: row 3, column id: \"../../etc/evil\" is not a valid id",
        "orgs.csv:5: row 4, column name: is empty",
        "nothing was imported",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert_eq!(std::fs::read(&config.path).unwrap(), main_before);
    assert_eq!(
        std::fs::read_dir(config.dir.path().join("conf.d"))
            .unwrap()
            .count(),
        0
    );

    // Good rows into a directory no include names: refused as a whole, no file written.
    std::fs::write(&csv, organisations_csv(3)).unwrap();
    std::fs::create_dir(config.dir.path().join("elsewhere")).unwrap();
    let (code, _, err) = cli(
        &config.path,
        &[
            "organisation",
            "import",
            csv.to_str().unwrap(),
            "--file-per-organisation",
            "elsewhere",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("elsewhere/org-0.toml: trustgate would not read this file")
            && err.contains("add \"elsewhere/*.toml\" to include"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(config.dir.path().join("elsewhere"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn sender_edits_change_the_included_file_that_defines_the_receiver() {
    let config = with_include();
    let gamma = config.dir.path().join("conf.d/gamma.toml");
    std::fs::write(&gamma, GAMMA).unwrap();
    // A second included file, which must not change either.
    let delta = config.dir.path().join("conf.d/delta.toml");
    let delta_text = GAMMA
        .replace("gamma", "delta")
        .replace("GAMMA23", "DELTA45")
        .replace("Gamma", "Delta");
    std::fs::write(&delta, &delta_text).unwrap();
    let main_before = std::fs::read(&config.path).unwrap();

    let (code, _, err) = cli(
        &config.path,
        &[
            "sender",
            "add",
            "gamma23@trust.example.test",
            "--name",
            "New supplier",
            "--contact",
            "ap@new.example",
            "--domain",
            "new.example",
            "--language",
            "en",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("conf.d/gamma.toml changed"), "{err}");
    assert_eq!(std::fs::read(&config.path).unwrap(), main_before);
    assert_eq!(std::fs::read_to_string(&delta).unwrap(), delta_text);
    let after = std::fs::read_to_string(&gamma).unwrap();
    let old_part = GAMMA.split("# Trailing remark").next().unwrap();
    assert!(after.starts_with(old_part.trim_end()), "{after}");
    assert!(
        after.contains("# Trailing remark in gamma's file."),
        "{after}"
    );
    assert!(
        after.contains(
            "[[receiver.trusted_sender]]\nname = \"New supplier\"\ncontact = \"ap@new.example\"\ndomain = \"new.example\"\nlanguage = \"en\"\n"
        ),
        "{after}"
    );
    let (_, out, _) = cli(&config.path, &["senders", "list", "--json"]);
    let list: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    assert!(
        list.iter()
            .any(|s| s["receiver"] == "GAMMA23@trust.example.test"
                && s["contact"] == "ap@new.example"),
        "{out}"
    );

    // A contact the receiver does not have: the error names the file and the receiver's line.
    let (code, _, err) = cli(
        &config.path,
        &[
            "sender",
            "remove",
            "GAMMA23@trust.example.test",
            "--contact",
            "nobody@new.example",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "{}:9: receiver GAMMA23@trust.example.test has no trusted sender with contact nobody@new.example",
            gamma.display()
        )),
        "{err}"
    );

    // Removing the sender, then the receiver, edits gamma's file only.
    let (code, _, err) = cli(
        &config.path,
        &[
            "sender",
            "remove",
            "GAMMA23@trust.example.test",
            "--contact",
            "ap@new.example",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        std::fs::read_to_string(&gamma).unwrap().trim_end(),
        GAMMA.trim_end()
    );
    let (code, _, err) = cli(
        &config.path,
        &["receiver", "remove", "GAMMA23@trust.example.test"],
    );
    assert_eq!(code, 0, "{err}");
    let after = std::fs::read_to_string(&gamma).unwrap();
    assert!(
        !after.contains("GAMMA23") && after.contains("id = \"gamma\""),
        "{after}"
    );
    assert!(
        after.contains("# Gamma's own file: keep this comment"),
        "{after}"
    );
    assert_eq!(std::fs::read(&config.path).unwrap(), main_before);
    assert_eq!(std::fs::read_to_string(&delta).unwrap(), delta_text);
    let (code, out, err) = cli(&config.path, &["check-config"]);
    assert_eq!(code, 0, "{out}{err}");
}
