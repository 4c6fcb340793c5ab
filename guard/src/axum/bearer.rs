//! Finding the one bearer token of a request (RFC 6750 §2.1).

use ::axum::http::header::AUTHORIZATION;
use ::axum::http::{HeaderMap, Uri};

use super::AuthError;

/// The token of the request's single `Authorization: Bearer` header.
///
/// - no `Authorization` header, or another scheme: `Ok(None)` (the caller
///   answers 401 with a bare challenge, RFC 6750 §3.1);
/// - two `Authorization` headers, a malformed Bearer value, or an
///   `access_token` in the query string: `invalid_request` (400). Tokens in
///   the query string leak into logs and caches and are never accepted.
pub(crate) fn bearer<'a>(headers: &'a HeaderMap, uri: &Uri) -> Result<Option<&'a str>, AuthError> {
    if query_has_token(uri) {
        return Err(AuthError::InvalidRequest(
            "access tokens in the query string are not accepted",
        ));
    }
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest(
            "more than one Authorization header",
        ));
    }
    let value = value
        .to_str()
        .map_err(|_| AuthError::InvalidRequest("malformed Authorization header"))?;
    let (scheme, credentials) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Bearer") {
        return Ok(None);
    }
    let token = credentials.trim_start_matches(' ');
    if is_token68(token) {
        Ok(Some(token))
    } else {
        Err(AuthError::InvalidRequest("malformed Bearer credentials"))
    }
}

/// `b64token` of RFC 6750 §2.1: `1*( ALPHA / DIGIT / "-" / "." / "_" / "~"
/// / "+" / "/" ) *"="`.
fn is_token68(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty()
        && body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

fn query_has_token(uri: &Uri) -> bool {
    uri.query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.split('=').next() == Some("access_token"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::axum::http::HeaderValue;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_static(v));
        }
        h
    }

    fn uri(s: &'static str) -> Uri {
        Uri::from_static(s)
    }

    #[test]
    fn one_bearer_header() {
        let u = uri("/x");
        assert_eq!(bearer(&headers(&["Bearer a.b.c"]), &u), Ok(Some("a.b.c")));
        assert_eq!(bearer(&headers(&["bearer  a.b.c"]), &u), Ok(Some("a.b.c")));
        assert_eq!(bearer(&headers(&[]), &u), Ok(None));
        assert_eq!(bearer(&headers(&["Basic dXNlcjpwdw=="]), &u), Ok(None));
        assert!(bearer(&headers(&["Bearer a", "Bearer b"]), &u).is_err());
        assert!(bearer(&headers(&["Bearer"]), &u).is_err());
        assert!(bearer(&headers(&["Bearer a b"]), &u).is_err());
        assert!(bearer(&headers(&["Bearer ==="]), &u).is_err());
    }

    #[test]
    fn query_tokens_are_refused() {
        let h = headers(&[]);
        assert!(bearer(&h, &uri("/x?access_token=abc")).is_err());
        assert!(bearer(&h, &uri("/x?a=1&access_token")).is_err());
        assert_eq!(bearer(&h, &uri("/x?my_access_token=1")), Ok(None));
    }
}
