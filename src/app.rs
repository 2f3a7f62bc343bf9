//! The application: builds each area's state from the settings, wires the areas'
//! routes into one HTTP server, and runs the server with its background loops.
//! Production (`tailor serve`) and the black-box tests build it the same way.
//!
//! This module only wires: what each area holds and does lives in the area
//! (`delivery::Delivery`, `engagement::Engagement`, `identity::Identity`,
//! `authoring::Authoring`, `governance::Governance`, `ops::Ops`); the catalog's life
//! across nodes in [`crate::catalog::live`].

use std::future::Future;
use std::net::TcpListener;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::{web, App, HttpServer};
use anyhow::Context as _;
use sea_orm::DatabaseConnection;

use crate::auth::Auth;
use crate::authoring::Authoring;
use crate::catalog::files;
use crate::catalog::live::LiveCatalog;
use crate::config::Settings;
use crate::delivery::{Delivery, DeliveryParts};
use crate::engagement::provenance::{Provenance, SourceNamer, TrustedProxies};
use crate::engagement::writer::EventWriter;
use crate::engagement::Engagement;
use crate::governance::Governance;
use crate::identity::directory::PersonDirectory;
use crate::identity::graph::IdentifierTypes;
use crate::identity::{Identity, Resolver};
use crate::metrics::Metrics;
use crate::ops::Ops;
use crate::ratelimit::{Limiters, RateLimiting};
use crate::redis_link::RedisLink;
use crate::resilience::gate::DatabaseGate;
use crate::resilience::{probe_periodically, Breaker, Dependency};
use crate::storage;
use crate::tokens::Signer;

/// Every area's state, built once and shared by all workers.
#[derive(Clone)]
struct Areas {
    auth: web::Data<Auth>,
    database_gate: web::Data<DatabaseGate>,
    delivery: web::Data<Delivery>,
    engagement: web::Data<Engagement>,
    identity: web::Data<Identity>,
    authoring: web::Data<Authoring>,
    governance: web::Data<Governance>,
    allocation: web::Data<crate::allocation::Allocator>,
    ops: web::Data<Ops>,
    rate_limits: web::Data<RateLimiting>,
    /// `Allow` for 405s, read from the same document `/openapi.json` serves.
    routes: web::Data<crate::problem::Routes>,
}

/// A background loop, restartable: the supervisor calls it again if it ever stops.
type Loop = Box<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

pub struct Application {
    port: u16,
    server: Server,
    /// The `/metrics` listener (`metrics_bind`) and its port.
    metrics_server: Option<(u16, Server)>,
    events: Arc<EventWriter>,
    loops: Vec<(&'static str, Loop)>,
}

impl Application {
    /// Connects, migrates, imports the content files (when configured), warms the
    /// catalog and binds the listener (`bind` may use port 0).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        settings.validate()?;
        if settings.dev_mode {
            tracing::warn!("development mode: dev_token_secret tokens are accepted and /metrics may be public; never run it in production");
        }
        let settings = Arc::new(settings);
        let metrics = Arc::new(Metrics::new());
        let db = connect_patiently(&settings, &metrics).await?;
        storage::migrate(&db).await.context("applying migrations")?;
        let secret = match &settings.signing_secret {
            Some(secret) => secret.expose().to_string(),
            None => storage::shared_signing_secret(&db)
                .await
                .context("reading the signing secret")?,
        };
        crate::identity::set_keys(secret.as_bytes());
        if settings.import_on_start {
            import_files(&db, &settings).await?;
        }
        let resilience = &settings.resilience;
        let breaker = || {
            Breaker::new(
                resilience.breaker_failures,
                Duration::from_millis(resilience.breaker_open_ms),
            )
        };
        let database = Arc::new(Dependency::new(
            "database",
            Duration::from_millis(resilience.database_timeout_ms),
            breaker(),
            metrics.clone(),
        ));
        // Never waits for Redis: a node starts with it down and connects when it can.
        let redis = match &settings.redis_url {
            Some(url) => Some(
                RedisLink::new(
                    url,
                    Duration::from_millis(resilience.redis_timeout_ms),
                    Duration::from_millis(resilience.probe_timeout_ms),
                    Arc::new(Dependency::new(
                        "redis",
                        Duration::from_millis(resilience.redis_timeout_ms),
                        breaker(),
                        metrics.clone(),
                    )),
                )
                .context("redis_url")?,
            ),
            None => None,
        };
        let listener = TcpListener::bind(&settings.bind)
            .with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        let public_url = settings.public_url.clone().unwrap_or_else(|| {
            let ip = listener.local_addr().map(|a| a.ip().to_string());
            format!("http://{}:{port}", ip.unwrap_or_default())
        });

        let live = LiveCatalog::new(
            db.clone(),
            settings.default_locale.clone(),
            metrics.clone(),
            redis.clone(),
            &installation(&secret, &settings.database_url),
        );
        let shared = Shared {
            db,
            settings,
            metrics,
            redis,
            database,
            live,
            signer: Arc::new(Signer::new(secret.as_bytes())),
            secret,
        };
        let (areas, events) = shared.areas(public_url)?;
        areas
            .delivery
            .catalog()
            .await
            .map_err(|p| anyhow::anyhow!("loading the catalog: {p}"))?;
        let loops = background_loops(&shared, &areas);
        let metrics_server = match &shared.settings.metrics_bind {
            Some(bind) => Some(serve_metrics(&areas, bind, &shared.settings)?),
            None => None,
        };
        let server = serve(areas, listener, &shared.settings)?;
        Ok(Application {
            port,
            server,
            metrics_server,
            events,
            loops,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when `metrics_bind` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(port, _)| *port)
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Runs the server with its background loops until the server stops (SIGTERM or
    /// SIGINT start a graceful shutdown). A loop that stops is logged and started
    /// again; when the server stops, the loops end and what the finished requests handed
    /// the event writer is committed before this returns.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let supervisor = tokio::spawn(supervise(self.loops));
        let metrics_server = self.metrics_server.map(|(_, server)| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        let result = self.server.await;
        supervisor.abort();
        if let Some(handle) = metrics_server {
            handle.stop(true).await;
        }
        self.events.close().await;
        tracing::info!("server stopped");
        result
    }
}

/// What several areas share.
struct Shared {
    db: DatabaseConnection,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    redis: Option<RedisLink>,
    /// The database as request paths see it (timeout, breaker, probe status).
    database: Arc<Dependency>,
    live: LiveCatalog,
    signer: Arc<Signer>,
    secret: String,
}

impl Shared {
    /// Each area's state, and the event writer (drained on shutdown).
    fn areas(&self, public_url: String) -> anyhow::Result<(Areas, Arc<EventWriter>)> {
        let settings = &self.settings;
        let auth = Arc::new(
            Auth::from_settings(settings)
                .map_err(|reason| anyhow::anyhow!("token settings: {reason}"))?,
        );
        let types = IdentifierTypes::with_extra(&settings.identifier_types)
            .map_err(|reason| anyhow::anyhow!("identifier_types: {reason}"))?;
        let people = Resolver {
            auth: auth.clone(),
            types: Arc::new(types),
            directory: Arc::new(PersonDirectory::new(
                self.db.clone(),
                self.database.clone(),
                self.redis.clone(),
                Duration::from_secs(settings.person_cache_secs),
                1_000_000,
                self.metrics.clone(),
            )),
        };
        // With Redis, every subscription rebuilds the filter of known identifiers (it is
        // trusted only while announcements can be heard); without, this node is the
        // only one changing the graph and builds it once.
        if self.redis.is_none() {
            people.directory.rebuild_known();
        }
        let provenance = Arc::new(Provenance::new(
            TrustedProxies::new(settings.trusted_proxies.clone()),
            settings.forwarded_header,
            SourceNamer::new(self.secret.as_bytes()),
        ));
        let fatigue = Delivery::fatigue_cache();
        // SQLite wants one writer; PostgreSQL overlaps the round trips of two (events
        // and identify calls alike).
        let writers = if settings.database_url.starts_with("sqlite:") {
            1
        } else {
            2
        };
        let events = Arc::new(EventWriter::start(
            self.db.clone(),
            self.database.clone(),
            Duration::from_millis(settings.resilience.database_write_timeout_ms),
            writers,
            Delivery::remember_impressions(fatigue.clone()),
        ));
        let purger = crate::delivery::purge::Purger::new(
            settings,
            Some(self.db.clone()),
            self.metrics.clone(),
        )
        .repeating_once_every_node_has_it(self.live.clone());
        let delivery = Delivery::new(
            DeliveryParts {
                live: self.live.clone(),
                people: people.clone(),
                db: self.db.clone(),
                database: self.database.clone(),
                signer: self.signer.clone(),
                fatigue,
                public_url,
                metrics: self.metrics.clone(),
            },
            settings.clone(),
        );
        let needs_database = [
            crate::identity::http::NEEDS_DATABASE,
            crate::authoring::http::NEEDS_DATABASE,
            crate::governance::http::NEEDS_DATABASE,
        ];
        // Built once: served as `/openapi.json` and read for `Allow`.
        let document = crate::openapi::document();
        let areas = Areas {
            routes: web::Data::new(crate::problem::Routes::from_openapi(&document)),
            auth: web::Data::from(auth.clone()),
            database_gate: web::Data::new(DatabaseGate::new(
                self.database.clone(),
                needs_database.concat(),
            )),
            delivery: web::Data::new(delivery),
            engagement: web::Data::new(Engagement {
                events: events.clone(),
                provenance: provenance.clone(),
                signer: self.signer.clone(),
                catalog: self.live.clone(),
                people: people.clone(),
                metrics: self.metrics.clone(),
            }),
            identity: web::Data::new(Identity {
                identify: crate::identity::queue::IdentifyQueue::start(
                    self.db.clone(),
                    people.types.clone(),
                    writers,
                ),
                db: self.db.clone(),
                sources: SourceNamer::new(self.secret.as_bytes()),
                catalog: self.live.clone(),
                people,
                reach_strengths: Identity::reach_cache(),
            }),
            authoring: web::Data::new(Authoring {
                db: self.db.clone(),
                catalog: self.live.clone(),
                purger: purger.clone(),
                default_locale: settings.default_locale.clone(),
                signer: self.signer.clone(),
            }),
            governance: web::Data::new(Governance {
                db: self.db.clone(),
                catalog: self.live.clone(),
                safeguards: settings.safeguards(),
                purger: purger.clone(),
            }),
            allocation: web::Data::new(crate::allocation::Allocator {
                db: self.db.clone(),
                catalog: self.live.clone(),
                purger,
            }),
            ops: web::Data::new(Ops {
                database: self.database.clone(),
                redis: self.redis.as_ref().map(|link| link.dependency().clone()),
                metrics: self.metrics.clone(),
                live: self.live.clone(),
                openapi: serde_json::to_vec(&document)?.into(),
            }),
            rate_limits: web::Data::new(RateLimiting {
                limiters: Limiters::new(&settings.rate_limits),
                provenance,
                auth,
                metrics: self.metrics.clone(),
            }),
        };
        Ok((areas, events))
    }
}

/// The listener that serves only `/metrics` (`metrics_bind`), on one worker.
fn serve_metrics(areas: &Areas, bind: &str, settings: &Settings) -> anyhow::Result<(u16, Server)> {
    let listener =
        TcpListener::bind(bind).with_context(|| format!("binding metrics_bind {bind}"))?;
    let port = listener.local_addr()?.port();
    let ops = areas.ops.clone();
    let access = crate::ops::MetricsAccess::separate(settings);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(actix_web::middleware::from_fn(
                crate::problem::explain_method_not_allowed,
            ))
            .configure(crate::ops::configure_metrics(ops.clone(), access.clone()))
            .default_service(web::to(crate::problem::not_found))
    })
    .workers(1)
    .shutdown_timeout(settings.shutdown_timeout_secs)
    .listen(listener)?
    .run();
    Ok((port, server))
}

/// The HTTP server over every area's routes.
fn serve(areas: Areas, listener: TcpListener, settings: &Settings) -> anyhow::Result<Server> {
    let workers = settings
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let metrics = areas.ops.metrics.clone();
    let cors_origins = settings.cors_allowed_origins.clone();
    let metrics_access = crate::ops::MetricsAccess::main(settings);
    let server = HttpServer::new(move || {
        let areas = areas.clone();
        let metrics = metrics.clone();
        App::new()
            .app_data(areas.auth)
            .app_data(areas.rate_limits)
            .app_data(areas.database_gate)
            .app_data(areas.routes)
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
            .wrap(actix_web::middleware::from_fn(
                crate::resilience::gate::guard,
            ))
            .wrap(actix_web::middleware::from_fn(
                crate::problem::refuse_oversized_bodies,
            ))
            .wrap(actix_web::middleware::from_fn(
                crate::problem::explain_method_not_allowed,
            ))
            .wrap(actix_web::middleware::from_fn(crate::problem::head_as_get))
            // Outside the others, so preflights and CORS headers cover every answer.
            .wrap(actix_web::middleware::Condition::new(
                !cors_origins.is_empty(),
                crate::cors::cors(&cors_origins),
            ))
            .wrap_fn(move |req, srv| {
                let started = Instant::now();
                let metrics = metrics.clone();
                let fut = srv.call(req);
                async move {
                    let response = fut.await?;
                    crate::metrics::record_request(&metrics, &response, started.elapsed());
                    Ok(response)
                }
            })
            .configure(crate::delivery::configure(areas.delivery))
            .configure(crate::engagement::http::configure(areas.engagement))
            .configure(crate::identity::http::configure(areas.identity))
            .configure(crate::governance::http::configure(areas.governance))
            .configure(crate::allocation::http::configure(areas.allocation))
            .configure(crate::authoring::http::configure(areas.authoring))
            .configure(crate::ops::configure(areas.ops, metrics_access.clone()))
            .default_service(web::to(crate::problem::not_found))
    })
    .workers(workers)
    // A client has this long to send its request line and headers (408 after); the
    // body has its own deadline (`problem::read_body`).
    .client_request_timeout(Duration::from_secs(5))
    .shutdown_timeout(settings.shutdown_timeout_secs)
    .listen(listener)?
    .run();
    Ok(server)
}

/// The loops that run beside the server: catalog polling and (with Redis) the catalog
/// and people listeners, the rate limiters' sweeper, and the governance schedule.
fn background_loops(shared: &Shared, areas: &Areas) -> Vec<(&'static str, Loop)> {
    let mut loops: Vec<(&'static str, Loop)> = Vec::new();
    let resilience = &shared.settings.resilience;
    let every = Duration::from_millis(resilience.probe_interval_ms);
    let within = Duration::from_millis(resilience.probe_timeout_ms);
    let (database, db) = (shared.database.clone(), shared.db.clone());
    loops.push((
        "database probe",
        Box::new(move || {
            let db = db.clone();
            Box::pin(probe_periodically(
                database.clone(),
                every,
                within,
                move || {
                    let db = db.clone();
                    async move { storage::ping(&db).await.map_err(|e| describe_db_error(&e)) }
                },
            ))
        }),
    ));
    if let Some(link) = shared.redis.clone() {
        loops.push((
            "redis probe",
            Box::new(move || {
                let link = link.clone();
                Box::pin(probe_periodically(
                    link.dependency().clone(),
                    every,
                    within,
                    move || {
                        let link = link.clone();
                        async move { link.ping().await }
                    },
                ))
            }),
        ));
    }
    let live = shared.live.clone();
    let every = Duration::from_secs(shared.settings.catalog_poll_secs);
    loops.push((
        "catalog poll",
        Box::new(move || Box::pin(live.clone().poll(every))),
    ));
    if shared.redis.is_some() {
        let live = shared.live.clone();
        loops.push((
            "node registry heartbeat",
            Box::new(move || Box::pin(live.clone().heartbeat())),
        ));
    }
    let rate_limits = areas.rate_limits.clone();
    loops.push((
        "rate-limit sweeper",
        Box::new(move || {
            let rate_limits = rate_limits.clone();
            Box::pin(async move { rate_limits.forget_idle_clients().await })
        }),
    ));
    if shared.settings.governance_evaluate_secs > 0 {
        let governance = areas.governance.clone();
        let every = Duration::from_secs(shared.settings.governance_evaluate_secs);
        loops.push((
            "governance schedule",
            Box::new(move || {
                let governance = governance.clone();
                Box::pin(async move { governance.evaluate_periodically(every).await })
            }),
        ));
    }
    if shared.settings.allocation_recompute_secs > 0 {
        let allocation = areas.allocation.clone();
        let every = Duration::from_secs(shared.settings.allocation_recompute_secs);
        loops.push((
            "allocation schedule",
            Box::new(move || {
                let allocation = allocation.clone();
                Box::pin(async move { allocation.recompute_periodically(every).await })
            }),
        ));
    }
    if let Some(link) = shared.redis.clone() {
        let live = shared.live.clone();
        let catalog_link = link.clone();
        loops.push((
            "catalog listener",
            Box::new(move || Box::pin(live.clone().listen(catalog_link.clone()))),
        ));
        let people = areas.delivery.people.clone();
        loops.push((
            "people listener",
            Box::new(move || Box::pin(people.clone().listen(link.clone()))),
        ));
    }
    loops
}

/// Runs the loops; one that stops (they never return, so: it panicked) is logged with
/// its name and started again after a pause, so a bug in one loop neither takes the
/// server down nor leaves this node silently stale.
async fn supervise(loops: Vec<(&'static str, Loop)>) {
    let loops: Vec<(&'static str, Arc<Loop>)> =
        loops.into_iter().map(|(n, l)| (n, Arc::new(l))).collect();
    let mut running = tokio::task::JoinSet::new();
    let mut names = std::collections::HashMap::new();
    for (index, (name, start)) in loops.iter().enumerate() {
        let start = start.clone();
        let task = running.spawn(async move { start().await });
        names.insert(task.id(), (index, *name));
    }
    while let Some(ended) = running.join_next_with_id().await {
        let (id, failure) = match ended {
            Ok((id, ())) => (id, None),
            Err(e) => (e.id(), Some(e.to_string())),
        };
        let Some((index, name)) = names.remove(&id) else {
            continue;
        };
        tracing::error!(
            task = name,
            failure,
            "background loop stopped; restarting it"
        );
        let start = loops[index].1.clone();
        let task = running.spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            start().await
        });
        names.insert(task.id(), (index, name));
    }
}

/// Connects to the database, retrying with backoff for `database_start_timeout_secs`
/// (each attempt logged), so nodes started before their database come up on their own.
async fn connect_patiently(
    settings: &Settings,
    metrics: &Arc<Metrics>,
) -> anyhow::Result<DatabaseConnection> {
    let patience = Duration::from_secs(settings.resilience.database_start_timeout_secs);
    let acquire = Duration::from_millis(settings.resilience.database_acquire_timeout_ms);
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    for attempt in 1.. {
        let counter = metrics.db_queries.clone();
        match storage::connect_within(&settings.database_url, acquire, move || counter.inc()).await
        {
            Ok(db) => {
                if attempt > 1 {
                    tracing::info!(attempt, "connected to the database");
                }
                return Ok(db);
            }
            Err(e) if started.elapsed() + pause < patience => {
                tracing::warn!(
                    attempt,
                    retry_in_ms = pause.as_millis() as u64,
                    reason = describe_db_error(&e),
                    "database not reachable at start; retrying"
                );
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                tracing::error!(
                    attempt,
                    waited_secs = started.elapsed().as_secs(),
                    reason = describe_db_error(&e),
                    "database not reachable at start; giving up"
                );
                return Err(anyhow::anyhow!(
                    "the database was not reachable after {attempt} attempts over {} s ({})",
                    started.elapsed().as_secs(),
                    describe_db_error(&e)
                ));
            }
        }
    }
    unreachable!("the attempts never run out")
}

/// A database error's kind for logs and `/readyz`: never the URL (it may carry a password).
fn describe_db_error(e: &storage::StorageError) -> String {
    if e.is_outage() {
        let text = e.to_string();
        // sqlx names what went wrong first ("pool timed out…", "error communicating…").
        let text = text.split(" at ").next().unwrap_or_default();
        text.chars().take(160).collect()
    } else {
        match e.sqlstate() {
            Some(code) => format!("the database refused: SQLSTATE {code}"),
            None => "the database answered with an error".into(),
        }
    }
}

/// `import_on_start`: loads the content files into the database, keeping what the
/// admin API published over older files.
async fn import_files(db: &DatabaseConnection, settings: &Settings) -> anyhow::Result<()> {
    let loaded = files::load(&settings.content_dir, &settings.locales_dir);
    let digest = files::digest(&loaded.content);
    // Files unchanged since the last import: they were checked then, and importing them
    // again would change nothing (what the admin API did since is kept either way).
    if loaded.errors.is_empty()
        && storage::imported_files_digest(db)
            .await
            .ok()
            .flatten()
            .as_deref()
            == Some(&*digest)
    {
        tracing::info!(
            "content files unchanged since the last import; not checked or imported again"
        );
        return Ok(());
    }
    let findings = files::check_loaded(&loaded, &settings.default_locale);
    if !findings.is_empty() {
        let list: Vec<String> = findings.iter().map(ToString::to_string).collect();
        anyhow::bail!(
            "content is not valid ({} problems):\n{}",
            list.len(),
            list.join("\n")
        );
    }
    // Two nodes starting together may race on the first insert; the second try sees
    // the winner's rows and has nothing left to insert.
    let report = match storage::import(db, &loaded.content, Some(&digest)).await {
        Ok(report) => report,
        Err(first) => {
            tracing::warn!(error = %first, "content import failed once; retrying");
            storage::import(db, &loaded.content, Some(&digest))
                .await
                .context("importing content")?
        }
    };
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
    Ok(())
}

/// What the nodes of one installation share and other installations on the same Redis
/// do not: the database's name and the signing secret, hashed (the secret never leaves
/// the process).
fn installation(secret: &str, database_url: &str) -> String {
    use sha2::{Digest, Sha256};
    let name = database_url
        .split('?')
        .next()
        .and_then(|url| url.rsplit('/').next())
        .unwrap_or(database_url);
    let digest = Sha256::digest(format!("tailor nodes\n{name}\n{secret}").as_bytes());
    hex::encode(&digest[..16])
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_installation_is_its_database_name_and_secret_never_the_secret_itself() {
        let a = super::installation("s3cret", "postgres://u:p@db-1:5432/tailor?sslmode=disable");
        let b = super::installation("s3cret", "postgres://other:x@db-alias/tailor");
        let c = super::installation("s3cret", "postgres://u:p@db-1:5432/tailor_staging");
        let d = super::installation("another", "postgres://u:p@db-1:5432/tailor");
        assert_eq!(a, b, "the same database however it is reached");
        assert_ne!(a, c);
        assert_ne!(a, d);
        assert!(!a.contains("s3cret"));
    }

    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn the_global_body_cap_admits_every_routes_own_limit() {
        let cap = crate::problem::MAX_REQUEST_BODY as usize;
        assert_eq!(cap, crate::engagement::MAX_BATCH_BYTES, "the largest");
        for limit in [
            crate::authoring::http::BODY_LIMIT,
            crate::identity::http::MAX_IDENTIFY_BYTES,
            crate::governance::http::BODY_LIMIT,
        ] {
            assert!(limit <= cap);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_loop_that_stops_is_started_again_and_the_others_keep_running() {
        let starts = Arc::new(AtomicU32::new(0));
        let ticks = Arc::new(AtomicU32::new(0));
        let (first, second) = (starts.clone(), ticks.clone());
        let loops: Vec<(&'static str, Loop)> = vec![
            (
                "fails twice",
                Box::new(move || {
                    let starts = first.clone();
                    Box::pin(async move {
                        if starts.fetch_add(1, Ordering::SeqCst) < 2 {
                            panic!("a bug in a loop");
                        }
                        std::future::pending::<()>().await
                    })
                }),
            ),
            (
                "steady",
                Box::new(move || {
                    let ticks = second.clone();
                    Box::pin(async move {
                        loop {
                            ticks.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                    })
                }),
            ),
        ];
        let supervisor = tokio::spawn(supervise(loops));
        // Paused time: the restart pauses advance instantly, in order.
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(starts.load(Ordering::SeqCst), 3, "started, restarted twice");
        assert!(ticks.load(Ordering::SeqCst) >= 10, "the other loop ran on");
        assert!(!supervisor.is_finished(), "the supervisor keeps watching");
        supervisor.abort();
    }
}
