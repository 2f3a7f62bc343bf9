//! Prometheus metrics, served at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub render_cache: IntCounterVec,
    pub db_queries: IntCounter,
    pub catalog_generation: IntGauge,
    pub catalog_loads: IntCounter,
    pub events_accepted: IntCounter,
    pub person_lookups: IntCounterVec,
    pub purges: IntCounterVec,
    pub purge_repeats: IntCounterVec,
    pub bot_events: IntCounter,
    pub expired_link_events: IntCounter,
    /// Clicks and opens through tracked links that could not be stored.
    pub link_events_lost: IntCounter,
    pub rate_limited: IntCounterVec,
    pub undeclared_proxy_requests: IntCounter,
    /// Calls to the database and Redis on request paths, by outcome (see `resilience`).
    pub dependency_calls: IntCounterVec,
    /// 1 while the background probe finds a dependency answering, 0 while it does not.
    pub dependency_up: IntGaugeVec,
    /// 1 while this node is subscribed to a Redis channel (after its catch-up).
    pub redis_subscribed: IntGaugeVec,
    /// People changes this node sent to the other nodes through Redis.
    pub people_changes_sent: IntCounter,
    /// People changes this node holds until Redis takes them.
    pub people_changes_held: IntGauge,
    /// Identifiers read into the filter of known ones at its last rebuild.
    pub known_identifiers: IntGauge,
    /// 1 while that filter answers "unknown" on its own (0: lookups go to the caches).
    pub known_identifiers_trusted: IntGauge,
    /// 1 while a dependency's breaker refuses calls.
    pub dependency_breaker_open: IntGaugeVec,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("tailor".into()), None).unwrap_or_default();
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route and status"),
            &["route", "status"],
        )
        .expect("static metric definition");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            &["route"],
        )
        .expect("static metric definition");
        let render_cache = IntCounterVec::new(
            Opts::new("render_cache_total", "Rendered-answer cache lookups"),
            &["result"],
        )
        .expect("static metric definition");
        let db_queries = IntCounter::new("db_queries_total", "Statements sent to the database")
            .expect("static metric definition");
        let catalog_generation = IntGauge::new(
            "catalog_generation",
            "Generation of the catalog being served",
        )
        .expect("static metric definition");
        let catalog_loads = IntCounter::new(
            "catalog_loads_total",
            "Catalog compilations from the database",
        )
        .expect("static metric definition");
        let events_accepted = IntCounter::new("events_accepted_total", "Engagement events stored")
            .expect("static metric definition");
        let person_lookups = IntCounterVec::new(
            Opts::new(
                "person_lookups_total",
                "Person resolutions by where they were answered: filter (surely unknown), memory, redis or database",
            ),
            &["source"],
        )
        .expect("static metric definition");
        let purges = IntCounterVec::new(
            Opts::new(
                "purges_total",
                "CDN purges sent to the purge webhook, by outcome: sent or failed",
            ),
            &["outcome"],
        )
        .expect("static metric definition");
        let purge_repeats = IntCounterVec::new(
            Opts::new(
                "purge_repeats_total",
                "Second purge rounds, by what let them go: every_node (the registry of nodes said every node serves the change) or waited (the whole wait)",
            ),
            &["after"],
        )
        .expect("static metric definition");
        let bot_events = IntCounter::new(
            "bot_events_total",
            "Events from bot User-Agents (stored, never judged)",
        )
        .expect("static metric definition");
        let expired_link_events = IntCounter::new(
            "expired_link_events_total",
            "Clicks and opens through tracked links whose token no longer counts",
        )
        .expect("static metric definition");
        let redis_subscribed = IntGaugeVec::new(
            Opts::new(
                "redis_subscribed",
                "1 while this node listens on a Redis pub/sub channel (set after its catch-up on subscribing)",
            ),
            &["channel"],
        )
        .expect("static metric definition");
        let people_changes_sent = IntCounter::new(
            "people_changes_sent_total",
            "People changes sent to the other nodes through Redis (each is sent twice, 0.5 s apart)",
        )
        .expect("static metric definition");
        let people_changes_held = IntGauge::new(
            "people_changes_held",
            "People changes this node holds until Redis answers again (then sent to the other nodes)",
        )
        .expect("static metric definition");
        let known_identifiers = IntGauge::new(
            "known_identifiers",
            "Identifiers read into this node's filter of known identifiers at its last rebuild",
        )
        .expect("static metric definition");
        let known_identifiers_trusted = IntGauge::new(
            "known_identifiers_trusted",
            "1 while the filter of known identifiers answers unknown visitors without a lookup; 0 while it is being built or announcements may be missed",
        )
        .expect("static metric definition");
        let link_events_lost = IntCounter::new(
            "link_events_lost_total",
            "Clicks and opens through tracked links not stored (the database was down); the redirect or pixel was still served",
        )
        .expect("static metric definition");
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "rate_limited_total",
                "Requests answered 429, by route class",
            ),
            &["route"],
        )
        .expect("static metric definition");
        let undeclared_proxy_requests = IntCounter::new(
            "undeclared_proxy_requests_total",
            "Requests through an internal proxy missing from trusted_proxies (every client behind it counts as one)",
        )
        .expect("static metric definition");
        let dependency_calls = IntCounterVec::new(
            Opts::new(
                "dependency_calls_total",
                "Calls to a dependency (database, redis) by outcome: ok, failed, timed_out, short_circuited (breaker open)",
            ),
            &["dependency", "outcome"],
        )
        .expect("static metric definition");
        let dependency_up = IntGaugeVec::new(
            Opts::new(
                "dependency_up",
                "1 while the background probe finds the dependency answering",
            ),
            &["dependency"],
        )
        .expect("static metric definition");
        let dependency_breaker_open = IntGaugeVec::new(
            Opts::new(
                "dependency_breaker_open",
                "1 while the dependency's circuit breaker refuses calls",
            ),
            &["dependency"],
        )
        .expect("static metric definition");
        for collector in [
            Box::new(bot_events.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(dependency_breaker_open.clone()),
            Box::new(dependency_calls.clone()),
            Box::new(dependency_up.clone()),
            Box::new(undeclared_proxy_requests.clone()),
            Box::new(expired_link_events.clone()),
            Box::new(link_events_lost.clone()),
            Box::new(people_changes_held.clone()),
            Box::new(known_identifiers.clone()),
            Box::new(known_identifiers_trusted.clone()),
            Box::new(people_changes_sent.clone()),
            Box::new(redis_subscribed.clone()),
            Box::new(rate_limited.clone()),
            Box::new(person_lookups.clone()),
            Box::new(purges.clone()),
            Box::new(purge_repeats.clone()),
            Box::new(events_accepted.clone()),
            Box::new(http_requests.clone()),
            Box::new(http_duration.clone()),
            Box::new(render_cache.clone()),
            Box::new(db_queries.clone()),
            Box::new(catalog_generation.clone()),
            Box::new(catalog_loads.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric registered once");
        }
        Metrics {
            registry,
            http_requests,
            http_duration,
            render_cache,
            db_queries,
            catalog_generation,
            catalog_loads,
            events_accepted,
            person_lookups,
            purges,
            purge_repeats,
            bot_events,
            expired_link_events,
            link_events_lost,
            people_changes_held,
            known_identifiers,
            known_identifiers_trusted,
            people_changes_sent,
            redis_subscribed,
            rate_limited,
            undeclared_proxy_requests,
            dependency_calls,
            dependency_up,
            dependency_breaker_open,
        }
    }

    pub fn render(&self) -> Vec<u8> {
        let mut buffer = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        buffer
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Counts and times one answered request by its route pattern (never the raw path, so
/// ids do not become label values) and logs server errors.
pub fn record_request<B>(
    metrics: &Metrics,
    response: &actix_web::dev::ServiceResponse<B>,
    elapsed: std::time::Duration,
) {
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
        .observe(elapsed.as_secs_f64());
    // A 503 is a deliberate answer during an outage (logged once, by the probe).
    if status.is_server_error() && status != actix_web::http::StatusCode::SERVICE_UNAVAILABLE {
        tracing::warn!(%route, status = status.as_u16(), "request failed");
    } else {
        tracing::debug!(%route, status = status.as_u16(), "request");
    }
}
