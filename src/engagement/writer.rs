//! The event writer: one task owns all event writes (group commit). Handlers hand it a
//! batch and await the commit, so a `202` is only ever sent for events that are in the
//! database. While one transaction runs, new batches queue up and go into the next
//! one together, which is what makes a single writer fast (and SQLite happy).

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures_util::FutureExt;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot, watch, Mutex};
use tokio::task::JoinHandle;

use super::NewEvent;
use crate::resilience::Dependency;
use crate::storage::events::{store_events, FirstImpressionCache};
use crate::storage::StorageError;

/// Events per transaction, at most.
const GROUP_LIMIT: usize = 10_000;
/// Batches that may wait for the writer before callers are told to back off.
const QUEUE_DEPTH: usize = 4096;

#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum WriteError {
    #[error("the database is unavailable")]
    Unavailable,
    #[error("the server is shutting down")]
    Closed,
    #[error("too many events are waiting to be written")]
    Busy,
}

struct Job {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Vec<bool>, WriteError>>,
}

/// Called with the events of each committed group that were new.
pub type OnCommit = Arc<dyn Fn(&[&NewEvent]) + Send + Sync>;

pub struct EventWriter {
    sender: mpsc::Sender<Job>,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl EventWriter {
    /// `writers` tasks share the queue: one for SQLite (a single writer is what it wants),
    /// more for PostgreSQL, whose round trips then overlap. Concurrent groups stay
    /// correct: the primary key settles racing duplicates, rollup rows are written in
    /// one global order.
    ///
    /// Each transaction goes through the database's breaker and is bounded by
    /// `write_timeout`: with the database down, callers get `Unavailable` (a `503`)
    /// within the pool's acquire timeout, or at once while the breaker is open.
    pub fn start(
        db: DatabaseConnection,
        database: Arc<Dependency>,
        write_timeout: Duration,
        writers: usize,
        on_commit: OnCommit,
    ) -> EventWriter {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let (shutdown, stop) = watch::channel(false);
        let receiver = Arc::new(Mutex::new(receiver));
        // Bounded in size, and in time: an erased person's keys leave every node's
        // cache within the hour (the database rows go with the erasure).
        let first_seen: FirstImpressionCache = moka::sync::Cache::builder()
            .max_capacity(1_000_000)
            .time_to_live(Duration::from_secs(3600))
            .build();
        let tasks = (0..writers.max(1))
            .map(|_| {
                let target = Target {
                    db: db.clone(),
                    database: database.clone(),
                    write_timeout,
                };
                tokio::spawn(run(
                    target,
                    receiver.clone(),
                    stop.clone(),
                    on_commit.clone(),
                    first_seen.clone(),
                ))
            })
            .collect();
        EventWriter {
            sender,
            shutdown,
            tasks: Mutex::new(tasks),
        }
    }

    /// Stores `events`; per event, `true` if new, `false` if its id was already stored.
    /// Returns only after the transaction holding them has committed.
    pub async fn write(&self, events: Vec<NewEvent>) -> Result<Vec<bool>, WriteError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        // A full queue means the database is behind: tell the client to back off now
        // rather than hold its connection (its resend is deduplicated anyway).
        self.sender
            .try_send(Job { events, reply })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => WriteError::Busy,
                mpsc::error::TrySendError::Closed(_) => WriteError::Closed,
            })?;
        answer.await.map_err(|_| WriteError::Closed)?
    }

    /// Flushes what is queued and stops the tasks. Called after the server has stopped
    /// accepting requests and finished the ones in flight.
    pub async fn close(&self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks.lock().await.drain(..) {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "event writer task failed");
            }
        }
        tracing::info!("event writer flushed and stopped");
    }
}

/// Where groups are written, and how an outage is noticed.
struct Target {
    db: DatabaseConnection,
    database: Arc<Dependency>,
    write_timeout: Duration,
}

impl Target {
    async fn store(
        &self,
        events: &[&NewEvent],
        first_seen: &FirstImpressionCache,
    ) -> Result<Vec<bool>, StorageError> {
        self.database
            .call_within(
                self.write_timeout,
                store_events(&self.db, events, first_seen),
                StorageError::is_outage,
            )
            .await
            .map_err(StorageError::from)
    }
}

async fn run(
    target: Target,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    mut stop: watch::Receiver<bool>,
    on_commit: OnCommit,
    first_seen: FirstImpressionCache,
) {
    loop {
        // Take the next group under the lock; write it without holding the lock, so
        // another writer can gather the following group meanwhile.
        let group = {
            let mut queue = receiver.lock().await;
            let first = tokio::select! {
                biased;
                job = queue.recv() => job,
                _ = stop.wait_for(|stopping| *stopping) => {
                    queue.close();
                    queue.try_recv().ok()
                }
            };
            let Some(first) = first else { break };
            let mut group = vec![first];
            let mut size = group[0].events.len();
            while size < GROUP_LIMIT {
                match queue.try_recv() {
                    Ok(job) => {
                        size += job.events.len();
                        group.push(job);
                    }
                    Err(_) => break,
                }
            }
            group
        };
        // A panic must not take the writer down with it: the group's callers get a
        // 503 (their reply senders drop), the next group is written as usual.
        let flushed = AssertUnwindSafe(flush(&target, group, &on_commit, &first_seen))
            .catch_unwind()
            .await;
        if flushed.is_err() {
            tracing::error!("event writer panicked on a group; its requests were answered 503");
        }
    }
}

async fn flush(
    target: &Target,
    group: Vec<Job>,
    on_commit: &OnCommit,
    first_seen: &FirstImpressionCache,
) {
    // The first occurrence of an id in the group is the one stored; later ones are
    // duplicates just as if they had arrived after the commit.
    let (is_first, stored) = {
        let mut seen = HashSet::new();
        let mut unique: Vec<&NewEvent> = Vec::new();
        let is_first: Vec<Vec<bool>> = group
            .iter()
            .map(|job| {
                job.events
                    .iter()
                    .map(|event| {
                        let first = seen.insert(event.event_id.as_str());
                        if first {
                            unique.push(event);
                        }
                        first
                    })
                    .collect()
            })
            .collect();
        // One global order of keys: concurrent writers never wait on each other in a cycle.
        unique.sort_by(|a, b| a.event_id.cmp(&b.event_id));
        let mut result = target.store(&unique, first_seen).await;
        // One retry covers a serialisation failure; not an outage (the database is
        // unreachable or the breaker refused: callers get a 503 at once and resend,
        // and their event ids make the resend count once).
        if let Some(e) = result.as_ref().err().filter(|e| !e.is_outage()) {
            tracing::warn!(error = %e, "event group failed; retrying once");
            result = target.store(&unique, first_seen).await;
        }
        let stored = match result {
            Ok(inserted) => {
                let committed: Vec<&NewEvent> = unique
                    .iter()
                    .zip(&inserted)
                    .filter(|(_, new)| **new)
                    .map(|(e, _)| *e)
                    .collect();
                on_commit(&committed);
                Ok(committed
                    .iter()
                    .map(|e| e.event_id.clone())
                    .collect::<HashSet<String>>())
            }
            Err(e) if e.is_outage() => {
                tracing::debug!(error = %e, events = unique.len(), "event group not stored");
                Err((WriteError::Unavailable, true))
            }
            Err(e) => {
                tracing::error!(error = %e, events = unique.len(), "event group not stored");
                Err((WriteError::Unavailable, e.is_outage()))
            }
        };
        (is_first, stored)
    };
    match stored {
        Ok(stored) => {
            for (job, firsts) in group.into_iter().zip(is_first) {
                let flags = job
                    .events
                    .iter()
                    .zip(firsts)
                    .map(|(e, first)| first && stored.contains(&e.event_id))
                    .collect();
                let _ = job.reply.send(Ok(flags));
            }
        }
        Err((error, false)) if group.len() > 1 => {
            // One bad batch must not fail its neighbours: write each job on its own.
            // (Not when the database is down: each would only wait to fail.)
            tracing::warn!(jobs = group.len(), %error, "writing the group's jobs one by one");
            for job in group {
                Box::pin(flush(target, vec![job], on_commit, first_seen)).await;
            }
        }
        Err((error, _)) => {
            for job in group {
                let _ = job.reply.send(Err(error.clone()));
            }
        }
    }
}
