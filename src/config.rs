//! Typed configuration: defaults, then an optional `tailor.toml`, then environment
//! variables (`TAILOR_*`, plus the conventional `DATABASE_URL` and `REDIS_URL`).
//! Everything is validated once at start-up so a bad value stops the process with a
//! message naming the setting, instead of surfacing later as a confusing failure.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

/// A secret value that never prints itself (Debug and Display are redacted).
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address `tailor serve` listens on.
    pub bind: String,
    /// sea-orm connection string; SQLite by default.
    pub database_url: String,
    /// Optional Redis for cross-node invalidation; unset means one node with moka only.
    pub redis_url: Option<String>,
    pub content_dir: PathBuf,
    pub locales_dir: PathBuf,
    /// The locale every message must exist in, and the last step of every fallback chain.
    pub default_locale: String,
    /// Import `content/` and `locales/` into the database when the server starts.
    pub import_on_start: bool,
    /// HMAC key for tracking tokens and cohort keys. Unset: one is generated and kept in
    /// the database, so every node sharing the database signs alike.
    pub signing_secret: Option<Secret>,
    /// Development-only HS256 secret for staff and identity tokens (issuer `tailor-dev`,
    /// audiences `tailor` for identity and `tailor-staff` for staff tokens). Honoured only
    /// with `dev_mode`, and only for a kind of token with no verifier configured.
    pub dev_token_secret: Option<Secret>,
    /// Development mode: the only way `dev_token_secret` is used. Never in production.
    pub dev_mode: bool,
    /// A bearer token `/metrics` requires. Without it (and without `metrics_bind`), the
    /// main listener does not serve `/metrics` at all.
    pub metrics_token: Option<Secret>,
    /// A second listener (e.g. `10.0.0.5:9464`) that serves only `/metrics`; the main
    /// listener then does not serve it.
    pub metrics_bind: Option<String>,
    /// Identity tokens from the site's identity provider (`Authorization: Bearer` on
    /// content, context and event requests); `sub` is a `customer_id`.
    pub identity_tokens: Option<TokenSettings>,
    /// Staff tokens with `roles` (and `scope` for `identify`).
    pub staff_tokens: Option<TokenSettings>,
    /// Keys that servers (email/SMS senders, the site's back end) present as `X-Api-Key`
    /// to identify people and to name a person on content requests.
    pub server_api_keys: Vec<Secret>,
    /// Identifier types beyond the built-in ones.
    pub identifier_types: Vec<crate::identity::graph::IdentifierType>,
    /// How often the server runs the governance policies (0: never; use
    /// `tailor governance evaluate` or the API instead).
    pub governance_evaluate_secs: u64,
    /// How often the server recomputes adaptive allocations from the rollups (0: never;
    /// use `POST /v1/governance/allocations/recompute` instead).
    pub allocation_recompute_secs: u64,
    /// How long a node keeps a resolved person (moka) and Redis keeps it (second level).
    pub person_cache_secs: u64,
    pub cache: CacheSettings,
    pub cohort_ttl_secs: u64,
    /// How often a node checks the database for content changes made elsewhere
    /// (Redis pub/sub, when configured, makes this near-instant).
    pub catalog_poll_secs: u64,
    pub log_format: LogFormat,
    pub shutdown_timeout_secs: u64,
    pub workers: Option<usize>,
    pub max_batch_placements: usize,
    /// Absolute base URL of this service as customers reach it, for tracked links and
    /// open pixels in email and SMS. Unset: `http://<bind>`.
    pub public_url: Option<String>,
    /// Where publishes and archives send their CDN purge (`POST`, JSON
    /// `{"surrogate_keys": [...]}`). Unset: purges are only logged.
    pub purge_webhook_url: Option<String>,
    /// Sent to the purge webhook as `Authorization: Bearer <secret>`, so the receiver can
    /// refuse purges from anyone else.
    pub purge_webhook_secret: Option<Secret>,
    /// Purge a Fastly service by surrogate key (`POST /service/{id}/purge`).
    pub purge_fastly: Option<FastlyPurge>,
    /// Purge a Cloudflare zone by cache tag (`POST /zones/{id}/purge_cache`).
    pub purge_cloudflare: Option<CloudflarePurge>,
    /// Proxies (CIDRs, e.g. `["127.0.0.1/32"]`) whose `X-Forwarded-For` / `Forwarded`
    /// name the client. Default none: the TCP peer is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header those proxies write the client address into: `x-forwarded-for`
    /// (every line, in order) or `forwarded` (RFC 7239 `for=`). Only this one is read.
    pub forwarded_header: crate::engagement::provenance::ForwardedHeader,
    /// How long a tracking token (and the links and pixel made with it) counts
    /// engagement, per channel id, as `"24h"`, `"8w"`...; `default` for the others.
    pub tracking_token_ttl: BTreeMap<String, String>,
    /// Per-node request limits, per client network (or server key).
    pub rate_limits: RateLimits,
    /// More automatic retirements than this within 24 hours turns the planned ones into
    /// proposals (a circuit breaker against mass retirement).
    pub governance_max_auto_retirements: u32,
    /// Timeouts, breakers and probes around the database and Redis.
    pub resilience: Resilience,
    /// Origins whose pages may call the content, context and events paths from a
    /// browser (`https://shop.example.com`, or `*`); none by default.
    pub cors_allowed_origins: Vec<String>,
}

/// How the request paths fail fast when the database or Redis falters (see
/// `resilience`), and how long a starting node waits for its database.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Resilience {
    /// Bound on one Redis call (connecting included) from a request.
    pub redis_timeout_ms: u64,
    /// Bound on waiting for a pooled database connection.
    pub database_acquire_timeout_ms: u64,
    /// Bound on one database lookup from a request (person, frequency cap).
    pub database_timeout_ms: u64,
    /// Bound on one event group's transaction.
    pub database_write_timeout_ms: u64,
    /// Consecutive failures that open a dependency's breaker.
    pub breaker_failures: u32,
    /// How long an open breaker refuses calls before one trial call may go.
    pub breaker_open_ms: u64,
    /// How often the background probe checks each dependency (what `/readyz` reports).
    pub probe_interval_ms: u64,
    /// Bound on one probe.
    pub probe_timeout_ms: u64,
    /// How long a starting node retries its database before giving up (exit 1).
    pub database_start_timeout_secs: u64,
}

impl Default for Resilience {
    fn default() -> Self {
        Resilience {
            redis_timeout_ms: 50,
            database_acquire_timeout_ms: 250,
            database_timeout_ms: 750,
            database_write_timeout_ms: 5000,
            breaker_failures: 3,
            breaker_open_ms: 1000,
            probe_interval_ms: 500,
            probe_timeout_ms: 500,
            database_start_timeout_secs: 30,
        }
    }
}

/// A token bucket: `per_second` sustained, `burst` at once; `per_second = 0` disables it.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    pub per_second: u32,
    pub burst: u32,
}

/// Rate limits, each per node (N nodes admit up to N times as much).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimits {
    /// `POST /v1/events`, per client network.
    pub events: Limit,
    /// `POST /v1/events` with a server key, per key (a relay for many clients).
    pub events_per_key: Limit,
    /// `GET /v1/t/…` and `GET /v1/o/…`, per client network.
    pub links: Limit,
    /// `GET /v1/context`, per client network.
    pub context: Limit,
    /// `POST /v1/identify` with a server key, per key.
    pub identify_per_key: Limit,
    /// `POST /v1/identify` without a server key, per client network.
    pub identify_per_source: Limit,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            events: Limit {
                per_second: 20,
                burst: 100,
            },
            events_per_key: Limit {
                per_second: 2000,
                burst: 4000,
            },
            links: Limit {
                per_second: 20,
                burst: 100,
            },
            context: Limit {
                per_second: 50,
                burst: 200,
            },
            identify_per_key: Limit {
                per_second: 2000,
                burst: 4000,
            },
            identify_per_source: Limit {
                per_second: 10,
                burst: 50,
            },
        }
    }
}

/// Tracking-token lifetimes by channel: hours where the answer is shown at once (web,
/// app, kiosk), weeks where it is read later (email, SMS).
pub fn default_tracking_token_ttl() -> BTreeMap<String, String> {
    [
        ("default", "24h"),
        ("web", "24h"),
        ("mobile_app", "72h"),
        ("kiosk", "24h"),
        ("chat", "24h"),
        ("push", "7days"),
        ("sms", "4weeks"),
        ("email", "8weeks"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Shortest and longest tracking-token lifetime: a token must outlive the CDN's copy
/// of the answer carrying it many times over, and not outlive the event age limit
/// by much.
pub const MIN_TRACKING_TOKEN_TTL_SECS: u64 = 3600;
pub const MAX_TRACKING_TOKEN_TTL_SECS: u64 = 90 * 86_400;

impl Settings {
    /// The limits on automatic governance action.
    pub fn safeguards(&self) -> crate::governance::evaluator::Safeguards {
        crate::governance::evaluator::Safeguards {
            max_auto_retirements: self.governance_max_auto_retirements,
        }
    }

    /// The tracking-token lifetime of a channel, in seconds (validated at start-up).
    pub fn tracking_token_ttl_secs(&self, channel: &str) -> u64 {
        self.tracking_token_ttl
            .get(channel)
            .or_else(|| self.tracking_token_ttl.get("default"))
            .and_then(|v| humantime::parse_duration(v).ok())
            .map_or(86_400, |d| d.as_secs())
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// `max-age` of public content responses.
    pub max_age_secs: u32,
    pub stale_while_revalidate_secs: u32,
    /// Capacity of the in-process cache of rendered answers.
    pub rendered_capacity: u64,
    /// Fluent resources kept parsed, in MB of their source (parsed, a resource takes
    /// about ten times its source). The rest is parsed again when next formatted.
    #[serde(default = "default_parsed_fluent_mb")]
    pub parsed_fluent_mb: u64,
}

fn default_parsed_fluent_mb() -> u64 {
    8
}

/// Fastly's purge API for one service.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FastlyPurge {
    pub service_id: String,
    /// An API token with purge rights (sent as `Fastly-Key`; never logged).
    pub api_token: Secret,
    /// The API's base URL (a local receiver in tests).
    #[serde(default = "default_fastly_endpoint")]
    pub endpoint: String,
    /// Mark objects stale instead of removing them (`Fastly-Soft-Purge: 1`), so the edge
    /// can still serve them stale-if-error.
    #[serde(default)]
    pub soft: bool,
}

fn default_fastly_endpoint() -> String {
    "https://api.fastly.com".into()
}

/// Cloudflare's purge API for one zone.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CloudflarePurge {
    pub zone_id: String,
    /// An API token with the zone's Cache Purge permission (sent as a bearer token;
    /// never logged).
    pub api_token: Secret,
    /// The API's base URL (a local receiver in tests).
    #[serde(default = "default_cloudflare_endpoint")]
    pub endpoint: String,
}

fn default_cloudflare_endpoint() -> String {
    "https://api.cloudflare.com/client/v4".into()
}

/// Where a kind of JWT comes from and how it is checked. Exactly one key source: a PEM
/// public key, a JWKS file (keys chosen by `kid`), or an HS256 secret (development).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    pub issuer: String,
    pub audience: String,
    /// Accepted `alg` values, e.g. `["RS256"]`; anything else is refused.
    pub algorithms: Vec<String>,
    pub key_file: Option<PathBuf>,
    pub jwks_file: Option<PathBuf>,
    pub hs256_secret: Option<Secret>,
    /// Clock skew allowed on `exp`, `nbf` and `iat` (at most 300).
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// How long after its `iat` a token is accepted, whatever its `exp` (60 s to 30 days).
    #[serde(default = "default_max_token_age")]
    pub max_token_age_secs: u64,
}

fn default_leeway() -> u64 {
    30
}

fn default_max_token_age() -> u64 {
    86_400
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            database_url: "sqlite://tailor.db?mode=rwc".into(),
            redis_url: None,
            content_dir: "content".into(),
            locales_dir: "locales".into(),
            default_locale: "en".into(),
            import_on_start: true,
            signing_secret: None,
            dev_token_secret: None,
            dev_mode: false,
            metrics_token: None,
            metrics_bind: None,
            identity_tokens: None,
            staff_tokens: None,
            server_api_keys: Vec::new(),
            identifier_types: Vec::new(),
            person_cache_secs: 60,
            governance_evaluate_secs: 3600,
            allocation_recompute_secs: 3600,
            cache: CacheSettings {
                max_age_secs: 60,
                stale_while_revalidate_secs: 300,
                rendered_capacity: 100_000,
                parsed_fluent_mb: default_parsed_fluent_mb(),
            },
            cohort_ttl_secs: 3600,
            catalog_poll_secs: 5,
            log_format: LogFormat::Text,
            shutdown_timeout_secs: 30,
            workers: None,
            max_batch_placements: 20,
            public_url: None,
            purge_webhook_url: None,
            purge_webhook_secret: None,
            purge_fastly: None,
            purge_cloudflare: None,
            trusted_proxies: Vec::new(),
            forwarded_header: Default::default(),
            tracking_token_ttl: default_tracking_token_ttl(),
            rate_limits: RateLimits::default(),
            governance_max_auto_retirements: 3,
            resilience: Resilience::default(),
            cors_allowed_origins: Vec::new(),
        }
    }
}

/// A CDN purge API's settings: an http(s) endpoint, an id that can sit in a URL path,
/// a token that is there.
fn check_purge_api(
    (endpoint_setting, endpoint): (&'static str, &str),
    (id_setting, id): (&'static str, &str),
    (token_setting, token): (&'static str, &Secret),
) -> Result<(), ConfigError> {
    let invalid = |setting, reason: &str| {
        Err(ConfigError::Invalid {
            setting,
            reason: reason.to_string(),
        })
    };
    if reqwest::Url::parse(endpoint).map_or(true, |u| !matches!(u.scheme(), "http" | "https"))
        || endpoint.ends_with('/')
    {
        return invalid(
            endpoint_setting,
            "must be an http(s) URL without a trailing slash",
        );
    }
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return invalid(id_setting, "must be 1-64 letters and digits");
    }
    if token.expose().trim().is_empty() {
        return invalid(token_setting, "must not be empty");
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(Box<figment::Error>),
    #[error("configuration: `{setting}` {reason}")]
    Invalid {
        setting: &'static str,
        reason: String,
    },
}

impl Settings {
    /// Defaults, then `tailor.toml` (or `TAILOR_CONFIG`), then the environment.
    pub fn load() -> Result<Settings, ConfigError> {
        let file = std::env::var("TAILOR_CONFIG").unwrap_or_else(|_| "tailor.toml".into());
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(file))
            .merge(
                // Nested settings use a double underscore: TAILOR_CACHE__MAX_AGE_SECS.
                Env::prefixed("TAILOR_").ignore(&["CONFIG"]).split("__"),
            )
            .merge(Env::raw().only(&["DATABASE_URL", "REDIS_URL"]))
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every setting; the first bad one is named with its reason.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_endpoints()?;
        self.validate_identity()?;
        self.validate_tracking()?;
        self.validate_limits()
    }

    /// Addresses, URLs, secrets and sizes.
    fn validate_endpoints(&self) -> Result<(), ConfigError> {
        if let Some(bad) = self
            .cors_allowed_origins
            .iter()
            .find(|origin| !crate::cors::valid_origin(origin))
        {
            return Err(ConfigError::Invalid {
                setting: "cors_allowed_origins",
                reason: format!(
                    "`{bad}` is not an origin: give scheme://host[:port] (no path), or *"
                ),
            });
        }
        let invalid = |setting, reason: &str| {
            Err(ConfigError::Invalid {
                setting,
                reason: reason.to_string(),
            })
        };
        if self.bind.parse::<SocketAddr>().is_err() {
            return invalid("bind", "must be an address like 127.0.0.1:8080");
        }
        if !(self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return invalid(
                "database_url",
                "must start with sqlite:, postgres:// or postgresql://",
            );
        }
        if let Some(url) = &self.redis_url {
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return invalid("redis_url", "must start with redis:// or rediss://");
            }
        }
        if self
            .default_locale
            .parse::<unic_langid::LanguageIdentifier>()
            .is_err()
        {
            return invalid("default_locale", "is not a BCP 47 language tag");
        }
        if let Some(secret) = &self.signing_secret {
            if secret.expose().len() < 32 {
                return invalid("signing_secret", "must be at least 32 characters");
            }
        }
        if let Some(secret) = &self.dev_token_secret {
            if !self.dev_mode {
                return invalid(
                    "dev_token_secret",
                    "is honoured only with dev_mode = true (TAILOR_DEV_MODE=true), which is for development only",
                );
            }
            if secret.expose().len() < crate::auth::MIN_HMAC_SECRET_BYTES {
                return invalid("dev_token_secret", "must be at least 32 bytes");
            }
        }
        if let Some(token) = &self.metrics_token {
            if token.expose().len() < 24 {
                return invalid("metrics_token", "must be at least 24 characters");
            }
        }
        if let Some(bind) = &self.metrics_bind {
            let Ok(address) = bind.parse::<SocketAddr>() else {
                return invalid("metrics_bind", "must be an address like 10.0.0.5:9464");
            };
            // Without a token, only an address the internet cannot reach.
            let internal = match address.ip() {
                std::net::IpAddr::V4(ip) => {
                    ip.is_loopback() || ip.is_private() || ip.is_link_local()
                }
                std::net::IpAddr::V6(ip) => {
                    ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local()
                }
            };
            if !internal && self.metrics_token.is_none() {
                return invalid(
                    "metrics_bind",
                    "on an address that is not loopback or private (0.0.0.0 included) needs metrics_token",
                );
            }
        }
        if self.cohort_ttl_secs < 60 || self.cohort_ttl_secs > 86_400 {
            return invalid("cohort_ttl_secs", "must be between 60 and 86400");
        }
        if self.catalog_poll_secs == 0 {
            return invalid("catalog_poll_secs", "must be at least 1");
        }
        if !(1..=4096).contains(&self.cache.parsed_fluent_mb) {
            return invalid("cache.parsed_fluent_mb", "must be between 1 and 4096");
        }
        if self.max_batch_placements == 0 || self.max_batch_placements > 100 {
            return invalid("max_batch_placements", "must be between 1 and 100");
        }
        if let Some(url) = &self.public_url {
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.ends_with('/') {
                return invalid(
                    "public_url",
                    "must be an http(s) URL without a trailing slash",
                );
            }
        }
        if let Some(url) = &self.purge_webhook_url {
            if reqwest::Url::parse(url).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
                return invalid("purge_webhook_url", "must be an http(s) URL");
            }
        }
        if self
            .purge_webhook_secret
            .as_ref()
            .is_some_and(|s| s.expose().trim().is_empty())
        {
            return invalid("purge_webhook_secret", "must not be empty");
        }
        if let Some(fastly) = &self.purge_fastly {
            check_purge_api(
                ("purge_fastly.endpoint", &fastly.endpoint),
                ("purge_fastly.service_id", &fastly.service_id),
                ("purge_fastly.api_token", &fastly.api_token),
            )?;
        }
        if let Some(cloudflare) = &self.purge_cloudflare {
            check_purge_api(
                ("purge_cloudflare.endpoint", &cloudflare.endpoint),
                ("purge_cloudflare.zone_id", &cloudflare.zone_id),
                ("purge_cloudflare.api_token", &cloudflare.api_token),
            )?;
        }
        Ok(())
    }

    /// Token verifiers, server keys, identifier types, caches and workers.
    fn validate_identity(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason: &str| {
            Err(ConfigError::Invalid {
                setting,
                reason: reason.to_string(),
            })
        };
        for (setting, tokens) in [
            ("identity_tokens", &self.identity_tokens),
            ("staff_tokens", &self.staff_tokens),
        ] {
            if let Some(tokens) = tokens {
                crate::auth::JwtVerifier::from_settings(tokens)
                    .map_err(|reason| ConfigError::Invalid { setting, reason })?;
            }
        }
        if self.server_api_keys.iter().any(|k| k.expose().len() < 24) {
            return invalid("server_api_keys", "each key must be at least 24 characters");
        }
        if let Err(reason) =
            crate::identity::graph::IdentifierTypes::with_extra(&self.identifier_types)
        {
            return Err(ConfigError::Invalid {
                setting: "identifier_types",
                reason,
            });
        }
        if self.person_cache_secs == 0 || self.person_cache_secs > 3600 {
            return invalid("person_cache_secs", "must be between 1 and 3600");
        }
        if self.workers == Some(0) {
            return invalid("workers", "must be at least 1");
        }
        Ok(())
    }

    /// Tracking-token lifetimes, and cache lifetimes that must stay within them.
    fn validate_tracking(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason: &str| {
            Err(ConfigError::Invalid {
                setting,
                reason: reason.to_string(),
            })
        };
        if !self.tracking_token_ttl.contains_key("default") {
            return invalid("tracking_token_ttl", "needs a `default` entry");
        }
        for (channel, ttl) in &self.tracking_token_ttl {
            let secs = humantime::parse_duration(ttl).map(|d| d.as_secs());
            if !secs.is_ok_and(|s| {
                (MIN_TRACKING_TOKEN_TTL_SECS..=MAX_TRACKING_TOKEN_TTL_SECS).contains(&s)
            }) {
                return Err(ConfigError::Invalid {
                    setting: "tracking_token_ttl",
                    reason: format!(
                        "`{channel} = \"{ttl}\"` must be a duration like \"24h\" or \"8w\", from 1h to 90 days"
                    ),
                });
            }
        }
        // A CDN may hand out its copy of an answer until max-age + stale-while-revalidate
        // have passed: its tracking token must still count by then.
        let cached_secs =
            u64::from(self.cache.max_age_secs) + u64::from(self.cache.stale_while_revalidate_secs);
        let shortest = self
            .tracking_token_ttl
            .keys()
            .map(|c| self.tracking_token_ttl_secs(c))
            .min()
            .unwrap_or(0);
        if cached_secs > shortest / 8 {
            return Err(ConfigError::Invalid {
                setting: "cache.max_age_secs",
                reason: format!(
                    "max_age_secs + stale_while_revalidate_secs ({cached_secs} s) must be at most an eighth of the shortest tracking_token_ttl ({} s), or cached answers carry expired tokens",
                    shortest / 8
                ),
            });
        }
        Ok(())
    }

    /// Rate limits and governance safeguards.
    fn validate_limits(&self) -> Result<(), ConfigError> {
        let invalid = |setting, reason: &str| {
            Err(ConfigError::Invalid {
                setting,
                reason: reason.to_string(),
            })
        };
        let limits = &self.rate_limits;
        for (setting, limit) in [
            ("rate_limits.events", limits.events),
            ("rate_limits.events_per_key", limits.events_per_key),
            ("rate_limits.links", limits.links),
            ("rate_limits.context", limits.context),
            ("rate_limits.identify_per_key", limits.identify_per_key),
            (
                "rate_limits.identify_per_source",
                limits.identify_per_source,
            ),
        ] {
            if limit.per_second > 0 && limit.burst < 1 {
                return invalid(setting, "burst must be at least 1 when per_second is set");
            }
        }
        if self.governance_max_auto_retirements > 1000 {
            return invalid("governance_max_auto_retirements", "must be at most 1000");
        }
        let r = &self.resilience;
        for (setting, value, max) in [
            ("resilience.redis_timeout_ms", r.redis_timeout_ms, 60_000),
            (
                "resilience.database_acquire_timeout_ms",
                r.database_acquire_timeout_ms,
                60_000,
            ),
            (
                "resilience.database_timeout_ms",
                r.database_timeout_ms,
                60_000,
            ),
            (
                "resilience.database_write_timeout_ms",
                r.database_write_timeout_ms,
                300_000,
            ),
            ("resilience.breaker_open_ms", r.breaker_open_ms, 600_000),
            ("resilience.probe_interval_ms", r.probe_interval_ms, 600_000),
            ("resilience.probe_timeout_ms", r.probe_timeout_ms, 60_000),
        ] {
            if value == 0 || value > max {
                return invalid(setting, &format!("must be from 1 to {max}"));
            }
        }
        if r.breaker_failures == 0 {
            return invalid("resilience.breaker_failures", "must be at least 1");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().expect("defaults validate");
    }

    #[test]
    fn bad_bind_is_named() {
        let settings = Settings {
            bind: "nonsense".into(),
            ..Settings::default()
        };
        let message = settings.validate().unwrap_err().to_string();
        assert!(message.contains("`bind`"), "{message}");
    }

    #[test]
    fn token_lifetimes_are_per_channel_and_checked() {
        let settings = Settings::default();
        assert_eq!(settings.tracking_token_ttl_secs("web"), 86_400);
        assert_eq!(settings.tracking_token_ttl_secs("email"), 8 * 7 * 86_400);
        assert_eq!(settings.tracking_token_ttl_secs("fax"), 86_400);
        let mut short = Settings::default();
        short.tracking_token_ttl.insert("web".into(), "5m".into());
        let message = short.validate().unwrap_err().to_string();
        assert!(
            message.contains("tracking_token_ttl") && message.contains("web"),
            "{message}"
        );
    }

    #[test]
    fn metrics_on_a_reachable_address_need_a_token() {
        let with = |bind: &str, token: Option<&str>| {
            Settings {
                metrics_bind: Some(bind.into()),
                metrics_token: token.map(Secret::new),
                ..Settings::default()
            }
            .validate()
            .is_ok()
        };
        assert!(with("127.0.0.1:9464", None));
        assert!(with("10.0.0.5:9464", None));
        assert!(!with("0.0.0.0:9464", None));
        assert!(!with("203.0.113.9:9464", None));
        assert!(with("0.0.0.0:9464", Some("metrics-token-0123456789abcdef")));
        assert!(!with("not an address", None));
    }

    #[test]
    fn secret_never_prints() {
        let secret = Secret::new("super-secret-value");
        assert!(!format!("{secret:?}").contains("super"));
    }
}
