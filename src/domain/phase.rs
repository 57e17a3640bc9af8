//! Phases and their policies.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A phase id: 1-64 characters of lowercase letters, digits, `-` and `_`, starting with a
/// letter or digit (`task1-dev`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PhaseId(String);

impl PhaseId {
    /// Parses a phase id.
    pub fn parse(raw: &str) -> Option<PhaseId> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw.as_bytes()[0].is_ascii_alphanumeric()
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        ok.then(|| PhaseId(raw.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for PhaseId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        PhaseId::parse(&raw).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "phase id \"{raw}\" must be lowercase letters, digits, '-' or '_'"
            ))
        })
    }
}

impl fmt::Display for PhaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Who may see a phase's scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Everyone sees the leaderboard.
    Public,
    /// A team sees only its own scores.
    Own,
    /// Teams see only that their submission was scored; organizers see everything.
    Hidden,
}

impl Visibility {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Own => "own",
            Visibility::Hidden => "hidden",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(raw: &str) -> Option<Visibility> {
        match raw {
            "public" => Some(Visibility::Public),
            "own" => Some(Visibility::Own),
            "hidden" => Some(Visibility::Hidden),
            _ => None,
        }
    }
}

/// Which submission of a team stands on the leaderboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaderboardRule {
    /// The team's best scored submission (by the ranking order).
    #[default]
    Best,
    /// The team's most recent scored submission.
    Latest,
    /// The submission the team selected (its best while none is selected).
    Selected,
}

impl LeaderboardRule {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LeaderboardRule::Best => "best",
            LeaderboardRule::Latest => "latest",
            LeaderboardRule::Selected => "selected",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(raw: &str) -> Option<LeaderboardRule> {
        match raw {
            "best" => Some(LeaderboardRule::Best),
            "latest" => Some(LeaderboardRule::Latest),
            "selected" => Some(LeaderboardRule::Selected),
            _ => None,
        }
    }
}

/// Per-team upload allowances of a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Quotas {
    /// Scored uploads per rolling 24 h.
    pub per_day: u32,
    /// Scored uploads in the whole phase.
    pub total: u32,
    /// Refused uploads per rolling 24 h (stops probing a hidden set with failing runs).
    pub refused_per_day: u32,
}

/// A phase as stored.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Id.
    pub id: PhaseId,
    /// Task id.
    pub task_id: String,
    /// Task display name.
    pub task_name: String,
    /// Display name.
    pub name: String,
    /// Opening instant (inclusive).
    pub starts_at: DateTime<Utc>,
    /// Closing instant (exclusive: an upload at `ends_at` is late).
    pub ends_at: DateTime<Utc>,
    /// Configured visibility.
    pub visibility: Visibility,
    /// True once an organizer revealed the phase.
    pub revealed: bool,
    /// Leaderboard rule.
    pub rule: LeaderboardRule,
    /// Quotas.
    pub quotas: Quotas,
    /// Bootstrap replicates (0 = none).
    pub bootstrap_replicates: u32,
    /// The reference version the leaderboard shows, if any.
    pub active_reference_id: Option<i64>,
    /// Double-blind: team names replaced by pseudonyms for everyone but organizers.
    pub anonymous: bool,
    /// The task definition (built-in number or custom TOML).
    pub task: TaskDef,
}

/// How a phase's task is defined.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskDef {
    /// A built-in CXR-LT task.
    Builtin(u8),
    /// A custom `task.toml`.
    Custom(String),
}

impl TaskDef {
    /// The engine's task.
    pub fn task(&self) -> scoring::Task {
        match self {
            TaskDef::Builtin(n) => scoring::Task::builtin(*n).expect("checked when seeded"),
            TaskDef::Custom(text) => {
                scoring::Task::from_toml_str(text).expect("checked when seeded")
            }
        }
    }
}

impl Phase {
    /// Visibility after an organizer reveal.
    pub fn effective_visibility(&self) -> Visibility {
        if self.revealed {
            Visibility::Public
        } else {
            self.visibility
        }
    }

    /// True when uploads are accepted at `now` (start inclusive, end exclusive).
    pub fn is_open(&self, now: DateTime<Utc>) -> bool {
        self.starts_at <= now && now < self.ends_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_ids_are_url_safe() {
        assert!(PhaseId::parse("task1-dev").is_some());
        assert!(PhaseId::parse("Task1").is_none());
        assert!(PhaseId::parse("-x").is_none());
        assert!(PhaseId::parse("a/b").is_none());
        assert!(PhaseId::parse("").is_none());
    }
}
