//! Packaging (issue 12, section 4b): the man pages and shell completions the built binary
//! generates, and the Debian package description in Cargo.toml against the files it names,
//! the unit it installs and what `scripts/package.sh` generates. Building the .deb itself
//! needs cargo-deb and is not part of the tests (README, "Install").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::CommandFactory;
use trustgate::cli::Cli;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Runs the built binary; returns (exit code, stdout, stderr). No config is read by the
/// commands tested here, so `--config` names one that does not exist.
fn trustgate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trustgate"))
        .args(args)
        .env("TRUSTGATE_CONFIG", repo("tests/no-such-config.toml"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The text of a roff page with the escapes clap_mangen writes undone, to compare with the
/// help texts.
fn unroff(page: &str) -> String {
    page.replace("\\-", "-").replace("\\*(Aq", "'")
}

/// Every visible command below `cmd` with its page name (`trustgate-spool-list`) and its
/// about text.
fn commands(cmd: &clap::Command, into: &mut Vec<(String, String)>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = sub.get_display_name().unwrap().to_owned();
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        into.push((name, about));
        commands(sub, into);
    }
}

#[test]
fn man_writes_one_page_per_command_with_its_about_text() {
    let dir = tempfile::tempdir().unwrap();
    // A directory that does not exist yet: `man` creates it.
    let out = dir.path().join("share/man/man8");
    let (code, stdout, stderr) = trustgate(&["man", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");

    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let mut expected = vec![(
        "trustgate".to_owned(),
        root.get_about().unwrap().to_string(),
    )];
    commands(&root, &mut expected);
    let names: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
    for name in [
        "trustgate-serve",
        "trustgate-check-config",
        "trustgate-spool",
        "trustgate-spool-list",
        "trustgate-spool-retry",
        "trustgate-receiver-add",
        "trustgate-man",
        "trustgate-completions",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }

    let written: BTreeSet<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let wanted: BTreeSet<String> = names.iter().map(|n| format!("{n}.8")).collect();
    assert_eq!(written, wanted, "pages written vs commands (no help pages)");

    for (name, about) in &expected {
        let page = std::fs::read_to_string(out.join(format!("{name}.8"))).unwrap();
        let text = unroff(&page);
        assert!(
            text.contains(&format!(".TH {name} 8 ")),
            "{name}.8 has no .TH line for section 8:\n{page}"
        );
        assert!(
            text.contains(&format!(".SH NAME\n{name} - {about}\n")),
            "{name}.8 does not name its about text {about:?}:\n{page}"
        );
        assert!(
            text.contains(concat!("trustgate ", env!("CARGO_PKG_VERSION"))),
            "{name}.8 does not name the version:\n{page}"
        );
    }
    // The top page leads to the others.
    let top = unroff(&std::fs::read_to_string(out.join("trustgate.8")).unwrap());
    for name in [
        "trustgate-serve(8)",
        "trustgate-spool(8)",
        "trustgate-man(8)",
    ] {
        assert!(top.contains(name), "trustgate.8 does not refer to {name}");
    }
    let spool = unroff(&std::fs::read_to_string(out.join("trustgate-spool.8")).unwrap());
    assert!(spool.contains("trustgate-spool-list(8)"), "{spool}");
}

#[test]
fn man_fails_when_it_cannot_write() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let (code, _, stderr) = trustgate(&["man", "--out", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("cannot write the man pages"), "{stderr}");
}

#[test]
fn completions_name_the_subcommands_for_each_shell() {
    for (shell, marker, option) in [
        ("bash", "complete -F _trustgate", "--config"),
        ("zsh", "#compdef trustgate", "--config"),
        ("fish", "complete -c trustgate", "-l config"),
    ] {
        let (code, script, stderr) = trustgate(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {stderr}");
        for word in [marker, option, "spool", "check-config", "retry"] {
            assert!(script.contains(word), "{shell} script lacks {word:?}");
        }
    }
    let (code, _, stderr) = trustgate(&["completions", "tcsh"]);
    assert_eq!(code, 2, "{stderr}");
}

/// The bash script is valid bash, and completing `trustgate sp` offers `spool`.
#[test]
fn the_bash_completion_completes() {
    let (code, script, stderr) = trustgate(&["completions", "bash"]);
    assert_eq!(code, 0, "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trustgate.bash");
    std::fs::write(&path, script).unwrap();
    let probe = format!(
        "source {}; COMP_WORDS=(trustgate sp); COMP_CWORD=1; _trustgate trustgate sp trustgate; \
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        path.display()
    );
    let Ok(out) = Command::new("bash").args(["-c", &probe]).output() else {
        eprintln!("skipped: no bash on this machine");
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offered: Vec<&str> = stdout.lines().collect();
    assert!(offered.contains(&"spool"), "{offered:?}");
    assert!(!offered.contains(&"serve"), "{offered:?}");
}

/// One `[package.metadata.deb]` asset: where it comes from and where it is installed.
struct Asset {
    source: String,
    target: String,
}

fn deb_metadata() -> toml::Table {
    let manifest: toml::Table = std::fs::read_to_string(repo("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    manifest["package"]["metadata"]["deb"]
        .as_table()
        .expect("[package.metadata.deb] in Cargo.toml")
        .clone()
}

fn deb_assets(deb: &toml::Table) -> Vec<Asset> {
    deb["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_array().expect("assets as [source, target, mode]");
            assert_eq!(a.len(), 3, "{a:?}");
            Asset {
                source: a[0].as_str().unwrap().to_owned(),
                target: a[1].as_str().unwrap().to_owned(),
            }
        })
        .collect()
}

/// What an asset installs, as an absolute path: a target ending in `/` is a directory that
/// receives the source's file name.
fn installed(asset: &Asset, file: &str) -> String {
    if asset.target.ends_with('/') {
        format!("/{}{file}", asset.target)
    } else {
        format!("/{}", asset.target)
    }
}

/// The files an asset's source names, relative to `base`; `*` only in the last component.
fn matches(base: &Path, source: &str) -> Vec<String> {
    let path = Path::new(source);
    let name = path.file_name().unwrap().to_str().unwrap();
    let Some((prefix, suffix)) = name.split_once('*') else {
        return if base.join(path).is_file() {
            vec![name.to_owned()]
        } else {
            vec![]
        };
    };
    let Ok(entries) = std::fs::read_dir(base.join(path.parent().unwrap())) else {
        return vec![];
    };
    entries
        .map(|e| e.unwrap())
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(prefix) && n.ends_with(suffix))
        .collect()
}

/// Generates into `dir` what `scripts/package.sh` generates into `target/assets/`, by running
/// the script's own generating lines with the built binary.
fn generate_assets_like_the_script(dir: &Path) {
    let script = std::fs::read_to_string(repo("scripts/package.sh")).unwrap();
    let lines: Vec<&str> = script
        .lines()
        .filter(|l| l.starts_with("\"$bin\" ") || l.starts_with("mkdir -p \"$assets"))
        .collect();
    assert!(lines.len() >= 5, "package.sh generating lines: {lines:?}");
    let body = format!(
        "set -eu\nbin='{}'\nassets='{}'\n{}\n",
        env!("CARGO_BIN_EXE_trustgate"),
        dir.display(),
        lines.join("\n")
    );
    let out = Command::new("sh").args(["-c", &body]).output().unwrap();
    assert!(
        out.status.success(),
        "{body}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_deb_asset_exists_or_is_generated_by_the_script() {
    let deb = deb_metadata();
    for key in ["maintainer", "section", "priority", "depends"] {
        assert!(deb.contains_key(key), "[package.metadata.deb] lacks {key}");
    }
    assert!(deb["depends"].as_str().unwrap().contains("$auto"));
    let assets = deb_assets(&deb);
    let generated = tempfile::tempdir().unwrap();
    generate_assets_like_the_script(generated.path());

    let mut files = BTreeSet::new();
    for asset in &assets {
        let found = if asset.source == "target/release/trustgate" {
            // cargo-deb's name for the release binary, wherever the target dir is.
            vec!["trustgate".to_owned()]
        } else if let Some(rest) = asset.source.strip_prefix("target/assets/") {
            matches(generated.path(), rest)
        } else {
            assert!(
                !asset.source.starts_with("target/"),
                "{}: only target/release/ and target/assets/ are known",
                asset.source
            );
            matches(&repo(""), &asset.source)
        };
        assert!(!found.is_empty(), "no file for the asset {}", asset.source);
        for file in found {
            assert!(
                files.insert(installed(asset, &file)),
                "installed twice: {file}"
            );
        }
    }
    for path in [
        "/usr/bin/trustgate",
        "/etc/trustgate/trustgate.toml",
        "/usr/lib/systemd/system/trustgate.service",
        "/usr/share/man/man8/trustgate.8",
        "/usr/share/man/man8/trustgate-serve.8",
        "/usr/share/man/man8/trustgate-spool-list.8",
        "/usr/share/bash-completion/completions/trustgate",
        "/usr/share/zsh/vendor-completions/_trustgate",
        "/usr/share/fish/vendor_completions.d/trustgate.fish",
        "/usr/share/doc/trustgate/README.md",
        "/usr/share/doc/trustgate/docs/config.md",
    ] {
        assert!(files.contains(path), "the package does not install {path}");
    }
    let conf_files = deb["conf-files"].as_array().unwrap();
    for conf in conf_files {
        let conf = conf.as_str().unwrap();
        assert!(files.contains(conf), "conf-file {conf} is not installed");
    }

    // The unit runs the binary the package installs and documents itself with what it installs.
    let unit = std::fs::read_to_string(repo("systemd/trustgate.service")).unwrap();
    let unit_source = assets
        .iter()
        .find(|a| a.target.ends_with("systemd/system/trustgate.service"))
        .unwrap();
    assert_eq!(unit_source.source, "systemd/trustgate.service");
    for line in unit.lines().filter(|l| l.starts_with("Exec")) {
        let (_, command) = line.split_once('=').unwrap();
        let binary = command.split_whitespace().next().unwrap();
        assert!(files.contains(binary), "{line}: {binary} is not installed");
    }
    assert!(
        unit.contains("\nExecReload="),
        "the unit has no ExecReload="
    );
    let documentation = unit
        .lines()
        .find_map(|l| l.strip_prefix("Documentation="))
        .expect("Documentation= in the unit");
    for uri in documentation.split_whitespace() {
        let path = if let Some(page) = uri.strip_prefix("man:") {
            let (name, section) = page.trim_end_matches(')').split_once('(').unwrap();
            format!("/usr/share/man/man{section}/{name}.{section}")
        } else {
            uri.strip_prefix("file://")
                .expect("man: or file://")
                .to_owned()
        };
        assert!(files.contains(&path), "Documentation={uri}: not installed");
    }
}

#[test]
fn the_maintainer_scripts_are_executable_shell() {
    let deb = deb_metadata();
    let dir = repo(deb["maintainer-scripts"].as_str().unwrap());
    for name in ["postinst", "prerm", "postrm"] {
        let path = dir.join(name);
        let mode = std::os::unix::fs::PermissionsExt::mode(&path.metadata().unwrap().permissions());
        assert_eq!(mode & 0o111, 0o111, "{name} is not executable");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"), "{name}");
        let out = Command::new("sh").arg("-n").arg(&path).output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let postinst = std::fs::read_to_string(dir.join("postinst")).unwrap();
    for needed in [
        "useradd --system",
        "/var/spool/trustgate",
        "nologin",
        "0750",
    ] {
        assert!(postinst.contains(needed), "postinst lacks {needed}");
    }
    // Neither enabled nor started on a first install: the shipped config is a template.
    for line in postinst.lines().map(str::trim_start) {
        assert!(
            !line.starts_with("systemctl enable") && !line.starts_with("systemctl start"),
            "postinst: {line}"
        );
    }
    // Acknowledged mail lives in the spool: no script deletes it.
    for name in ["postinst", "prerm", "postrm"] {
        let text = std::fs::read_to_string(dir.join(name)).unwrap();
        assert!(
            !text
                .lines()
                .any(|l| l.contains("rm -") && !l.trim_start().starts_with('#')),
            "{name} removes files"
        );
    }
}
