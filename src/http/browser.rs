//! `POST /v1/browser/login`, `/v1/browser/refresh` and `/v1/browser/logout`
//! (CONTRACT §9): the sessions of the token endpoint, with cookies as the
//! transport so that no token is ever readable by the page's scripts.
//!
//! Set-Cookie values are written here rather than with a cookie crate:
//! every value is base64url or a JWS (no quoting or encoding needed) and the
//! attributes are fixed by the contract, so a dependency would add nothing.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};
use signet_guard::axum::cookies::{self, REFRESH_COOKIE};

use super::csrf;
use super::extract::{Bearer, ClientIp, OAuthBody};
use super::sessions::client_seen;
use crate::app::AppState;
use crate::auth::login::LoginAttempt;
use crate::error::ApiError;
use crate::telemetry;
use crate::tokens::access::peek;
use crate::tokens::csrf::refresh_session;
use crate::tokens::sessions::{SessionError, TokenPair};

/// The refresh cookie never leaves this path.
const REFRESH_PATH: &str = "/v1/browser";
/// Appended to the refresh cookie's value when the cookies are persistent,
/// so a refresh re-issues cookies of the same kind without server state
/// (base64url never contains a dot).
const REMEMBER_SUFFIX: &str = ".r";

#[derive(Deserialize)]
pub struct LoginRequest {
    email: Option<String>,
    password: Option<SecretString>,
    #[serde(default, deserialize_with = "flag")]
    remember: bool,
}

/// The body of a successful login or refresh.
#[derive(Serialize)]
struct SessionView {
    sub: String,
    sid: String,
    /// When the access cookie's token expires (RFC 3339): refresh before.
    expires_at: String,
}

/// Logs in with email and password; sets the three cookies.
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    OAuthBody(request): OAuthBody<LoginRequest>,
) -> Result<Response, ApiError> {
    csrf::check_origin(&state, &headers)?;
    let (Some(email), Some(password)) = (request.email, request.password) else {
        return Err(ApiError::oauth(
            "invalid_request",
            "a login needs email and password",
        ));
    };
    let attempt = LoginAttempt {
        ip,
        username: &email,
        password,
        scope: None,
        client: client_seen(&headers, ip),
    };
    let pair = state.logins().password_login(attempt).await?;
    let refresh_ttl = i64::try_from(state.config.refresh_ttl.as_secs()).unwrap_or(i64::MAX);
    let session_end = chrono::Utc::now().timestamp().saturating_add(refresh_ttl);
    issue(&state, pair, request.remember, session_end)
}

/// Rotates the refresh cookie (same rotation, grace window and reuse
/// detection as the refresh grant) and sets new cookies.
pub async fn refresh(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    state.throttle.refresh(ip)?;
    let value = cookies::cookie(&headers, REFRESH_COOKIE)
        .map_err(|_| ApiError::oauth("invalid_request", "send exactly one refresh cookie"))?
        .ok_or_else(|| ApiError::oauth("invalid_request", "the refresh cookie is missing"))?;
    let (token, remember) = match value.strip_suffix(REMEMBER_SUFFIX) {
        Some(token) => (token, true),
        None => (value, false),
    };
    let session = refresh_session(&state.store, token).await?;
    match &session {
        Some(session) => csrf::check(&state, &headers, Some(&session.id))?,
        None => csrf::check_origin(&state, &headers)?,
    }
    match state
        .sessions
        .refresh(
            &state.keys.current(),
            token,
            None,
            client_seen(&headers, ip),
        )
        .await
    {
        Ok(pair) => {
            telemetry::token_issued("refresh_token");
            let session_end = session.map_or(i64::MAX, |s| s.expires_at);
            issue(&state, pair, remember, session_end)
        }
        Err(
            error @ (SessionError::UnknownToken
            | SessionError::Expired
            | SessionError::Idle
            | SessionError::Revoked
            | SessionError::Reused),
        ) => {
            // The session is over: the cookies have nothing left to carry.
            let mut response = ApiError::from(error).into_response();
            clear_cookies(&state, response.headers_mut());
            Ok(response)
        }
        Err(error) => Err(error.into()),
    }
}

/// Revokes the session (named by the access cookie or bearer token, else by
/// the refresh cookie) and clears the cookies; 204 even when there was no
/// session left.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    bearer: Result<Bearer, ApiError>,
) -> Result<Response, ApiError> {
    // A valid bearer token needs no CSRF check, and an access cookie has
    // passed it in `Bearer` already; a session named by the refresh cookie
    // (the access cookie expired) is checked here.
    let mut session = bearer
        .ok()
        .and_then(|Bearer(claims)| claims.sid.map(|sid| (sid, claims.sub)));
    let checked = session.is_some();
    if session.is_none()
        && let Some(value) = cookies::cookie(&headers, REFRESH_COOKIE).ok().flatten()
    {
        let token = value.strip_suffix(REMEMBER_SUFFIX).unwrap_or(value);
        session = refresh_session(&state.store, token)
            .await?
            .map(|s| (s.id, s.user_id));
    }
    if !checked {
        match &session {
            Some((sid, _)) => csrf::check(&state, &headers, Some(sid))?,
            None => csrf::check_origin(&state, &headers)?,
        }
    }
    if let Some((sid, user)) = &session {
        state.sessions.logout_browser(sid, user).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    clear_cookies(&state, response.headers_mut());
    Ok(response)
}

/// 200 with the session's view and its three cookies.
fn issue(
    state: &AppState,
    pair: TokenPair,
    remember: bool,
    session_end: i64,
) -> Result<Response, ApiError> {
    let (sub, sid) = peek(&pair.access.token)
        .and_then(|(_, claims)| {
            let text = |name: &str| claims[name].as_str().map(str::to_owned);
            Some((text("sub")?, text("sid")?))
        })
        .ok_or_else(|| {
            tracing::error!("a session token without sub or sid");
            ApiError::problem(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal Server Error",
                "the server could not complete the request",
            )
        })?;
    let now = chrono::Utc::now().timestamp();
    let session_left = session_end.saturating_sub(now).max(0);
    let access_left = i64::try_from(pair.access.expires_in).unwrap_or(i64::MAX);
    let lifetime = |seconds: i64| remember.then_some(seconds);
    let names = csrf::names(state);
    let refresh_value = if remember {
        format!("{}{REMEMBER_SUFFIX}", pair.refresh_token)
    } else {
        pair.refresh_token
    };
    let expires_at = chrono::DateTime::from_timestamp(pair.access.exp, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut response = Json(SessionView {
        sid: sid.clone(),
        sub,
        expires_at,
    })
    .into_response();
    let domain = state.config.cookie_domain.as_deref();
    let headers = response.headers_mut();
    for cookie in [
        Cookie::access(
            names.access,
            &pair.access.token,
            domain,
            lifetime(access_left),
        ),
        Cookie::csrf(
            names.csrf,
            &state.csrf.token(&sid),
            domain,
            lifetime(session_left),
        ),
        Cookie::refresh(&refresh_value, lifetime(session_left)),
    ] {
        cookie.append_to(headers);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Expires the three cookies (`Max-Age=0`, same names, paths and domain).
fn clear_cookies(state: &AppState, headers: &mut HeaderMap) {
    let names = csrf::names(state);
    let domain = state.config.cookie_domain.as_deref();
    for cookie in [
        Cookie::access(names.access, "", domain, Some(0)),
        Cookie::csrf(names.csrf, "", domain, Some(0)),
        Cookie::refresh("", Some(0)),
    ] {
        cookie.append_to(headers);
    }
}

/// One `Set-Cookie` of CONTRACT §9. Every cookie is `Secure`.
struct Cookie<'a> {
    name: &'a str,
    value: &'a str,
    path: &'static str,
    same_site: &'static str,
    http_only: bool,
    domain: Option<&'a str>,
    /// `None`: a browser-session cookie.
    max_age: Option<i64>,
}

impl<'a> Cookie<'a> {
    fn access(
        name: &'a str,
        value: &'a str,
        domain: Option<&'a str>,
        max_age: Option<i64>,
    ) -> Self {
        Cookie {
            name,
            value,
            path: "/",
            same_site: "Lax",
            http_only: true,
            domain,
            max_age,
        }
    }

    /// Readable by the page's script, which echoes it in `X-CSRF-Token`.
    fn csrf(name: &'a str, value: &'a str, domain: Option<&'a str>, max_age: Option<i64>) -> Self {
        Cookie {
            http_only: false,
            ..Cookie::access(name, value, domain, max_age)
        }
    }

    /// Host-only even with a cookie domain: only Signet needs it.
    fn refresh(value: &'a str, max_age: Option<i64>) -> Self {
        Cookie {
            name: REFRESH_COOKIE,
            value,
            path: REFRESH_PATH,
            same_site: "Strict",
            http_only: true,
            domain: None,
            max_age,
        }
    }

    fn append_to(&self, headers: &mut HeaderMap) {
        let mut text = format!(
            "{}={}; Path={}; Secure; SameSite={}",
            self.name, self.value, self.path, self.same_site
        );
        if self.http_only {
            text.push_str("; HttpOnly");
        }
        if let Some(domain) = self.domain {
            text.push_str("; Domain=");
            text.push_str(domain);
        }
        if let Some(seconds) = self.max_age {
            text.push_str(&format!("; Max-Age={seconds}"));
        }
        match HeaderValue::from_str(&text) {
            Ok(value) => {
                headers.append(header::SET_COOKIE, value);
            }
            Err(_) => tracing::error!(cookie = self.name, "unrepresentable cookie"),
        }
    }
}

/// `remember` as a JSON boolean or a form value (`true`/`on`/`1`, as an
/// HTML checkbox sends it; `false`/`off`/`0`/empty).
fn flag<'de, D: Deserializer<'de>>(de: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    match Flag::deserialize(de)? {
        Flag::Bool(value) => Ok(value),
        Flag::Text(text) => match text.as_str() {
            "true" | "on" | "1" => Ok(true),
            "false" | "off" | "0" | "" => Ok(false),
            _ => Err(serde::de::Error::custom("remember must be true or false")),
        },
    }
}
