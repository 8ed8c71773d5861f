//! The `trustgate` binary: all the work is in the library; see `trustgate --help`.

fn main() {
    std::process::exit(trustgate::cli::run());
}
