//! Parsed domain types: a value of one of these types is valid by construction, so the rest
//! of the server never re-checks untrusted input.

mod names;
mod phase;
mod time;
mod viewer;

pub use names::{Login, NameError, Password, SubmissionId, TeamName};
pub use phase::{LeaderboardRule, Phase, PhaseId, Quotas, TaskDef, Visibility};
pub use time::{parse_ts, ts, Timestamp};
pub use viewer::Viewer;
