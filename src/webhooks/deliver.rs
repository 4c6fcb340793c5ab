//! The background deliverer: claims due events from the outbox (a lease, so
//! instances sharing PostgreSQL never send one event at the same time and a
//! crashed sender's events come back), POSTs them, and deletes each one the
//! receiver accepted. A failure keeps the event and backs off exponentially,
//! so delivery is at least once, with the same `webhook-id` every time.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::WebhookSettings;
use crate::store::{OutboxEvent, Store, StoreResult};

/// Events sent concurrently per round (each the oldest of its user).
const BATCH: u32 = 32;
/// How often the outbox is looked at when it had nothing due.
const POLL: Duration = Duration::from_millis(500);
/// A claim outlives the longest attempt by this much before another
/// instance may take the event over.
const LEASE_MARGIN: Duration = Duration::from_secs(30);
/// Most bytes of a receiver's answer read (and discarded).
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Longest failure reason kept with an event.
const MAX_ERROR_CHARS: usize = 200;

/// Sends the outbox's events to the configured receiver.
pub struct Deliverer {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    settings: WebhookSettings,
}

impl Deliverer {
    pub fn new(store: Arc<dyn Store>, settings: WebhookSettings) -> Result<Self, reqwest::Error> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("signet-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            store,
            client,
            settings,
        })
    }

    /// Runs until `shutdown`; a round in progress finishes first (each
    /// attempt is bounded by the timeout).
    pub fn spawn(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        tokio::spawn(async move {
            loop {
                let sent = match this.round().await {
                    Ok(sent) => sent,
                    Err(error) => {
                        tracing::warn!(%error, "webhook outbox unavailable; will retry");
                        0
                    }
                };
                this.report().await;
                if sent == 0 {
                    tokio::select! {
                        () = tokio::time::sleep(POLL) => {}
                        () = shutdown.cancelled() => return,
                    }
                } else if shutdown.is_cancelled() {
                    return;
                }
            }
        });
    }

    /// Claims and attempts one batch; returns how many were attempted.
    async fn round(self: &Arc<Self>) -> StoreResult<usize> {
        let now = now_ms();
        let lease = millis(self.settings.timeout + LEASE_MARGIN);
        let events = self
            .store
            .claim_events(now, now.saturating_add(lease), BATCH)
            .await?;
        let count = events.len();
        let mut attempts = JoinSet::new();
        for event in events {
            let this = self.clone();
            attempts.spawn(async move { this.attempt(event).await });
        }
        while let Some(done) = attempts.join_next().await {
            if let Ok(Err(error)) = done {
                tracing::warn!(%error, "could not record a webhook attempt");
            }
        }
        Ok(count)
    }

    async fn attempt(&self, event: OutboxEvent) -> StoreResult<()> {
        match self.send(&event).await {
            Ok(()) => {
                metrics::counter!("signet_webhook_deliveries_total", "outcome" => "delivered")
                    .increment(1);
                tracing::debug!(id = %event.id, kind = %event.event_type, "webhook delivered");
                self.store.event_delivered(event.seq).await
            }
            Err(reason) => {
                metrics::counter!("signet_webhook_deliveries_total", "outcome" => "failed")
                    .increment(1);
                let wait = backoff(event.attempts, self.settings.max_backoff);
                tracing::info!(id = %event.id, kind = %event.event_type, attempts = event.attempts + 1, %reason, retry_in = ?wait, "webhook delivery failed");
                let reason: String = reason.chars().take(MAX_ERROR_CHARS).collect();
                let retry_at = now_ms().saturating_add(millis(wait));
                self.store.event_failed(event.seq, retry_at, &reason).await
            }
        }
    }

    /// One signed POST; only a 2xx answer counts as delivered.
    async fn send(&self, event: &OutboxEvent) -> Result<(), String> {
        let timestamp = chrono::Utc::now().timestamp();
        let signature = self
            .settings
            .signer
            .sign(&event.id, timestamp, event.payload.as_bytes());
        let mut response = self
            .client
            .post(self.settings.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", &event.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(event.payload.clone())
            .send()
            .await
            .map_err(|e| e.without_url().to_string())?;
        let status = response.status();
        let mut read = 0;
        while read < MAX_RESPONSE_BYTES {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the receiver answered {status}"))
        }
    }

    /// Queue depth and the age of the oldest event, for the metrics.
    async fn report(&self) {
        if let Ok(stats) = self.store.outbox_stats().await {
            metrics::gauge!("signet_webhook_queue_depth").set(stats.depth as f64);
            let age = stats
                .oldest
                .map_or(0, |oldest| chrono::Utc::now().timestamp() - oldest);
            metrics::gauge!("signet_webhook_oldest_event_age_seconds").set(age.max(0) as f64);
        }
    }
}

/// 1 s after the first failure, doubling up to `max`.
fn backoff(failures: i64, max: Duration) -> Duration {
    let exponent = u32::try_from(failures.clamp(0, 30)).unwrap_or(30);
    Duration::from_secs(1u64 << exponent).min(max)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_up_to_the_cap() {
        let max = Duration::from_secs(3600);
        assert_eq!(backoff(0, max), Duration::from_secs(1));
        assert_eq!(backoff(1, max), Duration::from_secs(2));
        assert_eq!(backoff(5, max), Duration::from_secs(32));
        assert_eq!(backoff(20, max), max);
        assert_eq!(backoff(i64::MAX, max), max);
    }
}
