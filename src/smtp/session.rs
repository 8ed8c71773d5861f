//! The sans-I/O SMTP session state machine.
// STUB: owned by the smtp helper.
