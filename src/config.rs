//! Typed configuration: defaults, then an optional `tailor.toml`, then environment
//! variables (`TAILOR_*`, plus the conventional `DATABASE_URL` and `REDIS_URL`).
//! Everything is validated once at start-up so a bad value stops the process with a
//! message naming the setting, instead of surfacing later as a confusing failure.

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
    /// audiences `tailor` for identity and `tailor-staff` for staff tokens).
    pub dev_token_secret: Option<Secret>,
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
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CacheSettings {
    /// `max-age` of public content responses.
    pub max_age_secs: u32,
    pub stale_while_revalidate_secs: u32,
    /// Capacity of the in-process cache of rendered answers.
    pub rendered_capacity: u64,
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
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
}

fn default_leeway() -> u64 {
    30
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
            identity_tokens: None,
            staff_tokens: None,
            server_api_keys: Vec::new(),
            identifier_types: Vec::new(),
            person_cache_secs: 60,
            governance_evaluate_secs: 3600,
            cache: CacheSettings {
                max_age_secs: 60,
                stale_while_revalidate_secs: 300,
                rendered_capacity: 100_000,
            },
            cohort_ttl_secs: 3600,
            catalog_poll_secs: 5,
            log_format: LogFormat::Text,
            shutdown_timeout_secs: 30,
            workers: None,
            max_batch_placements: 20,
            public_url: None,
            purge_webhook_url: None,
        }
    }
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

    pub fn validate(&self) -> Result<(), ConfigError> {
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
            if secret.expose().len() < 16 {
                return invalid("dev_token_secret", "must be at least 16 characters");
            }
        }
        if self.cohort_ttl_secs < 60 || self.cohort_ttl_secs > 86_400 {
            return invalid("cohort_ttl_secs", "must be between 60 and 86400");
        }
        if self.catalog_poll_secs == 0 {
            return invalid("catalog_poll_secs", "must be at least 1");
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
    fn secret_never_prints() {
        let secret = Secret::new("super-secret-value");
        assert!(!format!("{secret:?}").contains("super"));
    }
}
