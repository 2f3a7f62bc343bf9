//! Engagement tables: the event log (exactly once by primary key), the daily rollups and
//! the velocity histogram, all written in one transaction per group commit. Reading the
//! rollups back is [`super::rollups`]' (re-exported here).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, OnConflict, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

pub use super::rollups::{
    sum_arrivals, sum_by_segment, sum_revenue, sum_rollups, sum_sources, sum_traffic, sum_velocity,
    KeyedCounts, RollupSum, SegmentSums, ROLLUP_DIMENSIONS,
};
use super::StorageError;
use crate::engagement::{
    arrival_counts, rollup, source_counts, traffic_counts, velocity_bucket, Counter, Counts,
    EventKind, NewEvent, RollupKey,
};

/// Rows per statement. Well under SQLite's 32,766 and PostgreSQL's 65,535 parameters,
/// and small enough (about 30 KB) that a statement leaves in one loopback TCP segment:
/// sqlx 0.9.0 does not set TCP_NODELAY, and a statement split over segments waits for
/// the server's delayed ACK (40 ms) before its tail is sent.
const CHUNK: usize = 40;

pub(super) fn name(n: &str) -> Alias {
    Alias::new(n)
}

/// (person key, placement, variant) → that person's first impression of the variant.
pub type FirstImpressionCache = moka::sync::Cache<(String, String, String), DateTime<Utc>>;

/// Stores new events and updates the rollups; returns, per event, whether it was new
/// (`false`: its event id was already stored — a duplicate). `first_seen` spares the
/// database the first-impression work it already knows; it is updated only after the
/// commit, so a rolled-back group leaves it untouched.
pub async fn store_events(
    db: &DatabaseConnection,
    events: &[&NewEvent],
    first_seen: &FirstImpressionCache,
) -> Result<Vec<bool>, StorageError> {
    let started = std::time::Instant::now();
    let tx = db.begin().await?;
    let received_at = Utc::now();
    let inserted = insert_events(&tx, events, received_at).await?;
    let inserted_in = started.elapsed();
    let new_events: Vec<&NewEvent> = events
        .iter()
        .copied()
        .filter(|e| inserted.contains(&e.event_id))
        .collect();
    let rollup = rollup(new_events.iter().copied());
    upsert_daily(&tx, &rollup.daily).await?;
    upsert_revenue(&tx, &rollup.revenue).await?;
    upsert_counts(
        &tx,
        "source_daily",
        &["source", "kind"],
        source_counts(new_events.iter().copied())
            .into_iter()
            .map(|((key, source, kind), n)| (key, vec![source, kind.to_string()], n))
            .collect(),
    )
    .await?;
    upsert_counts(
        &tx,
        "arrivals_daily",
        &["kind"],
        arrival_counts(new_events.iter().copied(), received_at.date_naive())
            .into_iter()
            .map(|((key, kind), n)| (key, vec![kind.to_string()], n))
            .collect(),
    )
    .await?;
    upsert_counts(
        &tx,
        "traffic_daily",
        &["traffic"],
        traffic_counts(new_events.iter().copied())
            .into_iter()
            .map(|((key, class), n)| (key, vec![class.as_str().to_string()], n))
            .collect(),
    )
    .await?;
    let rolled_up_in = started.elapsed();
    // Bots do not set first impressions or velocity either: both are judged.
    let judged: Vec<&NewEvent> = new_events
        .iter()
        .copied()
        .filter(|e| e.traffic.is_judged())
        .collect();
    let mut learned = upsert_first_impressions(&tx, &judged, first_seen).await?;
    learned.extend(upsert_velocity(&tx, &judged, first_seen, &learned).await?);
    let velocity_in = started.elapsed();
    tx.commit().await?;
    for (key, at) in learned {
        // Two writers may learn the same key: the earlier time wins.
        if first_seen.get(&key).is_none_or(|known| at < known) {
            first_seen.insert(key, at);
        }
    }
    tracing::debug!(
        events = events.len(),
        insert_ms = inserted_in.as_millis() as u64,
        rollup_ms = (rolled_up_in - inserted_in).as_millis() as u64,
        velocity_ms = (velocity_in - rolled_up_in).as_millis() as u64,
        commit_ms = (started.elapsed() - velocity_in).as_millis() as u64,
        "event group stored"
    );
    Ok(events
        .iter()
        .map(|e| inserted.contains(&e.event_id))
        .collect())
}

/// The columns of an event row, in the order both inserts write them.
const EVENT_COLUMNS: [&str; 20] = [
    "event_id",
    "kind",
    "occurred_at",
    "received_at",
    "placement",
    "variant",
    "version",
    "channel",
    "device",
    "locale",
    "person_key",
    "revenue_minor",
    "currency",
    "feedback_kind",
    "score",
    "comment",
    "link",
    "segments",
    "source",
    "traffic",
];

/// Inserts the events that are new; returns their ids (a stored id is a duplicate).
async fn insert_events<C: ConnectionTrait>(
    tx: &C,
    events: &[&NewEvent],
    received_at: DateTime<Utc>,
) -> Result<HashSet<String>, StorageError> {
    if tx.get_database_backend() == DbBackend::Postgres {
        return insert_events_as_one_document(tx, events, received_at).await;
    }
    let mut inserted: HashSet<String> = HashSet::with_capacity(events.len());
    for chunk in events.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert
            .into_table(name("events"))
            .columns(EVENT_COLUMNS.map(name));
        for e in chunk {
            let r = EventRow::of(e);
            insert.values_panic([
                r.event_id.into(),
                r.kind.into(),
                r.occurred_at.into(),
                received_at.into(),
                r.placement.into(),
                r.variant.into(),
                (r.version as i32).into(),
                r.channel.into(),
                r.device.into(),
                r.locale.into(),
                r.person_key.into(),
                r.revenue_minor.into(),
                r.currency.into(),
                r.feedback_kind.into(),
                r.score.into(),
                r.comment.into(),
                r.link.into(),
                r.segments.into(),
                r.source.into(),
                r.traffic.into(),
            ]);
        }
        insert
            .on_conflict(OnConflict::column(name("event_id")).do_nothing().to_owned())
            .returning_col(name("event_id"));
        for row in tx.query_all(&insert).await? {
            inserted.insert(row.try_get::<String>("", "event_id")?);
        }
    }
    Ok(inserted)
}

/// PostgreSQL: rows go as one JSON parameter per statement, which
/// `json_populate_recordset` turns into `events` rows. A multi-row `VALUES` costs the
/// server an expression per value to plan (most of its time at 40 rows a statement);
/// a document is parsed once, and its SQL text is always the same prepared statement.
/// Documents stay under [`super::STATEMENT_BYTES`].
async fn insert_events_as_one_document<C: ConnectionTrait>(
    tx: &C,
    events: &[&NewEvent],
    received_at: DateTime<Utc>,
) -> Result<HashSet<String>, StorageError> {
    let mut inserted: HashSet<String> = HashSet::with_capacity(events.len());
    let mut document = Vec::with_capacity(super::STATEMENT_BYTES + 1024);
    let mut rows = events.iter().peekable();
    while rows.peek().is_some() {
        document.clear();
        document.push(b'[');
        while let Some(e) = rows.next_if(|_| document.len() < super::STATEMENT_BYTES) {
            if document.len() > 1 {
                document.push(b',');
            }
            serde_json::to_writer(&mut document, &EventRow::of(e)).map_err(|source| {
                StorageError::Document {
                    id: e.event_id.clone(),
                    source,
                }
            })?;
        }
        document.push(b']');
        // Only strings and numbers went in: valid UTF-8 by construction.
        let text = String::from_utf8_lossy(&document).into_owned();
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            INSERT_DOCUMENT.as_str(),
            [text.into(), received_at.into()],
        );
        for row in tx.query_all_raw(statement).await? {
            inserted.insert(row.try_get::<String>("", "event_id")?);
        }
    }
    Ok(inserted)
}

static INSERT_DOCUMENT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let selected = EVENT_COLUMNS
        .map(|c| match c {
            "received_at" => "$2".to_string(),
            c => format!("r.{c}"),
        })
        .join(", ");
    format!(
        "INSERT INTO events ({}) SELECT {selected} \
         FROM json_populate_recordset(NULL::events, $1::json) AS r \
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        EVENT_COLUMNS.join(", ")
    )
});

/// One event as an `events` row: the columns both inserts write (keys are the column
/// names, which is what `json_populate_recordset` reads).
#[derive(serde::Serialize)]
struct EventRow<'a> {
    event_id: &'a str,
    kind: &'static str,
    #[serde(serialize_with = "microseconds")]
    occurred_at: DateTime<Utc>,
    placement: &'a str,
    variant: &'a str,
    version: u32,
    channel: &'a str,
    device: &'a str,
    locale: &'a str,
    person_key: Option<&'a str>,
    revenue_minor: Option<i64>,
    currency: Option<&'a str>,
    feedback_kind: Option<&'static str>,
    score: Option<i16>,
    comment: Option<&'a str>,
    link: Option<&'a str>,
    segments: Option<&'a str>,
    source: &'a str,
    traffic: &'static str,
}

impl<'a> EventRow<'a> {
    fn of(e: &'a NewEvent) -> EventRow<'a> {
        let d = &e.decision;
        EventRow {
            event_id: &e.event_id,
            kind: e.kind.as_str(),
            occurred_at: e.occurred_at,
            placement: &d.placement,
            variant: &d.variant,
            version: d.version,
            channel: &d.channel,
            device: &d.device,
            locale: &d.locale,
            person_key: e.person_key.as_deref(),
            revenue_minor: e.revenue.as_ref().map(|r| r.minor),
            currency: e.revenue.as_ref().map(|r| r.currency.as_str()),
            feedback_kind: e.feedback.as_ref().map(|f| f.kind.as_str()),
            score: e.feedback.as_ref().map(|f| f.score),
            comment: e.feedback.as_ref().and_then(|f| f.comment.as_deref()),
            link: e.link.as_deref(),
            segments: (!d.segments.is_empty()).then_some(d.segments.as_str()),
            source: &e.source,
            traffic: e.traffic.as_str(),
        }
    }
}

/// A timestamp as PostgreSQL stores it (microseconds, UTC), so both inserts store the
/// same instant.
fn microseconds<S: serde::Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

fn key_values(key: &RollupKey) -> [SimpleExpr; 6] {
    [
        key.day.into(),
        key.placement.clone().into(),
        key.variant.clone().into(),
        key.channel.clone().into(),
        key.device.clone().into(),
        key.locale.clone().into(),
    ]
}

pub(super) const KEY_COLUMNS: [&str; 6] =
    ["day", "placement", "variant", "channel", "device", "locale"];

/// `ON CONFLICT (...) DO UPDATE SET c = table.c + excluded.c` for each counter.
pub(super) fn add_on_conflict(table: &str, keys: &[&str], counters: &[&str]) -> OnConflict {
    let mut conflict = OnConflict::columns(keys.iter().map(|k| name(k)));
    for counter in counters {
        conflict.value(
            name(counter),
            Expr::col((name(table), name(counter)))
                .add(Expr::col((name("excluded"), name(counter)))),
        );
    }
    conflict
}

async fn upsert_daily<C: ConnectionTrait>(
    tx: &C,
    daily: &HashMap<RollupKey, Counts>,
) -> Result<(), StorageError> {
    let mut rows: Vec<(&RollupKey, &Counts)> = daily.iter().collect();
    // A stable order keeps concurrent writers on other nodes from deadlocking.
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let counters = Counter::ALL.map(Counter::column);
    for chunk in rows.chunks(CHUNK / 4) {
        let mut insert = Query::insert();
        insert
            .into_table(name("engagement_daily"))
            .columns(KEY_COLUMNS.into_iter().chain(counters).map(name));
        for (key, counts) in chunk {
            let values: Vec<SimpleExpr> = key_values(key)
                .into_iter()
                .chain(Counter::ALL.map(|c| SimpleExpr::from(c.get(counts))))
                .collect();
            insert.values_panic(values);
        }
        insert.on_conflict(add_on_conflict("engagement_daily", &KEY_COLUMNS, &counters));
        tx.execute(&insert).await?;
    }
    Ok(())
}

/// Adds `events` counts to a rollup keyed by the decision's day and dimensions plus
/// `extra_keys` (rows: key, extra key values, count).
async fn upsert_counts<C: ConnectionTrait>(
    tx: &C,
    table: &str,
    extra_keys: &[&str],
    mut rows: Vec<(RollupKey, Vec<String>, i64)>,
) -> Result<(), StorageError> {
    // A stable order keeps concurrent writers from deadlocking.
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let keys: Vec<&str> = KEY_COLUMNS.iter().chain(extra_keys).copied().collect();
    for chunk in rows.chunks(CHUNK / 4) {
        let mut insert = Query::insert();
        insert
            .into_table(name(table))
            .columns(keys.iter().copied().chain(["events"]).map(name));
        for (key, extra, count) in chunk {
            let values: Vec<SimpleExpr> = key_values(key)
                .into_iter()
                .chain(extra.iter().map(|v| v.clone().into()))
                .chain([(*count).into()])
                .collect();
            insert.values_panic(values);
        }
        insert.on_conflict(add_on_conflict(table, &keys, &["events"]));
        tx.execute(&insert).await?;
    }
    Ok(())
}

async fn upsert_revenue<C: ConnectionTrait>(
    tx: &C,
    revenue: &HashMap<(RollupKey, String), (i64, i64)>,
) -> Result<(), StorageError> {
    let mut rows: Vec<_> = revenue.iter().collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let keys: Vec<&str> = KEY_COLUMNS.iter().copied().chain(["currency"]).collect();
    for chunk in rows.chunks(CHUNK / 4) {
        let mut insert = Query::insert();
        insert.into_table(name("revenue_daily")).columns(
            keys.iter()
                .copied()
                .chain(["conversions", "amount_minor"])
                .map(name),
        );
        for ((key, currency), (conversions, amount)) in chunk {
            let values: Vec<SimpleExpr> = key_values(key)
                .into_iter()
                .chain([
                    currency.clone().into(),
                    (*conversions).into(),
                    (*amount).into(),
                ])
                .collect();
            insert.values_panic(values);
        }
        insert.on_conflict(add_on_conflict(
            "revenue_daily",
            &keys,
            &["conversions", "amount_minor"],
        ));
        tx.execute(&insert).await?;
    }
    Ok(())
}

type FirstKey = (String, String, String);

/// The first-impression key of an event of a known person.
fn first_key(e: &NewEvent) -> Option<FirstKey> {
    let person = e.person_key.clone()?;
    Some((
        person,
        e.decision.placement.clone(),
        e.decision.variant.clone(),
    ))
}

fn first_impression(row: &sea_orm::QueryResult) -> Result<(FirstKey, DateTime<Utc>), StorageError> {
    let key = (
        row.try_get::<String>("", "person_key")?,
        row.try_get::<String>("", "placement")?,
        row.try_get::<String>("", "variant")?,
    );
    Ok((key, row.try_get::<DateTime<Utc>>("", "first_at")?))
}

/// Records each person's first impression per variant (an earlier one replaces a later
/// one, so out-of-order arrival does not matter). Returns what it learned.
async fn upsert_first_impressions<C: ConnectionTrait>(
    tx: &C,
    new_events: &[&NewEvent],
    first_seen: &FirstImpressionCache,
) -> Result<HashMap<FirstKey, DateTime<Utc>>, StorageError> {
    let mut first: HashMap<FirstKey, DateTime<Utc>> = HashMap::new();
    for e in new_events
        .iter()
        .filter(|e| e.kind == EventKind::Impression)
    {
        let Some(key) = first_key(e) else {
            continue;
        };
        // Already known to be earlier: nothing to write.
        if first_seen
            .get(&key)
            .is_some_and(|known| known <= e.occurred_at)
        {
            continue;
        }
        let at = first.entry(key).or_insert(e.occurred_at);
        if e.occurred_at < *at {
            *at = e.occurred_at;
        }
    }
    let mut rows: Vec<_> = first.into_iter().collect();
    rows.sort();
    let mut stored_now = HashMap::with_capacity(rows.len());
    for chunk in rows.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert
            .into_table(name("first_impressions"))
            .columns(["person_key", "placement", "variant", "first_at"].map(name));
        for ((person, placement, variant), at) in chunk {
            insert.values_panic([
                person.clone().into(),
                placement.clone().into(),
                variant.clone().into(),
                (*at).into(),
            ]);
        }
        let stored = Expr::col((name("first_impressions"), name("first_at")));
        let ours = Expr::col((name("excluded"), name("first_at")));
        let mut conflict = OnConflict::columns(["person_key", "placement", "variant"].map(name));
        conflict.value(
            name("first_at"),
            Expr::case(ours.clone().lt(stored.clone()), ours).finally(stored),
        );
        insert.on_conflict(conflict).returning(
            Query::returning()
                .columns(["person_key", "placement", "variant", "first_at"].map(name)),
        );
        // What is stored now (ours or an earlier one), which is what the cache may learn.
        for row in tx.query_all(&insert).await? {
            let (key, at) = first_impression(&row)?;
            stored_now.insert(key, at);
        }
    }
    Ok(stored_now)
}

/// Outcomes (click, conversion, opt-out) of known people: time since that person's first
/// impression of the same variant (stored before, or earlier in this very batch).
async fn upsert_velocity<C: ConnectionTrait>(
    tx: &C,
    new_events: &[&NewEvent],
    cache: &FirstImpressionCache,
    learned: &HashMap<FirstKey, DateTime<Utc>>,
) -> Result<HashMap<FirstKey, DateTime<Utc>>, StorageError> {
    let outcomes: Vec<&NewEvent> = new_events
        .iter()
        .copied()
        .filter(|e| e.kind.is_outcome() && e.person_key.is_some())
        .collect();
    let mut first_seen: HashMap<FirstKey, DateTime<Utc>> = HashMap::new();
    if outcomes.is_empty() {
        return Ok(first_seen);
    }
    let mut unknown_people: HashSet<String> = HashSet::new();
    for key in outcomes.iter().filter_map(|e| first_key(e)) {
        match learned.get(&key).copied().or_else(|| cache.get(&key)) {
            Some(at) => {
                first_seen.insert(key, at);
            }
            None => {
                unknown_people.insert(key.0);
            }
        }
    }
    let unknown_people: Vec<String> = unknown_people.into_iter().collect();
    for chunk in unknown_people.chunks(CHUNK) {
        let select = Query::select()
            .columns(["person_key", "placement", "variant", "first_at"].map(name))
            .from(name("first_impressions"))
            .and_where(Expr::col(name("person_key")).is_in(chunk.iter().cloned()))
            .to_owned();
        for row in tx.query_all(&select).await? {
            let (key, at) = first_impression(&row)?;
            first_seen.insert(key, at);
        }
    }
    let mut histogram: HashMap<(RollupKey, &'static str, i16), i64> = HashMap::new();
    for e in outcomes {
        let Some(key) = first_key(e) else {
            continue;
        };
        let Some(seen) = first_seen.get(&key) else {
            continue;
        };
        if *seen > e.occurred_at {
            continue;
        }
        let bucket = velocity_bucket((e.occurred_at - *seen).num_seconds());
        *histogram
            .entry((RollupKey::of(e), e.kind.as_str(), bucket))
            .or_default() += 1;
    }
    let mut rows: Vec<_> = histogram.into_iter().collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let keys: Vec<&str> = KEY_COLUMNS
        .iter()
        .copied()
        .chain(["outcome", "bucket"])
        .collect();
    for chunk in rows.chunks(CHUNK / 4) {
        let mut insert = Query::insert();
        insert
            .into_table(name("velocity_daily"))
            .columns(keys.iter().copied().chain(["count"]).map(name));
        for ((key, outcome, bucket), count) in chunk {
            let values: Vec<SimpleExpr> = key_values(key)
                .into_iter()
                .chain([(*outcome).into(), (*bucket).into(), (*count).into()])
                .collect();
            insert.values_panic(values);
        }
        insert.on_conflict(add_on_conflict("velocity_daily", &keys, &["count"]));
        tx.execute(&insert).await?;
    }
    Ok(first_seen)
}

/// A person's impressions of a placement since `since` (for frequency caps).
pub async fn impressions_since(
    db: &DatabaseConnection,
    person_key: &str,
    placement: &str,
    since: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, StorageError> {
    let select = Query::select()
        .column(name("occurred_at"))
        .from(name("events"))
        .and_where(Expr::col(name("person_key")).eq(person_key))
        .and_where(Expr::col(name("placement")).eq(placement))
        .and_where(Expr::col(name("kind")).eq("impression"))
        .and_where(Expr::col(name("occurred_at")).gte(since))
        .to_owned();
    let mut times = Vec::new();
    for row in db.query_all(&select).await? {
        times.push(row.try_get::<DateTime<Utc>>("", "occurred_at")?);
    }
    Ok(times)
}
