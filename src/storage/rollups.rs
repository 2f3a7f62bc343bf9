//! Reading the engagement rollups back: sums over a date range grouped by the
//! decision's dimensions (`sum_*`), and engagement by segment from the event log. The
//! engagement counters are read through [`Counter`]'s table, never listed here.

use sea_orm::sea_query::{Expr, ExprTrait, Func, Query, SimpleExpr};
use sea_orm::ConnectionTrait;

use super::events::{name, KEY_COLUMNS};
use super::StorageError;
use crate::engagement::{Counter, Counts, Measure};

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

/// The counters of a row that has a column per counter (a sum of no rows is NULL: 0).
fn counts_of(row: &sea_orm::QueryResult) -> Result<Counts, StorageError> {
    let mut counts = Counts::default();
    for counter in Counter::ALL {
        *counter.get_mut(&mut counts) = row
            .try_get::<Option<i64>>("", counter.column())?
            .unwrap_or(0);
    }
    Ok(counts)
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
    for counter in Counter::ALL {
        select.expr_as(
            Func::cast_as(Func::sum(Expr::col(name(counter.column()))), name("BIGINT")),
            name(counter.column()),
        );
    }
    let mut sums = Vec::new();
    for row in db.query_all(&select).await? {
        sums.push(RollupSum {
            keys: group_keys(&row, group_by.len())?,
            counts: counts_of(&row)?,
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
    let mut select = grouped_sources(group_by, since, until);
    // Evidence kinds only: `source_daily` also keeps per-source tallies that are not
    // events (NPS detractors), which would count twice.
    select.and_where(
        Expr::col(name("kind")).is_in(crate::engagement::EvidenceKind::ALL.map(|k| k.as_str())),
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

/// `SELECT <group_by as k0...>, source, kind, SUM(events) AS n FROM source_daily`
/// over `[since, until]`: judged events per group, source and evidence kind.
pub(super) fn grouped_sources(
    group_by: &[&str],
    since: chrono::NaiveDate,
    until: chrono::NaiveDate,
) -> sea_orm::sea_query::SelectStatement {
    grouped_sum(
        "source_daily",
        group_by,
        &["source", "kind"],
        "events",
        since,
        until,
    )
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
pub type SegmentSums = (Vec<RollupSum>, KeyedCounts, KeyedCounts, KeyedCounts);

/// Per group and one more key (currency, source, traffic class): (keys, key, n).
pub type KeyedCounts = Vec<(Vec<String>, String, i64)>;

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
    let log = EventLog {
        group_by,
        postgres: db.get_database_backend() == sea_orm::DbBackend::Postgres,
        start: since.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc(),
        end: (until + chrono::Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .unwrap_or_default()
            .and_utc(),
    };
    let counts = log.counts(db).await?;
    let revenue = log.revenue(db).await?;
    let (sources, traffic) = log.provenance(db).await?;
    Ok((counts, revenue, sources, traffic))
}

/// Events stored before provenance existed have no class: they were judged then.
const JUDGED: &str = "COALESCE(traffic, 'unknown') <> 'bot'";

/// Grouped queries over the event log's `[start, end)`, for [`sum_by_segment`].
struct EventLog<'a> {
    group_by: &'a [&'a str],
    postgres: bool,
    start: chrono::DateTime<chrono::Utc>,
    end: chrono::DateTime<chrono::Utc>,
}

impl EventLog<'_> {
    /// A dimension as text, from the event's own columns.
    fn dimension(&self, d: &str) -> SimpleExpr {
        match (d, self.postgres) {
            ("day", true) => Expr::cust("to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
            ("day", false) => Expr::cust("substr(occurred_at, 1, 10)"),
            ("segment", _) => Expr::cust("COALESCE(segments, '')"),
            (d, _) => Expr::col(name(d)),
        }
    }

    /// `SELECT <group_by as k0, k1...> FROM events WHERE occurred_at in [start, end)
    /// GROUP BY <group_by>`.
    fn grouped(&self) -> sea_orm::sea_query::SelectStatement {
        let mut select = Query::select();
        select.from(name("events"));
        for (i, d) in self.group_by.iter().enumerate() {
            select.expr_as(self.dimension(d), name(&format!("k{i}")));
            select.add_group_by([self.dimension(d)]);
        }
        select
            .and_where(Expr::col(name("occurred_at")).gte(self.start))
            .and_where(Expr::col(name("occurred_at")).lt(self.end));
        select
    }

    /// A row's group keys, one list per segment when grouped by segment (the column
    /// holds the decision's set).
    fn keys_of(&self, row: &sea_orm::QueryResult) -> Result<Vec<Vec<String>>, StorageError> {
        let keys = group_keys(row, self.group_by.len())?;
        let Some(at) = self.group_by.iter().position(|d| *d == "segment") else {
            return Ok(vec![keys]);
        };
        let set: Vec<String> = if keys[at].is_empty() {
            vec!["(none)".to_string()]
        } else {
            keys[at].split(',').map(str::to_string).collect()
        };
        Ok(set
            .into_iter()
            .map(|segment| {
                let mut k = keys.clone();
                k[at] = segment;
                k
            })
            .collect())
    }

    /// Judged counts per group: every counter, summed from the events it counts.
    async fn counts<C: ConnectionTrait>(&self, db: &C) -> Result<Vec<RollupSum>, StorageError> {
        let mut select = self.grouped();
        for counter in Counter::ALL {
            select.expr_as(event_log_sum(counter.measure()), name(counter.column()));
        }
        select.and_where(Expr::cust(JUDGED));
        let mut sums: std::collections::BTreeMap<Vec<String>, Counts> = Default::default();
        for row in db.query_all(&select).await? {
            let counts = counts_of(&row)?;
            for keys in self.keys_of(&row)? {
                sums.entry(keys).or_default().merge(&counts);
            }
        }
        Ok(sums
            .into_iter()
            .map(|(keys, counts)| RollupSum { keys, counts })
            .collect())
    }

    /// Judged revenue per group and currency: (keys, currency, minor units).
    async fn revenue<C: ConnectionTrait>(&self, db: &C) -> Result<KeyedCounts, StorageError> {
        let mut select = self.grouped();
        select.column(name("currency"));
        select.add_group_by([Expr::col(name("currency"))]);
        select.expr_as(
            Func::cast_as(Func::sum(Expr::col(name("revenue_minor"))), name("BIGINT")),
            name("amount"),
        );
        select
            .and_where(Expr::col(name("kind")).eq("conversion"))
            .and_where(Expr::col(name("currency")).is_not_null())
            .and_where(Expr::cust(JUDGED));
        let mut revenue = Vec::new();
        for row in db.query_all(&select).await? {
            let currency = row.try_get::<String>("", "currency")?;
            let amount = row.try_get::<Option<i64>>("", "amount")?.unwrap_or(0);
            for keys in self.keys_of(&row)? {
                revenue.push((keys, currency.clone(), amount));
            }
        }
        Ok(revenue)
    }

    /// Events per group and source (judged only) and per group and traffic class (bots
    /// included): (keys, source or class, events).
    async fn provenance<C: ConnectionTrait>(
        &self,
        db: &C,
    ) -> Result<(KeyedCounts, KeyedCounts), StorageError> {
        let mut select = self.grouped();
        select
            .expr_as(
                Expr::cust("COALESCE(source, 'net:unknown')"),
                name("source"),
            )
            .expr_as(Expr::cust("COALESCE(traffic, 'unknown')"), name("traffic"))
            .expr_as(Expr::cust("CAST(COUNT(*) AS BIGINT)"), name("n"))
            .add_group_by([
                Expr::cust("COALESCE(source, 'net:unknown')"),
                Expr::cust("COALESCE(traffic, 'unknown')"),
            ]);
        let mut sources = Vec::new();
        let mut traffic = Vec::new();
        for row in db.query_all(&select).await? {
            let source = row.try_get::<String>("", "source")?;
            let class = row.try_get::<String>("", "traffic")?;
            let n = row.try_get::<Option<i64>>("", "n")?.unwrap_or(0);
            for keys in self.keys_of(&row)? {
                if class != "bot" {
                    sources.push((keys.clone(), source.clone(), n));
                }
                traffic.push((keys, class.clone(), n));
            }
        }
        Ok((sources, traffic))
    }
}

/// A counter summed over the event log:
/// `SUM(CASE WHEN <the events it counts> THEN <1, or the score> ELSE 0 END)`.
fn event_log_sum(measure: Measure) -> SimpleExpr {
    let (condition, value) = match measure {
        Measure::Events(kind) => (format!("kind = '{}'", kind.as_str()), "1"),
        Measure::Answers(survey) => (format!("feedback_kind = '{}'", survey.as_str()), "1"),
        Measure::ScoreSum(survey) => (format!("feedback_kind = '{}'", survey.as_str()), "score"),
        Measure::AnswersScoring(survey, low, high) => (
            format!(
                "feedback_kind = '{}' AND score BETWEEN {low} AND {high}",
                survey.as_str()
            ),
            "1",
        ),
    };
    Expr::cust(format!(
        "CAST(SUM(CASE WHEN {condition} THEN {value} ELSE 0 END) AS BIGINT)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_counters_are_the_daily_rollups_columns_in_order() {
        // One connection: every connection to `sqlite::memory:` is a database of its own.
        let mut options = sea_orm::ConnectOptions::new("sqlite::memory:");
        options.max_connections(1).sqlx_logging(false);
        let db = sea_orm::Database::connect(options).await.unwrap();
        super::super::migrate(&db).await.unwrap();
        let rows = db
            .query_all_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "PRAGMA table_info(engagement_daily)",
            ))
            .await
            .unwrap();
        let columns: Vec<String> = rows
            .iter()
            .map(|row| row.try_get::<String>("", "name").unwrap())
            .collect();
        let expected: Vec<&str> = KEY_COLUMNS
            .into_iter()
            .chain(Counter::ALL.map(Counter::column))
            .collect();
        assert_eq!(columns, expected);
    }
}
