//! HTTP fetches from the issuer: the client, bounded bodies, RFC 8414
//! discovery and `Cache-Control: max-age`.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, HeaderMap};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Largest JWKS, metadata or feed page accepted (a real one is a few KiB).
const MAX_BODY: usize = 1024 * 1024;

/// Why a fetch from the issuer failed. Logged, never sent to clients.
#[derive(thiserror::Error, Debug)]
pub enum FetchError {
    #[error("request to {url} failed: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("invalid URL {url:?}")]
    InvalidUrl { url: String },
    #[error("{url} did not answer within {after:?}")]
    Timeout { url: String, after: Duration },
    #[error("{url} answered HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("{url} answered a body over {MAX_BODY} bytes")]
    TooLarge { url: String },
    #[error("{url} answered invalid JSON: {source}")]
    Json {
        url: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("metadata names issuer {found:?}, expected {expected:?}")]
    IssuerMismatch { expected: String, found: String },
    #[error("{url} published no usable signing key")]
    NoUsableKey { url: String },
    #[error(
        "{url} is not https (plain http is allowed for loopback only, or with `allow_insecure_http`)"
    )]
    InsecureUrl { url: String },
    #[error("{url} redirected to another origin ({to}); not followed")]
    CrossOriginRedirect { url: String, to: String },
    #[error(
        "the metadata names {url}, outside the issuer's origin; configure it explicitly to trust it"
    )]
    ForeignEndpoint { url: String },
}

/// Most same-origin redirects followed in one fetch.
const MAX_REDIRECTS: usize = 5;

/// A client for the issuer: rustls with ring, no cookies, bounded connect,
/// redirects followed only within the origin asked.
pub(crate) fn default_client(connect_timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    install_tls_provider();
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .user_agent(concat!("signet-guard/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::custom(|attempt| {
            let same_origin = attempt
                .previous()
                .first()
                .is_some_and(|first| first.origin() == attempt.url().origin());
            if !same_origin || attempt.previous().len() > MAX_REDIRECTS {
                attempt.stop()
            } else {
                attempt.follow()
            }
        }))
        .build()
}

/// Which URLs the guard fetches: https, or http to a loopback host (a
/// Signet beside the service), or any http when `allow_http`.
pub(crate) fn check_scheme(url: &str, allow_http: bool) -> Result<reqwest::Url, FetchError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|_| FetchError::InvalidUrl { url: url.into() })?;
    let host = parsed.host_str().unwrap_or_default();
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if loopback || allow_http => Ok(parsed),
        _ => Err(FetchError::InsecureUrl { url: url.into() }),
    }
}

/// rustls needs a process-wide provider; a host's own choice wins.
pub(crate) fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Reads the body up to [`MAX_BODY`] and parses it as JSON.
pub(crate) async fn read_json<T: DeserializeOwned>(
    url: &str,
    mut response: reqwest::Response,
) -> Result<T, FetchError> {
    let http = |source| FetchError::Http {
        url: url.to_owned(),
        source,
    };
    if response
        .content_length()
        .is_some_and(|n| n > MAX_BODY as u64)
    {
        return Err(FetchError::TooLarge { url: url.into() });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(http)? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(FetchError::TooLarge { url: url.into() });
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|source| FetchError::Json {
        url: url.into(),
        source,
    })
}

/// Sends `request` (to `url`), refusing an answer that came from another
/// origin (a host-supplied client may follow such redirects; the default
/// client never does).
pub(crate) async fn send(
    url: &str,
    request: reqwest::RequestBuilder,
) -> Result<reqwest::Response, FetchError> {
    let response = request.send().await.map_err(|source| FetchError::Http {
        url: url.into(),
        source,
    })?;
    let asked = reqwest::Url::parse(url).map_err(|_| FetchError::InvalidUrl { url: url.into() })?;
    if response.url().origin() != asked.origin() {
        return Err(FetchError::CrossOriginRedirect {
            url: url.into(),
            to: response.url().origin().ascii_serialization(),
        });
    }
    Ok(response)
}

/// `max-age` of a `Cache-Control` header; `None` when absent or when the
/// response must not be reused (`no-store`, `no-cache`: refresh at the floor).
pub(crate) fn max_age(headers: &HeaderMap) -> Option<Duration> {
    let mut age = None;
    for value in headers.get_all(CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',').map(str::trim) {
            let (name, arg) = directive.split_once('=').unwrap_or((directive, ""));
            match name.trim().to_ascii_lowercase().as_str() {
                "no-store" | "no-cache" => return Some(Duration::ZERO),
                "max-age" => {
                    if let Ok(secs) = arg.trim().trim_matches('"').parse::<u64>() {
                        age = Some(Duration::from_secs(secs));
                    }
                }
                _ => {}
            }
        }
    }
    age
}

/// Where the keys and the revocation feed live: given, or discovered once
/// from the issuer's RFC 8414 metadata.
#[derive(Debug)]
pub(crate) struct Endpoints {
    pub(crate) client: reqwest::Client,
    pub(crate) issuer: String,
    pub(crate) timeout: Duration,
    /// Plain http to any host (see [`check_scheme`]).
    allow_http: bool,
    jwks: OnceLock<String>,
    feed: OnceLock<String>,
    /// Single-flight discovery (the key refresher and the feed follower may
    /// both need it at start).
    discovery: tokio::sync::Mutex<()>,
}

#[derive(Deserialize)]
struct Metadata {
    issuer: String,
    jwks_uri: String,
    #[serde(default)]
    revocation_feed_endpoint: Option<String>,
}

impl Endpoints {
    pub(crate) fn new(
        client: reqwest::Client,
        issuer: String,
        timeout: Duration,
        allow_http: bool,
        jwks: Option<String>,
        feed: Option<String>,
    ) -> Self {
        let endpoints = Endpoints {
            client,
            issuer,
            timeout,
            allow_http,
            jwks: OnceLock::new(),
            feed: OnceLock::new(),
            discovery: tokio::sync::Mutex::new(()),
        };
        if let Some(url) = jwks {
            let _ = endpoints.jwks.set(url);
        }
        if let Some(url) = feed {
            let _ = endpoints.feed.set(url);
        }
        endpoints
    }

    /// A request to `url`, if the outbound rules allow it.
    pub(crate) fn get(&self, url: &str) -> Result<reqwest::RequestBuilder, FetchError> {
        Ok(self.client.get(check_scheme(url, self.allow_http)?))
    }

    /// GET `url` expecting 200 and JSON, within the timeout for the whole
    /// exchange.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<(T, HeaderMap), FetchError> {
        let fetch = async {
            let request = self
                .get(url)?
                .header(reqwest::header::ACCEPT, "application/json");
            let response = send(url, request).await?;
            let status = response.status();
            if status != reqwest::StatusCode::OK {
                return Err(FetchError::Status {
                    url: url.into(),
                    status: status.as_u16(),
                });
            }
            let headers = response.headers().clone();
            Ok((read_json(url, response).await?, headers))
        };
        match tokio::time::timeout(self.timeout, fetch).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout {
                url: url.into(),
                after: self.timeout,
            }),
        }
    }

    fn base(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }

    pub(crate) async fn jwks_url(&self) -> Result<&str, FetchError> {
        if self.jwks.get().is_none() {
            self.discover().await?;
        }
        Ok(self.jwks.get().map_or("", String::as_str))
    }

    pub(crate) async fn feed_url(&self) -> Result<&str, FetchError> {
        if self.feed.get().is_none() {
            self.discover().await?;
        }
        Ok(self.feed.get().map_or("", String::as_str))
    }

    /// A discovered URL must share the issuer's origin: metadata that points
    /// elsewhere would make the guard trust keys (or fetch from hosts) the
    /// operator never named.
    fn on_issuer_origin(&self, url: String) -> Result<String, FetchError> {
        let origin = |u: &str| reqwest::Url::parse(u).ok().map(|u| u.origin());
        match (origin(&url), origin(&self.issuer)) {
            (Some(found), Some(issuer)) if found == issuer => Ok(url),
            _ => Err(FetchError::ForeignEndpoint { url }),
        }
    }

    /// Reads `{issuer}/.well-known/oauth-authorization-server`. Its `issuer`
    /// must be ours (RFC 8414 §3.3), and the URLs it names on the issuer's
    /// origin (unless set on the builder); a missing
    /// `revocation_feed_endpoint` means Signet's default path.
    async fn discover(&self) -> Result<(), FetchError> {
        let _single_flight = self.discovery.lock().await;
        if self.jwks.get().is_some() && self.feed.get().is_some() {
            return Ok(());
        }
        let url = format!("{}/.well-known/oauth-authorization-server", self.base());
        let (meta, _): (Metadata, _) = self.get_json(&url).await?;
        if meta.issuer != self.issuer {
            return Err(FetchError::IssuerMismatch {
                expected: self.issuer.clone(),
                found: meta.issuer,
            });
        }
        let feed = meta
            .revocation_feed_endpoint
            .unwrap_or_else(|| format!("{}/v1/revocations", self.base()));
        if self.jwks.get().is_none() {
            let _ = self.jwks.set(self.on_issuer_origin(meta.jwks_uri)?);
        }
        if self.feed.get().is_none() {
            let _ = self.feed.set(self.on_issuer_origin(feed)?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(CACHE_CONTROL, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn https_or_loopback_http_unless_allowed() {
        for ok in [
            "https://signet.example.com/jwks",
            "http://127.0.0.1:8080/jwks",
            "http://127.8.9.10/jwks",
            "http://localhost/jwks",
            "http://[::1]:8080/jwks",
        ] {
            assert!(check_scheme(ok, false).is_ok(), "{ok}");
        }
        for refused in [
            "http://signet.example.com/jwks",
            "http://10.0.0.1/jwks",
            "http://[::2]/jwks",
            "http://localhost.example.com/jwks",
            "ftp://127.0.0.1/jwks",
            "file:///etc/passwd",
        ] {
            assert!(
                matches!(
                    check_scheme(refused, false),
                    Err(FetchError::InsecureUrl { .. })
                ),
                "{refused}"
            );
        }
        assert!(check_scheme("http://signet.example.com/jwks", true).is_ok());
        assert!(check_scheme("ftp://signet.example.com/", true).is_err());
    }

    #[test]
    fn parses_max_age() {
        assert_eq!(
            max_age(&headers(&["public, max-age=300"])),
            Some(Duration::from_secs(300))
        );
        assert_eq!(
            max_age(&headers(&["Max-Age=\"7\""])),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            max_age(&headers(&["max-age=60", "no-cache"])),
            Some(Duration::ZERO)
        );
        assert_eq!(max_age(&headers(&["public"])), None);
        assert_eq!(max_age(&headers(&["max-age=-1"])), None);
        assert_eq!(max_age(&HeaderMap::new()), None);
    }
}
