//! Per-client rate limits on the routes anyone can call without a secret (events,
//! tracked links and pixels, the cohort endpoint, identify), with `governor`'s keyed
//! token buckets. A client is its network (IPv4 /24, IPv6 /48, after the trusted
//! proxies), or for identify its server key. Limits are per node: N nodes behind a
//! balancer admit up to N times the configured rate.
//!
//! Past the limit the answer is `429` problem+json with `Retry-After` (whole seconds,
//! rounded up), before the body is read. Wrap a resource with
//! `actix_web::middleware::from_fn(ratelimit::events)` (or `links`, `context`, `identify`).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, ResponseError};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::Auth;
use crate::config::{Limit, RateLimits};
use crate::engagement::provenance::Provenance;
use crate::metrics::Metrics;
use crate::problem::{Problem, ProblemType};

/// The route classes with a limit of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Events,
    Links,
    Context,
    Identify,
}

impl Route {
    fn as_str(self) -> &'static str {
        match self {
            Route::Events => "events",
            Route::Links => "links",
            Route::Context => "context",
            Route::Identify => "identify",
        }
    }
}

/// How many clients an undeclared proxy is taken to stand for: it gets that many
/// times a client's limit (all its clients look like it), so a misconfiguration is no
/// outage, and a client behind it that forges a forwarding header is still bounded.
pub const UNDECLARED_PROXY_FACTOR: u32 = 100;

struct Bucket {
    limiter: DefaultKeyedRateLimiter<u64>,
    /// For proxies missing from `trusted_proxies`, keyed by the proxy's network.
    undeclared_proxies: DefaultKeyedRateLimiter<u64>,
}

impl Bucket {
    fn new(limit: Limit) -> Option<Bucket> {
        let quota = |factor: u32| {
            let rate = NonZeroU32::new(limit.per_second.saturating_mul(factor))?;
            let burst = NonZeroU32::new(limit.burst.max(1).saturating_mul(factor))?;
            Some(Quota::per_second(rate).allow_burst(burst))
        };
        Some(Bucket {
            limiter: RateLimiter::keyed(quota(1)?),
            undeclared_proxies: RateLimiter::keyed(quota(UNDECLARED_PROXY_FACTOR)?),
        })
    }

    /// `Err(wait)` when the key is over its limit.
    fn check(&self, key: Key) -> Result<(), Duration> {
        let (limiter, key) = match key {
            Key::Client(key) => (&self.limiter, key),
            Key::UndeclaredProxy(key) => (&self.undeclared_proxies, key),
        };
        limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// What a request is counted as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Key {
    Client(u64),
    UndeclaredProxy(u64),
}

/// Every route's buckets; a disabled limit (`per_second = 0`) has none.
pub struct Limiters {
    events: Option<Bucket>,
    events_per_key: Option<Bucket>,
    links: Option<Bucket>,
    context: Option<Bucket>,
    identify_per_key: Option<Bucket>,
    identify_per_source: Option<Bucket>,
}

impl Limiters {
    pub fn new(limits: &RateLimits) -> Limiters {
        Limiters {
            events: Bucket::new(limits.events),
            events_per_key: Bucket::new(limits.events_per_key),
            links: Bucket::new(limits.links),
            context: Bucket::new(limits.context),
            identify_per_key: Bucket::new(limits.identify_per_key),
            identify_per_source: Bucket::new(limits.identify_per_source),
        }
    }

    /// Forgets clients whose buckets are full again, so memory follows the clients of
    /// the last moments rather than every client ever seen (called every minute).
    pub fn forget_idle(&self) {
        for bucket in [
            &self.events,
            &self.events_per_key,
            &self.links,
            &self.context,
            &self.identify_per_key,
            &self.identify_per_source,
        ]
        .into_iter()
        .flatten()
        {
            for limiter in [&bucket.limiter, &bucket.undeclared_proxies] {
                limiter.retain_recent();
                limiter.shrink_to_fit();
            }
        }
    }
}

/// What the rate-limit middleware holds: the buckets, and what names a client (its
/// network, through the trusted proxies) or a server key.
pub struct RateLimiting {
    pub limiters: Limiters,
    pub provenance: Arc<Provenance>,
    pub auth: Arc<Auth>,
    pub metrics: Arc<Metrics>,
}

impl RateLimiting {
    /// Keeps the limiters' memory to the clients of the last minute; runs until aborted.
    pub async fn forget_idle_clients(&self) {
        let mut interval = tokio::time::interval(Duration::from_secs(60));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        interval.tick().await;
        loop {
            interval.tick().await;
            self.limiters.forget_idle();
        }
    }
}

fn key_of(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// The bucket and key a request is counted under; `None`: not limited. A proxy
/// missing from `trusted_proxies` is counted as one client with
/// [`UNDECLARED_PROXY_FACTOR`] times the limit (a warning says so once).
fn bucket_for<'a>(
    state: &'a RateLimiting,
    route: Route,
    req: &ServiceRequest,
) -> Option<(&'a Bucket, Key)> {
    use crate::engagement::provenance::{network_prefix, ClientAddress};
    let network = || match state.provenance.client(req.request())? {
        ClientAddress::Known(address) => Some(Key::Client(key_of(&network_prefix(address)))),
        ClientAddress::UntrustedProxy(proxy) => {
            state.metrics.undeclared_proxy_requests.inc();
            Some(Key::UndeclaredProxy(key_of(&network_prefix(proxy))))
        }
    };
    // Only a valid key gets a bucket of its own: random keys share the network's.
    let server_key = || {
        req.headers()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .and_then(|key| state.auth.server_key(key))
            .map(|index| Key::Client(key_of(&index.to_le_bytes())))
    };
    let limits = &state.limiters;
    match route {
        Route::Events => match server_key() {
            Some(key) => Some((limits.events_per_key.as_ref()?, key)),
            None => Some((limits.events.as_ref()?, network()?)),
        },
        Route::Links => Some((limits.links.as_ref()?, network()?)),
        Route::Context => Some((limits.context.as_ref()?, network()?)),
        Route::Identify => match server_key() {
            Some(key) => Some((limits.identify_per_key.as_ref()?, key)),
            None => Some((limits.identify_per_source.as_ref()?, network()?)),
        },
    }
}

async fn guard(
    route: Route,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let verdict = req.app_data::<web::Data<RateLimiting>>().and_then(|state| {
        let (bucket, key) = bucket_for(state, route, &req)?;
        bucket.check(key).err().map(|wait| (state.clone(), wait))
    });
    if let Some((state, wait)) = verdict {
        state
            .metrics
            .rate_limited
            .with_label_values(&[route.as_str()])
            .inc();
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let problem = Problem::new(
            ProblemType::TooManyRequests,
            format!(
                "this client network is over the {} rate limit; retry after {seconds} s",
                route.as_str()
            ),
        )
        .with_retry_after(seconds.clamp(1, u64::from(u32::MAX)) as u32);
        return Ok(req
            .into_response(problem.error_response())
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Middleware: `web::resource(..).wrap(from_fn(ratelimit::events))`.
pub async fn events(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    guard(Route::Events, req, next).await
}

/// Middleware: `web::resource(..).wrap(from_fn(ratelimit::links))`.
pub async fn links(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    guard(Route::Links, req, next).await
}

/// Middleware: `web::resource(..).wrap(from_fn(ratelimit::context))`.
pub async fn context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    guard(Route::Context, req, next).await
}

/// Middleware: `web::resource(..).wrap(from_fn(ratelimit::identify))`.
pub async fn identify(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    guard(Route::Identify, req, next).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_admits_its_burst_then_says_how_long_to_wait() {
        let bucket = Bucket::new(Limit {
            per_second: 1,
            burst: 3,
        })
        .unwrap();
        for _ in 0..3 {
            assert!(bucket.check(Key::Client(7)).is_ok());
        }
        let wait = bucket.check(Key::Client(7)).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        // Another client has its own bucket; an undeclared proxy a hundred times more.
        assert!(bucket.check(Key::Client(8)).is_ok());
        for _ in 0..300 {
            assert!(bucket.check(Key::UndeclaredProxy(7)).is_ok());
        }
        assert!(bucket.check(Key::UndeclaredProxy(7)).is_err());
        assert!(Bucket::new(Limit {
            per_second: 0,
            burst: 10
        })
        .is_none());
    }
}
