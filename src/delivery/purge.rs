//! CDN purges by surrogate key: what a publish, an archive, a retirement or a
//! reinstatement changed, named the way content responses tag themselves
//! (`Surrogate-Key`/`Cache-Tag`: `placement/<id>`, `variant/<id>`, `channel/<id>`).
//!
//! Each configured provider — a generic webhook, Fastly, Cloudflare — gets the keys in
//! its own request shape ([`PurgeTarget::calls`], pure and unit-tested). They are sent
//! off the request path, retried with backoff, and sent once more when every node has
//! the change; every send is a row of the purge log staff read at
//! `GET /v1/admin/purges`. A CDN that is down delays the purge, never the change.
//! Credentials travel in headers only, and neither they nor a webhook URL's query reach
//! a log line or the purge log.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde_json::json;

use crate::config::{Secret, Settings};
use crate::metrics::Metrics;
use crate::storage;

/// Where purges go.
#[derive(Clone, Debug)]
pub enum PurgeTarget {
    /// `POST {url}` with `{"surrogate_keys", "reason", "generation"}`.
    Webhook { url: String, secret: Option<Secret> },
    /// `POST {endpoint}/service/{service_id}/purge` with `{"surrogate_keys"}`.
    Fastly {
        endpoint: String,
        service_id: String,
        token: Secret,
        soft: bool,
    },
    /// `POST {endpoint}/zones/{zone_id}/purge_cache` with `{"tags"}`.
    Cloudflare {
        endpoint: String,
        zone_id: String,
        token: Secret,
    },
}

/// Fastly takes at most 256 surrogate keys per batch purge.
const FASTLY_KEYS_PER_CALL: usize = 256;
/// Cloudflare takes at most 30 tags per purge call on every plan.
const CLOUDFLARE_TAGS_PER_CALL: usize = 30;

/// One HTTP request a purge makes (always a JSON `POST`).
#[derive(Clone, Debug, PartialEq)]
pub struct PurgeCall {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: serde_json::Value,
}

impl PurgeTarget {
    /// The targets `settings` configure, in a fixed order.
    pub fn configured(settings: &Settings) -> Vec<PurgeTarget> {
        let mut targets = Vec::new();
        if let Some(url) = &settings.purge_webhook_url {
            targets.push(PurgeTarget::Webhook {
                url: url.clone(),
                secret: settings.purge_webhook_secret.clone(),
            });
        }
        if let Some(fastly) = &settings.purge_fastly {
            targets.push(PurgeTarget::Fastly {
                endpoint: fastly.endpoint.clone(),
                service_id: fastly.service_id.clone(),
                token: fastly.api_token.clone(),
                soft: fastly.soft,
            });
        }
        if let Some(cloudflare) = &settings.purge_cloudflare {
            targets.push(PurgeTarget::Cloudflare {
                endpoint: cloudflare.endpoint.clone(),
                zone_id: cloudflare.zone_id.clone(),
                token: cloudflare.api_token.clone(),
            });
        }
        targets
    }

    /// The provider's name in the purge log and in logs.
    pub fn provider(&self) -> &'static str {
        match self {
            PurgeTarget::Webhook { .. } => "webhook",
            PurgeTarget::Fastly { .. } => "fastly",
            PurgeTarget::Cloudflare { .. } => "cloudflare",
        }
    }

    /// The requests that purge `keys` here: one for the webhook, batches of the
    /// provider's limit for a CDN's API.
    pub fn calls(&self, keys: &[String], reason: &str, generation: u64) -> Vec<PurgeCall> {
        match self {
            PurgeTarget::Webhook { url, secret } => vec![PurgeCall {
                url: url.clone(),
                headers: secret
                    .iter()
                    .map(|s| ("authorization", format!("Bearer {}", s.expose())))
                    .collect(),
                body: json!({"surrogate_keys": keys, "reason": reason, "generation": generation}),
            }],
            PurgeTarget::Fastly {
                endpoint,
                service_id,
                token,
                soft,
            } => keys
                .chunks(FASTLY_KEYS_PER_CALL)
                .map(|chunk| {
                    let mut headers = vec![
                        ("fastly-key", token.expose().to_string()),
                        ("accept", "application/json".to_string()),
                    ];
                    if *soft {
                        headers.push(("fastly-soft-purge", "1".to_string()));
                    }
                    PurgeCall {
                        url: format!("{endpoint}/service/{service_id}/purge"),
                        headers,
                        body: json!({ "surrogate_keys": chunk }),
                    }
                })
                .collect(),
            PurgeTarget::Cloudflare {
                endpoint,
                zone_id,
                token,
            } => keys
                .chunks(CLOUDFLARE_TAGS_PER_CALL)
                .map(|chunk| PurgeCall {
                    url: format!("{endpoint}/zones/{zone_id}/purge_cache"),
                    headers: vec![("authorization", format!("Bearer {}", token.expose()))],
                    body: json!({ "tags": chunk }),
                })
                .collect(),
        }
    }

    /// Whether an answer with `status` and `body` means the purge was done. Cloudflare
    /// can answer 200 with `"success": false`.
    fn accepted(&self, status: u16, body: &[u8]) -> bool {
        if !(200..300).contains(&status) {
            return false;
        }
        match self {
            PurgeTarget::Cloudflare { .. } => serde_json::from_slice::<serde_json::Value>(body)
                .map_or(true, |answer| answer["success"] != json!(false)),
            _ => true,
        }
    }
}

/// Tries per request before a purge is recorded as failed.
const ATTEMPTS: u32 = 4;
/// The first retry's delay; each next one doubles it.
const FIRST_RETRY: Duration = Duration::from_millis(250);
/// The longest `Retry-After` honoured; a longer one waits this much.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// How often the registry of nodes is read while waiting for every node.
const NODE_CHECK_EVERY: Duration = Duration::from_millis(25);

/// With Redis, at most how long after the first purge the second one goes (pub/sub reaches every
/// node within milliseconds; this leaves room for a catalog compile).
pub const REPEAT_WITH_REDIS: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct Purger {
    client: reqwest::Client,
    targets: Arc<[PurgeTarget]>,
    /// Where the purge log is kept; `None` only where nothing is recorded.
    log: Option<DatabaseConnection>,
    metrics: Arc<Metrics>,
    /// A node that had not dropped the old content yet may hand it to the CDN just after
    /// the first purge; a second purge once every node has the change clears that copy.
    /// This is the longest wait for that.
    repeat_after: Duration,
    /// Tells when every node serves a generation (with Redis): the second purge goes
    /// then, not after the whole `repeat_after`.
    nodes: Option<crate::catalog::live::LiveCatalog>,
}

#[derive(Debug)]
struct Outcome {
    sent: bool,
    attempts: u32,
    last_error: Option<String>,
}

impl Purger {
    /// The purger `settings` configure: their providers, and at most
    /// [`REPEAT_WITH_REDIS`] (or, without Redis, the generation poll's interval and a
    /// second) before the second round, when every node has the change for sure.
    pub fn new(
        settings: &Settings,
        log: Option<DatabaseConnection>,
        metrics: Arc<Metrics>,
    ) -> Purger {
        let repeat_after = match &settings.redis_url {
            Some(_) => REPEAT_WITH_REDIS,
            None => Duration::from_secs(settings.catalog_poll_secs + 1),
        };
        let targets = PurgeTarget::configured(settings);
        Purger {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .connect_timeout(Duration::from_secs(2))
                // A purge API that redirects is misconfigured; never resend credentials.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            targets: targets.into(),
            log,
            metrics,
            repeat_after,
            nodes: None,
        }
    }

    /// Sends the second round as soon as `nodes` says every node serves the change
    /// (still at most `repeat_after` after the first).
    pub fn repeating_once_every_node_has_it(
        mut self,
        nodes: crate::catalog::live::LiveCatalog,
    ) -> Purger {
        self.nodes = Some(nodes);
        self
    }

    /// Waits until every node serves `generation` (as far as the registry tells), at
    /// most `repeat_after`; says which it was.
    async fn wait_for_every_node(&self, generation: u64) -> &'static str {
        let deadline = tokio::time::Instant::now() + self.repeat_after;
        if let Some(nodes) = &self.nodes {
            while tokio::time::Instant::now() < deadline {
                match nodes.every_node_has(generation).await {
                    Some(true) => return "every_node",
                    Some(false) => tokio::time::sleep(NODE_CHECK_EVERY).await,
                    None => break,
                }
            }
        }
        tokio::time::sleep_until(deadline).await;
        "waited"
    }

    /// Purges `keys` (e.g. `placement/home.hero`): logged now, sent in the background.
    /// The handle ends once both rounds are done (the CLI waits for it; a server does
    /// not).
    pub fn purge(
        &self,
        keys: Vec<String>,
        reason: String,
        generation: u64,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if keys.is_empty() {
            return None;
        }
        tracing::info!(keys = %keys.join(" "), %reason, generation, "purge");
        if self.targets.is_empty() {
            return None;
        }
        let this = self.clone();
        Some(tokio::spawn(async move {
            let keys: Arc<[String]> = keys.into();
            this.round(1, &keys, &reason, generation).await;
            let after = this.wait_for_every_node(generation).await;
            this.metrics.purge_repeats.with_label_values(&[after]).inc();
            this.round(2, &keys, &reason, generation).await;
        }))
    }

    /// Every target at once, each recorded in the purge log.
    async fn round(&self, round: i32, keys: &[String], reason: &str, generation: u64) {
        let sends = self.targets.iter().map(|target| async move {
            let provider = target.provider();
            let row = match &self.log {
                Some(db) => {
                    match storage::purges::start(db, provider, round, keys, reason, generation)
                        .await
                    {
                        Ok(id) => Some(id),
                        Err(e) => {
                            tracing::warn!(error = %e, provider, "purge log unavailable");
                            None
                        }
                    }
                }
                None => None,
            };
            let outcome = self.send(target, keys, reason, generation).await;
            let label = if outcome.sent { "sent" } else { "failed" };
            self.metrics.purges.with_label_values(&[label]).inc();
            if outcome.sent {
                tracing::info!(provider, round, attempts = outcome.attempts, "purge sent");
            } else {
                tracing::error!(
                    provider,
                    round,
                    keys = %keys.join(" "),
                    error = outcome.last_error.as_deref().unwrap_or(""),
                    "purge failed; the CDN keeps stale copies until max-age"
                );
            }
            if let (Some(db), Some(id)) = (&self.log, row) {
                if let Err(e) = storage::purges::finish(
                    db,
                    id,
                    outcome.sent,
                    outcome.attempts,
                    outcome.last_error,
                )
                .await
                {
                    tracing::warn!(error = %e, provider, "purge log unavailable");
                }
            }
        });
        futures_util::future::join_all(sends).await;
    }

    /// Sends every call of one target, each retried with backoff; the purge is sent when
    /// all its calls are.
    async fn send(
        &self,
        target: &PurgeTarget,
        keys: &[String],
        reason: &str,
        generation: u64,
    ) -> Outcome {
        let mut attempts = 0;
        let mut last_error = None;
        for call in target.calls(keys, reason, generation) {
            let mut delay = FIRST_RETRY;
            let mut done = false;
            for attempt in 1..=ATTEMPTS {
                attempts += 1;
                let mut request = self.client.post(&call.url).json(&call.body);
                for (name, value) in &call.headers {
                    request = request.header(*name, value);
                }
                let mut wait = delay;
                match request.send().await {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let retry_after = response
                            .headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(|secs| Duration::from_secs(secs).min(MAX_RETRY_AFTER));
                        let body = response.bytes().await.unwrap_or_default();
                        if target.accepted(status, &body) {
                            done = true;
                            break;
                        }
                        last_error = Some(format!("answered {status}"));
                        if let Some(after) = retry_after {
                            wait = after;
                        }
                        // A refusal of who we are will not change on a retry.
                        if matches!(status, 400 | 401 | 403 | 404) {
                            break;
                        }
                    }
                    // Without the URL: a webhook's query may carry a credential.
                    Err(e) => last_error = Some(e.without_url().to_string()),
                }
                tracing::warn!(
                    provider = target.provider(),
                    attempt,
                    error = last_error.as_deref().unwrap_or(""),
                    "purge not done yet"
                );
                if attempt < ATTEMPTS {
                    tokio::time::sleep(wait).await;
                    delay *= 2;
                }
            }
            if !done {
                return Outcome {
                    sent: false,
                    attempts,
                    last_error,
                };
            }
        }
        Outcome {
            sent: true,
            attempts,
            last_error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("variant/v{i}")).collect()
    }

    #[test]
    fn the_webhook_gets_every_key_in_one_call_with_its_secret_as_a_bearer_token() {
        let target = PurgeTarget::Webhook {
            url: "http://cdn.internal/purge".into(),
            secret: Some(Secret::new("s3cret")),
        };
        let calls = target.calls(&keys(300), "published", 7);
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].url, "http://cdn.internal/purge");
        assert_eq!(
            calls[0].headers,
            vec![("authorization", "Bearer s3cret".to_string())]
        );
        assert_eq!(
            calls[0].body["surrogate_keys"].as_array().unwrap().len(),
            300
        );
        assert_eq!(calls[0].body["generation"], 7);
        assert_eq!(calls[0].body["reason"], "published");
        let open = PurgeTarget::Webhook {
            url: "http://cdn.internal/purge".into(),
            secret: None,
        };
        assert!(open.calls(&keys(1), "", 1)[0].headers.is_empty());
    }

    #[test]
    fn fastly_is_purged_in_batches_of_256_keys_with_its_key_header() {
        let target = PurgeTarget::Fastly {
            endpoint: "https://api.fastly.com".into(),
            service_id: "SU1Z0isxPaozGVKXdv0eY".into(),
            token: Secret::new("tok"),
            soft: true,
        };
        let calls = target.calls(&keys(300), "published", 1);
        assert_eq!(calls.len(), 2);
        assert_eq!(
            calls[0].url,
            "https://api.fastly.com/service/SU1Z0isxPaozGVKXdv0eY/purge"
        );
        assert!(calls[0]
            .headers
            .contains(&("fastly-key", "tok".to_string())));
        assert!(calls[0]
            .headers
            .contains(&("fastly-soft-purge", "1".to_string())));
        assert_eq!(
            calls[0].body["surrogate_keys"].as_array().unwrap().len(),
            256
        );
        assert_eq!(
            calls[1].body["surrogate_keys"].as_array().unwrap().len(),
            44
        );
        assert_eq!(calls[1].body["surrogate_keys"][0], "variant/v256");
    }

    #[test]
    fn cloudflare_is_purged_by_tags_in_batches_of_30_with_a_bearer_token() {
        let target = PurgeTarget::Cloudflare {
            endpoint: "https://api.cloudflare.com/client/v4".into(),
            zone_id: "023e105f4ecef8ad9ca31a8372d0c353".into(),
            token: Secret::new("cf"),
        };
        let calls = target.calls(&keys(61), "retired", 1);
        assert_eq!(calls.len(), 3);
        assert_eq!(
            calls[0].url,
            "https://api.cloudflare.com/client/v4/zones/023e105f4ecef8ad9ca31a8372d0c353/purge_cache"
        );
        assert_eq!(
            calls[0].headers,
            vec![("authorization", "Bearer cf".to_string())]
        );
        assert_eq!(calls[0].body, json!({ "tags": keys(30) }));
        assert_eq!(calls[2].body["tags"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn cloudflare_success_false_is_a_failure_even_with_200() {
        let target = PurgeTarget::Cloudflare {
            endpoint: "x".into(),
            zone_id: "z".into(),
            token: Secret::new("t"),
        };
        assert!(target.accepted(200, br#"{"success": true}"#));
        assert!(!target.accepted(200, br#"{"success": false, "errors": []}"#));
        assert!(!target.accepted(503, b""));
    }

    #[test]
    fn credentials_do_not_print() {
        let target = PurgeTarget::Fastly {
            endpoint: "e".into(),
            service_id: "s".into(),
            token: Secret::new("do-not-print"),
            soft: false,
        };
        assert!(!format!("{target:?}").contains("do-not-print"));
    }
}
