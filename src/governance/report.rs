//! The engagement report: rollups summed per group with rates, revenue and its share,
//! feedback scores and velocity quantiles. Pure: built from the storage sums.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::engagement::{velocity_quantile, Counts};
use crate::storage::events::RollupSum;

/// Dimensions a report may group by.
pub const GROUPS: [&str; 7] = [
    "channel",
    "placement",
    "variant",
    "locale",
    "device",
    "segment",
    "day",
];

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReportRow {
    /// The group's value per `group_by` dimension.
    pub group: BTreeMap<String, String>,
    pub impressions: i64,
    pub views: i64,
    pub clicks: i64,
    pub conversions: i64,
    pub dismissals: i64,
    pub opt_ins: i64,
    pub opt_outs: i64,
    pub shares: i64,
    pub click_through: Option<f64>,
    pub conversion_rate: Option<f64>,
    pub engagement_rate: Option<f64>,
    pub opt_out_rate: Option<f64>,
    /// Revenue per currency, as decimal strings.
    pub revenue: BTreeMap<String, String>,
    /// This group's share of the period's revenue, per currency (0–1).
    pub revenue_share: BTreeMap<String, f64>,
    pub csat_count: i64,
    pub csat_average: Option<f64>,
    pub nps_count: i64,
    /// Promoters minus detractors, in points.
    pub nps: Option<f64>,
    pub ces_count: i64,
    pub ces_average: Option<f64>,
    pub click_velocity_p50_secs: Option<f64>,
    pub click_velocity_p90_secs: Option<f64>,
    pub conversion_velocity_p50_secs: Option<f64>,
    pub conversion_velocity_p90_secs: Option<f64>,
    /// Distinct sources (client networks or verified people) of the judged events.
    pub sources: u64,
    /// The busiest source's share of the judged events (0–1).
    pub top_source_share: Option<f64>,
    /// Events from bot User-Agents: stored, never in the counts above.
    pub bot_events: i64,
    /// Bot events' share of all events (0–1).
    pub bot_share: Option<f64>,
}

/// Who produced a report's events: judged events per (group, source), and events per
/// (group, traffic class).
#[derive(Default)]
pub struct Provenance {
    pub sources: Vec<(Vec<String>, String, i64)>,
    pub traffic: Vec<(Vec<String>, String, i64)>,
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn decimal(minor: i64, currency: &str) -> String {
    let exponent = iso_currency::Currency::from_code(currency)
        .and_then(|c| c.exponent())
        .unwrap_or(2) as u32;
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(exponent);
    let sign = if minor < 0 { "-" } else { "" };
    let minor = minor.abs();
    format!(
        "{sign}{}.{:0width$}",
        minor / scale,
        minor % scale,
        width = exponent as usize
    )
}

/// A velocity histogram: (bucket, count).
type Histogram = Vec<(i16, i64)>;

/// Group → source → judged events.
fn index_sources(
    sources: Vec<(Vec<String>, String, i64)>,
) -> BTreeMap<Vec<String>, BTreeMap<String, i64>> {
    let mut per_source: BTreeMap<Vec<String>, BTreeMap<String, i64>> = BTreeMap::new();
    for (keys, source, n) in sources {
        *per_source
            .entry(keys)
            .or_default()
            .entry(source)
            .or_default() += n;
    }
    per_source
}

/// Group → (bot events, all events).
fn index_traffic(traffic: Vec<(Vec<String>, String, i64)>) -> BTreeMap<Vec<String>, (i64, i64)> {
    let mut by_group: BTreeMap<Vec<String>, (i64, i64)> = BTreeMap::new();
    for (keys, class, n) in traffic {
        let entry = by_group.entry(keys).or_default();
        if class == crate::engagement::TrafficClass::Bot.as_str() {
            entry.0 += n;
        }
        entry.1 += n;
    }
    by_group
}

/// Revenue per currency over everything, and per group.
#[allow(clippy::type_complexity)]
fn index_revenue(
    revenue: Vec<(Vec<String>, String, i64)>,
) -> (
    BTreeMap<String, i64>,
    BTreeMap<Vec<String>, BTreeMap<String, i64>>,
) {
    let mut totals: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_group: BTreeMap<Vec<String>, BTreeMap<String, i64>> = BTreeMap::new();
    for (keys, currency, amount) in revenue {
        *totals.entry(currency.clone()).or_default() += amount;
        *by_group
            .entry(keys)
            .or_default()
            .entry(currency)
            .or_default() += amount;
    }
    (totals, by_group)
}

/// (group, outcome) → velocity histogram.
fn index_velocity(
    velocity: Vec<(Vec<String>, String, i16, i64)>,
) -> BTreeMap<(Vec<String>, String), Histogram> {
    let mut histograms: BTreeMap<(Vec<String>, String), Histogram> = BTreeMap::new();
    for (keys, outcome, bucket, count) in velocity {
        histograms
            .entry((keys, outcome))
            .or_default()
            .push((bucket, count));
    }
    histograms
}

/// Builds the rows, ordered by their group values.
pub fn build(
    group_by: &[&str],
    sums: Vec<RollupSum>,
    revenue: Vec<(Vec<String>, String, i64)>,
    velocity: Vec<(Vec<String>, String, i16, i64)>,
    provenance: Provenance,
) -> Vec<ReportRow> {
    let per_source = index_sources(provenance.sources);
    let traffic = index_traffic(provenance.traffic);
    let (totals, by_group) = index_revenue(revenue);
    let histograms = index_velocity(velocity);
    let quantile = |keys: &Vec<String>, outcome: &str, q: f64| {
        histograms
            .get(&(keys.clone(), outcome.to_string()))
            .and_then(|h| velocity_quantile(h, q))
    };
    let mut rows: Vec<ReportRow> = sums
        .into_iter()
        .map(|RollupSum { keys, counts }| {
            let Counts {
                impressions,
                views,
                clicks,
                conversions,
                dismissals,
                opt_ins,
                opt_outs,
                shares,
                csat_count,
                csat_sum,
                nps_count,
                nps_promoters,
                nps_detractors,
                ces_count,
                ces_sum,
                ..
            } = counts;
            let money = by_group.get(&keys).cloned().unwrap_or_default();
            let sources = per_source.get(&keys);
            let attributed: i64 = sources.map_or(0, |s| s.values().sum());
            // Judged events no source accounts for (stored before provenance) are one
            // source, as governance counts them.
            let unattributed = (counts.events() - attributed).max(0);
            let judged = attributed + unattributed;
            let top = sources
                .and_then(|s| s.values().max().copied())
                .unwrap_or(0)
                .max(unattributed);
            let distinct = sources.map_or(0, |s| s.values().filter(|n| **n > 0).count() as u64)
                + u64::from(unattributed > 0);
            let (bot_events, all_events) = traffic.get(&keys).copied().unwrap_or_default();
            ReportRow {
                group: group_by
                    .iter()
                    .map(|d| d.to_string())
                    .zip(keys.iter().cloned())
                    .collect(),
                impressions,
                views,
                clicks,
                conversions,
                dismissals,
                opt_ins,
                opt_outs,
                shares,
                click_through: ratio(clicks, impressions),
                conversion_rate: ratio(conversions, impressions),
                engagement_rate: ratio(
                    (views + clicks + shares + conversions).min(impressions),
                    impressions,
                ),
                opt_out_rate: ratio(opt_outs, impressions),
                revenue: money
                    .iter()
                    .map(|(c, minor)| (c.clone(), decimal(*minor, c)))
                    .collect(),
                revenue_share: money
                    .iter()
                    .filter_map(|(c, minor)| {
                        ratio(*minor, totals.get(c).copied().unwrap_or(0)).map(|s| (c.clone(), s))
                    })
                    .collect(),
                csat_count,
                csat_average: ratio(csat_sum, csat_count),
                nps_count,
                nps: ratio(nps_promoters - nps_detractors, nps_count).map(|v| v * 100.0),
                ces_count,
                ces_average: ratio(ces_sum, ces_count),
                click_velocity_p50_secs: quantile(&keys, "click", 0.5),
                click_velocity_p90_secs: quantile(&keys, "click", 0.9),
                conversion_velocity_p50_secs: quantile(&keys, "conversion", 0.5),
                conversion_velocity_p90_secs: quantile(&keys, "conversion", 0.9),
                sources: distinct,
                top_source_share: ratio(top, judged),
                bot_events,
                bot_share: ratio(bot_events, all_events),
            }
        })
        .collect();
    rows.sort_by(|a, b| a.group.values().cmp(b.group.values()));
    rows
}

/// A rate in a CSV cell: six decimals, empty when there is none.
fn rate(value: Option<f64>) -> String {
    value.map(|v| format!("{v:.6}")).unwrap_or_default()
}

/// The CSV's fixed columns after the group: each name with its cell, declared once so
/// the header and the rows cannot drift apart.
type CsvColumn = (&'static str, fn(&ReportRow) -> String);
const CSV_COLUMNS: [CsvColumn; 26] = [
    ("impressions", |r| r.impressions.to_string()),
    ("views", |r| r.views.to_string()),
    ("clicks", |r| r.clicks.to_string()),
    ("conversions", |r| r.conversions.to_string()),
    ("dismissals", |r| r.dismissals.to_string()),
    ("opt_ins", |r| r.opt_ins.to_string()),
    ("opt_outs", |r| r.opt_outs.to_string()),
    ("shares", |r| r.shares.to_string()),
    ("click_through", |r| rate(r.click_through)),
    ("conversion_rate", |r| rate(r.conversion_rate)),
    ("engagement_rate", |r| rate(r.engagement_rate)),
    ("opt_out_rate", |r| rate(r.opt_out_rate)),
    ("csat_count", |r| r.csat_count.to_string()),
    ("csat_average", |r| rate(r.csat_average)),
    ("nps_count", |r| r.nps_count.to_string()),
    ("nps", |r| rate(r.nps)),
    ("ces_count", |r| r.ces_count.to_string()),
    ("ces_average", |r| rate(r.ces_average)),
    ("click_velocity_p50_secs", |r| {
        rate(r.click_velocity_p50_secs)
    }),
    ("click_velocity_p90_secs", |r| {
        rate(r.click_velocity_p90_secs)
    }),
    ("conversion_velocity_p50_secs", |r| {
        rate(r.conversion_velocity_p50_secs)
    }),
    ("conversion_velocity_p90_secs", |r| {
        rate(r.conversion_velocity_p90_secs)
    }),
    ("sources", |r| r.sources.to_string()),
    ("top_source_share", |r| rate(r.top_source_share)),
    ("bot_events", |r| r.bot_events.to_string()),
    ("bot_share", |r| rate(r.bot_share)),
];

/// The rows as CSV: group columns, counts, rates, then revenue per currency present.
pub fn to_csv(group_by: &[&str], rows: &[ReportRow]) -> String {
    let currencies: std::collections::BTreeSet<&String> =
        rows.iter().flat_map(|r| r.revenue.keys()).collect();
    let mut header: Vec<String> = group_by.iter().map(|d| d.to_string()).collect();
    header.extend(CSV_COLUMNS.iter().map(|(name, _)| name.to_string()));
    for c in &currencies {
        header.push(format!("revenue_{c}"));
        header.push(format!("revenue_share_{c}"));
    }
    let field = |s: &str| {
        // A cell a spreadsheet would run as a formula is kept as text.
        let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
            format!("'{s}")
        } else {
            s.to_string()
        };
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    };
    let mut out = header.join(",");
    out.push_str("\r\n");
    for r in rows {
        let mut cells: Vec<String> = group_by
            .iter()
            .map(|d| field(r.group.get(*d).map(String::as_str).unwrap_or("")))
            .collect();
        cells.extend(CSV_COLUMNS.iter().map(|(_, cell)| cell(r)));
        for c in &currencies {
            cells.push(r.revenue.get(*c).cloned().unwrap_or_default());
            cells.push(rate(r.revenue_share.get(*c).copied()));
        }
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_carry_rates_revenue_shares_and_feedback() {
        let sums = vec![
            RollupSum {
                keys: vec!["web".into()],
                counts: Counts {
                    impressions: 1000,
                    clicks: 80,
                    conversions: 10,
                    nps_count: 10,
                    nps_promoters: 6,
                    nps_detractors: 1,
                    csat_count: 4,
                    csat_sum: 18,
                    ..Counts::default()
                },
            },
            RollupSum {
                keys: vec!["email".into()],
                counts: Counts {
                    impressions: 0,
                    ..Counts::default()
                },
            },
        ];
        let revenue = vec![
            (vec!["web".into()], "EUR".into(), 7_500),
            (vec!["email".into()], "EUR".into(), 2_500),
            (vec!["web".into()], "JPY".into(), 1200),
        ];
        let velocity = vec![(vec!["web".into()], "click".into(), 3, 10)];
        let provenance = Provenance {
            sources: vec![
                // 1,104 judged events on web: 1,000 impressions, 80 clicks, 10
                // conversions, 14 answers; 4 of them from before provenance.
                (vec!["web".into()], "net:a".into(), 550),
                (vec!["web".into()], "net:b".into(), 300),
                (vec!["web".into()], "net:c".into(), 250),
            ],
            traffic: vec![
                (vec!["web".into()], "human".into(), 100),
                (vec!["web".into()], "bot".into(), 25),
            ],
        };
        let rows = build(&["channel"], sums, revenue, velocity, provenance);
        assert_eq!(rows[0].group["channel"], "email", "ordered by group");
        let web = &rows[1];
        assert_eq!(web.click_through, Some(0.08));
        assert_eq!(web.revenue["EUR"], "75.00");
        assert_eq!(web.revenue["JPY"], "1200");
        assert_eq!(web.revenue_share["EUR"], 0.75);
        assert_eq!(web.nps, Some(50.0));
        assert_eq!(web.csat_average, Some(4.5));
        assert!(web
            .click_velocity_p50_secs
            .is_some_and(|v| (7.0..15.0).contains(&v)));
        assert_eq!(rows[0].click_through, None, "no impressions: no rate");
        assert_eq!(web.sources, 4, "three networks and the unattributed rest");
        assert!((web.top_source_share.unwrap() - 550.0 / 1104.0).abs() < 1e-12);
        assert_eq!((web.bot_events, web.bot_share), (25, Some(0.2)));
        assert_eq!((rows[0].sources, rows[0].bot_share), (0, None));
        let csv = to_csv(&["channel"], &rows);
        let mut lines = csv.lines();
        let header = lines.next().unwrap();
        assert!(
            header.starts_with("channel,impressions,") && header.ends_with("revenue_share_JPY")
        );
        assert!(lines.nth(1).unwrap().starts_with("web,1000,0,80,10,"));
    }
}
