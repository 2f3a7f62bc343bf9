//! Failing fast around the shared dependencies: the database and Redis.
//!
//! Every call a request makes to one of them goes through its [`Dependency`]: bounded
//! by a timeout, and refused at once while the dependency's [`Breaker`] is open, so an
//! outage costs a request at most one timeout and then nothing. A background probe
//! ([`probe_periodically`]) checks each dependency on a fixed period. Its latest
//! finding is what `/readyz` reports (never a probe on the request), and a successful
//! probe closes an open breaker: requests never pay to learn that a dependency is back.
//! When the probe sees a dependency come back after being down, [`Dependency::recoveries`]
//! ticks, so whoever may have missed something while it was away (the pub/sub
//! listeners) can catch up.

use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::watch;

use crate::metrics::Metrics;

pub mod gate;

/// A circuit breaker: closed, it lets calls through; after `failures_to_open`
/// consecutive failures it opens for `open_for`; then one trial call goes through and
/// its outcome closes or reopens it. Pure: the caller says what time it is.
#[derive(Clone, Debug)]
pub struct Breaker {
    state: BreakerState,
    /// Opened by the probe ([`Breaker::trip`]): only the probe's success closes it
    /// outright. Opened by failing calls, it closes through a successful trial call, so
    /// a probe that gets through while real calls do not cannot keep reopening it.
    tripped: bool,
    consecutive_failures: u32,
    failures_to_open: u32,
    open_for: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open {
        until: Instant,
    },
    /// One call was let through to try the dependency; the rest are refused until it
    /// reports, or until `until` should it never report (a cancelled call).
    Trial {
        until: Instant,
    },
}

impl Breaker {
    pub fn new(failures_to_open: u32, open_for: Duration) -> Breaker {
        Breaker {
            state: BreakerState::Closed,
            tripped: false,
            consecutive_failures: 0,
            failures_to_open: failures_to_open.max(1),
            open_for,
        }
    }

    /// May a call go ahead at `now`?
    pub fn admit(&mut self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed => true,
            BreakerState::Open { until } | BreakerState::Trial { until } if now < until => false,
            BreakerState::Open { .. } => {
                self.state = BreakerState::Trial {
                    until: now + self.open_for,
                };
                true
            }
            BreakerState::Trial { .. } => {
                // The trial never reported back; try again.
                self.state = BreakerState::Trial {
                    until: now + self.open_for,
                };
                true
            }
        }
    }

    pub fn succeeded(&mut self) {
        self.state = BreakerState::Closed;
        self.tripped = false;
        self.consecutive_failures = 0;
    }

    /// The probe got an answer: closes a breaker the probe opened.
    pub fn probe_succeeded(&mut self) {
        if self.tripped {
            self.succeeded();
        }
    }

    pub fn failed(&mut self, now: Instant) {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        let trial_failed = matches!(self.state, BreakerState::Trial { .. });
        if trial_failed || self.consecutive_failures >= self.failures_to_open {
            self.state = BreakerState::Open {
                until: now + self.open_for,
            };
        }
    }

    /// Opens it now, whatever the count (the probe found the dependency down).
    pub fn trip(&mut self, now: Instant) {
        self.tripped = true;
        self.consecutive_failures = self.consecutive_failures.max(self.failures_to_open);
        self.state = BreakerState::Open {
            until: now + self.open_for,
        };
    }

    /// Is it refusing calls at `now` (open, or a trial under way)?
    pub fn refusing(&self, now: Instant) -> bool {
        match self.state {
            BreakerState::Closed => false,
            BreakerState::Open { until } | BreakerState::Trial { until } => now < until,
        }
    }

    pub fn is_closed(&self) -> bool {
        self.state == BreakerState::Closed
    }
}

/// Why a call through a [`Dependency`] did not return the dependency's answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError<E> {
    #[error("{0} is unavailable (circuit open)")]
    Open(&'static str),
    #[error("{0} did not answer in time")]
    TimedOut(&'static str),
    #[error(transparent)]
    Failed(E),
}

impl<E> CallError<E> {
    /// The dependency was not reachable (as opposed to answering with an error).
    pub fn is_outage(&self, is_outage: impl Fn(&E) -> bool) -> bool {
        match self {
            CallError::Open(_) | CallError::TimedOut(_) => true,
            CallError::Failed(e) => is_outage(e),
        }
    }
}

/// What the background probe last found.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Status {
    /// `up`, `down`, or `unknown` (not probed yet).
    pub state: &'static str,
    /// When the probe last ran.
    pub checked_at: Option<DateTime<Utc>>,
    /// Since when the state has held.
    pub since: DateTime<Utc>,
    /// Why the last probe failed (the error's kind, never a connection string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Failed probes in a row that make a dependency `down`.
pub const PROBE_FAILURES_TO_DOWN: u32 = 2;

/// A shared dependency as the request paths see it: timeout, breaker, probe status.
pub struct Dependency {
    name: &'static str,
    timeout: Duration,
    breaker: Mutex<Breaker>,
    /// Probes failed in a row (see [`PROBE_FAILURES_TO_DOWN`]).
    failed_probes: std::sync::atomic::AtomicU32,
    status: RwLock<Status>,
    recovered: watch::Sender<u64>,
    metrics: Arc<Metrics>,
}

impl Dependency {
    pub fn new(
        name: &'static str,
        timeout: Duration,
        breaker: Breaker,
        metrics: Arc<Metrics>,
    ) -> Dependency {
        Dependency {
            name,
            timeout,
            breaker: Mutex::new(breaker),
            failed_probes: std::sync::atomic::AtomicU32::new(0),
            status: RwLock::new(Status {
                state: "unknown",
                checked_at: None,
                since: Utc::now(),
                reason: None,
            }),
            recovered: watch::channel(0).0,
            metrics,
        }
    }

    /// The bound on one call from a request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn count(&self, outcome: &str) {
        self.metrics
            .dependency_calls
            .with_label_values(&[self.name, outcome])
            .inc();
    }

    /// Changes the breaker, and publishes whether it is open.
    fn with_breaker(&self, change: impl FnOnce(&mut Breaker)) {
        let open = {
            let mut breaker = self.breaker.lock().unwrap_or_else(|e| e.into_inner());
            change(&mut breaker);
            !breaker.is_closed()
        };
        self.metrics
            .dependency_breaker_open
            .with_label_values(&[self.name])
            .set(i64::from(open));
    }

    fn breaker(&self) -> std::sync::MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `attempt` unless the breaker is open, bounded by this dependency's timeout.
    /// Errors for which `is_outage` is true count against the breaker; others mean the
    /// dependency answered.
    pub async fn call<T, E>(
        &self,
        attempt: impl Future<Output = Result<T, E>>,
        is_outage: impl Fn(&E) -> bool,
    ) -> Result<T, CallError<E>> {
        self.call_within(self.timeout, attempt, is_outage).await
    }

    /// [`Dependency::call`] with its own time bound (a long write, say).
    pub async fn call_within<T, E>(
        &self,
        timeout: Duration,
        attempt: impl Future<Output = Result<T, E>>,
        is_outage: impl Fn(&E) -> bool,
    ) -> Result<T, CallError<E>> {
        if !self.breaker().admit(Instant::now()) {
            self.count("short_circuited");
            return Err(CallError::Open(self.name));
        }
        match tokio::time::timeout(timeout, attempt).await {
            Err(_) => {
                self.with_breaker(|b| b.failed(Instant::now()));
                self.count("timed_out");
                Err(CallError::TimedOut(self.name))
            }
            Ok(Err(e)) if is_outage(&e) => {
                self.with_breaker(|b| b.failed(Instant::now()));
                self.count("failed");
                Err(CallError::Failed(e))
            }
            Ok(answer) => {
                if !self.breaker().is_closed() {
                    self.with_breaker(Breaker::succeeded);
                } else {
                    self.breaker().succeeded();
                }
                self.count("ok");
                answer.map_err(CallError::Failed)
            }
        }
    }

    /// Would a call go through now? For callers that do not call through the breaker
    /// (the database gate, held announcements): once an open period is over they go
    /// ahead, as a trial would, so a breaker that only such callers meet is never stuck.
    pub fn available(&self) -> bool {
        !self.breaker().refusing(Instant::now())
    }

    /// Records a probe's finding: the status `/readyz` reports, the breaker, and a
    /// recovery tick when the dependency came back. One failed probe counts as one
    /// failed call; [`PROBE_FAILURES_TO_DOWN`] in a row make the dependency `down` and
    /// open the breaker until a probe gets an answer again, so no request waits on a
    /// dependency the probe knows is down. (One slow answer is not an outage: a
    /// recovery makes every node subscribe afresh and drop its cached people.)
    pub fn record_probe(&self, outcome: Result<(), String>) {
        use std::sync::atomic::Ordering;
        let now = Utc::now();
        let failures = match outcome {
            Ok(()) => {
                self.failed_probes.store(0, Ordering::Relaxed);
                0
            }
            Err(_) => self.failed_probes.fetch_add(1, Ordering::Relaxed) + 1,
        };
        let (previous, state) = {
            let mut status = self.status.write().unwrap_or_else(|e| e.into_inner());
            let previous = status.state;
            let state = match (&outcome, failures >= PROBE_FAILURES_TO_DOWN) {
                (Ok(()), _) => "up",
                (Err(_), true) => "down",
                (Err(_), false) => previous,
            };
            if previous != state {
                status.since = now;
            }
            status.state = state;
            status.checked_at = Some(now);
            status.reason = outcome.as_ref().err().cloned();
            (previous, state)
        };
        self.metrics
            .dependency_up
            .with_label_values(&[self.name])
            .set(i64::from(state != "down"));
        match (previous, state) {
            ("down", "up") => {
                self.with_breaker(Breaker::probe_succeeded);
                tracing::info!(dependency = self.name, "dependency is back");
                self.recovered.send_modify(|n| *n += 1);
            }
            (_, "up") => self.with_breaker(Breaker::probe_succeeded),
            (_, "down") => {
                self.with_breaker(|b| b.trip(Instant::now()));
                if previous != "down" {
                    tracing::warn!(
                        dependency = self.name,
                        reason = outcome.err().unwrap_or_default(),
                        "dependency is down"
                    );
                }
            }
            _ => self.with_breaker(|b| b.failed(Instant::now())),
        }
    }

    pub fn status(&self) -> Status {
        self.status
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Ticks each time the probe finds the dependency back after it was down.
    pub fn recoveries(&self) -> watch::Receiver<u64> {
        self.recovered.subscribe()
    }
}

/// Probes `dependency` every `every` (each probe bounded by `timeout`), recording what
/// it finds. Runs until aborted.
pub async fn probe_periodically<F, Fut>(
    dependency: Arc<Dependency>,
    every: Duration,
    timeout: Duration,
    probe: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let outcome = match tokio::time::timeout(timeout, probe()).await {
            Ok(outcome) => outcome,
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        };
        dependency.record_probe(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const OPEN_FOR: Duration = Duration::from_millis(1000);

    #[test]
    fn opens_after_consecutive_failures_and_refuses_while_open() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(3, OPEN_FOR);
        breaker.failed(t0);
        breaker.failed(t0);
        assert!(breaker.admit(t0), "two failures of three keep it closed");
        breaker.failed(t0);
        assert!(!breaker.admit(t0));
        assert!(!breaker.admit(t0 + Duration::from_millis(999)));
    }

    #[test]
    fn a_success_between_failures_starts_the_count_again() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(2, OPEN_FOR);
        breaker.failed(t0);
        breaker.succeeded();
        breaker.failed(t0);
        assert!(breaker.admit(t0));
    }

    #[test]
    fn after_the_open_period_one_trial_goes_and_decides() {
        let t0 = Instant::now();
        let later = t0 + OPEN_FOR;
        let mut breaker = Breaker::new(1, OPEN_FOR);
        breaker.failed(t0);
        assert!(breaker.admit(later), "the trial");
        assert!(!breaker.admit(later), "only one trial at a time");
        breaker.failed(later);
        assert!(!breaker.admit(later + Duration::from_millis(1)), "reopened");
        let again = later + OPEN_FOR;
        assert!(breaker.admit(again));
        breaker.succeeded();
        assert!(breaker.admit(again) && breaker.admit(again) && breaker.is_closed());
    }

    #[test]
    fn a_trial_that_never_reports_is_replaced_after_another_period() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(1, OPEN_FOR);
        breaker.failed(t0);
        assert!(breaker.admit(t0 + OPEN_FOR));
        assert!(!breaker.admit(t0 + OPEN_FOR + Duration::from_millis(500)));
        assert!(breaker.admit(t0 + OPEN_FOR * 2));
    }

    proptest! {
        /// Whatever happened before, a success closes the breaker, and a closed breaker
        /// admits every call until `failures_to_open` failures in a row.
        #[test]
        fn success_closes_and_closed_admits(
            history in proptest::collection::vec(0u8..3, 0..40),
            threshold in 1u32..5,
        ) {
            let t0 = Instant::now();
            let mut breaker = Breaker::new(threshold, OPEN_FOR);
            for (i, step) in history.iter().enumerate() {
                let now = t0 + Duration::from_millis(i as u64 * 300);
                match step {
                    0 => breaker.failed(now),
                    1 => breaker.succeeded(),
                    _ => { breaker.admit(now); }
                }
            }
            breaker.succeeded();
            let now = t0 + Duration::from_secs(100);
            for _ in 1..threshold {
                prop_assert!(breaker.admit(now));
                breaker.failed(now);
            }
            prop_assert!(breaker.admit(now));
            breaker.failed(now);
            prop_assert!(!breaker.admit(now));
        }
    }

    #[test]
    fn it_refuses_only_until_the_open_period_ends() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(1, OPEN_FOR);
        assert!(!breaker.refusing(t0));
        breaker.failed(t0);
        assert!(breaker.refusing(t0 + OPEN_FOR / 2));
        assert!(
            !breaker.refusing(t0 + OPEN_FOR),
            "callers that bypass it are not locked out for good"
        );
    }

    #[test]
    fn a_trip_opens_at_once_whatever_the_count() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(3, OPEN_FOR);
        breaker.trip(t0);
        assert!(!breaker.admit(t0));
        assert!(
            breaker.admit(t0 + OPEN_FOR),
            "then a trial, as after failures"
        );
    }

    fn dependency(timeout: Duration) -> Dependency {
        Dependency::new(
            "test",
            timeout,
            Breaker::new(1, Duration::from_secs(3600)),
            Arc::new(Metrics::new()),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_hangs_costs_its_timeout_once_then_nothing() {
        let dep = dependency(Duration::from_millis(50));
        let hung = dep
            .call(std::future::pending::<Result<(), ()>>(), |_| true)
            .await;
        assert!(matches!(hung, Err(CallError::TimedOut("test"))));
        let refused = dep.call(async { Ok::<_, ()>(()) }, |_| true).await;
        assert!(matches!(refused, Err(CallError::Open("test"))));
        // The probe finds it down, then back: calls go through again.
        dep.record_probe(Err("timed out".into()));
        dep.record_probe(Err("timed out".into()));
        dep.record_probe(Ok(()));
        assert!(dep.call(async { Ok::<_, ()>(()) }, |_| true).await.is_ok());
    }

    #[tokio::test]
    async fn an_answered_error_is_not_an_outage() {
        let dep = dependency(Duration::from_secs(1));
        let answered = dep
            .call(async { Err::<(), _>("no such key") }, |_| false)
            .await;
        assert!(matches!(answered, Err(CallError::Failed("no such key"))));
        assert!(dep.available());
    }

    #[test]
    fn the_probe_reports_state_reason_and_recovery() {
        let dep = Dependency::new(
            "test",
            Duration::from_secs(1),
            Breaker::new(3, Duration::from_secs(3600)),
            Arc::new(Metrics::new()),
        );
        let recoveries = dep.recoveries();
        assert_eq!(dep.status().state, "unknown");
        dep.record_probe(Ok(()));
        dep.record_probe(Err("timed out".into()));
        let slow = dep.status();
        assert_eq!(
            (slow.state, slow.reason.as_deref()),
            ("up", Some("timed out")),
            "one slow answer is not an outage"
        );
        assert!(dep.available());
        dep.record_probe(Err("connection refused".into()));
        let down = dep.status();
        assert_eq!(
            (down.state, down.reason.as_deref()),
            ("down", Some("connection refused"))
        );
        assert!(!dep.available(), "failed probes in a row open the breaker");
        assert_eq!(*recoveries.borrow(), 0);
        dep.record_probe(Ok(()));
        assert_eq!(dep.status().state, "up");
        assert!(dep.available(), "the probe closes what the probe opened");
        assert_eq!(*recoveries.borrow(), 1);
    }

    #[test]
    fn a_good_probe_does_not_close_a_breaker_that_failing_calls_opened() {
        let t0 = Instant::now();
        let mut breaker = Breaker::new(1, OPEN_FOR);
        breaker.failed(t0);
        breaker.probe_succeeded();
        assert!(
            !breaker.admit(t0),
            "still open: the calls fail, whatever the ping says"
        );
        assert!(breaker.admit(t0 + OPEN_FOR), "a trial call decides");
        breaker.trip(t0);
        breaker.probe_succeeded();
        assert!(breaker.is_closed());
    }
}
