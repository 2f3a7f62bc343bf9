//! Judged impressions and clicks per channel, for the next-best-channel ranking: a
//! person's (their keys in the event log), their segments' (events whose decision was
//! made for one of those segments), everyone's (the daily rollups), and per group (each
//! segment set, each person) to fit how much groups differ. Bot traffic never counts.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::sea_query::{Cond, Expr, ExprTrait, Func, LikeExpr, Query, SelectStatement};
use sea_orm::ConnectionTrait;

use super::events::name;
use super::StorageError;
use crate::engagement::reach::Tally;

/// At most this many (group, channel, kind) rows are read to fit prior strengths.
const MAX_GROUP_ROWS: u64 = 50_000;

/// Impressions and clicks in the event log since `since`, grouped by `extra` (if any),
/// channel and kind.
fn event_counts(extra: Option<&str>, since: DateTime<Utc>) -> SelectStatement {
    let mut select = Query::select();
    select.from(name("events"));
    if let Some(extra) = extra {
        select.column(name(extra)).group_by_col(name(extra));
    }
    select
        .column(name("channel"))
        .column(name("kind"))
        .expr_as(
            Func::cast_as(Func::count(Expr::col(name("event_id"))), name("BIGINT")),
            name("n"),
        )
        .and_where(Expr::col(name("kind")).is_in(["impression", "click"]))
        .and_where(Expr::col(name("occurred_at")).gte(since))
        .cond_where(
            Cond::any()
                .add(Expr::col(name("traffic")).is_null())
                .add(Expr::col(name("traffic")).ne("bot")),
        )
        .group_by_col(name("channel"))
        .group_by_col(name("kind"));
    select
}

async fn per_channel<C: ConnectionTrait>(
    db: &C,
    select: &SelectStatement,
) -> Result<BTreeMap<String, Tally>, StorageError> {
    let mut tallies = BTreeMap::new();
    for row in db.query_all(select).await? {
        tallies
            .entry(row.try_get::<String>("", "channel")?)
            .or_insert_with(Tally::default)
            .add(
                &row.try_get::<String>("", "kind")?,
                row.try_get::<i64>("", "n")?,
            );
    }
    Ok(tallies)
}

/// A person's tallies: events logged under any of `keys` (their sticky key, and
/// `anon:<id>` for events logged before their anonymous ids were linked).
pub async fn person<C: ConnectionTrait>(
    db: &C,
    keys: &[String],
    since: DateTime<Utc>,
) -> Result<BTreeMap<String, Tally>, StorageError> {
    if keys.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut select = event_counts(None, since);
    select.and_where(Expr::col(name("person_key")).is_in(keys.iter().cloned()));
    per_channel(db, &select).await
}

/// Tallies of events whose decision was made for any of `segments` (each event once).
pub async fn segments<C: ConnectionTrait>(
    db: &C,
    segments: &[String],
    since: DateTime<Utc>,
) -> Result<BTreeMap<String, Tally>, StorageError> {
    if segments.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut any = Cond::any();
    for segment in segments {
        // Segment ids are [a-z0-9_.-]: escape `_` (with `!`, which no id holds) so it
        // is no wildcard.
        let pattern = format!("%,{},%", segment.replace('_', "!_"));
        any = any
            .add(Expr::cust("(',' || segments || ',')").like(LikeExpr::new(pattern).escape('!')));
    }
    let mut select = event_counts(None, since);
    select.cond_where(any);
    per_channel(db, &select).await
}

/// Everyone's tallies from the daily rollups since `since`.
pub async fn everyone<C: ConnectionTrait>(
    db: &C,
    since: NaiveDate,
) -> Result<BTreeMap<String, Tally>, StorageError> {
    let mut select = Query::select();
    select
        .from(name("engagement_daily"))
        .column(name("channel"))
        .expr_as(
            Func::cast_as(Func::sum(Expr::col(name("impressions"))), name("BIGINT")),
            name("impressions"),
        )
        .expr_as(
            Func::cast_as(Func::sum(Expr::col(name("clicks"))), name("BIGINT")),
            name("clicks"),
        )
        .and_where(Expr::col(name("day")).gte(since))
        .group_by_col(name("channel"));
    let mut tallies = BTreeMap::new();
    for row in db.query_all(&select).await? {
        tallies.insert(
            row.try_get::<String>("", "channel")?,
            Tally {
                impressions: row.try_get::<Option<i64>>("", "impressions")?.unwrap_or(0),
                clicks: row.try_get::<Option<i64>>("", "clicks")?.unwrap_or(0),
            },
        );
    }
    Ok(tallies)
}

/// Per channel, one tally per group (`segments`: each segment set; `person_key`: each
/// person), for fitting how much groups differ. Reads at most [`MAX_GROUP_ROWS`] rows.
pub async fn groups<C: ConnectionTrait>(
    db: &C,
    by: &'static str,
    since: DateTime<Utc>,
) -> Result<BTreeMap<String, Vec<Tally>>, StorageError> {
    let mut select = event_counts(Some(by), since);
    select
        .and_where(Expr::col(name(by)).is_not_null())
        .and_where(Expr::col(name(by)).ne(""))
        .limit(MAX_GROUP_ROWS);
    let mut per_group: BTreeMap<(String, String), Tally> = BTreeMap::new();
    for row in db.query_all(&select).await? {
        let group = row.try_get::<String>("", by)?;
        let channel = row.try_get::<String>("", "channel")?;
        let kind = row.try_get::<String>("", "kind")?;
        let n = row.try_get::<i64>("", "n")?;
        per_group.entry((channel, group)).or_default().add(&kind, n);
    }
    let mut out: BTreeMap<String, Vec<Tally>> = BTreeMap::new();
    for ((channel, _), tally) in per_group {
        out.entry(channel).or_default().push(tally);
    }
    Ok(out)
}
