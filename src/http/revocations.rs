//! `GET /v1/revocations`: the revocation feed, with cursor, long poll and
//! entity tags (CONTRACT §7).

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::extract::ClientIp;
use crate::app::AppState;
use crate::error::ApiError;
use crate::store::Revocation;

/// Longest long poll, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;

#[derive(Deserialize)]
pub struct FeedQuery {
    after: Option<String>,
    wait: Option<u64>,
}

#[derive(Serialize)]
struct FeedBody {
    cursor: String,
    entries: Vec<Entry>,
}

/// `{"sid": …, "exp": …}` or `{"jti": …, "exp": …}`.
#[derive(Serialize)]
struct Entry {
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<String>,
    exp: i64,
}

impl From<Revocation> for Entry {
    fn from(entry: Revocation) -> Self {
        let (sid, jti) = match entry.kind {
            crate::store::RevocationKind::Sid => (Some(entry.value), None),
            crate::store::RevocationKind::Jti => (None, Some(entry.value)),
        };
        Self {
            sid,
            jti,
            exp: entry.exp,
        }
    }
}

pub async fn feed(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    query: Result<Query<FeedQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.throttle.feed(ip)?;
    let Query(query) = query.map_err(|e| bad_request(e.body_text()))?;
    let after = match query.after.as_deref() {
        None | Some("") => 0,
        Some(text) => Some(text)
            .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|t| t.parse::<i64>().ok())
            .ok_or_else(|| bad_request("after must be a cursor returned by this feed".into()))?,
    };
    let wait = query.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECS {
        return Err(bad_request(format!(
            "wait must be at most {MAX_WAIT_SECS} seconds"
        )));
    }
    let page = state
        .revocations
        .page(after, Duration::from_secs(wait))
        .await?;
    let etag = format!("\"{}\"", page.cursor);
    let unchanged = super::etag::not_modified(&headers, &etag);
    let headers = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, "no-cache".to_owned()),
    ];
    if unchanged && page.entries.is_empty() {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    let body = FeedBody {
        cursor: page.cursor.to_string(),
        entries: page.entries.into_iter().map(Entry::from).collect(),
    };
    Ok((headers, Json(body)).into_response())
}

fn bad_request(detail: String) -> ApiError {
    ApiError::problem(StatusCode::BAD_REQUEST, "Bad Request", detail)
}
