//! Engagement tables: the event log (exactly once by primary key), the daily rollups and
//! the velocity histogram, all written in one transaction per group commit.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use super::StorageError;
use crate::engagement::{
    arrival_counts, rollup, source_counts, traffic_counts, velocity_bucket, Counts, EventKind,
    NewEvent, RollupKey,
};

/// Rows per statement. Well under SQLite's 32,766 and PostgreSQL's 65,535 parameters,
/// and small enough (about 30 KB) that a statement leaves in one loopback TCP segment:
/// sqlx 0.9.0 does not set TCP_NODELAY, and a statement split over segments waits for
/// the server's delayed ACK (40 ms) before its tail is sent.
const CHUNK: usize = 40;

fn name(n: &str) -> Alias {
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
    let mut inserted: HashSet<String> = HashSet::with_capacity(events.len());
    for chunk in events.chunks(CHUNK) {
        let mut insert = Query::insert();
        insert.into_table(name("events")).columns(
            [
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
            ]
            .map(name),
        );
        for e in chunk {
            let d = &e.decision;
            insert.values_panic([
                e.event_id.clone().into(),
                e.kind.as_str().into(),
                e.occurred_at.into(),
                received_at.into(),
                d.placement.clone().into(),
                d.variant.clone().into(),
                (d.version as i32).into(),
                d.channel.clone().into(),
                d.device.clone().into(),
                d.locale.clone().into(),
                e.person_key.clone().into(),
                e.revenue.as_ref().map(|r| r.minor).into(),
                e.revenue.as_ref().map(|r| r.currency.clone()).into(),
                e.feedback.as_ref().map(|f| f.kind.as_str()).into(),
                e.feedback.as_ref().map(|f| f.score).into(),
                e.feedback.as_ref().and_then(|f| f.comment.clone()).into(),
                e.link.clone().into(),
                (!d.segments.is_empty()).then(|| d.segments.clone()).into(),
                e.source.clone().into(),
                e.traffic.as_str().into(),
            ]);
        }
        insert
            .on_conflict(OnConflict::column(name("event_id")).do_nothing().to_owned())
            .returning_col(name("event_id"));
        for row in tx.query_all(&insert).await? {
            inserted.insert(row.try_get::<String>("", "event_id")?);
        }
    }
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

const KEY_COLUMNS: [&str; 6] = ["day", "placement", "variant", "channel", "device", "locale"];

/// `ON CONFLICT (...) DO UPDATE SET c = table.c + excluded.c` for each counter.
fn add_on_conflict(table: &str, keys: &[&str], counters: &[&str]) -> OnConflict {
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

const DAILY_COUNTERS: [&str; 16] = [
    "impressions",
    "views",
    "clicks",
    "conversions",
    "dismissals",
    "opt_ins",
    "opt_outs",
    "shares",
    "csat_count",
    "csat_sum",
    "nps_count",
    "nps_sum",
    "nps_promoters",
    "nps_detractors",
    "ces_count",
    "ces_sum",
];

fn counter_values(c: &Counts) -> [i64; 16] {
    [
        c.impressions,
        c.views,
        c.clicks,
        c.conversions,
        c.dismissals,
        c.opt_ins,
        c.opt_outs,
        c.shares,
        c.csat_count,
        c.csat_sum,
        c.nps_count,
        c.nps_sum,
        c.nps_promoters,
        c.nps_detractors,
        c.ces_count,
        c.ces_sum,
    ]
}

async fn upsert_daily<C: ConnectionTrait>(
    tx: &C,
    daily: &HashMap<RollupKey, Counts>,
) -> Result<(), StorageError> {
    let mut rows: Vec<(&RollupKey, &Counts)> = daily.iter().collect();
    // A stable order keeps concurrent writers on other nodes from deadlocking.
    rows.sort_by(|a, b| a.0.cmp(b.0));
    for chunk in rows.chunks(CHUNK / 4) {
        let mut insert = Query::insert();
        insert.into_table(name("engagement_daily")).columns(
            KEY_COLUMNS
                .iter()
                .chain(DAILY_COUNTERS.iter())
                .map(|c| name(c)),
        );
        for (key, counts) in chunk {
            let values: Vec<SimpleExpr> = key_values(key)
                .into_iter()
                .chain(counter_values(counts).into_iter().map(SimpleExpr::from))
                .collect();
            insert.values_panic(values);
        }
        insert.on_conflict(add_on_conflict(
            "engagement_daily",
            &KEY_COLUMNS,
            &DAILY_COUNTERS,
        ));
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

/// Rollup dimensions a query may group by.
pub const ROLLUP_DIMENSIONS: [&str; 6] = KEY_COLUMNS;

/// Summed rollups for one group (dimension values in the order asked).
#[derive(Clone, Debug, Default)]
pub struct RollupSum {
    pub keys: Vec<String>,
    pub counts: Counts,
}

/// The dimension as text (`day` is a date column).
fn dimension_expr(dimension: &str) -> SimpleExpr {
    if dimension == "day" {
        Func::cast_as(Expr::col(name("day")), name("TEXT")).into()
    } else {
        Expr::col(name(dimension))
    }
}

/// `SELECT <group_by as k0, k1...> FROM <daily table> WHERE day in [since, until]
/// GROUP BY <group_by>`: what every rollup query starts from.
fn grouped_daily(
    table: &str,
    group_by: &[&str],
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> sea_orm::sea_query::SelectStatement {
    let mut select = Query::select();
    select.from(name(table));
    for (i, dimension) in group_by.iter().enumerate() {
        select.expr_as(dimension_expr(dimension), name(&format!("k{i}")));
        select.add_group_by([dimension_expr(dimension)]);
    }
    select
        .and_where(Expr::col(name("day")).gte(since))
        .and_where(Expr::col(name("day")).lte(until));
    select
}

/// [`grouped_daily`] also grouped by the table's own `columns`, with `SUM(summed) AS n`:
/// the shape of every query over a rollup with keys beyond the decision's.
fn grouped_sum(
    table: &str,
    group_by: &[&str],
    columns: &[&str],
    summed: &str,
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> sea_orm::sea_query::SelectStatement {
    let mut select = grouped_daily(table, group_by, since, until);
    for column in columns {
        select.column(name(column));
        select.add_group_by([Expr::col(name(column))]);
    }
    select.expr_as(
        Func::cast_as(Func::sum(Expr::col(name(summed))), name("BIGINT")),
        name("n"),
    );
    select
}

/// The `n` of a [`grouped_sum`] row (a group of no rows sums to NULL: 0).
fn sum_of(row: &sea_orm::QueryResult) -> Result<i64, StorageError> {
    Ok(row.try_get::<Option<i64>>("", "n")?.unwrap_or(0))
}

/// The group's dimension values (`k0`, `k1`, ...) of a grouped row.
fn group_keys(row: &sea_orm::QueryResult, count: usize) -> Result<Vec<String>, StorageError> {
    (0..count)
        .map(|i| Ok(row.try_get::<String>("", &format!("k{i}"))?))
        .collect()
}

/// Daily rollups summed over `[since, until]`, grouped by `group_by` (a subset of
/// [`ROLLUP_DIMENSIONS`]; callers check it).
pub async fn sum_rollups<C: ConnectionTrait>(
    db: &C,
    group_by: &[&str],
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> Result<Vec<RollupSum>, StorageError> {
    let mut select = grouped_daily("engagement_daily", group_by, since, until);
    for counter in DAILY_COUNTERS {
        select.expr_as(
            Func::cast_as(Func::sum(Expr::col(name(counter))), name("BIGINT")),
            name(counter),
        );
    }
    let mut sums = Vec::new();
    for row in db.query_all(&select).await? {
        let keys = group_keys(&row, group_by.len())?;
        let mut v = [0i64; 16];
        for (slot, counter) in v.iter_mut().zip(DAILY_COUNTERS) {
            *slot = row.try_get::<Option<i64>>("", counter)?.unwrap_or(0);
        }
        sums.push(RollupSum {
            keys,
            counts: Counts {
                impressions: v[0],
                views: v[1],
                clicks: v[2],
                conversions: v[3],
                dismissals: v[4],
                opt_ins: v[5],
                opt_outs: v[6],
                shares: v[7],
                csat_count: v[8],
                csat_sum: v[9],
                nps_count: v[10],
                nps_sum: v[11],
                nps_promoters: v[12],
                nps_detractors: v[13],
                ces_count: v[14],
                ces_sum: v[15],
            },
        });
    }
    Ok(sums)
}

/// Judged events over `[since, until]` per group, source and evidence kind:
/// (keys, source, kind, events).
pub async fn sum_sources<C: ConnectionTrait>(
    db: &C,
    group_by: &[&str],
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> Result<Vec<(Vec<String>, String, String, i64)>, StorageError> {
    let select = grouped_sum(
        "source_daily",
        group_by,
        &["source", "kind"],
        "events",
        since,
        until,
    );
    let mut rows = Vec::new();
    for row in db.query_all(&select).await? {
        rows.push((
            group_keys(&row, group_by.len())?,
            row.try_get::<String>("", "source")?,
            row.try_get::<String>("", "kind")?,
            sum_of(&row)?,
        ));
    }
    Ok(rows)
}

/// Judged events that *arrived* over `[since, until]` per group, day and evidence
/// kind: (keys, day, kind, events).
pub async fn sum_arrivals<C: ConnectionTrait>(
    db: &C,
    group_by: &[&str],
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> Result<Vec<(Vec<String>, chrono::NaiveDate, String, i64)>, StorageError> {
    // The date column itself (not text: its formatting would depend on the server).
    let select = grouped_sum(
        "arrivals_daily",
        group_by,
        &["day", "kind"],
        "events",
        since,
        until,
    );
    let mut rows = Vec::new();
    for row in db.query_all(&select).await? {
        rows.push((
            group_keys(&row, group_by.len())?,
            row.try_get::<chrono::NaiveDate>("", "day")?,
            row.try_get::<String>("", "kind")?,
            sum_of(&row)?,
        ));
    }
    Ok(rows)
}

/// Events over `[since, until]` per group and traffic class (bots included):
/// (keys, class, events).
pub async fn sum_traffic<C: ConnectionTrait>(
    db: &C,
    group_by: &[&str],
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> Result<Vec<(Vec<String>, String, i64)>, StorageError> {
    let select = grouped_sum(
        "traffic_daily",
        group_by,
        &["traffic"],
        "events",
        since,
        until,
    );
    let mut rows = Vec::new();
    for row in db.query_all(&select).await? {
        rows.push((
            group_keys(&row, group_by.len())?,
            row.try_get::<String>("", "traffic")?,
            sum_of(&row)?,
        ));
    }
    Ok(rows)
}

/// Revenue over `[since, until]` per group and currency: (keys, currency, minor units).
pub async fn sum_revenue<C: ConnectionTrait>(
    db: &C,
    group_by: &[&str],
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> Result<Vec<(Vec<String>, String, i64)>, StorageError> {
    let select = grouped_sum(
        "revenue_daily",
        group_by,
        &["currency"],
        "amount_minor",
        since,
        until,
    );
    let mut sums = Vec::new();
    for row in db.query_all(&select).await? {
        sums.push((
            group_keys(&row, group_by.len())?,
            row.try_get::<String>("", "currency")?,
            sum_of(&row)?,
        ));
    }
    Ok(sums)
}

/// Velocity histograms over `[since, until]` per group: (keys, outcome, bucket, count).
pub async fn sum_velocity<C: ConnectionTrait>(
    db: &C,
    group_by: &[&str],
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> Result<Vec<(Vec<String>, String, i16, i64)>, StorageError> {
    let select = grouped_sum(
        "velocity_daily",
        group_by,
        &["outcome", "bucket"],
        "count",
        since,
        until,
    );
    let mut rows = Vec::new();
    for row in db.query_all(&select).await? {
        rows.push((
            group_keys(&row, group_by.len())?,
            row.try_get::<String>("", "outcome")?,
            row.try_get::<i16>("", "bucket")?,
            sum_of(&row)?,
        ));
    }
    Ok(rows)
}

/// What [`sum_by_segment`] returns: judged counts, revenue, judged events per source
/// and events per traffic class, each per group.
pub type SegmentSums = (
    Vec<RollupSum>,
    Vec<(Vec<String>, String, i64)>,
    Vec<(Vec<String>, String, i64)>,
    Vec<(Vec<String>, String, i64)>,
);

/// Engagement by segment, from the event log (rollups are not kept per segment):
/// counts and revenue over `[since, until]` grouped by `group_by`, where `segment` may
/// be one of the dimensions. An event of a decision made for several segments counts
/// in each; one made for none counts under `(none)`. Bot events are left out of the
/// counts, as in the rollups, and reported per traffic class.
pub async fn sum_by_segment<C: ConnectionTrait>(
    db: &C,
    group_by: &[&str],
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> Result<SegmentSums, StorageError> {
    let postgres = db.get_database_backend() == sea_orm::DbBackend::Postgres;
    let dimension = |d: &str| -> SimpleExpr {
        match (d, postgres) {
            ("day", true) => Expr::cust("to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
            ("day", false) => Expr::cust("substr(occurred_at, 1, 10)"),
            ("segment", _) => Expr::cust("COALESCE(segments, '')"),
            (d, _) => Expr::col(name(d)),
        }
    };
    let start = since.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
    let end = (until + chrono::Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        .and_utc();
    let sum = |condition: &str, value: &str| {
        Expr::cust(format!(
            "CAST(SUM(CASE WHEN {condition} THEN {value} ELSE 0 END) AS BIGINT)"
        ))
    };
    let counters: [(&str, SimpleExpr); 15] = [
        ("impressions", sum("kind = 'impression'", "1")),
        ("views", sum("kind = 'view'", "1")),
        ("clicks", sum("kind = 'click'", "1")),
        ("conversions", sum("kind = 'conversion'", "1")),
        ("dismissals", sum("kind = 'dismiss'", "1")),
        ("opt_ins", sum("kind = 'opt_in'", "1")),
        ("opt_outs", sum("kind = 'opt_out'", "1")),
        ("shares", sum("kind = 'share'", "1")),
        ("csat_count", sum("feedback_kind = 'csat'", "1")),
        ("csat_sum", sum("feedback_kind = 'csat'", "score")),
        ("nps_count", sum("feedback_kind = 'nps'", "1")),
        (
            "nps_promoters",
            sum("feedback_kind = 'nps' AND score >= 9", "1"),
        ),
        (
            "nps_detractors",
            sum("feedback_kind = 'nps' AND score <= 6", "1"),
        ),
        ("ces_count", sum("feedback_kind = 'ces'", "1")),
        ("ces_sum", sum("feedback_kind = 'ces'", "score")),
    ];
    let mut select = Query::select();
    select.from(name("events"));
    for (i, d) in group_by.iter().enumerate() {
        select.expr_as(dimension(d), name(&format!("k{i}")));
        select.add_group_by([dimension(d)]);
    }
    for (alias, expr) in counters {
        select.expr_as(expr, name(alias));
    }
    // Events stored before provenance existed have no class: they were judged then.
    let judged = Expr::cust("COALESCE(traffic, 'unknown') <> 'bot'");
    select
        .and_where(Expr::col(name("occurred_at")).gte(start))
        .and_where(Expr::col(name("occurred_at")).lt(end))
        .and_where(judged.clone());
    let keys_of = |row: &sea_orm::QueryResult| group_keys(row, group_by.len());
    // Expands a key list whose segment entry is a set into one key list per segment.
    let segment_at = group_by.iter().position(|d| *d == "segment");
    let expand = |keys: Vec<String>| -> Vec<Vec<String>> {
        let Some(at) = segment_at else {
            return vec![keys];
        };
        let set: Vec<String> = if keys[at].is_empty() {
            vec!["(none)".to_string()]
        } else {
            keys[at].split(',').map(str::to_string).collect()
        };
        set.into_iter()
            .map(|segment| {
                let mut k = keys.clone();
                k[at] = segment;
                k
            })
            .collect()
    };
    let mut sums: std::collections::BTreeMap<Vec<String>, Counts> = Default::default();
    for row in db.query_all(&select).await? {
        let get = |c: &str| -> Result<i64, StorageError> {
            Ok(row.try_get::<Option<i64>>("", c)?.unwrap_or(0))
        };
        let counts = Counts {
            impressions: get("impressions")?,
            views: get("views")?,
            clicks: get("clicks")?,
            conversions: get("conversions")?,
            dismissals: get("dismissals")?,
            opt_ins: get("opt_ins")?,
            opt_outs: get("opt_outs")?,
            shares: get("shares")?,
            csat_count: get("csat_count")?,
            csat_sum: get("csat_sum")?,
            nps_count: get("nps_count")?,
            nps_sum: 0,
            nps_promoters: get("nps_promoters")?,
            nps_detractors: get("nps_detractors")?,
            ces_count: get("ces_count")?,
            ces_sum: get("ces_sum")?,
        };
        for keys in expand(keys_of(&row)?) {
            let total = sums.entry(keys).or_default();
            total.merge(&counts);
        }
    }
    let mut revenue_select = Query::select();
    revenue_select.from(name("events"));
    for (i, d) in group_by.iter().enumerate() {
        revenue_select.expr_as(dimension(d), name(&format!("k{i}")));
        revenue_select.add_group_by([dimension(d)]);
    }
    revenue_select.column(name("currency"));
    revenue_select.add_group_by([Expr::col(name("currency"))]);
    revenue_select.expr_as(
        Func::cast_as(Func::sum(Expr::col(name("revenue_minor"))), name("BIGINT")),
        name("amount"),
    );
    revenue_select
        .and_where(Expr::col(name("kind")).eq("conversion"))
        .and_where(Expr::col(name("currency")).is_not_null())
        .and_where(Expr::col(name("occurred_at")).gte(start))
        .and_where(Expr::col(name("occurred_at")).lt(end))
        .and_where(judged);
    let mut revenue = Vec::new();
    for row in db.query_all(&revenue_select).await? {
        let currency = row.try_get::<String>("", "currency")?;
        let amount = row.try_get::<Option<i64>>("", "amount")?.unwrap_or(0);
        for keys in expand(keys_of(&row)?) {
            revenue.push((keys, currency.clone(), amount));
        }
    }
    let mut provenance_select = Query::select();
    provenance_select.from(name("events"));
    for (i, d) in group_by.iter().enumerate() {
        provenance_select.expr_as(dimension(d), name(&format!("k{i}")));
        provenance_select.add_group_by([dimension(d)]);
    }
    provenance_select
        .expr_as(
            Expr::cust("COALESCE(source, 'net:unknown')"),
            name("source"),
        )
        .expr_as(Expr::cust("COALESCE(traffic, 'unknown')"), name("traffic"))
        .expr_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), name("n"))
        .add_group_by([
            Expr::cust("COALESCE(source, 'net:unknown')"),
            Expr::cust("COALESCE(traffic, 'unknown')"),
        ])
        .and_where(Expr::col(name("occurred_at")).gte(start))
        .and_where(Expr::col(name("occurred_at")).lt(end));
    let mut sources = Vec::new();
    let mut traffic = Vec::new();
    for row in db.query_all(&provenance_select).await? {
        let source = row.try_get::<String>("", "source")?;
        let class = row.try_get::<String>("", "traffic")?;
        let n = row.try_get::<Option<i64>>("", "n")?.unwrap_or(0);
        for keys in expand(keys_of(&row)?) {
            if class != "bot" {
                sources.push((keys.clone(), source.clone(), n));
            }
            traffic.push((keys, class.clone(), n));
        }
    }
    Ok((
        sums.into_iter()
            .map(|(keys, counts)| RollupSum { keys, counts })
            .collect(),
        revenue,
        sources,
        traffic,
    ))
}
