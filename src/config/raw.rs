//! Serde mirror of the TOML file.
// STUB: owned by the config helper.
