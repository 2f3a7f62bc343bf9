//! Engagement tables: the event log (exactly once by primary key), the daily rollups and
//! the velocity histogram, all written in one transaction per group commit.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Query, SimpleExpr};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};

use super::StorageError;
use crate::engagement::{rollup, velocity_bucket, Counts, NewEvent, RollupKey};

/// Rows per statement: well under SQLite's 32,766 and PostgreSQL's 65,535 parameters.
const CHUNK: usize = 500;

fn name(n: &str) -> Alias {
    Alias::new(n)
}

/// Stores new events and updates the rollups; returns, per event, whether it was new
/// (`false`: its event id was already stored — a duplicate).
pub async fn store_events(
    db: &DatabaseConnection,
    events: &[&NewEvent],
) -> Result<Vec<bool>, StorageError> {
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
            ]);
        }
        insert
            .on_conflict(OnConflict::column(name("event_id")).do_nothing().to_owned())
            .returning_col(name("event_id"));
        for row in tx.query_all(&insert).await? {
            inserted.insert(row.try_get::<String>("", "event_id")?);
        }
    }
    let new_events: Vec<&NewEvent> = events
        .iter()
        .copied()
        .filter(|e| inserted.contains(&e.event_id))
        .collect();
    let rollup = rollup(new_events.iter().copied());
    upsert_daily(&tx, &rollup.daily).await?;
    upsert_revenue(&tx, &rollup.revenue).await?;
    upsert_velocity(&tx, &new_events).await?;
    tx.commit().await?;
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

/// Outcomes (click, conversion, opt-out) of known people: time since that person's first
/// impression of the same variant (stored before, or earlier in this very batch).
async fn upsert_velocity<C: ConnectionTrait>(
    tx: &C,
    new_events: &[&NewEvent],
) -> Result<(), StorageError> {
    let outcomes: Vec<&NewEvent> = new_events
        .iter()
        .copied()
        .filter(|e| e.kind.is_outcome() && e.person_key.is_some())
        .collect();
    if outcomes.is_empty() {
        return Ok(());
    }
    let people: Vec<String> = outcomes
        .iter()
        .filter_map(|e| e.person_key.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut first_seen: HashMap<(String, String, String), DateTime<Utc>> = HashMap::new();
    for chunk in people.chunks(CHUNK) {
        let select = Query::select()
            .columns(["person_key", "placement", "variant"].map(name))
            .expr_as(Func::min(Expr::col(name("occurred_at"))), name("first_at"))
            .from(name("events"))
            .and_where(Expr::col(name("kind")).eq("impression"))
            .and_where(Expr::col(name("person_key")).is_in(chunk.iter().cloned()))
            .group_by_columns(["person_key", "placement", "variant"].map(name))
            .to_owned();
        for row in tx.query_all(&select).await? {
            let key = (
                row.try_get::<String>("", "person_key")?,
                row.try_get::<String>("", "placement")?,
                row.try_get::<String>("", "variant")?,
            );
            first_seen.insert(key, row.try_get::<DateTime<Utc>>("", "first_at")?);
        }
    }
    let mut histogram: HashMap<(RollupKey, &'static str, i16), i64> = HashMap::new();
    for e in outcomes {
        let Some(person) = &e.person_key else {
            continue;
        };
        let key = (
            person.clone(),
            e.decision.placement.clone(),
            e.decision.variant.clone(),
        );
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
    Ok(())
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
