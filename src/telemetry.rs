//! Prometheus metrics: one process-wide recorder (tests start many servers
//! in one process, so it is installed once) and the names Signet reports,
//! following Prometheus conventions (`signet_…_total`, `…_seconds`).

use std::sync::OnceLock;
use std::time::Duration;

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

pub fn http_request(route: &str, method: &str, status: u16, elapsed: Duration) {
    let labels = [
        ("route", route.to_owned()),
        ("method", method.to_owned()),
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
