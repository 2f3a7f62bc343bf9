//! The event writer: one task owns all event writes (group commit). Handlers hand it a
//! batch and await the commit, so a `202` is only ever sent for events that are in the
//! database. While one transaction runs, new batches queue up and go into the next
//! one together, which is what makes a single writer fast (and SQLite happy).

use std::collections::HashSet;
use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot, Mutex, Notify};
use tokio::task::JoinHandle;

use super::NewEvent;
use crate::storage::events::store_events;

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
}

struct Job {
    events: Vec<NewEvent>,
    reply: oneshot::Sender<Result<Vec<bool>, WriteError>>,
}

/// Called with the events of each committed group that were new.
pub type OnCommit = Arc<dyn Fn(&[&NewEvent]) + Send + Sync>;

pub struct EventWriter {
    sender: mpsc::Sender<Job>,
    shutdown: Arc<Notify>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl EventWriter {
    pub fn start(db: DatabaseConnection, on_commit: OnCommit) -> EventWriter {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let shutdown = Arc::new(Notify::new());
        let task = tokio::spawn(run(db, receiver, shutdown.clone(), on_commit));
        EventWriter {
            sender,
            shutdown,
            task: Mutex::new(Some(task)),
        }
    }

    /// Stores `events`; per event, `true` if new, `false` if its id was already stored.
    /// Returns only after the transaction holding them has committed.
    pub async fn write(&self, events: Vec<NewEvent>) -> Result<Vec<bool>, WriteError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Job { events, reply })
            .await
            .map_err(|_| WriteError::Closed)?;
        answer.await.map_err(|_| WriteError::Closed)?
    }

    /// Flushes what is queued and stops the task. Called after the server has stopped
    /// accepting requests and finished the ones in flight.
    pub async fn close(&self) {
        self.shutdown.notify_one();
        if let Some(task) = self.task.lock().await.take() {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "event writer task failed");
            }
        }
    }
}

async fn run(
    db: DatabaseConnection,
    mut receiver: mpsc::Receiver<Job>,
    shutdown: Arc<Notify>,
    on_commit: OnCommit,
) {
    loop {
        let first = tokio::select! {
            biased;
            job = receiver.recv() => match job {
                Some(job) => job,
                None => break,
            },
            _ = shutdown.notified() => {
                receiver.close();
                while let Ok(job) = receiver.try_recv() {
                    flush(&db, vec![job], &on_commit).await;
                }
                tracing::info!("event writer flushed and stopped");
                break;
            }
        };
        let mut group = vec![first];
        let mut size = group[0].events.len();
        while size < GROUP_LIMIT {
            match receiver.try_recv() {
                Ok(job) => {
                    size += job.events.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        flush(&db, group, &on_commit).await;
    }
}

async fn flush(db: &DatabaseConnection, group: Vec<Job>, on_commit: &OnCommit) {
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
        let mut result = store_events(db, &unique).await;
        if let Err(e) = &result {
            // One retry covers a dropped connection or a serialisation failure.
            tracing::warn!(error = %e, "event group failed; retrying once");
            result = store_events(db, &unique).await;
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
            Err(e) => {
                tracing::error!(error = %e, events = unique.len(), "event group not stored");
                Err(WriteError::Unavailable)
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
        Err(error) => {
            for job in group {
                let _ = job.reply.send(Err(error.clone()));
            }
        }
    }
}
