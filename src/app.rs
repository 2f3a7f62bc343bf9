//! The application: shared state, the HTTP server and its supervised background loops.
//! Production (`tailor serve`) and the black-box tests build it the same way.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use futures_util::StreamExt;
use sea_orm::DatabaseConnection;

use chrono::{DateTime, Utc};

use crate::catalog::{files, Catalog};
use crate::config::Settings;
use crate::delivery::{CachedAnswer, RenderKey};
use crate::engagement::writer::{EventWriter, OnCommit};
use crate::engagement::{EventKind, NewEvent};
use crate::metrics::Metrics;
use crate::problem::Problem;
use crate::storage::{self, StorageError};
use crate::tokens::Signer;

const INVALIDATION_CHANNEL: &str = "tailor:invalidate";
use crate::identity::directory::{PeopleChanged, PEOPLE_CHANNEL};

pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: DatabaseConnection,
    /// The compiled catalog (with its Fluent bundles); one entry, replaced on change.
    pub catalogs: moka::future::Cache<(), Arc<Catalog>>,
    pub rendered: moka::sync::Cache<RenderKey, Arc<CachedAnswer>>,
    pub signer: Signer,
    pub metrics: Arc<Metrics>,
    pub redis: Option<redis::aio::ConnectionManager>,
    redis_client: Option<redis::Client>,
    /// The group-commit event writer.
    pub events: EventWriter,
    /// Recent impressions per (person, placement), for frequency caps; kept current by
    /// this node's writer, reloaded from the database after `FATIGUE_TTL`.
    pub fatigue: FatigueCache,
    /// Absolute base URL for tracked links and open pixels.
    pub public_url: String,
    /// Token and server-key checks.
    pub auth: crate::auth::Auth,
    /// Person resolution (moka, then Redis, then the database).
    pub people: crate::identity::directory::PersonDirectory,
    pub identifier_types: crate::identity::graph::IdentifierTypes,
    /// CDN purges after publishes and archives.
    pub purger: crate::delivery::purge::Purger,
    /// Client addresses (trusted proxies) and source names for events.
    pub provenance: crate::engagement::provenance::Provenance,
    /// Per-client rate limits.
    pub limiters: crate::ratelimit::Limiters,
    /// Tracking-token lifetimes per channel.
    pub token_lifetimes: crate::tokens::Lifetimes,
}

/// Recent impression times per (person key, placement).
pub type FatigueCache = moka::sync::Cache<(String, Arc<str>), Arc<Vec<DateTime<Utc>>>>;

/// Impression times kept per (person, placement): caps above this are not supported.
const MAX_REMEMBERED_IMPRESSIONS: usize = 64;

/// How stale another node's view of a person's impressions may get.
const FATIGUE_TTL: Duration = Duration::from_secs(60);

impl AppState {
    /// The serving catalog; compiled from the database only on a miss.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, Problem> {
        self.catalogs
            .try_get_with((), self.load_catalog())
            .await
            .map_err(|e: Arc<StorageError>| match &*e {
                StorageError::Db(_) => {
                    Problem::from(StorageError::Db(sea_orm::DbErr::Custom(e.to_string())))
                }
                other => Problem::internal(other),
            })
    }

    async fn load_catalog(&self) -> Result<Arc<Catalog>, StorageError> {
        let (content, generation) = storage::load_content(&self.db).await?;
        let default_locale = self.settings.default_locale.clone();
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
        self.metrics.catalog_generation.set(generation as i64);
        self.metrics.catalog_loads.inc();
        tracing::info!(
            generation,
            placements = catalog.placements.len(),
            "catalog loaded"
        );
        Ok(Arc::new(catalog))
    }

    /// Drops the compiled catalog and rendered answers, then compiles the new one.
    pub async fn invalidate(&self) {
        self.catalogs.invalidate(&()).await;
        self.rendered.invalidate_all();
        if let Err(problem) = self.catalog().await {
            tracing::warn!(%problem, "catalog reload failed; will retry on the next request");
        }
    }

    /// Tells every node that content changed: the others through Redis first (they
    /// poll without it), then this one (so the caller's next request sees the change).
    pub async fn announce_change(&self, generation: u64) {
        if let Some(conn) = &self.redis {
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
        self.invalidate().await;
    }

    async fn current_generation(&self) -> Option<u64> {
        self.catalogs.get(&()).await.map(|c| c.generation)
    }
}

pub struct Application {
    port: u16,
    server: Server,
    state: web::Data<AppState>,
}

impl Application {
    /// Connects, migrates, imports the content files (when configured), warms the
    /// catalog and binds the listener (`bind` may use port 0).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        settings.validate()?;
        let metrics = Arc::new(Metrics::new());
        let query_counter = metrics.db_queries.clone();
        let db = storage::connect(&settings.database_url, move || query_counter.inc())
            .await
            .with_context(|| "connecting to the database (database_url)")?;
        storage::migrate(&db).await.context("applying migrations")?;

        if settings.import_on_start {
            let (loaded, findings) = files::check(
                &settings.content_dir,
                &settings.locales_dir,
                &settings.default_locale,
            );
            if !findings.is_empty() {
                let list: Vec<String> = findings.iter().map(ToString::to_string).collect();
                anyhow::bail!(
                    "content is not valid ({} problems):\n{}",
                    list.len(),
                    list.join("\n")
                );
            }
            let report = import_with_retry(&db, &loaded.content).await?;
            for item in &report.kept {
                tracing::info!(%item, "file older than the database's version; kept the database's");
            }
            for item in &report.conflicts {
                tracing::warn!(%item, "file edit on an older version than the database's; not imported");
            }
            tracing::info!(
                added = report.added.len(),
                updated = report.updated.len(),
                unchanged = report.unchanged,
                generation = report.generation,
                "content imported"
            );
        }

        let secret = match &settings.signing_secret {
            Some(secret) => secret.expose().to_string(),
            None => storage::shared_signing_secret(&db)
                .await
                .context("reading the signing secret")?,
        };
        crate::identity::set_log_key(secret.as_bytes());
        let (redis, redis_client) = match &settings.redis_url {
            Some(url) => {
                let client = redis::Client::open(url.as_str()).context("redis_url")?;
                let manager = redis::aio::ConnectionManager::new(client.clone())
                    .await
                    .context("connecting to Redis (redis_url)")?;
                (Some(manager), Some(client))
            }
            None => (None, None),
        };

        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let public_url = settings.public_url.clone().unwrap_or_else(|| {
            format!(
                "http://{}:{port}",
                listener
                    .local_addr()
                    .map(|a| a.ip().to_string())
                    .unwrap_or_default()
            )
        });
        let fatigue: FatigueCache = moka::sync::Cache::builder()
            .max_capacity(1_000_000)
            .time_to_live(FATIGUE_TTL)
            .build();
        // SQLite wants one writer; PostgreSQL overlaps the round trips of two.
        let writers = if settings.database_url.starts_with("sqlite:") {
            1
        } else {
            2
        };
        let auth = crate::auth::Auth::from_settings(&settings)
            .map_err(|reason| anyhow::anyhow!("token settings: {reason}"))?;
        let identifier_types =
            crate::identity::graph::IdentifierTypes::with_extra(&settings.identifier_types)
                .map_err(|reason| anyhow::anyhow!("identifier_types: {reason}"))?;
        let people = crate::identity::directory::PersonDirectory::new(
            db.clone(),
            redis.clone(),
            Duration::from_secs(settings.person_cache_secs),
            1_000_000,
            metrics.clone(),
        );
        let events = EventWriter::start(db.clone(), writers, remember_impressions(fatigue.clone()));
        let repeat_purge_after = match &settings.redis_url {
            Some(_) => crate::delivery::purge::REPEAT_WITH_REDIS,
            None => Duration::from_secs(settings.catalog_poll_secs + 1),
        };
        let purger = crate::delivery::purge::Purger::new(
            settings.purge_webhook_url.clone(),
            metrics.clone(),
            repeat_purge_after,
        );
        let provenance = crate::engagement::provenance::Provenance::new(
            crate::engagement::provenance::TrustedProxies::new(settings.trusted_proxies.clone()),
            settings.forwarded_header,
            crate::engagement::provenance::SourceNamer::new(secret.as_bytes()),
        );
        let limiters = crate::ratelimit::Limiters::new(&settings.rate_limits);
        let token_lifetimes = crate::tokens::Lifetimes::from_settings(&settings);
        let state = web::Data::new(AppState {
            provenance,
            limiters,
            token_lifetimes,
            purger,
            auth,
            people,
            identifier_types,
            events,
            fatigue,
            public_url,
            catalogs: moka::future::Cache::builder().max_capacity(1).build(),
            rendered: moka::sync::Cache::builder()
                .max_capacity(settings.cache.rendered_capacity)
                .time_to_idle(Duration::from_secs(3600))
                .build(),
            signer: Signer::new(secret.as_bytes()),
            settings: Arc::new(settings),
            db,
            metrics,
            redis,
            redis_client,
        });
        state
            .catalog()
            .await
            .map_err(|p| anyhow::anyhow!("loading the catalog: {p}"))?;

        let server_state = state.clone();
        let workers = state
            .settings
            .workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(server_state.clone())
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(|e, _| crate::problem::extractor_error(e, None)),
                )
                .app_data(
                    web::PathConfig::default()
                        .error_handler(|e, _| crate::problem::extractor_error(e, None)),
                )
                .app_data(
                    web::JsonConfig::default()
                        .error_handler(|e, _| crate::problem::extractor_error(e, Some("body"))),
                )
                .wrap_fn(|req, srv| {
                    let started = Instant::now();
                    let metrics = req
                        .app_data::<web::Data<AppState>>()
                        .map(|s| s.metrics.clone());
                    let fut = srv.call(req);
                    async move {
                        let response = fut.await?;
                        if let Some(metrics) = metrics {
                            let route = response
                                .request()
                                .match_pattern()
                                .unwrap_or_else(|| "unmatched".into());
                            let status = response.status();
                            metrics
                                .http_requests
                                .with_label_values(&[route.as_str(), status.as_str()])
                                .inc();
                            metrics
                                .http_duration
                                .with_label_values(&[route.as_str()])
                                .observe(started.elapsed().as_secs_f64());
                            if status.is_server_error() {
                                tracing::warn!(%route, status = status.as_u16(), "request failed");
                            } else {
                                tracing::debug!(%route, status = status.as_u16(), "request");
                            }
                        }
                        Ok(response)
                    }
                })
                .configure(crate::delivery::configure)
                .configure(crate::engagement::http::configure)
                .configure(crate::identity::http::configure)
                .configure(crate::governance::http::configure)
                .configure(crate::authoring::http::configure)
                .configure(crate::ops::configure)
                .default_service(web::to(crate::problem::not_found))
        })
        .workers(workers)
        .shutdown_timeout(state.settings.shutdown_timeout_secs)
        .listen(listener)?
        .run();
        Ok(Application {
            port,
            server,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Runs the server with its background loops until the server stops (SIGTERM or
    /// SIGINT start a graceful shutdown); a loop that ends early is logged.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let poller = tokio::spawn(poll_generation(self.state.clone()));
        let limiter_sweeper = tokio::spawn(forget_idle_clients(self.state.clone()));
        let evaluator = (self.state.settings.governance_evaluate_secs > 0)
            .then(|| tokio::spawn(evaluate_periodically(self.state.clone())));
        let listener = self
            .state
            .redis_client
            .clone()
            .map(|client| tokio::spawn(listen_for_invalidations(self.state.clone(), client)));
        let result = self.server.await;
        // The server has stopped taking requests and finished those in flight; what
        // they handed the writer is committed before the process exits.
        self.state.events.close().await;
        poller.abort();
        limiter_sweeper.abort();
        if let Some(evaluator) = evaluator {
            evaluator.abort();
        }
        if let Some(listener) = listener {
            listener.abort();
        }
        tracing::info!("server stopped");
        result
    }
}

/// Keeps cached impression histories current with what this node commits.
fn remember_impressions(fatigue: FatigueCache) -> OnCommit {
    Arc::new(move |events: &[&NewEvent]| {
        for event in events {
            let (EventKind::Impression, Some(person)) = (event.kind, &event.person_key) else {
                continue;
            };
            let key = (person.clone(), Arc::from(event.decision.placement.as_str()));
            if let Some(known) = fatigue.get(&key) {
                // Only the newest few matter for any cap; a flood of impressions for one
                // person must not grow the list (or this writer's work) without bound.
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

async fn import_with_retry(
    db: &DatabaseConnection,
    content: &crate::catalog::model::ContentSet,
) -> anyhow::Result<storage::ImportReport> {
    // Two nodes starting together may race on the first insert; the second try sees
    // the winner's rows and has nothing left to insert.
    match storage::import(db, content).await {
        Ok(report) => Ok(report),
        Err(first) => {
            tracing::warn!(error = %first, "content import failed once; retrying");
            Ok(storage::import(db, content)
                .await
                .context("importing content")?)
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

/// Runs the governance policies on a schedule; the lease in the database lets only one
/// node act per run when several are up.
async fn evaluate_periodically(state: web::Data<AppState>) {
    let every = Duration::from_secs(state.settings.governance_evaluate_secs);
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        match crate::governance::http::run_evaluation(&state, false).await {
            Ok(report) => tracing::info!(
                period = %report.period,
                findings = report.findings.len(),
                actions = report.actions.len(),
                skipped = report.skipped.is_some(),
                "governance evaluation"
            ),
            Err(problem) => tracing::warn!(%problem, "governance evaluation failed"),
        }
    }
}

/// Keeps the rate limiters' memory to the clients of the last minute.
async fn forget_idle_clients(state: web::Data<AppState>) {
    let mut interval = tokio::time::interval(Duration::from_secs(60));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        state.limiters.forget_idle();
    }
}

/// Picks up changes made by other nodes even without Redis.
async fn poll_generation(state: web::Data<AppState>) {
    let mut interval = tokio::time::interval(Duration::from_secs(state.settings.catalog_poll_secs));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await;
    loop {
        interval.tick().await;
        match storage::generation(&state.db).await {
            Ok(generation) => {
                if state
                    .current_generation()
                    .await
                    .is_some_and(|g| g != generation)
                {
                    tracing::info!(generation, "catalog changed; reloading");
                    state.invalidate().await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read the catalog generation"),
        }
    }
}

/// Redis pub/sub: every node drops its caches within moments of a change anywhere.
async fn listen_for_invalidations(state: web::Data<AppState>, client: redis::Client) {
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if let Err(e) = pubsub
                    .subscribe(&[INVALIDATION_CHANNEL, PEOPLE_CHANNEL])
                    .await
                {
                    tracing::warn!(error = %e, "redis subscribe failed");
                } else {
                    let mut messages = pubsub.on_message();
                    while let Some(message) = messages.next().await {
                        let payload: String = message.get_payload().unwrap_or_default();
                        if message.get_channel_name() == PEOPLE_CHANNEL {
                            match serde_json::from_str::<PeopleChanged>(&payload) {
                                Ok(change) => state.people.forget(&change),
                                Err(e) => tracing::warn!(error = %e, "malformed people change"),
                            }
                            continue;
                        }
                        let announced: Option<u64> = payload.parse().ok();
                        if announced.is_none() || state.current_generation().await != announced {
                            tracing::info!(generation = ?announced, "invalidation received");
                            state.invalidate().await;
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "redis pub/sub unavailable; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
