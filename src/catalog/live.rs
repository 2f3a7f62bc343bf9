//! The serving catalog's life: compiled from the database on first use, replaced when
//! the content generation changes, and kept in step across nodes.
//!
//! A change made here is announced to the other nodes over Redis pub/sub
//! ([`LiveCatalog::announce_change`]); every node also listens ([`LiveCatalog::listen`])
//! and polls the stored generation ([`LiveCatalog::poll`]), so a node that missed an
//! announcement (no Redis, a dropped subscription) still catches up within
//! `catalog_poll_secs`. Everything that serves content asks [`LiveCatalog::current`].

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use sea_orm::DatabaseConnection;

use super::Catalog;
use crate::metrics::Metrics;
use crate::problem::Problem;
use crate::storage::{self, StorageError};

/// Redis pub/sub channel for content changes (payload: the new generation).
pub const INVALIDATION_CHANNEL: &str = "tailor:invalidate";

/// The compiled catalog of this node; cheap to clone (one shared inner value).
#[derive(Clone)]
pub struct LiveCatalog {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    default_locale: String,
    metrics: Arc<Metrics>,
    /// One entry, replaced on change; moka makes concurrent misses compile once.
    compiled: moka::future::Cache<(), Arc<Catalog>>,
    redis: Option<redis::aio::ConnectionManager>,
}

impl LiveCatalog {
    pub fn new(
        db: DatabaseConnection,
        default_locale: String,
        metrics: Arc<Metrics>,
        redis: Option<redis::aio::ConnectionManager>,
    ) -> LiveCatalog {
        LiveCatalog {
            inner: Arc::new(Inner {
                db,
                default_locale,
                metrics,
                compiled: moka::future::Cache::builder().max_capacity(1).build(),
                redis,
            }),
        }
    }

    /// The serving catalog; compiled from the database only on a miss.
    pub async fn current(&self) -> Result<Arc<Catalog>, Problem> {
        self.inner
            .compiled
            .try_get_with((), self.load())
            .await
            .map_err(|e: Arc<StorageError>| match &*e {
                StorageError::Db(_) => {
                    Problem::from(StorageError::Db(sea_orm::DbErr::Custom(e.to_string())))
                }
                other => Problem::internal(other),
            })
    }

    async fn load(&self) -> Result<Arc<Catalog>, StorageError> {
        let (content, generation) = storage::load_content(&self.inner.db).await?;
        let default_locale = self.inner.default_locale.clone();
        // Compiling builds every Fluent bundle: keep it off the async workers.
        let (catalog, issues) = tokio::task::spawn_blocking(move || {
            Catalog::compile(&content, &default_locale, generation)
        })
        .await
        .map_err(|e| {
            StorageError::Db(sea_orm::DbErr::Custom(format!(
                "catalog compile panicked: {e}"
            )))
        })?;
        for issue in &issues {
            tracing::warn!(at = ?issue.at, "{}", issue.message);
        }
        self.inner.metrics.catalog_generation.set(generation as i64);
        self.inner.metrics.catalog_loads.inc();
        tracing::info!(
            generation,
            placements = catalog.placements.len(),
            "catalog loaded"
        );
        Ok(Arc::new(catalog))
    }

    /// Drops the compiled catalog, then compiles the new one. Rendered answers are keyed
    /// by generation, so nothing rendered from the old catalog is served after this.
    pub async fn reload(&self) {
        self.inner.compiled.invalidate(&()).await;
        if let Err(problem) = self.current().await {
            tracing::warn!(%problem, "catalog reload failed; will retry on the next request");
        }
    }

    /// Tells every node that content changed: the others through Redis first (they
    /// poll without it), then this one (so the caller's next request sees the change).
    pub async fn announce_change(&self, generation: u64) {
        if let Some(conn) = &self.inner.redis {
            let mut conn = conn.clone();
            let sent: Result<i64, _> = redis::cmd("PUBLISH")
                .arg(INVALIDATION_CHANNEL)
                .arg(generation.to_string())
                .query_async(&mut conn)
                .await;
            if let Err(e) = sent {
                tracing::warn!(error = %e, "could not publish invalidation; nodes will poll");
            }
        }
        self.reload().await;
    }

    /// The generation being served, if a catalog is loaded.
    pub async fn generation(&self) -> Option<u64> {
        self.inner.compiled.get(&()).await.map(|c| c.generation)
    }

    /// Picks up changes made by other nodes even without Redis. Runs until aborted.
    pub async fn poll(self, every: Duration) {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            match storage::generation(&self.inner.db).await {
                Ok(generation) => {
                    if self.generation().await.is_some_and(|g| g != generation) {
                        tracing::info!(generation, "catalog changed; reloading");
                        self.reload().await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read the catalog generation"),
            }
        }
    }

    /// Redis pub/sub: reloads within moments of a change on any node. Resubscribes after
    /// a lost connection; runs until aborted.
    pub async fn listen(self, client: redis::Client) {
        loop {
            match client.get_async_pubsub().await {
                Ok(mut pubsub) => {
                    if let Err(e) = pubsub.subscribe(INVALIDATION_CHANNEL).await {
                        tracing::warn!(error = %e, "redis subscribe failed");
                    } else {
                        let mut messages = pubsub.on_message();
                        while let Some(message) = messages.next().await {
                            let payload: String = message.get_payload().unwrap_or_default();
                            let announced: Option<u64> = payload.parse().ok();
                            if announced.is_none() || self.generation().await != announced {
                                tracing::info!(generation = ?announced, "invalidation received");
                                self.reload().await;
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "redis pub/sub unavailable; retrying"),
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// Tells every node through Redis that the content generation changed (for commands
/// that change the database outside a server).
pub async fn publish_generation(redis_url: &str, generation: u64) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let _: i64 = redis::cmd("PUBLISH")
        .arg(INVALIDATION_CHANNEL)
        .arg(generation.to_string())
        .query_async(&mut conn)
        .await?;
    Ok(())
}
