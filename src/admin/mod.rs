//! The administrators' interfaces to a running daemon: the control socket (`control.rs`),
//! which the CLI's `spool`, `sender`, `invite`, `apikey` and `reload` commands ask over
//! `<spool>/control.sock` since only one process may open the spool; and the admin HTTP API
//! (`http.rs`, HTTPS through `tls.rs`), answering from the same spool calls, which
//! `openapi.rs` describes (`docs/openapi.json`).

pub mod control;
pub mod http;
pub mod openapi;
pub mod senders;
pub mod tls;
