//! Person resolution with two cache levels: moka on this node, Redis shared by all
//! nodes (when configured), then the database. An identify, merge or erasure deletes
//! the shared entries of every identifier involved and tells every node, over Redis
//! pub/sub, to drop its own — so a merge made on one node is seen on all of them at once.
//!
//! Entries are keyed by a 128-bit hash of (type, value): identifiers never appear in
//! Redis keys or invalidation messages.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

use super::graph::Identifier;
use super::model::PersonRecord;
use crate::metrics::Metrics;
use crate::storage::identity as store;
use crate::storage::StorageError;

/// Redis pub/sub channel for people changes.
pub const PEOPLE_CHANNEL: &str = "tailor:people";

type Entry = Option<Arc<PersonRecord>>;

/// What changed: caches drop these identifiers' entries and every entry of these people.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeopleChanged {
    pub people: Vec<String>,
    /// Hex keys of the identifiers (see [`key_of`]).
    pub keys: Vec<String>,
}

impl PeopleChanged {
    /// The change for these people and identifiers; lookups by person id count as
    /// identifiers too (their Redis entries must go as well).
    pub fn new(people: Vec<String>, identifiers: &[Identifier]) -> PeopleChanged {
        let by_id: Vec<Identifier> = people
            .iter()
            .map(|id| Identifier::new(super::PERSON_ID, id))
            .collect();
        let mut keys: Vec<String> = identifiers
            .iter()
            .chain(&by_id)
            .map(Identifier::digest)
            .collect();
        keys.sort();
        keys.dedup();
        PeopleChanged { people, keys }
    }
}

/// The cache key of an identifier.
pub fn key_of(id: &Identifier) -> u128 {
    id.digest128()
}

fn redis_key(key: u128) -> String {
    format!("tailor:person:{key:032x}")
}

/// How long after a change its shared entries are deleted (and nodes told) once more: a
/// node that read the database just before the change may have stored the old person
/// in Redis just after the first delete.
const SECOND_DELETE_AFTER: Duration = Duration::from_millis(500);

pub struct PersonDirectory {
    /// Bumped by every change this node hears of: a load that started before a change
    /// does not keep (or share) what it read.
    epoch: std::sync::atomic::AtomicU64,
    db: DatabaseConnection,
    local: moka::future::Cache<u128, Entry>,
    redis: Option<redis::aio::ConnectionManager>,
    ttl: Duration,
    metrics: Arc<Metrics>,
}

impl PersonDirectory {
    pub fn new(
        db: DatabaseConnection,
        redis: Option<redis::aio::ConnectionManager>,
        ttl: Duration,
        capacity: u64,
        metrics: Arc<Metrics>,
    ) -> PersonDirectory {
        PersonDirectory {
            epoch: std::sync::atomic::AtomicU64::new(0),
            db,
            local: moka::future::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(ttl)
                .support_invalidation_closures()
                .build(),
            redis,
            ttl,
            metrics,
        }
    }

    /// The person an identifier belongs to; `None` when the graph does not know it.
    pub async fn resolve(&self, id: &Identifier) -> Result<Entry, StorageError> {
        let key = key_of(id);
        if let Some(entry) = self.local.get(&key).await {
            self.metrics
                .person_lookups
                .with_label_values(&["memory"])
                .inc();
            return Ok(entry);
        }
        let started = self.epoch.load(Ordering::Acquire);
        let entry = self
            .local
            .try_get_with(key, self.load(key, id, started))
            .await
            .map_err(|e: Arc<StorageError>| {
                StorageError::Db(sea_orm::DbErr::Custom(e.to_string()))
            })?;
        if self.epoch.load(Ordering::Acquire) != started {
            self.local.invalidate(&key).await;
        }
        Ok(entry)
    }

    async fn load(&self, key: u128, id: &Identifier, started: u64) -> Result<Entry, StorageError> {
        if let Some(conn) = &self.redis {
            let mut conn = conn.clone();
            let cached: Result<Option<String>, _> = redis::cmd("GET")
                .arg(redis_key(key))
                .query_async(&mut conn)
                .await;
            match cached {
                Ok(Some(text)) => {
                    if let Ok(entry) = serde_json::from_str::<Option<PersonRecord>>(&text) {
                        self.metrics
                            .person_lookups
                            .with_label_values(&["redis"])
                            .inc();
                        return Ok(entry.map(Arc::new));
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "redis person lookup failed; using the database")
                }
            }
        }
        let entry = if id.kind == super::PERSON_ID {
            store::find_by_id(&self.db, &id.value).await?
        } else {
            store::find_by_identifier(&self.db, id).await?
        };
        self.metrics
            .person_lookups
            .with_label_values(&["database"])
            .inc();
        let changed_meanwhile = self.epoch.load(Ordering::Acquire) != started;
        if let (Some(conn), false) = (&self.redis, changed_meanwhile) {
            let mut conn = conn.clone();
            let text = serde_json::to_string(&entry).unwrap_or_default();
            // NX: a fresher value written by another node is not overwritten with ours. A
            // change that raced this read is cleaned up by its second delete.
            let stored: Result<Option<String>, _> = redis::cmd("SET")
                .arg(redis_key(key))
                .arg(text)
                .arg("EX")
                .arg(self.ttl.as_secs().max(1))
                .arg("NX")
                .query_async(&mut conn)
                .await;
            if let Err(e) = stored {
                tracing::warn!(error = %e, "redis person store failed");
            }
        }
        Ok(entry.map(Arc::new))
    }

    /// The person keys of many anonymous ids at once (an event batch): cached ones from
    /// memory, the rest with one query; ids the graph does not know keep their own key
    /// and are remembered as unknown.
    pub async fn anonymous_keys(
        &self,
        ids: &[&str],
    ) -> Result<std::collections::HashMap<String, String>, StorageError> {
        let mut keys = std::collections::HashMap::new();
        let mut misses: Vec<&str> = Vec::new();
        for id in ids {
            let identifier = Identifier::new("anonymous_id", id);
            match self.local.get(&key_of(&identifier)).await {
                Some(Some(record)) => {
                    keys.insert((*id).to_string(), record.sticky_key.clone());
                }
                Some(None) => {}
                None => misses.push(id),
            }
        }
        if misses.is_empty() {
            return Ok(keys);
        }
        self.metrics
            .person_lookups
            .with_label_values(&["database"])
            .inc_by(misses.len() as u64);
        let known: std::collections::HashMap<String, String> =
            store::owners(&self.db, "anonymous_id", &misses)
                .await?
                .into_iter()
                .collect();
        for id in misses {
            let identifier = Identifier::new("anonymous_id", id);
            if known.contains_key(id) {
                if let Some(record) = self.resolve(&identifier).await? {
                    keys.insert(id.to_string(), record.sticky_key.clone());
                }
            } else {
                self.local.insert(key_of(&identifier), None).await;
            }
        }
        Ok(keys)
    }

    /// Drops this node's entries for a change (from this node or another).
    pub fn forget(&self, change: &PeopleChanged) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let keys: Vec<u128> = change
            .keys
            .iter()
            .filter_map(|k| u128::from_str_radix(k, 16).ok())
            .collect();
        for key in &keys {
            self.local
                .invalidate_entries_if({
                    let key = *key;
                    move |k, _| *k == key
                })
                .ok();
        }
        if !change.people.is_empty() {
            let people = change.people.clone();
            self.local
                .invalidate_entries_if(move |_, entry| {
                    entry
                        .as_ref()
                        .is_some_and(|p| people.iter().any(|id| *id == p.id))
                })
                .ok();
        }
    }

    /// Makes a change visible everywhere: shared entries deleted, every node told, and
    /// both once more shortly after (see [`SECOND_DELETE_AFTER`]).
    pub async fn announce(&self, change: PeopleChanged) {
        self.forget(&change);
        let Some(conn) = self.redis.clone() else {
            return;
        };
        publish(conn.clone(), &change).await;
        tokio::spawn(async move {
            tokio::time::sleep(SECOND_DELETE_AFTER).await;
            publish(conn, &change).await;
        });
    }
}

/// Deletes the shared entries of a change and tells every node (this one included).
async fn publish(mut conn: redis::aio::ConnectionManager, change: &PeopleChanged) {
    if !change.keys.is_empty() {
        let mut del = redis::cmd("DEL");
        for key in &change.keys {
            del.arg(format!("tailor:person:{key}"));
        }
        let deleted: Result<i64, _> = del.query_async(&mut conn).await;
        if let Err(e) = deleted {
            tracing::warn!(error = %e, "could not delete shared person entries");
        }
    }
    let payload = serde_json::to_string(change).unwrap_or_default();
    let sent: Result<i64, _> = redis::cmd("PUBLISH")
        .arg(PEOPLE_CHANNEL)
        .arg(payload)
        .query_async(&mut conn)
        .await;
    if let Err(e) = sent {
        tracing::warn!(error = %e, "could not publish a people change; other nodes catch up within the cache TTL");
    }
}
