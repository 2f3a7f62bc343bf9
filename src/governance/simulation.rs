//! Decision quality, measured: days of synthetic traffic (binomial clicks and opt-outs
//! at a stated daily volume, spread over 200 sources) replayed through the real planner
//! with [`Replay`], the way a backtest replays stored rollups. Three questions:
//!
//! - (a) with every channel and every variant truly equal, how many daily evaluations
//!   retire or propose anything (the false-action rate), over 100 seeds;
//! - (b) how many days a channel truly 30 % worse than the others takes to be proposed
//!   under a policy at 0.8 × the median click-through (the detection delay);
//! - (c) whether a variant with more clicks but 3× the opt-outs is retired by the
//!   opt-out guardrail, and when.
//!
//! `cargo test --lib governance::simulation -- --nocapture` prints the figures the
//! README quotes.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};

use super::backtest::{end_of, BacktestDay, Replay};
use super::evaluator::Safeguards;
use super::integrity::EvidenceKind;
use super::plan::EvaluationInput;
use super::policy::{Metric, Mode, Peer, PolicyDef, Scope, Threshold};
use super::Observation;
use crate::catalog::model::ChannelState;
use crate::engagement::Counts;

/// Distinct sources the simulated traffic comes from (the evidence gates need many).
const SOURCES: usize = 200;

/// One target's true rates and daily volume.
#[derive(Clone, Copy)]
struct Arm {
    impressions: i64,
    click_through: f64,
    opt_out_rate: f64,
}

/// An exact binomial draw, by geometric jumps from one success to the next (about
/// n·p steps instead of n).
fn binomial(rng: &mut impl Rng, n: i64, p: f64) -> i64 {
    if p <= 0.0 {
        return 0;
    }
    let log_q = (1.0 - p).ln();
    let (mut trials, mut successes) = (0i64, 0i64);
    loop {
        let u: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
        trials += (u.ln() / log_q).floor() as i64 + 1;
        if trials > n {
            return successes;
        }
        successes += 1;
    }
}

/// Counts spread evenly over [`SOURCES`] sources, per kind.
fn observation(target: &str, peer_group: &str, counts: Counts) -> Observation {
    let mut o = Observation {
        target: target.into(),
        peer_group: peer_group.into(),
        counts,
        ..Observation::default()
    };
    for kind in EvidenceKind::ALL {
        let total = o.counts.of(kind);
        if total == 0 {
            continue;
        }
        let share = total / SOURCES as i64;
        for s in 0..SOURCES {
            let extra = i64::from((s as i64) < total % SOURCES as i64);
            if share + extra > 0 {
                o.sources.add(&format!("net-{s}"), kind, share + extra);
            }
        }
    }
    o
}

/// Replays `days` days of `arms` (target → peer group, arm) under `policies`; each
/// day's window sums the last `window_days` simulated days.
fn replay(
    seed: u64,
    days: i64,
    scope: Scope,
    arms: &[(&str, &str, Arm)],
    policies: &[PolicyDef],
) -> Vec<BacktestDay> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let start: DateTime<Utc> = end_of("2026-10-01".parse().unwrap());
    let channels: BTreeMap<String, ChannelState> = match scope {
        Scope::Channel => arms
            .iter()
            .map(|(t, _, _)| (t.to_string(), ChannelState::Active))
            .collect(),
        Scope::Variant => BTreeMap::new(),
    };
    let mut replay = Replay::new(channels.iter());
    let mut history: Vec<Vec<Counts>> = vec![Vec::new(); arms.len()];
    let mut out = Vec::new();
    for day in 0..days {
        for (i, (_, _, arm)) in arms.iter().enumerate() {
            history[i].push(Counts {
                impressions: arm.impressions,
                clicks: binomial(&mut rng, arm.impressions, arm.click_through),
                opt_outs: binomial(&mut rng, arm.impressions, arm.opt_out_rate),
                ..Counts::default()
            });
        }
        let mut input = EvaluationInput {
            channels: channels.clone(),
            ..EvaluationInput::default()
        };
        for policy in policies {
            let window = policy.window_days as usize;
            let observations = arms
                .iter()
                .enumerate()
                .map(|(i, (target, group, _))| {
                    let mut sum = Counts::default();
                    for c in history[i].iter().rev().take(window) {
                        sum.impressions += c.impressions;
                        sum.clicks += c.clicks;
                        sum.opt_outs += c.opt_outs;
                    }
                    observation(target, group, sum)
                })
                .collect();
            input
                .windows
                .insert((policy.scope, policy.window_days), observations);
        }
        for (target, group, _) in arms {
            if scope == Scope::Variant {
                input
                    .placement_of
                    .insert(target.to_string(), group.to_string());
            }
        }
        let now = start + Duration::days(day);
        out.push(replay.day(input, policies, Safeguards::default(), now));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn policy(
    id: &str,
    scope: Scope,
    metric: Metric,
    threshold: Threshold,
    window_days: u32,
    min_sample: u64,
    consecutive_failures: u32,
    mode: Mode,
) -> PolicyDef {
    PolicyDef {
        id: id.into(),
        description: String::new(),
        scope,
        metric,
        threshold,
        window_days,
        min_sample,
        confidence: 0.95,
        consecutive_failures,
        mode,
        protected: vec![],
        currency: None,
        min_sources: 50,
        max_source_share: 0.05,
    }
}

/// The channel policy the issue names: 0.8 × the median click-through, two weeks,
/// three failing days in a row, proposed to a reviewer.
fn channel_policy() -> PolicyDef {
    policy(
        "channel-ctr-0.8-median",
        Scope::Channel,
        Metric::ClickThrough,
        Threshold::Relative {
            relative_to: Peer::Median,
            factor: 0.8,
        },
        14,
        2_000,
        3,
        Mode::Propose,
    )
}

/// The demo's variant policies (content/governance.toml): under a third of the best
/// click-through twice in a row, and the opt-out guardrail (over 1 %, at once).
fn variant_policies() -> Vec<PolicyDef> {
    vec![
        policy(
            "variant-click-through",
            Scope::Variant,
            Metric::ClickThrough,
            Threshold::Relative {
                relative_to: Peer::Best,
                factor: 0.33,
            },
            14,
            1_000,
            2,
            Mode::Auto,
        ),
        policy(
            "variant-opt-outs",
            Scope::Variant,
            Metric::OptOutRate,
            Threshold::Absolute { absolute: 0.01 },
            14,
            1_000,
            1,
            Mode::Auto,
        ),
    ]
}

const CHANNEL_IMPRESSIONS_PER_DAY: i64 = 5_000;
const VARIANT_IMPRESSIONS_PER_DAY: i64 = 1_500;

fn equal_channel() -> Arm {
    Arm {
        impressions: CHANNEL_IMPRESSIONS_PER_DAY,
        click_through: 0.05,
        opt_out_rate: 0.002,
    }
}

#[test]
fn equal_arms_act_on_at_most_one_percent_of_daily_evaluations() {
    const SEEDS: u64 = 100;
    const DAYS: i64 = 30;
    let channels = ["web", "mobile_app", "email", "sms", "push"].map(|c| (c, "", equal_channel()));
    let variant = Arm {
        impressions: VARIANT_IMPRESSIONS_PER_DAY,
        click_through: 0.05,
        opt_out_rate: 0.004,
    };
    let variants = [
        ("hero-a", "home.hero", variant),
        ("hero-b", "home.hero", variant),
        ("hero-c", "home.hero", variant),
    ];
    let mut evaluations = 0;
    let mut acting = 0;
    for seed in 0..SEEDS {
        let channel_days = replay(seed, DAYS, Scope::Channel, &channels, &[channel_policy()]);
        let variant_days = replay(
            seed + 10_000,
            DAYS,
            Scope::Variant,
            &variants,
            &variant_policies(),
        );
        for (c, v) in channel_days.iter().zip(&variant_days) {
            evaluations += 1;
            acting += usize::from(c.acted() || v.acted());
        }
    }
    let rate = acting as f64 / evaluations as f64;
    eprintln!(
        "(a) equal arms: {acting} of {evaluations} daily evaluations ({SEEDS} seeds x {DAYS} days; 5 channels x {CHANNEL_IMPRESSIONS_PER_DAY} and 3 variants x {VARIANT_IMPRESSIONS_PER_DAY} impressions a day) retired or proposed anything: {:.2} %",
        rate * 100.0
    );
    assert!(rate <= 0.01, "false-action rate {rate}");
}

/// Per seed, the day (1-based) a channel at 0.7 × the others' click-through is first
/// proposed within 14 days, with `impressions` a day per channel.
fn detection_days(impressions: i64, seeds: u64) -> Vec<Option<usize>> {
    let equal = Arm {
        impressions,
        ..equal_channel()
    };
    let worse = Arm {
        click_through: 0.05 * 0.7,
        ..equal
    };
    (0..seeds)
        .map(|seed| {
            let channels = [
                ("web", "", equal),
                ("mobile_app", "", equal),
                ("email", "", equal),
                ("push", "", equal),
                ("sms", "", worse),
            ];
            let days = replay(seed, 14, Scope::Channel, &channels, &[channel_policy()]);
            let wrongly = days.iter().any(|d| {
                d.proposed
                    .iter()
                    .chain(&d.retired)
                    .any(|t| t != "channel/sms")
            });
            assert!(!wrongly, "seed {seed}: another channel was proposed");
            days.iter()
                .position(|d| d.proposed.contains(&"channel/sms".to_string()))
                .map(|i| i + 1)
        })
        .collect()
}

#[test]
fn a_channel_thirty_percent_worse_is_proposed_within_fourteen_days() {
    const SEEDS: u64 = 50;
    let mut delays: Vec<usize> = detection_days(CHANNEL_IMPRESSIONS_PER_DAY, SEEDS)
        .into_iter()
        .enumerate()
        .map(|(seed, day)| day.unwrap_or_else(|| panic!("seed {seed}: not proposed in 14 days")))
        .collect();
    delays.sort_unstable();
    let mean = delays.iter().sum::<usize>() as f64 / delays.len() as f64;
    eprintln!(
        "(b) a channel at 0.7 x the others' 5 % click-through, {CHANNEL_IMPRESSIONS_PER_DAY} impressions a day per channel: proposed on day {} (fastest) / {mean:.1} (mean) / {} (slowest) of {SEEDS} seeds",
        delays[0],
        delays[delays.len() - 1]
    );
    // At a smaller volume it takes longer, and not always within two weeks.
    let small = detection_days(2_000, SEEDS);
    let found = small.iter().flatten().count();
    eprintln!(
        "(b) at 2000 impressions a day per channel: proposed within 14 days in {found} of {SEEDS} seeds"
    );
    assert!(found > 0);
}

#[test]
fn a_variant_winning_clicks_with_three_times_the_opt_outs_is_retired_by_the_guardrail() {
    const SEEDS: u64 = 50;
    let mut delays = Vec::new();
    for seed in 0..SEEDS {
        let calm = Arm {
            impressions: VARIANT_IMPRESSIONS_PER_DAY,
            click_through: 0.05,
            opt_out_rate: 0.005,
        };
        let pushy = Arm {
            impressions: VARIANT_IMPRESSIONS_PER_DAY,
            click_through: 0.08,
            opt_out_rate: 0.015,
        };
        let variants = [
            ("hero-calm", "home.hero", calm),
            ("hero-pushy", "home.hero", pushy),
        ];
        let days = replay(seed, 14, Scope::Variant, &variants, &variant_policies());
        let retired = days
            .iter()
            .position(|d| d.retired.contains(&"variant/hero-pushy".to_string()))
            .map(|i| i + 1)
            .unwrap_or_else(|| panic!("seed {seed}: the pushy variant was not retired"));
        assert!(
            days.iter()
                .all(|d| !d.retired.contains(&"variant/hero-calm".to_string())),
            "seed {seed}: the calm variant went"
        );
        let by_guardrail = days[retired - 1]
            .actions
            .iter()
            .any(|a| a["target"] == "hero-pushy" && a["policy"] == "variant-opt-outs");
        assert!(by_guardrail, "seed {seed}: retired by another policy");
        delays.push(retired);
    }
    delays.sort_unstable();
    eprintln!(
        "(c) a variant with 8 % clicks and 1.5 % opt-outs against 5 % and 0.5 %, {VARIANT_IMPRESSIONS_PER_DAY} impressions a day each: retired by the opt-out guardrail on day {} (fastest) / {} (slowest) of {SEEDS} seeds",
        delays[0],
        delays[delays.len() - 1]
    );
}
