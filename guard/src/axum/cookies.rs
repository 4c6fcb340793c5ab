//! Browser sessions (CONTRACT §9): the cookie names Signet sets, reading
//! them from a request, and the CSRF rule every cookie-authenticated unsafe
//! request must pass. Signet itself uses the same functions, so the server
//! and the guards apply one rule.
//!
//! The rule, in layers (OWASP's CSRF cheat sheet):
//! 1. Fetch Metadata: `Sec-Fetch-Site: cross-site` is refused.
//! 2. `Origin`, when present, must be on an allow-list.
//! 3. `X-CSRF-Token` must carry the session's CSRF token: Signet checks its
//!    MAC over the `sid`; a guard, which does not know Signet's secret,
//!    checks that the header equals the CSRF cookie **and** that its SHA-256
//!    is the access token's [`CSRF_CLAIM`] claim, so a token planted by a
//!    sibling subdomain (a bare double-submit) does not pass.

use ::axum::http::{HeaderMap, Method, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// The access token: `Path=/`, `SameSite=Lax`, `HttpOnly`.
pub const ACCESS_COOKIE: &str = "__Host-signet_at";
/// The CSRF token: `Path=/`, `SameSite=Lax`, readable by scripts.
pub const CSRF_COOKIE: &str = "__Host-signet_csrf";
/// The refresh token: `Path=/v1/browser`, `SameSite=Strict`, `HttpOnly`.
pub const REFRESH_COOKIE: &str = "__Secure-signet_rt";
/// The access cookie's name when Signet sets a `cookie_domain`.
pub const SHARED_ACCESS_COOKIE: &str = "__Secure-signet_at";
/// The CSRF cookie's name when Signet sets a `cookie_domain`.
pub const SHARED_CSRF_COOKIE: &str = "__Secure-signet_csrf";
/// The request header that carries the CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Access-token claim binding the session's CSRF token: base64url(SHA-256
/// of the token). In Signet's reserved claim list (CONTRACT §11): custom
/// claims can never set it.
pub const CSRF_CLAIM: &str = "signet_csrf";

/// Longest cookie value looked at (access tokens are at most 8 KiB).
const MAX_VALUE_LEN: usize = 8 * 1024;

/// Why a cookie-authenticated request was refused (403).
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CsrfError {
    #[error("cross-site requests are refused (Sec-Fetch-Site)")]
    CrossSite,
    #[error("the request's Origin is not allowed")]
    ForeignOrigin,
    #[error("the X-CSRF-Token header is missing")]
    MissingToken,
    #[error("the X-CSRF-Token header does not match the session")]
    WrongToken,
}

/// The names of the access and CSRF cookies: `__Host-` ones, or the
/// `__Secure-` ones Signet uses with a `cookie_domain`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieNames {
    pub access: &'static str,
    pub csrf: &'static str,
}

impl CookieNames {
    pub const HOST: CookieNames = CookieNames {
        access: ACCESS_COOKIE,
        csrf: CSRF_COOKIE,
    };
    pub const SHARED: CookieNames = CookieNames {
        access: SHARED_ACCESS_COOKIE,
        csrf: SHARED_CSRF_COOKIE,
    };

    /// The names for a deployment with or without a shared cookie domain.
    pub fn for_domain(shared: bool) -> Self {
        if shared { Self::SHARED } else { Self::HOST }
    }
}

/// Two cookies of one name (one may have been planted for a parent domain):
/// which one is meant cannot be told, so the request is refused.
#[derive(thiserror::Error, Debug, Clone, Copy, PartialEq, Eq)]
#[error("more than one cookie of the same name")]
pub struct DuplicateCookie;

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, DuplicateCookie> {
    let mut found = None;
    let pairs = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'));
    for pair in pairs {
        let Some((key, value)) = pair.trim().split_once('=') else {
            continue;
        };
        if key.trim() != name {
            continue;
        }
        if found.is_some() {
            return Err(DuplicateCookie);
        }
        let value = value.trim().trim_matches('"');
        if !value.is_empty() && value.len() <= MAX_VALUE_LEN {
            found = Some(value);
        }
    }
    Ok(found)
}

/// Whether `method` changes state (anything but GET, HEAD, OPTIONS).
pub fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Layers 1 and 2 of the rule: Fetch Metadata and the `Origin` allow-list.
/// Browsers that send neither (old ones, non-browser clients) rely on the
/// token check alone.
pub fn check_origin(headers: &HeaderMap, allowed: impl Fn(&str) -> bool) -> Result<(), CsrfError> {
    let site = headers.get("sec-fetch-site").map(|v| v.as_bytes());
    if site.is_some_and(|s| s.eq_ignore_ascii_case(b"cross-site")) {
        return Err(CsrfError::CrossSite);
    }
    match headers.get(header::ORIGIN) {
        None => Ok(()),
        Some(origin) => match origin.to_str() {
            Ok(origin) if allowed(origin) => Ok(()),
            _ => Err(CsrfError::ForeignOrigin),
        },
    }
}

/// The `X-CSRF-Token` header of the request (exactly one, non-empty).
pub fn presented_token(headers: &HeaderMap) -> Result<&str, CsrfError> {
    let mut values = headers.get_all(CSRF_HEADER).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => value
            .to_str()
            .ok()
            .filter(|v| !v.is_empty() && v.len() <= MAX_VALUE_LEN)
            .ok_or(CsrfError::WrongToken),
        (None, _) => Err(CsrfError::MissingToken),
        (Some(_), Some(_)) => Err(CsrfError::WrongToken),
    }
}

/// The [`CSRF_CLAIM`] value for a CSRF token.
pub fn claim_for(token: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// Constant-time equality of two secrets.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The origin (`scheme://host[:port]`) of an absolute URL, as browsers send
/// it in `Origin`.
pub fn origin_of(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme.is_empty() || rest.is_empty() {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..scheme.len() + 3 + end])
}

/// The guard's offline version of layer 3: the header equals the CSRF
/// cookie and hashes to the (verified) access token's [`CSRF_CLAIM`].
pub(crate) fn check_bound_token(
    headers: &HeaderMap,
    names: CookieNames,
    access_token: &str,
) -> Result<(), CsrfError> {
    let presented = presented_token(headers)?;
    let cookie = cookie(headers, names.csrf)
        .ok()
        .flatten()
        .ok_or(CsrfError::WrongToken)?;
    let claim = csrf_claim_of(access_token).ok_or(CsrfError::WrongToken)?;
    if same_secret(presented, cookie) && same_secret(&claim_for(presented), &claim) {
        Ok(())
    } else {
        Err(CsrfError::WrongToken)
    }
}

/// The [`CSRF_CLAIM`] of an already verified token (read from its payload,
/// so the typed claims stay free of it).
fn csrf_claim_of(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&bytes).ok()?;
    claims.get(CSRF_CLAIM)?.as_str().map(str::to_owned)
}

/// A guard's cookie mode (`GuardBuilder::cookies`): which origins may send
/// cookie-authenticated unsafe requests.
#[derive(Debug)]
pub(crate) struct CookieMode {
    /// The issuer's origin and the configured ones.
    origins: Box<[String]>,
}

impl CookieMode {
    pub(crate) fn new(issuer: &str, extra: &[String]) -> Self {
        let origins = origin_of(issuer)
            .into_iter()
            .map(str::to_owned)
            .chain(extra.iter().map(|o| o.trim_end_matches('/').to_owned()))
            .collect();
        CookieMode { origins }
    }

    /// Layers 1 and 2 for a request to this service: the allowed origins,
    /// or the service's own (the `Origin`'s host is the request's `Host`).
    pub(crate) fn check_origin(&self, headers: &HeaderMap) -> Result<(), CsrfError> {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        check_origin(headers, |origin| {
            self.origins.iter().any(|o| o == origin)
                || host.is_some_and(|host| {
                    origin
                        .split_once("://")
                        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn cookies_by_name() {
        let h = headers(&[
            ("cookie", "a=1; __Host-signet_at=tok; b=2"),
            ("cookie", "c=3"),
        ]);
        assert_eq!(cookie(&h, ACCESS_COOKIE), Ok(Some("tok")));
        assert_eq!(cookie(&h, "c"), Ok(Some("3")));
        assert_eq!(cookie(&h, "signet_at"), Ok(None));
        let twice = headers(&[("cookie", "x=1; x=2")]);
        assert_eq!(cookie(&twice, "x"), Err(DuplicateCookie));
    }

    #[test]
    fn fetch_metadata_and_origin() {
        let ok = |o: &str| o == "https://app.example";
        assert_eq!(check_origin(&headers(&[]), ok), Ok(()));
        let same = headers(&[
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://app.example"),
        ]);
        assert_eq!(check_origin(&same, ok), Ok(()));
        let cross = headers(&[("sec-fetch-site", "cross-site")]);
        assert_eq!(check_origin(&cross, ok), Err(CsrfError::CrossSite));
        let foreign = headers(&[("origin", "https://evil.example")]);
        assert_eq!(check_origin(&foreign, ok), Err(CsrfError::ForeignOrigin));
        let null = headers(&[("origin", "null")]);
        assert_eq!(check_origin(&null, ok), Err(CsrfError::ForeignOrigin));
    }

    #[test]
    fn origins_of_urls() {
        assert_eq!(
            origin_of("https://a.example/x?y"),
            Some("https://a.example")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080"),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin_of("nope"), None);
    }

    #[test]
    fn unsafe_methods() {
        assert!(!is_unsafe(&Method::GET) && !is_unsafe(&Method::HEAD));
        assert!(is_unsafe(&Method::POST) && is_unsafe(&Method::DELETE));
    }
}
