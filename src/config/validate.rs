//! Raw TOML to validated [`super::Config`], collecting every error.
// STUB: owned by the config helper.

use std::fmt;
use std::path::{Path, PathBuf};

/// One config problem, located.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)
    }
}

/// All problems found in a config.
#[derive(Debug, Clone)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for e in &self.0 {
            writeln!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Loads and validates.
///
/// # Errors
/// All problems.
pub fn load(path: &Path) -> Result<super::Config, ConfigErrors> {
    Err(ConfigErrors(vec![ConfigError {
        file: path.to_path_buf(),
        line: 1,
        column: 1,
        message: "not yet implemented".into(),
    }]))
}
