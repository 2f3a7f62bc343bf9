//! Identify calls go through a queue to a few writer tasks that write what has gathered
//! as one group ([`crate::storage::identity::identify_group`]): under load, a
//! transaction carries many calls for the round trips of one. A call is answered only
//! after its group has committed (or after it ran on its own, for merges and
//! conflicts), with what it would have been answered alone.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot, Mutex};

use super::graph::IdentifierTypes;
use super::model::{IdentifyCommand, IdentifyOutcome};
use crate::storage::identity::{identify_group, IdentifyError};
use crate::storage::StorageError;

/// Calls per group, at most: a group's statements stay few and short.
const GROUP_LIMIT: usize = 64;
/// Calls that may wait before callers are told to come back later.
const QUEUE_DEPTH: usize = 4096;

type Reply = oneshot::Sender<Result<IdentifyOutcome, IdentifyError>>;

struct Job {
    command: IdentifyCommand,
    reply: Reply,
}

pub struct IdentifyQueue {
    sender: mpsc::Sender<Job>,
}

impl IdentifyQueue {
    /// `writers` tasks take turns gathering groups: one for SQLite (it has one writer
    /// anyway), two for PostgreSQL so one group gathers while another is written.
    pub fn start(
        db: DatabaseConnection,
        types: Arc<IdentifierTypes>,
        writers: usize,
    ) -> IdentifyQueue {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..writers.max(1) {
            tokio::spawn(run(db.clone(), types.clone(), receiver.clone()));
        }
        IdentifyQueue { sender }
    }

    /// Links, traits and consents as [`crate::storage::identity::identify`] would.
    pub async fn identify(
        &self,
        command: IdentifyCommand,
    ) -> Result<IdentifyOutcome, IdentifyError> {
        let (reply, answer) = oneshot::channel();
        self.sender.try_send(Job { command, reply }).map_err(|e| {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "too many identify calls are waiting",
                mpsc::error::TrySendError::Closed(_) => "the server is shutting down",
            };
            IdentifyError::Storage(StorageError::Unavailable(why.into()))
        })?;
        answer.await.map_err(|_| {
            IdentifyError::Storage(StorageError::Unavailable(
                "the identify writer failed on this call's group".into(),
            ))
        })?
    }
}

async fn run(
    db: DatabaseConnection,
    types: Arc<IdentifierTypes>,
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
) {
    loop {
        // Gather under the lock, write without it: the next group gathers meanwhile.
        let group = {
            let mut queue = receiver.lock().await;
            let Some(first) = queue.recv().await else {
                break;
            };
            let mut group = vec![first];
            while group.len() < GROUP_LIMIT {
                match queue.try_recv() {
                    Ok(job) => group.push(job),
                    Err(_) => break,
                }
            }
            group
        };
        // A panic must not take the writer down: the group's callers get an error
        // (their reply senders drop), the next group is written as usual.
        let written = AssertUnwindSafe(write(&db, &types, group))
            .catch_unwind()
            .await;
        if written.is_err() {
            tracing::error!("identify writer panicked on a group; its calls were answered 503");
        }
    }
}

async fn write(db: &DatabaseConnection, types: &IdentifierTypes, group: Vec<Job>) {
    let commands: Vec<&IdentifyCommand> = group.iter().map(|job| &job.command).collect();
    let started = std::time::Instant::now();
    let answers = identify_group(db, types, &commands).await;
    tracing::debug!(
        calls = commands.len(),
        ms = started.elapsed().as_millis() as u64,
        "identify group written"
    );
    for (job, answer) in group.into_iter().zip(answers) {
        let _ = job.reply.send(answer);
    }
}
