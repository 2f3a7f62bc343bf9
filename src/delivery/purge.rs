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
}

#[derive(Debug, Serialize)]
struct PurgeRequest<'a> {
    surrogate_keys: &'a [String],
    reason: &'a str,
    generation: u64,
}

const ATTEMPTS: u32 = 4;

/// A node that had not dropped the old content yet may have handed it to the CDN just
/// after the first purge; a second purge once every node has the change (pub/sub takes
/// milliseconds, the generation poll `catalog_poll_secs`) clears that copy too.
const REPEAT_AFTER: Duration = Duration::from_secs(2);

impl Purger {
    pub fn new(
        webhook: Option<String>,
        metrics: std::sync::Arc<crate::metrics::Metrics>,
    ) -> Purger {
        Purger {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            webhook,
            metrics,
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
        tokio::spawn(async move {
            let body = PurgeRequest {
                surrogate_keys: &keys,
                reason: &reason,
                generation,
            };
            send(&client, &url, &body, &metrics).await;
            tokio::time::sleep(REPEAT_AFTER).await;
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
