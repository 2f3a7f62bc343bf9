//! Person resolution and identify throughput with a large identity graph.
//!
//!   cargo bench --bench identity                       # SQLite file under target/
//!   DATABASE_URL=postgres://postgres@127.0.0.1/test cargo bench --bench identity
//!   REDIS_URL=redis://127.0.0.1:6379 ...               # adds the Redis level
//!
//! Seeds `IDENTITY_BENCH_PEOPLE` people (default 500,000) with two identifiers each
//! (1,000,000 identifiers) and two traits each, once per database, then measures
//! resolving a person cold (database), from Redis, and from this node's cache, each over
//! `IDENTITY_BENCH_SAMPLES` random identifiers (default 20,000, p50/p99 per call), and
//! identify calls per second with 32 concurrent callers (new people, and links that
//! attach to existing ones).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tailor::identity::directory::PersonDirectory;
use tailor::identity::graph::{Identifier, IdentifierTypes};
use tailor::identity::IdentifyCommand;
use tailor::metrics::Metrics;
use tailor::redis_link::RedisLink;
use tailor::resilience::{Breaker, Dependency};
use tailor::storage::identity::identify;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn count(db: &impl ConnectionTrait, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("count query")
        .and_then(|row| row.try_get::<i64>("", "n").ok())
        .unwrap_or(0)
}

/// Bulk-loads the graph in SQL (generate_series / a recursive CTE): seconds, not hours.
async fn seed(db: &impl ConnectionTrait, people: usize) {
    let have = count(
        db,
        "SELECT COUNT(*) AS n FROM identifiers WHERE value LIKE 'bench-%'",
    )
    .await;
    if have >= 2 * people as i64 {
        eprintln!("graph already seeded: {have} bench identifiers");
        return;
    }
    let started = Instant::now();
    let backend = db.get_database_backend();
    // A smaller earlier seed is replaced, not topped up.
    for sql in [
        "DELETE FROM person_traits WHERE person_id LIKE 'bench-%'",
        "DELETE FROM identifiers WHERE value LIKE 'bench-%'",
        "DELETE FROM people WHERE id LIKE 'bench-%'",
    ] {
        db.execute_raw(Statement::from_string(backend, sql))
            .await
            .expect("clear an earlier seed");
    }
    let series = match backend {
        DbBackend::Postgres => format!("SELECT g AS i FROM generate_series(1, {people}) AS g"),
        _ => format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {people}) SELECT i FROM s"
        ),
    };
    let id = |prefix: &str| format!("'{prefix}' || i");
    let now = match backend {
        DbBackend::Postgres => "now()",
        _ => "strftime('%Y-%m-%dT%H:%M:%fZ','now')",
    };
    let statements = [
        format!(
            "INSERT INTO people (id, sticky_key, created_at, updated_at) SELECT {}, {}, {now}, {now} FROM ({series}) AS s",
            id("bench-p-"),
            id("anon:bench-a-")
        ),
        format!(
            "INSERT INTO identifiers (kind, value, person_id, created_at) SELECT 'anonymous_id', {}, {}, {now} FROM ({series}) AS s",
            id("bench-a-"),
            id("bench-p-")
        ),
        format!(
            "INSERT INTO identifiers (kind, value, person_id, created_at) SELECT 'customer_id', {}, {}, {now} FROM ({series}) AS s",
            id("bench-c-"),
            id("bench-p-")
        ),
        format!(
            "INSERT INTO person_traits (person_id, name, value, updated_at) SELECT {}, 'points', CAST(i % 5000 AS TEXT), {now} FROM ({series}) AS s",
            id("bench-p-")
        ),
        format!(
            "INSERT INTO person_traits (person_id, name, value, updated_at) SELECT {}, 'tier', '\"silver\"', {now} FROM ({series}) AS s",
            id("bench-p-")
        ),
    ];
    for sql in statements {
        db.execute_raw(Statement::from_string(backend, sql))
            .await
            .expect("seed statement");
    }
    if backend == DbBackend::Postgres {
        db.execute_raw(Statement::from_string(backend, "ANALYZE"))
            .await
            .expect("analyze");
    }
    eprintln!(
        "seeded {people} people, {} identifiers in {:.1} s",
        2 * people,
        started.elapsed().as_secs_f64()
    );
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{name:<44} n={:<7} p50 {:>9.1} µs   p99 {:>9.1} µs",
        samples.len(),
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6
    );
}

async fn timed(directory: &PersonDirectory, ids: &[Identifier]) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(ids.len());
    for id in ids {
        let started = Instant::now();
        let person = directory.resolve(id).await.expect("resolve");
        samples.push(started.elapsed());
        assert!(person.is_some(), "seeded identifiers resolve");
    }
    samples
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; a plain `cargo test --benches` run passes nothing.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let people = env_number("IDENTITY_BENCH_PEOPLE", 500_000);
    let samples = env_number("IDENTITY_BENCH_SAMPLES", 20_000);
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
        format!("sqlite://{}/identity-bench.db?mode=rwc", dir.display())
    });
    let db = tailor::storage::connect(&url, || {})
        .await
        .expect("connect");
    tailor::storage::migrate(&db).await.expect("migrate");
    seed(&db, people).await;
    let total = count(&db, "SELECT COUNT(*) AS n FROM identifiers").await;
    println!(
        "database {}; {total} identifiers in the graph",
        db.get_database_backend().as_str()
    );

    let mut rng = rand::rng();
    let ids: Vec<Identifier> = (0..samples)
        .map(|_| {
            let i = rng.random_range(1..=people);
            if i.is_multiple_of(2) {
                Identifier::new("customer_id", &format!("bench-c-{i}"))
            } else {
                Identifier::new("anonymous_id", &format!("bench-a-{i}"))
            }
        })
        .collect();
    let metrics = Arc::new(Metrics::new());
    // Generous bounds: this measures the levels, not the breakers.
    let dependency = |name| {
        Arc::new(Dependency::new(
            name,
            Duration::from_secs(5),
            Breaker::new(3, Duration::from_secs(1)),
            metrics.clone(),
        ))
    };
    let database = dependency("database");
    let redis = match std::env::var("REDIS_URL") {
        Ok(url) => {
            let link = RedisLink::new(
                &url,
                Duration::from_secs(5),
                Duration::from_secs(5),
                dependency("redis"),
            )
            .expect("redis url");
            let _: () = link.query(&redis::cmd("FLUSHDB")).await.expect("flush");
            Some(link)
        }
        Err(_) => None,
    };
    let ttl = Duration::from_secs(600);
    let directory = PersonDirectory::new(
        db.clone(),
        database.clone(),
        redis.clone(),
        ttl,
        2_000_000,
        metrics.clone(),
    );
    report("resolve, cold (database)", timed(&directory, &ids).await);
    report(
        "resolve, cached (this node, moka)",
        timed(&directory, &ids).await,
    );
    if redis.is_some() {
        let second_node =
            PersonDirectory::new(db.clone(), database, redis, ttl, 2_000_000, metrics.clone());
        report(
            "resolve, shared (Redis, empty moka)",
            timed(&second_node, &ids).await,
        );
    }

    // Identify: 32 callers, each call a new anonymous id linked to a customer; one call
    // in four names an existing customer (attach), the rest new ones (create).
    let types = Arc::new(IdentifierTypes::default());
    let seconds = env_number("IDENTITY_BENCH_SECONDS", 10) as u64;
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let run = format!("{:x}", rand::random::<u32>());
    let mut tasks = Vec::new();
    for worker in 0..32 {
        let db = db.clone();
        let types = types.clone();
        let run = run.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = 0u64;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let n = done;
                let customer = if n.is_multiple_of(4) {
                    format!("bench-c-{}", 1 + (n as usize * 7919 + worker) % people)
                } else {
                    format!("new-c-{run}-{worker}-{n}")
                };
                let command = IdentifyCommand {
                    identifiers: vec![
                        Identifier::new("customer_id", &customer),
                        Identifier::new("anonymous_id", &format!("new-a-{run}-{worker}-{n}")),
                    ],
                    traits: [("points".to_string(), serde_json::json!(n % 900))].into(),
                    consents: Default::default(),
                    actor: "bench".into(),
                };
                let started = Instant::now();
                identify(&db, &types, &command).await.expect("identify");
                latencies.push(started.elapsed());
                done += 1;
            }
            (done, latencies)
        }));
    }
    let mut calls = 0;
    let mut latencies = Vec::new();
    for task in tasks {
        let (done, mut l) = task.await.expect("identify task");
        calls += done;
        latencies.append(&mut l);
    }
    println!(
        "identify, 32 concurrent callers              {:.0} calls/s over {seconds} s",
        calls as f64 / seconds as f64
    );
    report("identify latency", latencies);
}
