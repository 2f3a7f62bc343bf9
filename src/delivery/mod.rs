//! Content delivery over HTTP: `GET /v1/content/{placement}`, the batch
//! `GET /v1/content?placements=a,b`, and the cohort endpoint `GET /v1/context`.
//!
//! Handlers ([`http`]) parse, call context → decide → render ([`answer`]), and map the
//! result to headers a CDN can trust. Rendered answers that carry nothing personal are
//! kept in a moka cache keyed by (generation, placement, variant, channel, device,
//! locale chain), so a repeated request is a rule evaluation plus a cache hit: no
//! database, no Fluent, no JSON. [`Delivery`] is everything the area holds.

mod answer;
pub mod http;
pub mod purge;
pub mod purge_log;
pub mod sdk;
pub mod sync;
mod sync_http;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

pub use answer::{fluent_args, is_capped, CachedAnswer, PurgeKeys, RenderKey};
pub use http::configure;

use crate::catalog::live::LiveCatalog;
use crate::catalog::Catalog;
use crate::config::Settings;
use crate::engagement::writer::OnCommit;
use crate::engagement::{EventKind, NewEvent};
use crate::identity::Resolver;
use crate::metrics::Metrics;
use crate::problem::Problem;
use crate::resilience::Dependency;
use crate::tokens::{Lifetimes, Signer};

/// Recent impression times per (person key, placement), for frequency caps.
pub type FatigueCache = moka::sync::Cache<(String, Arc<str>), Arc<Vec<DateTime<Utc>>>>;

/// Impression times kept per (person, placement): caps above this are not supported.
const MAX_REMEMBERED_IMPRESSIONS: usize = 64;

/// How stale another node's view of a person's impressions may get.
const FATIGUE_TTL: Duration = Duration::from_secs(60);

/// Everything delivery holds.
pub struct Delivery {
    pub live: LiveCatalog,
    pub people: Resolver,
    /// Frequency caps read recent impressions on a miss.
    pub db: DatabaseConnection,
    /// The database's breaker and timeout, for those reads.
    pub database: Arc<Dependency>,
    pub signer: Arc<Signer>,
    pub rendered: moka::sync::Cache<RenderKey, Arc<CachedAnswer>>,
    /// Recent impressions per (person, placement), kept current by this node's event
    /// writer ([`Delivery::remember_impressions`]) and reloaded after `FATIGUE_TTL`.
    pub fatigue: FatigueCache,
    /// Absolute base URL for tracked links and open pixels.
    pub public_url: String,
    pub token_lifetimes: Lifetimes,
    pub metrics: Arc<Metrics>,
    /// Cache headers, batch size and cohort lifetime.
    pub settings: Arc<Settings>,
    /// The generation the rendered answers were made from.
    rendered_generation: AtomicU64,
    /// Offline-sync manifests this node stored or read (id → stored form).
    pub sync_manifests: moka::sync::Cache<String, Arc<str>>,
    /// When this node last deleted sync manifests past retention (Unix seconds).
    pub sync_swept: AtomicU64,
}

/// What [`Delivery::new`] needs besides the settings.
pub struct DeliveryParts {
    pub live: LiveCatalog,
    pub people: Resolver,
    pub db: DatabaseConnection,
    pub database: Arc<Dependency>,
    pub signer: Arc<Signer>,
    pub fatigue: FatigueCache,
    pub public_url: String,
    pub metrics: Arc<Metrics>,
}

impl Delivery {
    pub fn new(parts: DeliveryParts, settings: Arc<Settings>) -> Delivery {
        Delivery {
            live: parts.live,
            people: parts.people,
            db: parts.db,
            database: parts.database,
            signer: parts.signer,
            rendered: moka::sync::Cache::builder()
                .max_capacity(settings.cache.rendered_capacity)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            fatigue: parts.fatigue,
            public_url: parts.public_url,
            token_lifetimes: Lifetimes::from_settings(&settings),
            metrics: parts.metrics,
            settings,
            rendered_generation: AtomicU64::new(0),
            sync_manifests: moka::sync::Cache::builder()
                .weigher(|_, json: &Arc<str>| u32::try_from(json.len()).unwrap_or(u32::MAX))
                .max_capacity(16 << 20)
                // Stored again at least daily while it is handed out, so retention
                // (counted from the last store) never drops a manifest still in use.
                .time_to_live(Duration::from_secs(86_400))
                .build(),
            sync_swept: AtomicU64::new(0),
        }
    }

    /// The serving catalog. Rendered answers are keyed by generation, so those of an
    /// older catalog are never served again; the first request to see a new generation
    /// frees them.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, Problem> {
        let catalog = self.live.current().await?;
        // A read on every request; the write (and the sweep) only when it changed.
        let seen = &self.rendered_generation;
        if seen.load(Ordering::Relaxed) != catalog.generation
            && seen.swap(catalog.generation, Ordering::Relaxed) != catalog.generation
        {
            self.rendered.invalidate_all();
        }
        Ok(catalog)
    }

    /// An empty impression cache, bounded.
    pub fn fatigue_cache() -> FatigueCache {
        moka::sync::Cache::builder()
            .max_capacity(1_000_000)
            .time_to_live(FATIGUE_TTL)
            .build()
    }

    /// The event writer's commit hook that keeps cached impression histories current
    /// with what this node commits.
    pub fn remember_impressions(fatigue: FatigueCache) -> OnCommit {
        Arc::new(move |events: &[&NewEvent]| {
            for event in events {
                let (EventKind::Impression, Some(person)) = (event.kind, &event.person_key) else {
                    continue;
                };
                let key = (person.clone(), Arc::from(event.decision.placement.as_str()));
                if let Some(known) = fatigue.get(&key) {
                    // Only the newest few matter for any cap; a flood of impressions for
                    // one person must not grow the list (or this writer's work) without
                    // bound.
                    let mut times = (*known).clone();
                    times.push(event.occurred_at);
                    if times.len() > MAX_REMEMBERED_IMPRESSIONS {
                        times.sort_unstable();
                        times.drain(..times.len() - MAX_REMEMBERED_IMPRESSIONS);
                    }
                    fatigue.insert(key, Arc::new(times));
                }
            }
        })
    }
}
