//! Person resolution with two cache levels: moka on this node, Redis shared by all
//! nodes (when configured), then the database. An identify, merge or erasure deletes
//! the shared entries of every identifier involved and tells every node, over Redis
//! pub/sub, to drop its own — so a merge made on one node is seen on all of them at once.
//!
//! Entries are keyed by a 128-bit hash of (type, value): identifiers never appear in
//! Redis keys or invalidation messages.
//!
//! Every Redis and database call goes through its dependency's timeout and breaker
//! ([`crate::resilience`]). A change that could not be sent to Redis waits in an outbox
//! and is sent when the listener subscribes again; and a node that (re)subscribes drops
//! its whole local cache, since it may have missed changes meanwhile
//! ([`PersonDirectory::catch_up`]).
//!
//! In front of all three, a filter of the identifiers the graph holds
//! ([`super::known`]) answers "unknown" for a visitor nobody has identified without any
//! I/O; it learns from the same announcements and is rebuilt from the database whenever
//! the node (re)subscribes.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};

use super::graph::Identifier;
use super::known::KnownIdentifiers;
use super::model::PersonRecord;
use crate::metrics::Metrics;
use crate::redis_link::{RedisLink, ANNOUNCE_TIMEOUT};
use crate::resilience::Dependency;
use crate::storage::identity as store;
use crate::storage::StorageError;

/// Redis pub/sub channel for people changes.
/// Versioned with the key scheme: nodes that name people with another digest (before the
/// HMAC pseudonyms) neither read nor invalidate these entries, so a rolling upgrade
/// never mixes the two.
pub const PEOPLE_CHANNEL: &str = "tailor:people:v2";

type Entry = Option<Arc<PersonRecord>>;

/// What changed: caches drop these identifiers' entries and every entry of these people.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PeopleChanged {
    pub people: Vec<String>,
    /// Hex keys of the identifiers (see [`key_of`]).
    pub keys: Vec<String>,
    /// Every entry: sent when more changes were missed than the outbox holds.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub everything: bool,
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
        PeopleChanged {
            people,
            keys,
            everything: false,
        }
    }
}

/// Changes not yet sent to Redis (it was unreachable), sent when it is back.
#[derive(Default)]
struct Outbox {
    changes: Vec<PeopleChanged>,
    /// More changes than [`OUTBOX_LIMIT`] were waiting: every shared entry must go.
    overflowed: bool,
}

const OUTBOX_LIMIT: usize = 10_000;

/// The cache key of an identifier.
pub fn key_of(id: &Identifier) -> u128 {
    id.digest128()
}

fn redis_key(key: u128) -> String {
    format!("tailor:person:v2:{key:032x}")
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
    redis: Option<RedisLink>,
    database: Arc<Dependency>,
    outbox: Mutex<Outbox>,
    ttl: Duration,
    metrics: Arc<Metrics>,
    /// Identifiers the graph holds: a miss here is an unknown visitor, no I/O.
    known: KnownIdentifiers,
    /// One rebuild of `known` at a time (two would each take the other's learning).
    rebuilding: tokio::sync::Mutex<()>,
    /// A rebuild is asked for and has not begun yet.
    rebuild_asked: std::sync::atomic::AtomicBool,
}

/// Identifiers read per query when the filter is rebuilt.
const REBUILD_PAGE: u64 = 10_000;

impl PersonDirectory {
    pub fn new(
        db: DatabaseConnection,
        database: Arc<Dependency>,
        redis: Option<RedisLink>,
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
            database,
            outbox: Mutex::new(Outbox::default()),
            ttl,
            metrics,
            known: KnownIdentifiers::new(),
            rebuilding: tokio::sync::Mutex::new(()),
            rebuild_asked: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether the filter of known identifiers is in use (built, and no announcement
    /// may have been missed since).
    pub fn knows_the_graph(&self) -> bool {
        self.known.is_trusted()
    }

    /// Rebuilds the filter of known identifiers from the database, in the background:
    /// at start, after every (re)subscription, and when it has outgrown its size. Until it
    /// is done lookups take the caches and the database, as without it.
    pub fn rebuild_known(self: &Arc<Self>) {
        if self.rebuild_asked.swap(true, Ordering::AcqRel) {
            return; // one is asked for and will begin after this call anyway
        }
        let directory = self.clone();
        tokio::spawn(async move {
            let _one_at_a_time = directory.rebuilding.lock().await;
            directory.rebuild_asked.store(false, Ordering::Release);
            let mut pause = Duration::from_millis(250);
            loop {
                match directory.read_known().await {
                    Ok(count) => {
                        tracing::info!(identifiers = count, "filter of known identifiers built");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read the identifiers for the filter of known ones; retrying");
                        tokio::time::sleep(pause).await;
                        pause = (pause * 2).min(Duration::from_secs(30));
                    }
                }
            }
        });
    }

    /// One full read of the identifiers into a new filter (see [`super::known`]).
    async fn read_known(&self) -> Result<usize, StorageError> {
        let expected = self
            .database
            .call(store::identifier_count(&self.db), StorageError::is_outage)
            .await?;
        let mut rebuild = self.known.begin_rebuild(expected as usize);
        let mut after: Option<(String, String)> = None;
        let mut count = 0;
        loop {
            let page = self
                .database
                .call(
                    store::identifiers_page(&self.db, after.as_ref(), REBUILD_PAGE),
                    StorageError::is_outage,
                )
                .await?;
            for (kind, value) in &page {
                rebuild.add(key_of(&Identifier::new(kind, value)));
            }
            count += page.len();
            if (page.len() as u64) < REBUILD_PAGE {
                break;
            }
            after = page.into_iter().last();
        }
        rebuild.finish();
        self.metrics.known_identifiers.set(count as i64);
        self.metrics
            .known_identifiers_trusted
            .set(i64::from(self.known.is_trusted()));
        Ok(count)
    }

    /// Learns identifiers the graph holds; a filter that outgrew its size is rebuilt.
    fn learn(self: &Arc<Self>, keys: impl IntoIterator<Item = u128>) {
        if self.known.learn(keys) {
            self.rebuild_known();
        }
    }

    /// The person an identifier belongs to; `None` when the graph does not know it.
    pub async fn resolve(&self, id: &Identifier) -> Result<Entry, StorageError> {
        let key = key_of(id);
        if id.kind != super::PERSON_ID && self.known.surely_unknown(key) {
            self.metrics
                .person_lookups
                .with_label_values(&["filter"])
                .inc();
            return Ok(None);
        }
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
                if e.is_outage() {
                    StorageError::Unavailable(e.to_string())
                } else {
                    StorageError::Db(sea_orm::DbErr::Custom(e.to_string()))
                }
            })?;
        if self.epoch.load(Ordering::Acquire) != started {
            self.local.invalidate(&key).await;
        }
        Ok(entry)
    }

    async fn load(&self, key: u128, id: &Identifier, started: u64) -> Result<Entry, StorageError> {
        if let Some(link) = &self.redis {
            let cached: Result<Option<String>, _> =
                link.query(redis::cmd("GET").arg(redis_key(key))).await;
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
                    tracing::debug!(error = %e, "redis person lookup failed; using the database")
                }
            }
        }
        let entry = if id.kind == super::PERSON_ID {
            self.database
                .call(
                    store::find_by_id(&self.db, &id.value),
                    StorageError::is_outage,
                )
                .await?
        } else {
            self.database
                .call(
                    store::find_by_identifier(&self.db, id),
                    StorageError::is_outage,
                )
                .await?
        };
        self.metrics
            .person_lookups
            .with_label_values(&["database"])
            .inc();
        let changed_meanwhile = self.epoch.load(Ordering::Acquire) != started;
        // Only people are shared: "unknown" stays in this node's bounded cache, or a
        // stream of made-up anonymous ids would fill Redis with a key each.
        if let (Some(link), false, true) = (&self.redis, changed_meanwhile, entry.is_some()) {
            let text = serde_json::to_string(&entry).unwrap_or_default();
            // NX: a fresher value written by another node is not overwritten with ours. A
            // change that raced this read is cleaned up by its second delete.
            let stored: Result<Option<String>, _> = link
                .query(
                    redis::cmd("SET")
                        .arg(redis_key(key))
                        .arg(text)
                        .arg("EX")
                        .arg(self.ttl.as_secs().max(1))
                        .arg("NX"),
                )
                .await;
            if let Err(e) = stored {
                tracing::debug!(error = %e, "redis person store failed");
            }
        }
        if entry.is_some() {
            // Read from the graph: known, whatever this node has heard so far.
            self.known.learn([key]);
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
            let key = key_of(&identifier);
            if self.known.surely_unknown(key) {
                continue;
            }
            match self.local.get(&key).await {
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
        let known: std::collections::HashMap<String, String> = self
            .database
            .call(
                store::owners(&self.db, "anonymous_id", &misses),
                StorageError::is_outage,
            )
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

    /// Drops this node's entries for a change (from this node or another), and learns
    /// its identifiers (some may be new to the graph).
    ///
    /// By key only: a change names every identifier of every person it touches (all
    /// of the survivor's after the call, merged ones included, and each person's id as
    /// a lookup key), and an entry exists only under an identifier its person had, so
    /// those keys are every entry the change makes stale. (A scan for entries by
    /// person, as this once also did, costs a pass over the whole cache per change.)
    pub async fn forget(self: &Arc<Self>, change: &PeopleChanged) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        if change.everything {
            self.local.invalidate_all();
            return;
        }
        let keys: Vec<u128> = change
            .keys
            .iter()
            .filter_map(|k| u128::from_str_radix(k, 16).ok())
            .collect();
        self.learn(keys.iter().copied());
        for key in &keys {
            self.local.invalidate(key).await;
        }
    }

    /// Makes a change visible everywhere: shared entries deleted, every node told, and
    /// both once more shortly after (see [`SECOND_DELETE_AFTER`]).
    pub async fn announce(self: &Arc<Self>, change: PeopleChanged) {
        self.forget(&change).await;
        let Some(link) = self.redis.clone() else {
            return;
        };
        // Sent before the caller is answered (so another node asked next already knows),
        // but only within a request's Redis bound: past it, the change is held and sent
        // again beside the requests, with more patience.
        let bound = link.dependency().timeout();
        match self.publish(&link, &change, bound).await {
            Ok(()) => self.send_again_later(link, change),
            Err(reason) => {
                tracing::debug!(
                    reason,
                    "could not send a people change to Redis; it waits in the outbox"
                );
                self.hold(change);
            }
        }
    }

    /// The second delete and announcement (see [`SECOND_DELETE_AFTER`]).
    fn send_again_later(self: &Arc<Self>, link: RedisLink, change: PeopleChanged) {
        let directory = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(SECOND_DELETE_AFTER).await;
            if directory
                .publish(&link, &change, ANNOUNCE_TIMEOUT)
                .await
                .is_err()
            {
                directory.hold(change);
            }
        });
    }

    /// [`publish`], counted.
    async fn publish(
        &self,
        link: &RedisLink,
        change: &PeopleChanged,
        bound: Duration,
    ) -> Result<(), String> {
        publish(link, change, bound).await?;
        self.metrics.people_changes_sent.inc();
        Ok(())
    }

    fn hold(&self, change: PeopleChanged) {
        let mut outbox = self.outbox.lock().unwrap_or_else(|e| e.into_inner());
        if outbox.changes.is_empty() && !outbox.overflowed {
            tracing::warn!("people changes wait for Redis to be sent to the other nodes");
        }
        if outbox.changes.len() < OUTBOX_LIMIT {
            outbox.changes.push(change);
        } else {
            outbox.overflowed = true;
        }
        self.metrics
            .people_changes_held
            .set(outbox.changes.len() as i64);
    }

    /// The subscription ended: announcements may be missed from now on, so the filter
    /// of known identifiers is not believed until [`PersonDirectory::catch_up`] rebuilds it.
    pub fn stop_trusting(&self) {
        self.known.distrust();
        self.metrics.known_identifiers_trusted.set(0);
    }

    /// After (re)subscribing: drops every local entry (changes announced while this
    /// node was not listening were missed), rebuilds the filter of known identifiers,
    /// then sends what waits in the outbox.
    pub async fn catch_up(self: &Arc<Self>) {
        self.stop_trusting();
        self.forget(&PeopleChanged {
            everything: true,
            ..PeopleChanged::default()
        })
        .await;
        self.rebuild_known();
        self.send_held().await;
    }

    /// Sends the changes held while Redis could not be reached, once it can be again
    /// (the listener calls this every second, and after every subscription).
    pub async fn send_held(self: &Arc<Self>) {
        let Some(link) = &self.redis else {
            return;
        };
        if !link.dependency().available() {
            return;
        }
        let Outbox {
            changes,
            overflowed,
        } = std::mem::take(&mut *self.outbox.lock().unwrap_or_else(|e| e.into_inner()));
        if changes.is_empty() && !overflowed {
            return;
        }
        tracing::info!(
            changes = changes.len(),
            overflowed,
            "sending held people changes"
        );
        self.metrics.people_changes_held.set(0);
        let everything = overflowed.then(|| PeopleChanged {
            everything: true,
            ..PeopleChanged::default()
        });
        for change in changes.into_iter().chain(everything) {
            match self.publish(link, &change, ANNOUNCE_TIMEOUT).await {
                Ok(()) => self.send_again_later(link.clone(), change),
                Err(_) => self.hold(change),
            }
        }
    }
}

/// Deletes the shared entries of a change and tells every node (this one included).
async fn publish(link: &RedisLink, change: &PeopleChanged, bound: Duration) -> Result<(), String> {
    if change.everything {
        forget_every_shared_entry(link, bound).await?;
    }
    let payload = serde_json::to_string(change).unwrap_or_default();
    // The shared entries' delete and the announcement: one round trip.
    let mut pipeline = redis::pipe();
    if !change.everything && !change.keys.is_empty() {
        let del = pipeline.cmd("DEL");
        for key in &change.keys {
            del.arg(format!("tailor:person:v2:{key}"));
        }
        del.ignore();
    }
    pipeline.cmd("PUBLISH").arg(PEOPLE_CHANNEL).arg(payload);
    let _: (i64,) = link
        .pipeline_within(&pipeline, bound)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Deletes every shared person entry, a page of keys at a time.
async fn forget_every_shared_entry(link: &RedisLink, bound: Duration) -> Result<(), String> {
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = link
            .query_within(
                redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg("tailor:person:v2:*")
                    .arg("COUNT")
                    .arg(1000),
                bound,
            )
            .await
            .map_err(|e| e.to_string())?;
        if !keys.is_empty() {
            let _: i64 = link
                .query_within(redis::cmd("UNLINK").arg(&keys), bound)
                .await
                .map_err(|e| e.to_string())?;
        }
        if next == 0 {
            return Ok(());
        }
        cursor = next;
    }
}
