//! Durable signed webhooks (CONTRACT §10): events are written to an outbox
//! in the store, in the transaction of the change they report, and a
//! background deliverer POSTs them, signed per Standard Webhooks, in order
//! per user, retrying with exponential back-off until the receiver answers
//! 2xx. Signet never speaks SMTP: the application sends the emails.

pub mod deliver;
pub mod events;
pub mod signature;

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

pub use deliver::Deliverer;
pub use events::Event;
pub use signature::Signer;

/// Where and how events are delivered.
#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: Url,
    pub signer: Signer,
    /// Per attempt: connect, send, and the receiver's answer.
    pub timeout: Duration,
    /// Longest wait between two attempts at one event.
    pub max_backoff: Duration,
}

impl WebhookSettings {
    /// Checks the outbound rules: https, or http to a loopback receiver only.
    pub fn new(
        url: &str,
        secret: &str,
        timeout: Duration,
        max_backoff: Duration,
    ) -> Result<Self, String> {
        let url = Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        let host = url.host_str().ok_or("the URL has no host")?;
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            _ => return Err("must be https:// (http:// only to a loopback address)".into()),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials; the signature authenticates".into());
        }
        if timeout.is_zero() || max_backoff.is_zero() {
            return Err("timeout and back-off must be positive".into());
        }
        Ok(Self {
            url,
            signer: Signer::from_secret(secret)?,
            timeout,
            max_backoff,
        })
    }
}
