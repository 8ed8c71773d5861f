//! `trustgate man --out DIR` and `trustgate completions SHELL`: the man pages and shell
//! completion scripts, generated from the clap definition of the command line so that they
//! cannot drift from it. `scripts/package.sh` runs both with the built binary to fill the
//! Debian package; neither needs a config.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::Cli;

/// The man section: trustgate is a daemon and its administration tools.
const SECTION: &str = "8";

/// The name the completion scripts complete, the installed binary's.
const BIN_NAME: &str = "trustgate";

/// `trustgate man --out DIR`: exit 0 when every page was written, else 1 with the reason.
pub fn man(out: &Path) -> i32 {
    match write_man_pages(out) {
        Ok(_) => 0,
        Err(err) => {
            eprintln!(
                "trustgate: cannot write the man pages into {}: {err}",
                out.display()
            );
            1
        }
    }
}

/// Writes `trustgate.8` and one page per subcommand, nested ones included
/// (`trustgate-spool-list.8`), into `out` (created when missing); returns the files written.
pub fn write_man_pages(out: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out)?;
    // `help` is clap's own subcommand: a page for it would only say "see trustgate(8)".
    let mut root = Cli::command().disable_help_subcommand(true);
    // Building fills in each subcommand's display name (`trustgate-spool-list`), which names
    // its page and the cross references in its parent's SUBCOMMANDS section.
    root.build();
    let mut written = Vec::new();
    write_tree(&root, out, &mut written)?;
    Ok(written)
}

/// The page of `cmd`, then those of its visible subcommands, depth first.
fn write_tree(cmd: &clap::Command, out: &Path, written: &mut Vec<PathBuf>) -> std::io::Result<()> {
    // Subcommands carry no version of their own: every page names the program's.
    let page = clap_mangen::Man::new(cmd.clone())
        .section(SECTION)
        .source(concat!("trustgate ", env!("CARGO_PKG_VERSION")))
        .manual("trustgate manual");
    written.push(page.generate_to(out)?);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_tree(sub, out, written)?;
    }
    Ok(())
}

/// `trustgate completions SHELL`: the script on `out`; exit 1 when it cannot be written
/// (a closed pipe, a full disk).
pub fn completions(shell: clap_complete::Shell, out: &mut impl Write) -> i32 {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), BIN_NAME, &mut script);
    match out.write_all(&script).and_then(|()| out.flush()) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("trustgate: cannot print the {shell} completions: {err}");
            1
        }
    }
}
