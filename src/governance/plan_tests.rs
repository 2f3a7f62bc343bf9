//! [`plan`] with hand-built inputs: no database.

use super::*;
use crate::engagement::Counts;
use crate::governance::policy::Metric;
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    "2024-03-10T12:00:00Z".parse().unwrap()
}

const TODAY: &str = "2024-03-10";
const YESTERDAY: &str = "2024-03-09";

fn policy(id: &str, scope: Scope, mode: Mode, consecutive: u32) -> PolicyDef {
    PolicyDef {
        id: id.into(),
        description: String::new(),
        scope,
        metric: Metric::ClickThrough,
        threshold: Threshold::Absolute { absolute: 0.05 },
        window_days: 28,
        min_sample: 500,
        confidence: 0.95,
        consecutive_failures: consecutive,
        mode,
        protected: vec![],
        currency: None,
        min_sources: 1,
        max_source_share: 1.0,
    }
}

/// 10 000 impressions: 800 clicks pass a 5 % bar by far, 90 fail it by far.
fn seen(target: &str, peer_group: &str, failing: bool) -> Observation {
    Observation {
        target: target.into(),
        peer_group: peer_group.into(),
        counts: Counts {
            impressions: 10_000,
            clicks: if failing { 90 } else { 800 },
            ..Counts::default()
        },
        ..Observation::default()
    }
}

fn channels(targets: &[(&str, bool)]) -> EvaluationInput {
    let mut input = EvaluationInput::default();
    input.windows.insert(
        (Scope::Channel, 28),
        targets.iter().map(|(t, f)| seen(t, "", *f)).collect(),
    );
    for (t, _) in targets {
        input.channels.insert(t.to_string(), ChannelState::Active);
    }
    input
}

fn run(failures: i32, period: &str, verdict: &str) -> Run {
    Run {
        failures,
        last_period: period.into(),
        last_verdict: verdict.into(),
    }
}

fn key(scope: &str, target: &str, policy: &str) -> (String, String, String) {
    (scope.into(), target.into(), policy.into())
}

fn relaxed() -> Safeguards {
    Safeguards {
        max_auto_retirements: 1000,
    }
}

fn actions(plan: &Plan) -> Vec<(&str, Planned)> {
    plan.actions
        .iter()
        .map(|a| (a.target.as_str(), a.action))
        .collect()
}

#[test]
fn consecutive_failures_count_once_per_period_and_only_from_yesterday() {
    let ctr = policy("ctr", Scope::Channel, Mode::Auto, 2);
    // A first failure marks it at risk.
    let input = channels(&[("web", false), ("sms", true)]);
    let plan = plan(&input, std::slice::from_ref(&ctr), relaxed(), now());
    assert_eq!(actions(&plan), vec![("sms", Planned::AtRisk)]);
    let sms = plan.runs.iter().find(|r| r.target == "sms").unwrap();
    assert_eq!((sms.failures, sms.verdict), (1, "fail"));
    let web = plan.runs.iter().find(|r| r.target == "web").unwrap();
    assert_eq!((web.failures, web.verdict), (0, "pass"));

    // Failing yesterday too: the second consecutive failure retires it.
    let mut continued = channels(&[("web", false), ("sms", true)]);
    continued
        .runs
        .insert(key("channel", "sms", "ctr"), run(1, YESTERDAY, "fail"));
    continued
        .channels
        .insert("sms".into(), ChannelState::AtRisk);
    let plan = super::plan(&continued, std::slice::from_ref(&ctr), relaxed(), now());
    assert_eq!(actions(&plan), vec![("sms", Planned::Retire)]);
    assert!(plan.actions[0]
        .evidence
        .contains("\"consecutive_failures\":2"));

    // A gap starts the run again; an at-risk target is not marked again.
    let mut gap = continued.clone();
    gap.runs
        .insert(key("channel", "sms", "ctr"), run(1, "2024-03-07", "fail"));
    let plan = super::plan(&gap, std::slice::from_ref(&ctr), relaxed(), now());
    assert!(plan.actions.is_empty());
    assert_eq!(
        plan.runs
            .iter()
            .find(|r| r.target == "sms")
            .unwrap()
            .failures,
        1
    );

    // Already counted today: nothing changes.
    let mut again = continued;
    again
        .runs
        .insert(key("channel", "sms", "ctr"), run(2, TODAY, "fail"));
    let plan = super::plan(&again, std::slice::from_ref(&ctr), relaxed(), now());
    assert!(plan.actions.is_empty());
    assert!(plan.runs.iter().all(|r| r.target != "sms"));
}

#[test]
fn the_strongest_action_wins_whichever_policy_calls_for_it() {
    let watch = policy("watch", Scope::Channel, Mode::Propose, 5);
    let guardrail = policy("guardrail", Scope::Channel, Mode::Auto, 1);
    let input = channels(&[("web", false), ("sms", true)]);
    let plan = plan(&input, &[watch, guardrail], relaxed(), now());
    assert_eq!(actions(&plan), vec![("sms", Planned::Retire)]);
    assert_eq!(plan.actions[0].policy, "guardrail");
    // Both policies' runs are counted.
    assert_eq!(plan.runs.iter().filter(|r| r.target == "sms").count(), 2);
}

#[test]
fn the_circuit_breaker_turns_retirements_into_proposals() {
    let ctr = policy("ctr", Scope::Channel, Mode::Auto, 1);
    let mut input = channels(&[("web", false), ("sms", true), ("push", true)]);
    input.recent_automatic_retirements = 1;
    let plan = plan(
        &input,
        &[ctr],
        Safeguards {
            max_auto_retirements: 2,
        },
        now(),
    );
    assert_eq!(
        actions(&plan),
        vec![("push", Planned::Propose), ("sms", Planned::Propose)]
    );
    let reasons = &plan.actions[0].safeguards;
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].starts_with(
        "circuit breaker: 3 automatic retirements within 24 hours (1 already applied)"
    ));
    assert!(plan.actions[0]
        .evidence
        .contains("\"max_auto_retirements\":2"));
    // Within the budget, both retire.
    let plan = super::plan(
        &input,
        &[policy("ctr", Scope::Channel, Mode::Auto, 1)],
        Safeguards {
            max_auto_retirements: 3,
        },
        now(),
    );
    assert!(plan.actions.iter().all(|a| a.action == Planned::Retire));
}

fn variants(targets: &[(&str, bool)]) -> EvaluationInput {
    let mut input = EvaluationInput::default();
    input.windows.insert(
        (Scope::Variant, 28),
        targets.iter().map(|(t, f)| seen(t, "home", *f)).collect(),
    );
    for (t, _) in targets {
        input.placement_of.insert(t.to_string(), "home".into());
    }
    input
}

fn mismatch(placement: &str) -> SampleRatio {
    SampleRatio {
        placement: placement.into(),
        arms: vec![("a".into(), 50, 9_000), ("b".into(), 50, 11_000)],
        chi_square: 200.0,
        degrees_of_freedom: 1,
        p_value: 1e-40,
        significance: 0.001,
        mismatch: true,
    }
}

#[test]
fn a_mismatched_split_holds_at_risk_marks_and_makes_retirements_proposals() {
    let mut input = variants(&[("a", false), ("b", true)]);
    input.sample_ratios = vec![mismatch("home")];
    let first = policy("ctr", Scope::Variant, Mode::Auto, 2);
    let plan = plan(&input, std::slice::from_ref(&first), relaxed(), now());
    assert_eq!(actions(&plan), vec![("b", Planned::Held)]);
    assert!(plan.actions[0].safeguards[0].starts_with("sample-ratio mismatch in home"));
    let at_once = policy("ctr", Scope::Variant, Mode::Auto, 1);
    let plan = super::plan(&input, &[at_once], relaxed(), now());
    assert_eq!(actions(&plan), vec![("b", Planned::Propose)]);
    assert!(plan.actions[0].evidence.contains("\"sample_ratio\""));
    // Another placement's mismatch holds nothing here.
    input.sample_ratios = vec![mismatch("elsewhere")];
    let plan = super::plan(&input, &[first], relaxed(), now());
    assert_eq!(actions(&plan), vec![("b", Planned::AtRisk)]);
}

#[test]
fn a_jump_in_the_events_against_a_target_makes_its_retirement_a_proposal() {
    let ctr = policy("ctr", Scope::Channel, Mode::Auto, 1);
    let mut input = channels(&[("web", false), ("sms", true)]);
    let mut days = BTreeMap::new();
    let start = now().date_naive() - chrono::Duration::days(40);
    for i in 0..40 {
        let mut e = SourceEvidence::default();
        e.add(
            "",
            EvidenceKind::Impression,
            if i == 35 { 9_000 } else { 100 },
        );
        days.insert(start + chrono::Duration::days(i), e);
    }
    input.arrivals.insert(
        (Scope::Channel, 28),
        BTreeMap::from([("sms".to_string(), days)]),
    );
    let plan = plan(&input, &[ctr], relaxed(), now());
    assert_eq!(actions(&plan), vec![("sms", Planned::Propose)]);
    assert!(plan.actions[0].safeguards[0].starts_with("the events against it jumped"));
}

#[test]
fn an_open_proposal_is_not_overtaken_and_recovered_targets_are_listed() {
    let ctr = policy("ctr", Scope::Channel, Mode::Auto, 1);
    let mut input = channels(&[("web", false), ("sms", true)]);
    input
        .open_proposals
        .insert(("channel".into(), "sms".into()));
    input.channels.insert("web".into(), ChannelState::AtRisk);
    let plan = plan(&input, &[ctr], relaxed(), now());
    assert!(plan.actions.is_empty());
    assert_eq!(plan.recoveries, vec![(Scope::Channel, "web".to_string())]);
}

#[test]
fn retired_targets_are_not_judged_and_protected_channels_never_fail() {
    let ctr = policy("ctr", Scope::Channel, Mode::Auto, 1);
    let mut input = channels(&[("web", false), ("sms", true), ("push", true)]);
    input.channels.insert("sms".into(), ChannelState::Retired);
    input
        .channels
        .insert("push".into(), ChannelState::Protected);
    let plan = plan(&input, &[ctr], relaxed(), now());
    assert!(plan.findings.iter().all(|f| f.target != "sms"));
    let push = plan.findings.iter().find(|f| f.target == "push").unwrap();
    assert_eq!(push.verdict, Verdict::Protected);
    assert!(plan.actions.is_empty());
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Auto), Just(Mode::Propose)]
}

/// A target's prior run for a policy: none, a run ending yesterday, or counted today.
fn prior() -> impl Strategy<Value = Option<(i32, bool)>> {
    proptest::option::of((0..4i32, any::<bool>()))
}

proptest! {
    /// Without safeguards in the way, each target's action is the strongest of the
    /// actions each policy alone would call for; and planning again over the runs a
    /// plan saved (same period) changes nothing.
    #[test]
    fn the_chosen_action_is_the_strongest_candidate_and_a_rerun_changes_nothing(
        policies in proptest::collection::vec((mode(), 1..4u32), 1..4),
        targets in proptest::collection::vec((any::<bool>(), any::<bool>()), 1..5),
        priors in proptest::collection::vec(prior(), 16),
    ) {
        let policies: Vec<PolicyDef> = policies
            .iter()
            .enumerate()
            .map(|(i, (m, c))| policy(&format!("p{i}"), Scope::Channel, *m, *c))
            .collect();
        let names: Vec<String> = (0..targets.len()).map(|i| format!("c{i}")).collect();
        let mut input = channels(
            &names
                .iter()
                .zip(&targets)
                .map(|(n, (failing, _))| (n.as_str(), *failing))
                .collect::<Vec<_>>(),
        );
        for (n, (_, at_risk)) in names.iter().zip(&targets) {
            if *at_risk {
                input.channels.insert(n.clone(), ChannelState::AtRisk);
            }
        }
        let mut priors = priors.into_iter();
        for p in &policies {
            for n in &names {
                if let Some(Some((failures, today))) = priors.next() {
                    let period = if today { TODAY } else { YESTERDAY };
                    input.runs.insert(key("channel", n, &p.id), run(failures, period, "fail"));
                }
            }
        }
        let together = plan(&input, &policies, relaxed(), now());
        for n in &names {
            let strongest = policies
                .iter()
                .filter_map(|p| {
                    let alone = plan(&input, std::slice::from_ref(p), relaxed(), now());
                    alone.actions.iter().find(|a| a.target == *n).map(|a| a.action)
                })
                .max();
            let chosen = together.actions.iter().find(|a| a.target == *n).map(|a| a.action);
            prop_assert_eq!(chosen, strongest, "target {}", n);
        }
        let mut rerun = input.clone();
        for r in &together.runs {
            rerun.runs.insert(
                key(r.scope.as_str(), &r.target, &r.policy),
                run(r.failures, TODAY, r.verdict),
            );
        }
        let again = plan(&rerun, &policies, relaxed(), now());
        prop_assert!(again.runs.is_empty());
        prop_assert!(again.actions.is_empty());
        // Findings do not depend on what was counted.
        prop_assert_eq!(
            serde_json::to_value(&again.findings).unwrap(),
            serde_json::to_value(&together.findings).unwrap()
        );
    }
}
