//! `GET /v1/revocations`: the revocation feed, with cursor, long poll and
//! entity tags (CONTRACT §7). The JSON is `signet_guard::feed`'s, so the
//! guard reads exactly what is written here.

use std::time::Duration;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use signet_guard::feed::{FeedEntry, FeedPage, KeysEvent};

use super::client_auth;
use super::extract::ClientIp;
use crate::app::AppState;
use crate::error::{ApiError, problem_response};
use crate::store::{Revocation, RevocationKind};

/// Longest long poll, in seconds.
pub const MAX_WAIT_SECS: u64 = 30;

/// The scope that exempts an authenticated feed reader (a guard) from the
/// per-address feed budget.
pub const FEED_SCOPE: &str = "signet:feed";

#[derive(Deserialize)]
pub struct FeedQuery {
    after: Option<String>,
    wait: Option<u64>,
}

fn entry(entry: Revocation) -> FeedEntry {
    match entry.kind {
        RevocationKind::Sid => FeedEntry::Sid {
            sid: entry.value,
            exp: entry.exp,
        },
        RevocationKind::Jti => FeedEntry::Jti {
            jti: entry.value,
            exp: entry.exp,
        },
        RevocationKind::Keys => FeedEntry::Keys {
            keys: KeysEvent::Changed,
        },
    }
}

pub async fn feed(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    query: Result<Query<FeedQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    match reader(&state, &headers).await? {
        Reader::Feed => {}
        Reader::Public => state.throttle.feed(ip)?,
        Reader::Refused(response) => {
            state.throttle.feed(ip)?;
            return Ok(response);
        }
    }
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
    // The entity tag names the feed position: for one `after`, the same
    // position is the same list (entries only ever come after it), so a
    // matching `If-None-Match` is 304 whatever `after` was.
    let etag = format!("\"{}\"", page.cursor);
    let unchanged = super::etag::not_modified(&headers, &etag);
    let headers = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, "no-cache".to_owned()),
    ];
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, headers).into_response());
    }
    let body = FeedPage {
        cursor: page.cursor.to_string(),
        entries: page.entries.into_iter().map(entry).collect(),
    };
    Ok((headers, Json(body)).into_response())
}

/// Who reads the feed.
enum Reader {
    /// HTTP Basic credentials of a client with [`FEED_SCOPE`]: not throttled.
    Feed,
    /// No client credentials: throttled per address.
    Public,
    /// Credentials that fail, or lack the scope: throttled, then refused,
    /// so guessing secrets here costs the same budget as reading.
    Refused(Response),
}

async fn reader(state: &AppState, headers: &HeaderMap) -> Result<Reader, ApiError> {
    let unauthorized = || {
        let mut response = problem_response(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "client authentication failed",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"signet\""),
        );
        Reader::Refused(response)
    };
    let Ok(presented) = client_auth::presented(headers, None, None) else {
        return Ok(unauthorized());
    };
    let Some(presented) = presented else {
        return Ok(Reader::Public);
    };
    let client = match client_auth::authenticate(state, presented).await {
        Ok(client) => client,
        Err(ApiError::OAuth { .. }) => return Ok(unauthorized()),
        Err(error) => return Err(error),
    };
    if client.scope.split(' ').any(|s| s == FEED_SCOPE) {
        Ok(Reader::Feed)
    } else {
        Ok(Reader::Refused(problem_response(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!("this client lacks the scope {FEED_SCOPE}"),
        )))
    }
}

fn bad_request(detail: String) -> ApiError {
    ApiError::problem(StatusCode::BAD_REQUEST, "Bad Request", detail)
}
