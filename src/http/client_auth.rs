//! Client authentication at the OAuth endpoints: HTTP Basic (RFC 6749
//! §2.3.1, with form-encoded id and secret) or `client_id`/`client_secret`
//! in the body, never both.

use axum::http::{HeaderMap, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret, SecretString};

use crate::app::AppState;
use crate::error::ApiError;
use crate::store::Client;

/// Credentials as presented, not yet checked.
pub struct Presented {
    id: String,
    secret: SecretString,
}

/// The credentials of the request, if it carries any.
pub fn presented(
    headers: &HeaderMap,
    body_id: Option<String>,
    body_secret: Option<SecretString>,
) -> Result<Option<Presented>, ApiError> {
    let basic = basic(headers)?;
    match (basic, body_id, body_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(ApiError::oauth(
            "invalid_request",
            "use one client authentication method, not both",
        )),
        (Some(presented), None, None) => Ok(Some(presented)),
        (None, Some(id), Some(secret)) => Ok(Some(Presented { id, secret })),
        // A bare client_id identifies a public client; it authenticates nothing.
        (None, _, None) | (None, None, Some(_)) => Ok(None),
    }
}

/// Checks presented credentials; any failure is `invalid_client` (401).
pub async fn authenticate(state: &AppState, presented: Presented) -> Result<Client, ApiError> {
    state
        .clients
        .authenticate(&presented.id, presented.secret.expose_secret())
        .await
        .map_err(ApiError::from)
}

/// Authentication that the endpoint requires.
pub async fn required(state: &AppState, presented: Option<Presented>) -> Result<Client, ApiError> {
    match presented {
        Some(presented) => authenticate(state, presented).await,
        None => Err(invalid_client()),
    }
}

fn invalid_client() -> ApiError {
    ApiError::oauth("invalid_client", "client authentication failed")
}

fn basic(headers: &HeaderMap) -> Result<Option<Presented>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::oauth(
            "invalid_request",
            "send exactly one Authorization header",
        ));
    }
    let text = value.to_str().map_err(|_| invalid_client())?;
    let Some((scheme, encoded)) = text.split_once(' ') else {
        return Err(invalid_client());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        // Not client authentication (e.g. a bearer token): as if absent.
        return Ok(None);
    }
    let decoded = STANDARD
        .decode(encoded.trim())
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(invalid_client)?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid_client)?;
    Ok(Some(Presented {
        id: form_decode(id).ok_or_else(invalid_client)?,
        secret: SecretString::from(form_decode(secret).ok_or_else(invalid_client)?),
    }))
}

/// `application/x-www-form-urlencoded` decoding of one component.
fn form_decode(text: &str) -> Option<String> {
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}
