//! Instants as stored: UTC text with a fixed width, so that text order is time order.

use chrono::{DateTime, SecondsFormat, Utc};

/// An instant in UTC.
pub type Timestamp = DateTime<Utc>;

/// The stored form: `2024-05-01T12:00:00.000000Z`.
pub fn ts(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Parses a stored instant (any RFC 3339 form is accepted).
pub fn parse_ts(raw: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_instants_sort_as_text() {
        let a = parse_ts("2024-05-01T09:59:59Z").unwrap();
        let b = parse_ts("2024-05-01T10:00:00.5Z").unwrap();
        assert!(ts(a) < ts(b));
        assert_eq!(parse_ts(&ts(b)), Some(b));
    }
}
