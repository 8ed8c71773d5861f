//! Intake: MIME parsing and pairing.
