//! The serving catalog's life: compiled from the database on first use, replaced when
//! the content generation changes, and kept in step across nodes.
//!
//! A change made here is announced to the other nodes over Redis pub/sub
//! ([`LiveCatalog::announce_change`]); every node also listens ([`LiveCatalog::listen`])
//! and polls the stored generation ([`LiveCatalog::poll`]), so a node that missed an
//! announcement (no Redis, a dropped subscription) still catches up within
//! `catalog_poll_secs`. Everything that serves content asks [`LiveCatalog::current`].
//!
//! With Redis, each node also records the generation it serves in a registry shared by
//! the nodes of one installation ([`LiveCatalog::every_node_has`]), so a CDN purge can
//! be repeated the moment every node serves a change, instead of after a fixed wait.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;

use super::Catalog;
use crate::metrics::Metrics;
use crate::problem::Problem;
use crate::redis_link::RedisLink;
use crate::storage::{self, StorageError};

/// Pause before a failed invalidation is published again, doubled each attempt: the
/// three retries span 1.75 s, past an open breaker's second.
const RETRY_PUBLISH_AFTER: Duration = Duration::from_millis(250);

/// Redis pub/sub channel for content changes (payload: the new generation).
pub const INVALIDATION_CHANNEL: &str = "tailor:invalidate";

/// How long a node's entry in the registry counts without a heartbeat: past this the
/// node is taken for gone (stopped, or cut off from Redis).
const REGISTRY_ENTRY_TTL_SECS: u64 = 30;
/// How often a node refreshes its entry.
pub const REGISTRY_HEARTBEAT: Duration = Duration::from_secs(10);

/// This node's entry in the registry of the installation's nodes: a Redis hash
/// `tailor:nodes:<scope>` of node id → `"<generation> <unix seconds>"`.
struct Registry {
    link: RedisLink,
    key: String,
    node: String,
}

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
    reloading: tokio::sync::Mutex<()>,
    redis: Option<RedisLink>,
    registry: Option<Registry>,
}

impl LiveCatalog {
    /// `installation`: what the nodes sharing one database have in common and other
    /// installations on the same Redis do not (it scopes the registry of nodes).
    pub fn new(
        db: DatabaseConnection,
        default_locale: String,
        metrics: Arc<Metrics>,
        redis: Option<RedisLink>,
        installation: &str,
    ) -> LiveCatalog {
        let registry = redis.clone().map(|link| Registry {
            link,
            key: format!(
                "tailor:nodes:{:016x}",
                super::stable_hash(&[installation.as_bytes()])
            ),
            node: uuid::Uuid::new_v4().simple().to_string(),
        });
        LiveCatalog {
            inner: Arc::new(Inner {
                db,
                default_locale,
                metrics,
                compiled: moka::future::Cache::builder().max_capacity(1).build(),
                reloading: tokio::sync::Mutex::new(()),
                redis,
                registry,
            }),
        }
    }

    /// Records in the registry the generation this node serves (off the caller's path).
    fn report(&self, generation: u64) {
        let Some(registry) = &self.inner.registry else {
            return;
        };
        let link = registry.link.clone();
        let mut record = redis::pipe();
        record
            .cmd("HSET")
            .arg(&registry.key)
            .arg(&registry.node)
            .arg(format!("{generation} {}", unix_now()))
            .ignore()
            // An installation that goes away leaves nothing behind for long.
            .cmd("EXPIRE")
            .arg(&registry.key)
            .arg(86_400)
            .ignore();
        tokio::spawn(async move {
            let done: Result<(), _> = link
                .pipeline_within(&record, crate::redis_link::ANNOUNCE_TIMEOUT)
                .await;
            if let Err(e) = done {
                tracing::debug!(error = %e, "could not record this node's generation");
            }
        });
    }

    /// Refreshes this node's registry entry now and then. Runs until aborted.
    pub async fn heartbeat(self) {
        let mut interval = tokio::time::interval(REGISTRY_HEARTBEAT);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Some(generation) = self.generation().await {
                self.report(generation);
            }
        }
    }

    /// Whether every live node of this installation serves `generation` or newer:
    /// `None` without Redis or when the registry cannot be read (then nobody knows).
    pub async fn every_node_has(&self, generation: u64) -> Option<bool> {
        let registry = self.inner.registry.as_ref()?;
        let entries: Vec<(String, String)> = registry
            .link
            .query_within(
                redis::cmd("HGETALL").arg(&registry.key),
                crate::redis_link::ANNOUNCE_TIMEOUT,
            )
            .await
            .ok()?;
        let now = unix_now();
        let mut every = true;
        let mut gone = Vec::new();
        for (node, value) in &entries {
            let mut parts = value.split(' ');
            let served: Option<u64> = parts.next().and_then(|g| g.parse().ok());
            let seen: Option<u64> = parts.next().and_then(|t| t.parse().ok());
            match (served, seen) {
                (Some(served), Some(seen))
                    if now.saturating_sub(seen) <= REGISTRY_ENTRY_TTL_SECS =>
                {
                    every &= served >= generation;
                }
                _ => gone.push(node.clone()),
            }
        }
        if !gone.is_empty() {
            let link = registry.link.clone();
            let key = registry.key.clone();
            tokio::spawn(async move {
                let _: Result<i64, _> = link
                    .query_within(
                        redis::cmd("HDEL").arg(&key).arg(&gone),
                        crate::redis_link::ANNOUNCE_TIMEOUT,
                    )
                    .await;
            });
        }
        // This node has it when it asks (it made the change, or it would not ask).
        Some(every && entries.iter().any(|(node, _)| *node == registry.node))
    }

    /// The serving catalog; compiled from the database only on a miss.
    pub async fn current(&self) -> Result<Arc<Catalog>, Problem> {
        self.inner
            .compiled
            .try_get_with((), self.load())
            .await
            .map_err(|e: Arc<StorageError>| {
                if e.is_outage() {
                    Problem::from(StorageError::Unavailable(e.to_string()))
                } else {
                    Problem::internal(&*e)
                }
            })
    }

    async fn load(&self) -> Result<Arc<Catalog>, StorageError> {
        let started = std::time::Instant::now();
        let (content, generation) = storage::load_content(&self.inner.db).await?;
        // Read after the content: allocations stored with a newer generation than the
        // content read are as new as it or newer, never older.
        let allocations = storage::allocations::load_all(&self.inner.db).await?;
        let read = started.elapsed();
        let default_locale = self.inner.default_locale.clone();
        // Compiling builds every Fluent bundle: keep it off the async workers.
        let (catalog, issues) = tokio::task::spawn_blocking(move || {
            let (mut catalog, issues) = Catalog::compile(&content, &default_locale, generation);
            catalog.source = Some(Arc::new(content));
            crate::allocation::attach(&mut catalog, allocations);
            return_freed_memory();
            (catalog, issues)
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
        self.report(generation);
        tracing::info!(
            generation,
            placements = catalog.placements.len(),
            read_ms = read.as_millis() as u64,
            compile_ms = (started.elapsed() - read).as_millis() as u64,
            "catalog loaded"
        );
        Ok(Arc::new(catalog))
    }

    /// Compiles the stored catalog and serves it from now on. Rendered answers are
    /// keyed by generation, so nothing rendered from the old catalog is served after
    /// this. When the database cannot be read the old catalog keeps serving (a node
    /// with no catalog could answer nothing); the poll tries again.
    pub async fn reload(&self) {
        // One reload at a time: each reads a generation no older than the last one's,
        // so a slow compile never replaces a newer catalog with an older one.
        let _one_at_a_time = self.inner.reloading.lock().await;
        // The reload queued behind another may find its work done, and a message about
        // some other database on the same Redis changes nothing here: compiling is the
        // expensive part, reading the generation is not.
        if let (Ok(stored), Some(serving)) = (
            storage::generation(&self.inner.db).await,
            self.generation().await,
        ) {
            if stored == serving {
                return;
            }
        }
        match self.load().await {
            Ok(catalog) => self.inner.compiled.insert((), catalog).await,
            Err(e) => tracing::warn!(error = %e, "catalog reload failed; serving the one loaded"),
        }
    }

    /// Tells every node that content changed: the others through Redis first (they
    /// poll without it), then this one (so the caller's next request sees the change).
    pub async fn announce_change(&self, generation: u64) {
        if let Some(link) = self.inner.redis.clone() {
            let mut publish = redis::cmd("PUBLISH");
            publish
                .arg(INVALIDATION_CHANNEL)
                .arg(generation.to_string());
            // Within a request's Redis bound first; past it, again beside the request
            // with more patience (a repeat only makes nodes compare generations).
            let sent: Result<i64, _> = link.query(&publish).await;
            if sent.is_err() {
                tokio::spawn(async move {
                    for attempt in 0..3u32 {
                        tokio::time::sleep(RETRY_PUBLISH_AFTER * 2u32.pow(attempt)).await;
                        let sent: Result<i64, _> = link
                            .query_within(&publish, crate::redis_link::ANNOUNCE_TIMEOUT)
                            .await;
                        if sent.is_ok() {
                            return;
                        }
                    }
                    tracing::warn!(
                        generation,
                        "could not publish invalidation; nodes will poll"
                    );
                });
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
            self.revalidate().await;
        }
    }

    /// Reloads when the stored generation differs from the one being served.
    async fn revalidate(&self) {
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

    /// Redis pub/sub: reloads within moments of a change on any node; after every
    /// (re)subscription it compares generations at once, for what it may have missed.
    /// Runs until aborted.
    pub async fn listen(self, link: RedisLink) {
        let this = &self;
        link.listen(
            INVALIDATION_CHANNEL,
            |payload| async move {
                let announced: Option<u64> = payload.parse().ok();
                if announced.is_none() || this.generation().await != announced {
                    tracing::info!(generation = ?announced, "invalidation received");
                    this.reload().await;
                }
            },
            || this.revalidate(),
            || {},
        )
        .await
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Tells every node through Redis that the content generation changed (for commands
/// that change the database outside a server). Gives up after two seconds: the nodes
/// poll anyway.
pub async fn publish_generation(redis_url: &str, generation: u64) -> anyhow::Result<()> {
    let client = redis::Client::open(redis_url)?;
    let publish = async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PUBLISH")
            .arg(INVALIDATION_CHANNEL)
            .arg(generation.to_string())
            .query_async::<i64>(&mut conn)
            .await
    };
    tokio::time::timeout(Duration::from_secs(2), publish)
        .await
        .map_err(|_| anyhow::anyhow!("Redis did not answer within 2 s"))??;
    Ok(())
}

/// Hands the heap memory a compile freed back to the system. Indexing a large catalog
/// parses every Fluent resource on several threads and drops each syntax tree at once;
/// glibc keeps what those threads freed in their arenas, and a node that had just
/// loaded a 10,000-variant catalog showed 130 MB more RSS than it used.
fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}
