//! The one error type of the engine. Every message is the single line a participant or an
//! organizer reads: it names the row, column and value where there are some.

/// Why a submission, a reference or a task definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoringError {
    /// The submission breaks a rule of spec section 4 (the participant must fix it).
    #[error("{0}")]
    Refused(String),
    /// The reference labels are unusable (the organizer must fix them).
    #[error("reference labels: {0}")]
    Reference(String),
    /// A `task.toml` is malformed.
    #[error("{0}")]
    Task(String),
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(String),
}

impl ScoringError {
    /// Shorthand for a refusal with a formatted message.
    pub fn refused(msg: impl Into<String>) -> Self {
        ScoringError::Refused(msg.into())
    }
}

/// Result type of the engine.
pub type Result<T, E = ScoringError> = std::result::Result<T, E>;
