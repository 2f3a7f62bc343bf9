//! Adaptive allocation under simulated traffic: the shares [`super::thompson`] gives
//! round after round (one recompute per round) while traffic follows them. The
//! figures printed here are the README's (`cargo test --lib allocation::simulation --
//! --nocapture`).

use rand::{Rng, SeedableRng};
use rand_distr::{Binomial, Distribution};

use super::thompson::{allocate, ArmInput, ArmVerdict, SourceCounts, Tuning};

const SOURCES: usize = 200;
/// Impressions per round (one recompute), split by the shares of the round before.
const ROUND: u64 = 2_000;

fn tuning() -> Tuning {
    Tuning {
        floor: 0.05,
        min_sources: 50,
        max_source_share: 0.05,
        guardrail_factor: 1.5,
    }
}

/// True rates of one arm.
#[derive(Clone, Copy)]
struct Truth {
    click: f64,
    opt_out: f64,
}

struct World {
    arms: Vec<ArmInput>,
    truths: Vec<Truth>,
    rng: rand::rngs::StdRng,
    impressions: u64,
    /// The stored allocation, as [`super::next_allocation`] leaves it.
    allocation: Option<super::Allocation>,
}

/// One recompute: the verdicts, the shares now served, and the people moved.
struct Recompute {
    verdicts: Vec<ArmVerdict>,
    served: Vec<f64>,
    moved_slots: u32,
}

impl World {
    fn new(truths: &[Truth], seed: u64) -> World {
        World {
            arms: (0..truths.len())
                .map(|i| ArmInput {
                    variant: format!("arm-{i}"),
                    sources: (0..SOURCES)
                        .map(|s| (format!("net:{s}"), SourceCounts::default()))
                        .collect(),
                })
                .collect(),
            truths: truths.to_vec(),
            rng: rand::rngs::StdRng::seed_from_u64(seed),
            impressions: 0,
            allocation: None,
        }
    }

    /// One round of traffic split by `shares`, spread evenly over the sources.
    fn serve(&mut self, shares: &[f64]) {
        for (i, share) in shares.iter().enumerate() {
            let impressions = (share * ROUND as f64).round() as u64;
            let truth = self.truths[i];
            let draw = |p: f64, rng: &mut rand::rngs::StdRng| {
                Binomial::new(impressions, p).map_or(0, |b| b.sample(rng))
            };
            let clicks = draw(truth.click, &mut self.rng);
            let opt_outs = draw(truth.opt_out, &mut self.rng);
            // Each round's events start at a random source, so no source is favoured.
            let start = self.rng.random_range(0..SOURCES);
            let spread = |total: u64, s: usize| {
                let k = (s + SOURCES - start) % SOURCES;
                total / SOURCES as u64 + u64::from((k as u64) < total % SOURCES as u64)
            };
            for (s, (_, counts)) in self.arms[i].sources.iter_mut().enumerate() {
                counts.impressions += spread(impressions, s);
                counts.rewards += spread(clicks, s);
                counts.opt_outs += spread(opt_outs, s);
            }
            self.impressions += impressions;
        }
    }

    fn judge(&self) -> Vec<ArmVerdict> {
        allocate(&self.arms, &tuning(), "home.hero")
    }

    /// Judges, and steps the served slots as the server does.
    fn recompute(&mut self) -> Recompute {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let verdicts = self.judge();
        let outcome = super::next_allocation(
            "home.hero",
            crate::catalog::model::Reward::Click,
            self.allocation.as_ref(),
            &vec![1; self.arms.len()],
            tuning().floor,
            verdicts.clone(),
            chrono::Utc::now(),
            day,
            day,
        );
        let served = outcome
            .allocation
            .slots
            .iter()
            .map(|&n| f64::from(n) / 1000.0)
            .collect();
        self.allocation = Some(outcome.allocation);
        Recompute {
            verdicts,
            served,
            moved_slots: outcome.moved_slots,
        }
    }
}

fn shares(verdicts: &[ArmVerdict]) -> Vec<f64> {
    verdicts.iter().map(|v| v.share).collect()
}

const PLAIN: Truth = Truth {
    click: 0.030,
    opt_out: 0.002,
};

/// Impressions until the best arm holds more than 80 % of the traffic.
fn impressions_to_80_percent(seed: u64) -> Option<u64> {
    let best = Truth {
        click: 0.045,
        ..PLAIN
    };
    let mut world = World::new(&[PLAIN, PLAIN, best], seed);
    let mut current = vec![1.0 / 3.0; 3];
    for _ in 0..200 {
        world.serve(&current);
        current = world.recompute().served;
        if current[2] > 0.8 {
            return Some(world.impressions);
        }
    }
    None
}

#[test]
fn a_known_best_arm_takes_over_80_percent_of_the_traffic() {
    let reached: Vec<u64> = (0..20)
        .map(|seed| impressions_to_80_percent(seed).expect("the best arm never reached 80 %"))
        .collect();
    let mean = reached.iter().sum::<u64>() / reached.len() as u64;
    let (fastest, slowest) = (reached.iter().min().unwrap(), reached.iter().max().unwrap());
    println!(
        "best arm (4.5 % vs 3.0 % clicks) above 80 % after {fastest} / {mean} / {slowest} impressions (fastest / mean / slowest of 20 seeds; {ROUND} per recompute)"
    );
    assert!(*slowest <= 60_000, "took {slowest} impressions");
}

/// Impressions until the guardrail cuts the pushy arm, its peak share before, and
/// whether on the evidence of that moment its clicks alone would have won it the most
/// traffic.
fn impressions_to_cut(seed: u64) -> Option<(u64, f64, bool)> {
    let pushy = Truth {
        click: 0.060,
        opt_out: 0.006,
    };
    let mut world = World::new(&[PLAIN, pushy, PLAIN], seed);
    let mut current = vec![1.0 / 3.0; 3];
    let mut peak = current[1];
    for _ in 0..100 {
        world.serve(&current);
        let Recompute {
            verdicts, served, ..
        } = world.recompute();
        current = served;
        if let Some(reason) = &verdicts[1].guardrail {
            assert!(reason.starts_with("opt-outs"), "{reason}");
            assert!(
                (current[1] - 0.05).abs() < 1e-9,
                "cut to the floor: {current:?}"
            );
            let unguarded = allocate(
                &world.arms,
                &Tuning {
                    guardrail_factor: 1e9,
                    ..tuning()
                },
                "home.hero",
            );
            let wins = shares(&unguarded)
                .iter()
                .enumerate()
                .all(|(i, s)| i == 1 || *s < unguarded[1].share);
            return Some((world.impressions, peak, wins));
        }
        peak = peak.max(current[1]);
    }
    None
}

#[test]
fn a_high_click_arm_with_three_times_the_opt_outs_is_cut_to_the_floor() {
    let runs: Vec<(u64, f64, bool)> = (0..20)
        .map(|seed| impressions_to_cut(seed).expect("the guardrail never cut the pushy arm"))
        .collect();
    let cut: Vec<u64> = runs.iter().map(|r| r.0).collect();
    let mean = cut.iter().sum::<u64>() / cut.len() as u64;
    let peak = runs.iter().map(|r| r.1).fold(0.0, f64::max);
    let wins = runs.iter().filter(|r| r.2).count();
    println!(
        "high-click arm (6 % clicks, 0.6 % opt-outs vs 3 % and 0.2 %) cut to the 5 % floor after {} / {mean} / {} impressions (fastest / mean / slowest of 20 seeds); its share peaked at {:.0} %; without the guardrail it would have had the largest share in {wins} of 20",
        cut.iter().min().unwrap(),
        cut.iter().max().unwrap(),
        peak * 100.0
    );
    assert!(*cut.iter().max().unwrap() <= 100_000);
    assert!(wins >= 18, "its clicks win it traffic when unguarded");
}

/// Over `seeds` × `rounds` recomputes of equal arms: the share of recomputes in which
/// some arm held more than 50 % and more than 80 % of the traffic, and the least share
/// any arm was served.
fn equal_arms_concentration(seeds: u64, rounds: usize) -> (f64, f64, f64) {
    let (mut half, mut most, mut least) = (0u32, 0u32, 1.0f64);
    for seed in 0..seeds {
        let mut world = World::new(&[PLAIN, PLAIN, PLAIN], 1000 + seed);
        let mut current = vec![1.0 / 3.0; 3];
        for _ in 0..rounds {
            world.serve(&current);
            current = world.recompute().served;
            half += u32::from(current.iter().any(|s| *s > 0.5));
            most += u32::from(current.iter().any(|s| *s > 0.8));
            least = current.iter().copied().fold(least, f64::min);
        }
    }
    let n = seeds as f64 * rounds as f64;
    (f64::from(half) / n, f64::from(most) / n, least)
}

/// Equal arms cost nothing whichever leads, so Thompson sampling lets the leader of
/// the moment have more; the floor keeps every arm served and learning.
#[test]
fn equal_arms_lean_on_the_leader_of_the_moment_and_keep_their_floor() {
    let (half, most, least) = equal_arms_concentration(40, 30);
    println!(
        "equal arms (3 × 3 %, 40 seeds × 30 recomputes of 2,000 impressions): one arm above 50 % of traffic in {:.1} % of recomputes, above 80 % in {:.1} %; least share served {:.1} %",
        half * 100.0,
        most * 100.0,
        least * 100.0
    );
    assert!(least >= 0.05 - 1e-9, "the floor held");
    assert!(most < 0.25);
}

#[test]
fn a_flood_of_clicks_from_one_source_moves_nothing() {
    let mut world = World::new(&[PLAIN, PLAIN, PLAIN], 3);
    for _ in 0..10 {
        world.serve(&[1.0 / 3.0; 3]);
    }
    let before = world.judge();
    let mut flooded = world.arms.clone();
    flooded[0].sources.push((
        "net:attacker".into(),
        SourceCounts {
            impressions: 500,
            rewards: 5_000,
            ..SourceCounts::default()
        },
    ));
    let after = allocate(&flooded, &tuning(), "home.hero");
    assert_eq!(shares(&after), shares(&before));
    assert_eq!(after[0].discounted_sources, 1);
    assert_eq!(after[0].discounted_events, 5_500);
    // A flood of opt-outs cannot push an arm under its guardrail either.
    let mut flooded = world.arms.clone();
    flooded[1].sources.push((
        "net:attacker".into(),
        SourceCounts {
            opt_outs: 400,
            ..SourceCounts::default()
        },
    ));
    let after = allocate(&flooded, &tuning(), "home.hero");
    assert_eq!(after[1].guardrail, None);
    assert_eq!(shares(&after), shares(&before));
}

#[test]
fn equal_arms_share_alike_and_arms_without_enough_sources_learn_from_the_prior() {
    let mut world = World::new(&[PLAIN, PLAIN], 11);
    let thin = allocate(
        &world
            .arms
            .iter()
            .map(|a| ArmInput {
                sources: a.sources[..10].to_vec(),
                ..a.clone()
            })
            .collect::<Vec<_>>(),
        &tuning(),
        "x",
    );
    assert!(thin.iter().all(|v| v.thin));
    for _ in 0..20 {
        world.serve(&[0.5, 0.5]);
    }
    let verdicts = world.judge();
    assert!(verdicts.iter().all(|v| !v.thin && v.guardrail.is_none()));
    let sum: f64 = shares(&verdicts).iter().sum();
    assert!((sum - 1.0).abs() < 1e-9);
    assert!(verdicts.iter().all(|v| v.share >= 0.05));
}

#[test]
fn many_detractors_cut_an_arm_whose_survey_answers_are_spread() {
    let mut world = World::new(&[PLAIN, PLAIN], 5);
    for _ in 0..5 {
        world.serve(&[0.5, 0.5]);
    }
    // 400 answers per arm from 200 networks: 240 detractors on arm 0, 40 on arm 1.
    for (i, arm) in world.arms.iter_mut().enumerate() {
        for (s, (_, counts)) in arm.sources.iter_mut().enumerate() {
            counts.nps = 2;
            counts.detractors = match (i, s) {
                (0, s) if s < 40 => 2,
                (0, _) => 1,
                (_, s) if s < 40 => 1,
                _ => 0,
            };
        }
    }
    let verdicts = world.judge();
    let reason = verdicts[0].guardrail.as_deref().expect("detractors cut it");
    assert!(reason.starts_with("NPS detractors"), "{reason}");
    assert_eq!(verdicts[1].guardrail, None);
}

/// Over `seeds` × `rounds` recomputes with the stored slot maps: the mean share of
/// people moved per recompute, and the share of people who ever went back to a
/// variant they had left.
fn churn(truths: &[Truth], seeds: u64, rounds: usize) -> (f64, f64) {
    let (mut moved, mut returned) = (0u64, 0u64);
    for seed in 0..seeds {
        let mut world = World::new(truths, 5000 + seed);
        let mut current = vec![1.0 / truths.len() as f64; truths.len()];
        let mut left = vec![0u64; usize::from(crate::catalog::BUCKETS)];
        let mut went_back = vec![false; left.len()];
        let mut owners: Option<Vec<u8>> = None;
        for _ in 0..rounds {
            world.serve(&current);
            let recompute = world.recompute();
            moved += u64::from(recompute.moved_slots);
            current = recompute.served;
            let map = world
                .allocation
                .as_ref()
                .and_then(|a| a.slot_map())
                .expect("a whole map");
            if let Some(before) = &owners {
                for (slot, (&was, &is)) in before.iter().zip(&map.owners).enumerate() {
                    if was != is {
                        went_back[slot] |= left[slot] & (1 << is) != 0;
                        left[slot] |= 1 << was;
                    }
                }
            }
            owners = Some(map.owners);
        }
        returned += went_back.iter().filter(|r| **r).count() as u64;
    }
    let slots = seeds as f64 * 1000.0;
    (
        moved as f64 / (slots * rounds as f64),
        returned as f64 / slots,
    )
}

#[test]
fn people_seldom_move_and_seldom_go_back() {
    let (equal_moved, equal_returned) = churn(&[PLAIN, PLAIN, PLAIN], 10, 30);
    let best = Truth {
        click: 0.045,
        ..PLAIN
    };
    let (best_moved, best_returned) = churn(&[PLAIN, PLAIN, best], 10, 30);
    println!(
        "churn over 30 recomputes of 2,000 impressions (10 seeds): equal arms {:.1} % of people moved per recompute, {:.1} % ever went back; one arm 50 % better {:.1} % per recompute, {:.1} % ever went back",
        equal_moved * 100.0,
        equal_returned * 100.0,
        best_moved * 100.0,
        best_returned * 100.0
    );
    assert!(equal_moved < 0.08 && best_moved < 0.05);
    assert!(equal_returned < 0.2 && best_returned < 0.2);
}
