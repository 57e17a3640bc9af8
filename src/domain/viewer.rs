//! Who is asking: every read path takes a [`Viewer`] and applies visibility itself.

/// The identity behind a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Viewer {
    /// No or no valid credentials.
    Anonymous,
    /// A member (or the API token) of a team.
    Team {
        /// The team.
        team_id: i64,
        /// The logged-in member, `None` for an API token.
        user_id: Option<i64>,
        /// False until an organizer approves the team.
        approved: bool,
    },
    /// An organizer.
    Organizer {
        /// The organizer's user row.
        user_id: i64,
    },
}

impl Viewer {
    /// True for organizers.
    pub fn is_organizer(&self) -> bool {
        matches!(self, Viewer::Organizer { .. })
    }

    /// The viewer's team, if any.
    pub fn team_id(&self) -> Option<i64> {
        match self {
            Viewer::Team { team_id, .. } => Some(*team_id),
            _ => None,
        }
    }
}
