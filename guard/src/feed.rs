//! The wire format of Signet's revocation feed, `GET /v1/revocations`
//! (CONTRACT §7), defined once: the guard reads it and Signet writes it.
//!
//! ```json
//! {"cursor": "42", "entries": [{"sid": "…", "exp": 1700000000},
//!                              {"jti": "…", "exp": 1700000000},
//!                              {"keys": "changed"}]}
//! ```

use serde::{Deserialize, Serialize};

/// One answer of the feed: the entries after the requested cursor, oldest
/// first, and the cursor to ask from next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedPage {
    pub cursor: String,
    #[serde(default)]
    pub entries: Vec<FeedEntry>,
}

/// One entry of the feed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FeedEntry {
    /// Every token of session `sid` is refused until `exp`.
    Sid { sid: String, exp: i64 },
    /// The token `jti` is refused until `exp`.
    Jti { jti: String, exp: i64 },
    /// The published key set changed (a key added, activated early or
    /// withdrawn): followers refetch the JWKS now.
    Keys { keys: KeysEvent },
    /// An entry this version does not know; skipped, so a newer Signet can
    /// add kinds without stopping older followers.
    Other(serde_json::Value),
}

/// The value of a `keys` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeysEvent {
    Changed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let text = r#"{"cursor":"7","entries":[{"sid":"s","exp":5},{"jti":"j","exp":6},{"keys":"changed"},{"new":"kind"}]}"#;
        let page: FeedPage = serde_json::from_str(text).unwrap();
        assert_eq!(
            page.entries[..3],
            [
                FeedEntry::Sid {
                    sid: "s".into(),
                    exp: 5
                },
                FeedEntry::Jti {
                    jti: "j".into(),
                    exp: 6
                },
                FeedEntry::Keys {
                    keys: KeysEvent::Changed
                },
            ]
        );
        assert!(matches!(page.entries[3], FeedEntry::Other(_)));
        assert_eq!(serde_json::to_string(&page).unwrap(), text);
    }
}
