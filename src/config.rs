//! The competition definition: a TOML file given with `--config`, or the built-in CXR-LT 2024
//! competition.
//!
//! ```toml
//! [competition]
//! id = "cxr-lt-2024"
//! title = "CXR-LT 2024"
//! description = "..."
//!
//! [[tasks]]
//! id = "task1"
//! name = "Task 1: long-tailed classification (40 labels)"
//! builtin = 1                     # or: task_toml = "path/to/task.toml"
//!
//! [[tasks.phases]]
//! id = "task1-dev"
//! name = "Development"
//! start = "2024-05-01T00:00:00Z"  # optional: omitted = when first seeded
//! end = "2024-08-31T23:59:59Z"    # optional: omitted = 120 days after the start
//! visibility = "public"           # public | own | hidden
//! rule = "best"                   # best | latest | selected
//! quota_per_day = 5               # scored uploads per rolling 24 h
//! quota_total = 100               # scored uploads in the whole phase
//! refused_per_day = 20            # refused uploads per rolling 24 h
//! bootstrap = 1000                # bootstrap replicates (0 = no intervals)
//! anonymous = false               # true: teams shown under pseudonyms (double-blind)
//! ```
//!
//! Phases whose start or end is omitted keep the instants chosen when they were first
//! seeded; explicit instants and every other setting are applied again at each start, so
//! the file stays the source of truth.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::domain::{LeaderboardRule, PhaseId, Visibility};

/// Why a competition file was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The TOML is malformed or a value is invalid.
    #[error("{0}")]
    Invalid(String),
}

/// A whole competition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompetitionConfig {
    /// Identity and texts.
    pub competition: CompetitionInfo,
    /// Tasks in display order.
    pub tasks: Vec<TaskConfig>,
}

/// Identity and texts of a competition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompetitionInfo {
    /// Stable identifier.
    pub id: String,
    /// Title shown on every page.
    pub title: String,
    /// Plain-text description (escaped when shown).
    #[serde(default)]
    pub description: String,
}

/// One task and its phases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskConfig {
    /// Stable identifier.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Built-in CXR-LT task number (1, 2 or 3).
    #[serde(default)]
    pub builtin: Option<u8>,
    /// Path to a custom `task.toml` (relative to the config file).
    #[serde(default)]
    pub task_toml: Option<String>,
    /// Contents of the custom task definition, read at load time.
    #[serde(skip)]
    pub task_toml_text: Option<String>,
    /// Phases in display order.
    pub phases: Vec<PhaseConfig>,
}

/// One phase of a task.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseConfig {
    /// Phase id used in URLs and on the command line.
    pub id: PhaseId,
    /// Display name.
    pub name: String,
    /// Opening instant; omitted = when first seeded.
    #[serde(default)]
    pub start: Option<DateTime<Utc>>,
    /// Closing instant; omitted = 120 days after the start.
    #[serde(default)]
    pub end: Option<DateTime<Utc>>,
    /// Who sees the leaderboard.
    #[serde(default = "default_visibility")]
    pub visibility: Visibility,
    /// Which entry of a team counts.
    #[serde(default)]
    pub rule: LeaderboardRule,
    /// Scored uploads per team per rolling 24 h.
    #[serde(default = "default_per_day")]
    pub quota_per_day: u32,
    /// Scored uploads per team in the phase.
    #[serde(default = "default_total")]
    pub quota_total: u32,
    /// Refused uploads per team per rolling 24 h.
    #[serde(default = "default_refused")]
    pub refused_per_day: u32,
    /// Bootstrap replicates for the confidence intervals (0 = none).
    #[serde(default = "default_bootstrap")]
    pub bootstrap: u32,
    /// Double-blind: teams appear under pseudonyms to everyone but organizers.
    #[serde(default)]
    pub anonymous: bool,
}

fn default_visibility() -> Visibility {
    Visibility::Public
}
fn default_per_day() -> u32 {
    5
}
fn default_total() -> u32 {
    100
}
fn default_refused() -> u32 {
    20
}
fn default_bootstrap() -> u32 {
    1000
}

impl CompetitionConfig {
    /// Parses a competition file; `base` resolves relative `task_toml` paths.
    pub fn parse(text: &str, base: Option<&Path>) -> Result<CompetitionConfig, ConfigError> {
        let mut config: CompetitionConfig =
            toml::from_str(text).map_err(|e| ConfigError::Invalid(one_line(&e.to_string())))?;
        for task in &mut config.tasks {
            if let Some(rel) = &task.task_toml {
                let path = base.map(|b| b.join(rel)).unwrap_or_else(|| rel.into());
                let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                task.task_toml_text = Some(text);
            }
        }
        config.check()?;
        Ok(config)
    }

    /// Reads and parses a competition file.
    pub fn load(path: &Path) -> Result<CompetitionConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        CompetitionConfig::parse(&text, path.parent())
    }

    /// The built-in CXR-LT 2024 competition: three tasks, Development (public) and Test
    /// (hidden) phases, open from the first start for 120 days.
    pub fn cxr_lt_2024() -> CompetitionConfig {
        let tasks = [
            (1, "Task 1: long-tailed classification, 40 findings"),
            (2, "Task 2: gold-standard test set, 26 findings"),
            (3, "Task 3: zero-shot, 5 unseen findings"),
        ];
        let tasks = tasks
            .iter()
            .map(|&(n, name)| TaskConfig {
                id: format!("task{n}"),
                name: name.to_string(),
                builtin: Some(n),
                task_toml: None,
                task_toml_text: None,
                phases: vec![
                    PhaseConfig {
                        id: PhaseId::parse(&format!("task{n}-dev")).expect("valid id"),
                        name: "Development".into(),
                        start: None,
                        end: None,
                        visibility: Visibility::Public,
                        rule: LeaderboardRule::Best,
                        quota_per_day: 5,
                        quota_total: 100,
                        refused_per_day: 20,
                        bootstrap: 1000,
                        anonymous: false,
                    },
                    PhaseConfig {
                        id: PhaseId::parse(&format!("task{n}-test")).expect("valid id"),
                        name: "Test".into(),
                        start: None,
                        end: None,
                        visibility: Visibility::Hidden,
                        rule: LeaderboardRule::Best,
                        quota_per_day: 2,
                        quota_total: 5,
                        refused_per_day: 5,
                        bootstrap: 1000,
                        anonymous: false,
                    },
                ],
            })
            .collect();
        CompetitionConfig {
            competition: CompetitionInfo {
                id: "cxr-lt-2024".into(),
                title: "CXR-LT 2024".into(),
                description: "Long-tailed, multi-label and zero-shot classification of chest \
                              X-rays (MICCAI 2024 challenge)."
                    .into(),
            },
            tasks,
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        let mut seen = std::collections::HashSet::new();
        for task in &self.tasks {
            match (&task.builtin, &task.task_toml) {
                (Some(n), None) if (1..=3).contains(n) => {}
                (Some(n), None) => {
                    return Err(ConfigError::Invalid(format!(
                        "task \"{}\": builtin = {n} is not a CXR-LT task (1, 2 or 3)",
                        task.id
                    )))
                }
                (None, Some(_)) => {
                    let text = task.task_toml_text.as_deref().unwrap_or_default();
                    scoring::Task::from_toml_str(text)
                        .map_err(|e| ConfigError::Invalid(format!("task \"{}\": {e}", task.id)))?;
                }
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "task \"{}\": give exactly one of builtin or task_toml",
                        task.id
                    )))
                }
            }
            for phase in &task.phases {
                if !seen.insert(phase.id.as_str().to_string()) {
                    return Err(ConfigError::Invalid(format!(
                        "phase id \"{}\" is used twice",
                        phase.id
                    )));
                }
                if let (Some(s), Some(e)) = (phase.start, phase.end) {
                    if e <= s {
                        return Err(ConfigError::Invalid(format!(
                            "phase \"{}\": end {e} is not after start {s}",
                            phase.id
                        )));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Collapses a multi-line parser message into one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
