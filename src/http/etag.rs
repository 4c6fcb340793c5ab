//! Conditional requests: `If-None-Match` against an entity tag.

use axum::http::{HeaderMap, header};

/// True when the request's `If-None-Match` names `etag` (weak comparison,
/// as RFC 9110 §13.1.2 prescribes) or is `*`.
pub fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|tag| {
                let tag = tag.trim();
                tag == "*" || tag.trim_start_matches("W/") == etag
            })
        })
}
