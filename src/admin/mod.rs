//! The administrators' interfaces to a running daemon. Today the control socket
//! (`control.rs`): the CLI's `spool`, `sender` and `invite` commands ask the daemon over
//! `<spool>/control.sock`, since only one process may open the spool. The admin HTTP API
//! (issue 12) joins it here, answering from the same spool calls; `openapi.rs` describes it.

pub mod control;
pub mod http;
pub mod openapi;
