//! Drives one session over a socket.
// STUB: owned by the smtp helper.
