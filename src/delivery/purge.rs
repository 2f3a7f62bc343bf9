//! CDN purges by surrogate key: what a publish or archive changed, named the way
//! content responses tag themselves (`Surrogate-Key`/`Cache-Tag`), logged and sent to
//! the configured webhook. The webhook is called off the request path, with retries;
//! a CDN that is down delays the purge, never the publish.

use std::time::Duration;

use serde::Serialize;

#[derive(Clone)]
pub struct Purger {
    client: reqwest::Client,
    webhook: Option<String>,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// A node that had not dropped the old content yet may hand it to the CDN just after
    /// the first purge; a second purge once every node has the change clears that copy.
    repeat_after: Duration,
}

#[derive(Debug, Serialize)]
struct PurgeRequest<'a> {
    surrogate_keys: &'a [String],
    reason: &'a str,
    generation: u64,
}

const ATTEMPTS: u32 = 4;

/// With Redis, how long after the first purge the second one goes (pub/sub reaches every
/// node within milliseconds; this leaves room for a catalog compile).
pub const REPEAT_WITH_REDIS: Duration = Duration::from_secs(2);

impl Purger {
    /// `repeat_after`: when every node has the change for sure ([`REPEAT_WITH_REDIS`],
    /// or the generation poll's interval and a second without Redis).
    pub fn new(
        webhook: Option<String>,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
        repeat_after: Duration,
    ) -> Purger {
        Purger {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            webhook,
            metrics,
            repeat_after,
        }
    }

    /// Purges `keys` (e.g. `placement/home.hero`): logged now, sent in the background.
    pub fn purge(&self, keys: Vec<String>, reason: String, generation: u64) {
        if keys.is_empty() {
            return;
        }
        tracing::info!(keys = %keys.join(" "), %reason, generation, "purge");
        let Some(url) = self.webhook.clone() else {
            return;
        };
        let client = self.client.clone();
        let metrics = self.metrics.clone();
        let repeat_after = self.repeat_after;
        tokio::spawn(async move {
            let body = PurgeRequest {
                surrogate_keys: &keys,
                reason: &reason,
                generation,
            };
            send(&client, &url, &body, &metrics).await;
            tokio::time::sleep(repeat_after).await;
            send(&client, &url, &body, &metrics).await;
        });
    }
}

/// One purge, retried with backoff.
async fn send(
    client: &reqwest::Client,
    url: &str,
    body: &PurgeRequest<'_>,
    metrics: &crate::metrics::Metrics,
) {
    let mut delay = Duration::from_millis(250);
    for attempt in 1..=ATTEMPTS {
        match client.post(url).json(body).send().await {
            Ok(response) if response.status().is_success() => {
                metrics.purges.with_label_values(&["sent"]).inc();
                return;
            }
            Ok(response) => {
                tracing::warn!(
                    status = response.status().as_u16(),
                    attempt,
                    "purge webhook refused"
                )
            }
            Err(e) => tracing::warn!(error = %e, attempt, "purge webhook unreachable"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(delay).await;
            delay *= 2;
        }
    }
    metrics.purges.with_label_values(&["failed"]).inc();
    tracing::error!(keys = %body.surrogate_keys.join(" "), "purge webhook failed; the CDN keeps stale copies until max-age");
}
