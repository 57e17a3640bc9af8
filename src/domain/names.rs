//! Names and secrets typed by people.

use std::fmt;

/// Why a name or password was refused (the message is shown to the user).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

/// A team name: 1-60 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamName(String);

impl TeamName {
    /// Parses a team name.
    pub fn parse(raw: &str) -> Result<TeamName, NameError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(NameError("team name is empty".into()));
        }
        if name.chars().count() > 60 {
            return Err(NameError("team name is longer than 60 characters".into()));
        }
        if name.chars().any(char::is_control) {
            return Err(NameError("team name contains a control character".into()));
        }
        if name.eq_ignore_ascii_case(crate::db::people::BASELINE_TEAM) {
            return Err(NameError("this team name is reserved".into()));
        }
        Ok(TeamName(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TeamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A login name: 2-40 characters of ASCII letters, digits, `.`, `_`, `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login(String);

impl Login {
    /// Parses a login name.
    pub fn parse(raw: &str) -> Result<Login, NameError> {
        let login = raw.trim();
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if !(2..=40).contains(&login.len()) || !login.chars().all(ok_char) {
            return Err(NameError(
                "login must be 2-40 characters of letters, digits, '.', '_' or '-'".into(),
            ));
        }
        Ok(Login(login.to_string()))
    }

    /// The login.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password of 10 to 200 characters (never logged, never stored in clear).
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Parses a password.
    pub fn parse(raw: &str) -> Result<Password, NameError> {
        let n = raw.chars().count();
        if n < 10 {
            return Err(NameError(
                "password must have at least 10 characters".into(),
            ));
        }
        if n > 200 {
            return Err(NameError("password is longer than 200 characters".into()));
        }
        Ok(Password(raw.to_string()))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// The public id of a submission: 128 random bits as 32 lowercase hex digits, so ids say
/// nothing about how many submissions exist and cannot be guessed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct SubmissionId(String);

impl SubmissionId {
    /// A fresh random id.
    pub fn random() -> SubmissionId {
        let bytes: [u8; 16] = rand::random();
        SubmissionId(hex::encode(bytes))
    }

    /// Parses an id from a URL; anything else than 32 lowercase hex digits is refused.
    pub fn parse(raw: &str) -> Option<SubmissionId> {
        let ok = raw.len() == 32 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| SubmissionId(raw.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SubmissionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_names_are_trimmed_and_bounded() {
        assert_eq!(TeamName::parse("  MedAI ").unwrap().as_str(), "MedAI");
        assert!(TeamName::parse("   ").is_err());
        assert!(TeamName::parse(&"x".repeat(61)).is_err());
        assert!(TeamName::parse("a\u{0007}b").is_err());
    }

    #[test]
    fn submission_ids_are_random_hex() {
        let a = SubmissionId::random();
        assert_ne!(a, SubmissionId::random());
        assert_eq!(SubmissionId::parse(a.as_str()), Some(a));
        assert_eq!(SubmissionId::parse("1"), None);
        assert_eq!(SubmissionId::parse(&"G".repeat(32)), None);
    }
}
