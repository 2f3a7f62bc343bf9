//! The statistics governance decides with. Pure functions, checked against scipy.
//!
//! - Rates (click-through, conversion, engagement, opt-out) use the **Wilson score
//!   interval**: with p̂ = k/n and z the normal quantile for the two-sided level,
//!   centre = (p̂ + z²/2n) / (1 + z²/n),
//!   half-width = z·√(p̂(1−p̂)/n + z²/4n²) / (1 + z²/n).
//! - Feedback means (CSAT, CES) use a normal interval whose variance is bounded by
//!   Popoviciu's inequality for a score in [a, b]: σ² ≤ (b−a)²/4. Rollups keep sums, not
//!   sums of squares, so the bound makes the interval conservative (wider, never
//!   narrower, than the truth): it can only make governance slower to act.
//! - NPS (promoters − detractors, in points) uses the multinomial variance
//!   Var = ((P + D)/n − (P − D)²/n²)/n.
//! - Each test also yields a one-sided p-value for "the metric is on the wrong side of
//!   its threshold" (a score test at the threshold); the p-values of one evaluation go
//!   through **Benjamini–Hochberg**, so testing many channels and variants at once does
//!   not turn noise into retirements.

use statrs::distribution::{ContinuousCDF, Normal};

fn standard_normal() -> Normal {
    // Mean 0, standard deviation 1 are valid parameters.
    Normal::standard()
}

/// The z for a two-sided interval at `confidence` (e.g. 1.959964 for 0.95).
pub fn z_for(confidence: f64) -> f64 {
    standard_normal().inverse_cdf(1.0 - (1.0 - confidence) / 2.0)
}

/// Standard normal CDF.
pub fn phi(x: f64) -> f64 {
    standard_normal().cdf(x)
}

/// Wilson score interval for `successes` out of `n` at `confidence`; `(0, 1)` for n = 0.
pub fn wilson(successes: u64, n: u64, confidence: f64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let n_f = n as f64;
    let p = (successes.min(n)) as f64 / n_f;
    let z = z_for(confidence);
    let z2 = z * z;
    let denominator = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denominator;
    let half = z * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt() / denominator;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Which way is good for a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
}

/// An estimate with its interval and the standard error a test at the threshold uses.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
    /// Observations behind it (impressions, or feedback answers).
    pub n: u64,
    /// Standard error for a score test at threshold `t` (rates: √(t(1−t)/n)).
    se_kind: SeKind,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum SeKind {
    /// A proportion: the standard error depends on the value tested.
    Proportion,
    /// A fixed standard error (means, NPS), scaled.
    Fixed(f64),
}

impl Estimate {
    pub fn rate(successes: u64, n: u64, confidence: f64) -> Estimate {
        let (low, high) = wilson(successes, n, confidence);
        Estimate {
            value: if n == 0 {
                0.0
            } else {
                successes.min(n) as f64 / n as f64
            },
            low,
            high,
            n,
            se_kind: SeKind::Proportion,
        }
    }

    /// A rate scaled by a constant (revenue per impression = conversion rate × mean
    /// order value, the order value taken as known).
    pub fn scaled_rate(successes: u64, n: u64, factor: f64, confidence: f64) -> Estimate {
        let rate = Estimate::rate(successes, n, confidence);
        let se = if n == 0 {
            f64::INFINITY
        } else {
            (rate.value * (1.0 - rate.value) / n as f64).sqrt() * factor
        };
        Estimate {
            value: rate.value * factor,
            low: rate.low * factor,
            high: rate.high * factor,
            n,
            se_kind: SeKind::Fixed(se.max(f64::MIN_POSITIVE)),
        }
    }

    /// The mean of `n` scores summing to `sum`, each in `[low, high]`.
    pub fn bounded_mean(sum: f64, n: u64, low: f64, high: f64, confidence: f64) -> Estimate {
        if n == 0 {
            return Estimate {
                value: 0.0,
                low,
                high,
                n,
                se_kind: SeKind::Fixed(f64::INFINITY),
            };
        }
        let mean = sum / n as f64;
        let se = (high - low) / 2.0 / (n as f64).sqrt();
        let z = z_for(confidence);
        Estimate {
            value: mean,
            low: (mean - z * se).max(low),
            high: (mean + z * se).min(high),
            n,
            se_kind: SeKind::Fixed(se),
        }
    }

    /// Net Promoter Score in points (−100..100).
    pub fn nps(promoters: u64, detractors: u64, n: u64, confidence: f64) -> Estimate {
        if n == 0 {
            return Estimate {
                value: 0.0,
                low: -100.0,
                high: 100.0,
                n,
                se_kind: SeKind::Fixed(f64::INFINITY),
            };
        }
        let n_f = n as f64;
        let p = promoters as f64 / n_f;
        let d = detractors as f64 / n_f;
        let score = p - d;
        let variance = ((p + d) - score * score).max(0.0) / n_f;
        // A sample of all promoters has no spread; a floor of one answer's worth keeps
        // the interval honest about small samples.
        let se = variance.sqrt().max(1.0 / n_f) * 100.0;
        let z = z_for(confidence);
        Estimate {
            value: score * 100.0,
            low: (score * 100.0 - z * se).max(-100.0),
            high: (score * 100.0 + z * se).min(100.0),
            n,
            se_kind: SeKind::Fixed(se),
        }
    }

    /// The whole interval is on the wrong side of `threshold`.
    pub fn wholly_worse_than(&self, threshold: f64, direction: Direction) -> bool {
        match direction {
            Direction::HigherIsBetter => self.high < threshold,
            Direction::LowerIsBetter => self.low > threshold,
        }
    }

    /// One-sided p-value of "the metric is on the good side of `threshold`" (small: it
    /// is convincingly worse). A score test at the threshold.
    pub fn p_value_worse(&self, threshold: f64, direction: Direction) -> f64 {
        let se = match self.se_kind {
            SeKind::Proportion => {
                let t = threshold.clamp(1e-9, 1.0 - 1e-9);
                if self.n == 0 {
                    return 1.0;
                }
                (t * (1.0 - t) / self.n as f64).sqrt()
            }
            SeKind::Fixed(se) => se,
        };
        if !se.is_finite() || se <= 0.0 {
            return 1.0;
        }
        let z = (self.value - threshold) / se;
        match direction {
            Direction::HigherIsBetter => phi(z),
            Direction::LowerIsBetter => 1.0 - phi(z),
        }
    }
}

/// Benjamini–Hochberg adjusted p-values (q-values), in the input order: a test is a
/// discovery at false discovery rate α when its q-value is ≤ α.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![1.0; m];
    let mut running = 1.0f64;
    for rank in (0..m).rev() {
        let index = order[rank];
        let q = (p_values[index] * m as f64 / (rank + 1) as f64).min(1.0);
        running = running.min(q);
        adjusted[index] = running;
    }
    adjusted
}

/// The median of some values (the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-5
    }

    /// Reference values from scipy 1.17 (`binomtest(k, n).proportion_ci(c, 'wilson')`).
    #[test]
    fn wilson_matches_scipy_to_four_decimals() {
        let cases = [
            (10, 1000, 0.95, 0.005441, 0.018309),
            (80, 1000, 0.95, 0.064748, 0.098466),
            (0, 50, 0.95, 0.000000, 0.071348),
            (50, 50, 0.99, 0.882848, 1.000000),
            (3, 20, 0.90, 0.061582, 0.321828),
            (420, 5000, 0.99, 0.074438, 0.094664),
        ];
        for (k, n, c, low, high) in cases {
            let (l, h) = wilson(k, n, c);
            assert!(close(l, low) && close(h, high), "{k}/{n} at {c}: {l} {h}");
        }
        assert!(close(z_for(0.95), 1.959964) && close(z_for(0.99), 2.575829));
        assert!(close(phi(-1.5), 0.066807));
    }

    /// Reference: scipy `false_discovery_control(ps)` (method 'bh').
    #[test]
    fn benjamini_hochberg_matches_scipy() {
        let ps = [
            0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216,
        ];
        let expected = [
            0.01, 0.04, 0.084, 0.084, 0.084, 0.1, 0.105714, 0.216, 0.216, 0.216,
        ];
        let q = benjamini_hochberg(&ps);
        for (got, want) in q.iter().zip(expected) {
            assert!(close(*got, want), "{q:?}");
        }
    }

    #[test]
    fn decisions_need_the_whole_interval_on_the_wrong_side() {
        // 1 % CTR on 5,000 impressions is convincingly below a 3 % threshold...
        let low = Estimate::rate(50, 5_000, 0.95);
        assert!(low.wholly_worse_than(0.03, Direction::HigherIsBetter));
        assert!(low.p_value_worse(0.03, Direction::HigherIsBetter) < 1e-6);
        // ...but not on 50 impressions, where the interval reaches the threshold.
        let small = Estimate::rate(0, 50, 0.95);
        assert!(!small.wholly_worse_than(0.03, Direction::HigherIsBetter));
        // Opt-outs: lower is better.
        let opt_outs = Estimate::rate(200, 5_000, 0.95);
        assert!(opt_outs.wholly_worse_than(0.02, Direction::LowerIsBetter));
        assert!(!opt_outs.wholly_worse_than(0.05, Direction::LowerIsBetter));
        // A CSAT mean of 2.0 over 400 answers on 1–5 is below 3.5 even with the bound.
        let csat = Estimate::bounded_mean(800.0, 400, 1.0, 5.0, 0.95);
        assert!(csat.wholly_worse_than(3.5, Direction::HigherIsBetter));
        let nps = Estimate::nps(100, 300, 1000, 0.95);
        assert!(close(nps.value, -20.0));
        assert!(nps.wholly_worse_than(0.0, Direction::HigherIsBetter));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }
}
