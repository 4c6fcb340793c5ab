//! Prometheus metrics: one process-wide recorder (tests start many servers
//! in one process, so it is installed once) and the names Signet reports,
//! following Prometheus conventions (`signet_…_total`, `…_seconds`).

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::Method;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Latency buckets, in seconds: from a cached JWKS to a slow argon2 queue.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Installs the recorder unless one is installed already (a host process
/// may have its own; then `/metrics` answers empty).
pub fn install() {
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
            .ok()?
            .install_recorder()
            .ok()
    });
}

/// The text exposition of every metric.
pub fn render() -> String {
    match HANDLE.get() {
        Some(Some(handle)) => {
            handle.run_upkeep();
            handle.render()
        }
        _ => String::new(),
    }
}

/// Every label value comes from a fixed set: `route` is a route template
/// (or `unmatched`), `method` one of [`method_label`]'s, `status` a number.
pub fn http_request(route: &str, method: &Method, status: u16, elapsed: Duration) {
    let labels = [
        ("route", route.to_owned()),
        ("method", method_label(method).to_owned()),
        ("status", status.to_string()),
    ];
    counter!("signet_http_requests_total", &labels).increment(1);
    let route = [("route", route.to_owned())];
    histogram!("signet_http_request_duration_seconds", &route).record(elapsed.as_secs_f64());
}

pub fn token_issued(grant: &'static str) {
    counter!("signet_tokens_issued_total", "grant" => grant).increment(1);
}

pub fn refresh_reuse_detected() {
    counter!("signet_refresh_reuse_detected_total").increment(1);
}

/// Sessions ended, by reason (one of `tokens::sessions::reason`: a fixed set).
pub fn sessions_ended(reason: &'static str, count: usize) {
    counter!("signet_sessions_ended_total", "reason" => reason).increment(count as u64);
}

pub fn login_failed() {
    counter!("signet_logins_failed_total").increment(1);
}

pub fn throttled(budget: &'static str) {
    counter!("signet_throttled_total", "budget" => budget).increment(1);
}

pub fn revocation_list_size(entries: u64) {
    gauge!("signet_revocation_list_entries").set(entries as f64);
}

pub fn hash_queue(waiting: usize) {
    gauge!("signet_password_hash_queue_depth").set(waiting as f64);
}

pub fn hash_wait(waited: Duration) {
    histogram!("signet_password_hash_wait_seconds").record(waited.as_secs_f64());
}

pub fn store_error(kind: &'static str) {
    counter!("signet_store_errors_total", "kind" => kind).increment(1);
}

pub fn claims_hook_duration(elapsed: Duration) {
    histogram!("signet_claims_hook_duration_seconds").record(elapsed.as_secs_f64());
}

/// `reason` is one of a fixed few (see `HookFailure::reason`).
pub fn claims_hook_failed(reason: &'static str) {
    counter!("signet_claims_hook_failures_total", "reason" => reason).increment(1);
}

/// The standard methods by name and every other one as `other`: a raw
/// method is client-chosen text, and each distinct label value would be a
/// new time series kept forever.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// Longest part of a user-supplied value written to a log line.
const MAX_LOGGED_CHARS: usize = 128;

/// A user-supplied value as it may appear in a log line: control characters
/// (line breaks, terminal escapes), Unicode line separators and bidi
/// overrides and backslashes are escaped, so no value can forge or disguise
/// a line, and it is cut off after [`MAX_LOGGED_CHARS`] characters.
pub fn untrusted(value: &str) -> Untrusted<'_> {
    Untrusted(value)
}

/// See [`untrusted`].
pub struct Untrusted<'a>(&'a str);

impl std::fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        for (i, c) in self.0.chars().enumerate() {
            if i == MAX_LOGGED_CHARS {
                return f.write_char('…');
            }
            let disguising = matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
            if c.is_control() || c == '\\' || disguising {
                write!(f, "{}", c.escape_default())?;
            } else {
                f.write_char(c)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_values_cannot_break_lines_or_grow() {
        let escaped =
            untrusted("ada\nsignet::audit: forged\r\u{1b}[2J\u{2028}\u{202e}\\").to_string();
        assert_eq!(
            escaped,
            "ada\\nsignet::audit: forged\\r\\u{1b}[2J\\u{2028}\\u{202e}\\\\"
        );
        let long = "é".repeat(10_000);
        let cut = untrusted(&long).to_string();
        assert_eq!(cut.chars().count(), MAX_LOGGED_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(untrusted("ada@example.com").to_string(), "ada@example.com");
    }

    #[test]
    fn methods_map_to_a_fixed_set() {
        assert_eq!(method_label(&Method::POST), "POST");
        let odd = Method::from_bytes("X".repeat(20_000).as_bytes()).unwrap();
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&Method::from_bytes(b"get").unwrap()), "other");
    }
}
