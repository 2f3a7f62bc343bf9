//! Selection: which variant of a placement a context gets, and what the choice depended
//! on (so delivery knows whether the answer may be shared by a cache).
//!
//! Order (see DESIGN.md): eligible variants (published, in schedule, channel and device
//! allowed, rule true) → the best group by (priority, specificity) → a weighted choice
//! that is sticky per person and placement: the person's bucket is ranked by the
//! placement's bucket permutation and the rank falls into one variant's share of
//! [0, BUCKETS). Without a person the heaviest variant of the group is served.
//!
//! The eligibility gate is pure and shared: delivery ([`crate::delivery`]) stops at the
//! first reason a placement or variant cannot serve, preview lists every reason, and
//! both read them from [`blocks`] (the placement: channel retired or not offered, the
//! person opted out or capped) and [`eligibility`] (each variant: state, channel,
//! device, schedule, rule), so the two can never disagree.

use chrono::{DateTime, Utc};

use crate::allocation::Serving;
use crate::catalog::model::{DeviceClass, VariantState};
use crate::catalog::rules::RuleInput;
use crate::catalog::{Placement, BUCKETS};

pub struct DecisionInput<'a> {
    pub channel: usize,
    pub device: DeviceClass,
    pub now: DateTime<Utc>,
    pub attributes: &'a dyn RuleInput,
    /// The person's sticky bucket (from their id or their cohort key).
    pub bucket: Option<u16>,
    /// The request carries trait values: a rule reading a trait is about this person.
    pub has_traits: bool,
    /// The bucket is the person's own (no cohort key stood for them).
    pub bucket_from_person: bool,
    /// The segments are the person's own (no cohort key stood for them).
    pub segments_from_person: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Index of the chosen variant in the placement; `None` when nothing is eligible.
    pub variant: Option<usize>,
    /// The choice read something about the person (a trait; their segments or bucket
    /// when no cohort key stood for them): the answer must not be shared.
    pub personal: bool,
    /// The choice used the bucket (cohort-shareable, but not person-free).
    pub used_bucket: bool,
    /// A bucket would have mattered (several candidates, or a rule on `bucket`), even if
    /// the request named no one: answers differ between people and the anonymous.
    pub bucket_sensitive: bool,
    /// A rule read the clock: the answer may change at any minute.
    pub temporal: bool,
    /// The next schedule boundary of any otherwise-eligible variant.
    pub next_change: Option<DateTime<Utc>>,
}

/// What keeps a whole placement from serving a context, whichever variant is eligible;
/// in the order the gate checks them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    /// The channel is retired (delivery answers 410 before it gets here).
    ChannelRetired,
    /// The placement is not offered on the context's channel.
    ChannelNotOffered,
    /// The person (or their cohort) opted out of the channel.
    OptedOut,
    /// The person saw the placement as often as its frequency cap allows.
    FrequencyCap,
}

/// What the placement gate reads about a placement and a context. The caller gathers
/// it (consents come with the person, a cap needs their recent impressions), so the
/// gate itself stays pure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlacementFacts {
    pub channel_retired: bool,
    pub channel_offered: bool,
    pub opted_out: bool,
    pub capped: bool,
}

impl PlacementFacts {
    /// The facts for `placement` on the context's channel, nothing else known yet.
    pub fn new(placement: &Placement, channel: usize) -> PlacementFacts {
        PlacementFacts {
            channel_retired: false,
            channel_offered: placement.channels & (1 << channel) != 0,
            opted_out: false,
            capped: false,
        }
    }
}

/// Every block that applies, in gate order: delivery acts on the first, preview lists
/// them all. Allocates nothing.
pub fn blocks(facts: &PlacementFacts) -> impl Iterator<Item = Blocked> {
    [
        (facts.channel_retired, Blocked::ChannelRetired),
        (!facts.channel_offered, Blocked::ChannelNotOffered),
        (facts.opted_out, Blocked::OptedOut),
        (facts.capped, Blocked::FrequencyCap),
    ]
    .into_iter()
    .filter_map(|(applies, block)| applies.then_some(block))
}

/// The whole gate for one variant: may it serve this context at all (before ranking
/// and the weighted choice)?
pub fn eligible(
    facts: &PlacementFacts,
    variant: &crate::catalog::Variant,
    input: &DecisionInput,
) -> bool {
    blocks(facts).next().is_none() && eligibility(variant, input).is_ok()
}

/// The variant a context gets: the decision's, unless the placement is blocked.
pub fn chosen(facts: &PlacementFacts, decision: &Decision) -> Option<usize> {
    decision.variant.filter(|_| blocks(facts).next().is_none())
}

/// Why a variant cannot serve a context (preview explains every variant with it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ineligible {
    NotPublished(VariantState),
    Channel,
    Device,
    NotStarted(DateTime<Utc>),
    Ended(DateTime<Utc>),
    /// Its targeting rule was false.
    Rule,
}

impl Ineligible {
    /// Passed the state, channel and device gates (its schedule still matters).
    fn offered(&self) -> bool {
        matches!(
            self,
            Ineligible::NotStarted(_) | Ineligible::Ended(_) | Ineligible::Rule
        )
    }
}

/// The eligibility gates of step 2, in order: state, channel, device, schedule, rule.
pub fn eligibility(
    variant: &crate::catalog::Variant,
    input: &DecisionInput,
) -> Result<(), Ineligible> {
    if variant.state != VariantState::Published {
        return Err(Ineligible::NotPublished(variant.state));
    }
    if !variant.allows_channel(input.channel) {
        return Err(Ineligible::Channel);
    }
    if !variant.allows_device(input.device) {
        return Err(Ineligible::Device);
    }
    match (variant.starts_at, variant.ends_at) {
        (Some(start), _) if input.now < start => return Err(Ineligible::NotStarted(start)),
        (_, Some(end)) if input.now >= end => return Err(Ineligible::Ended(end)),
        _ => {}
    }
    match &variant.rule {
        Some(rule) if !rule.eval(input.attributes) => Err(Ineligible::Rule),
        _ => Ok(()),
    }
}

/// The decision for a placement that splits by weight (or whose allocation is not
/// loaded).
pub fn decide(placement: &Placement, input: &DecisionInput) -> Decision {
    decide_allocated(placement, None, input)
}

/// The decision, with an adaptive placement's loaded slot map: the weighted choice
/// becomes the owner of the person's slot (see [`crate::allocation`]).
pub fn decide_allocated(
    placement: &Placement,
    allocation: Option<&Serving>,
    input: &DecisionInput,
) -> Decision {
    let mut personal = false;
    let mut reads_bucket = false;
    let mut temporal = false;
    let mut next_change: Option<DateTime<Utc>> = None;
    let mut best: Option<(i32, u32)> = None;
    // Eligible variants of the best group so far; small, so a stack-friendly Vec.
    let mut group: Vec<usize> = Vec::new();
    for (index, variant) in placement.variants.iter().enumerate() {
        let verdict = eligibility(variant, input);
        if verdict.as_ref().is_err_and(|why| !why.offered()) {
            continue;
        }
        for boundary in [variant.starts_at, variant.ends_at].into_iter().flatten() {
            if boundary > input.now && next_change.is_none_or(|n| boundary < n) {
                next_change = Some(boundary);
            }
        }
        if matches!(verdict, Ok(()) | Err(Ineligible::Rule)) {
            // The rule was read: what it read decides who may share the answer.
            let reads = variant.reads;
            if variant.rule.is_some() {
                reads_bucket |= reads.bucket;
                personal |= (reads.traits && input.has_traits)
                    || (reads.segments && input.segments_from_person)
                    || (reads.bucket && input.bucket_from_person);
                temporal |= reads.temporal;
            }
        }
        if verdict.is_err() {
            continue;
        }
        let key = (variant.priority, variant.specificity);
        match best {
            Some(b) if key < b => {}
            Some(b) if key == b => group.push(index),
            _ => {
                best = Some(key);
                group.clear();
                group.push(index);
            }
        }
    }
    let (variant, used_bucket) = match group.as_slice() {
        [] => (None, false),
        [only] => (Some(*only), false),
        candidates => {
            let weight = |i: usize| match allocation {
                Some(serving) => serving.slots_of(i),
                None => placement.variants[i].weight,
            };
            match input.bucket {
                Some(bucket) => (
                    Some(assigned(placement, allocation, candidates, bucket, weight)),
                    true,
                ),
                None => {
                    let heaviest = candidates
                        .iter()
                        .copied()
                        .max_by_key(|&i| {
                            (
                                weight(i),
                                placement.variants[i].weight,
                                std::cmp::Reverse(i),
                            )
                        })
                        .unwrap_or(candidates[0]);
                    (Some(heaviest), false)
                }
            }
        }
    };
    Decision {
        variant,
        personal: personal || (used_bucket && input.bucket_from_person),
        used_bucket,
        bucket_sensitive: reads_bucket || group.len() > 1,
        temporal,
        next_change,
    }
}

/// The candidate a bucket gets: the owner of its slot when the placement has a slot map
/// and the owner is a candidate; otherwise a share of the ranked buckets by `weight`.
fn assigned(
    placement: &Placement,
    allocation: Option<&Serving>,
    candidates: &[usize],
    bucket: u16,
    weight: impl Fn(usize) -> u32,
) -> usize {
    let rank = placement.bucket_rank[(bucket % BUCKETS) as usize];
    // The slot's own owner when it is a candidate, else the nearest slot's that is.
    if let Some(owner) = allocation.and_then(|serving| serving.owner_from(rank, candidates)) {
        return owner;
    }
    // No slot map, or no candidate owns a slot (all published since the last
    // recompute): a share of the ranks by weight (all weighing nothing: evenly).
    let part = crate::allocation::slots::part_of(rank, candidates.iter().map(|&i| weight(i)));
    candidates[part]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::*;
    use crate::catalog::rules::{temporal_value, Attr, Value};
    use crate::catalog::Catalog;
    use crate::identity::bucket_of;
    use chrono::TimeZone;
    use std::collections::BTreeMap;

    struct Attrs;
    impl RuleInput for Attrs {
        fn value(&self, attr: Attr) -> Option<Value> {
            match attr {
                Attr::Country => Some(Value::Text("FR".into())),
                _ => temporal_value(attr, Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap()),
            }
        }
        fn segments(&self) -> &[Box<str>] {
            &[]
        }
    }

    fn variant(id: &str, weight: u32, priority: i32, rule: Option<&str>) -> VariantDef {
        VariantDef {
            id: id.into(),
            version: 1,
            state: VariantState::Published,
            channels: None,
            devices: None,
            rule: rule.map(str::to_string),
            priority,
            weight,
            starts_at: None,
            ends_at: None,
            fields: BTreeMap::new(),
        }
    }

    fn catalog(variants: Vec<VariantDef>) -> Catalog {
        let content = ContentSet {
            channels: ["web", "email"]
                .iter()
                .map(|id| ChannelDef {
                    id: id.to_string(),
                    state: ChannelState::Active,
                    description: String::new(),
                    text: TextMode::Rich,
                    isolation_marks: true,
                    max_sms_segments: None,
                    max_payload_bytes: None,
                    escape_html: false,
                    field_max_chars: BTreeMap::new(),
                    tracked_links: false,
                })
                .collect(),
            traits: vec![],
            placements: vec![PlacementDef {
                id: "home.hero".into(),
                description: String::new(),
                channels: vec!["web".into(), "email".into()],
                fields: BTreeMap::new(),
                frequency_cap: None,
                allow_fallback: vec![],
                archived: false,
                allocation: AllocationMode::Weighted,
                reward: None,
                adaptive: None,
                variants,
            }],
            fluent: vec![],
            segments: vec![],
            policies: vec![],
        };
        Catalog::compile(&content, "en", 1).0
    }

    fn input(channel: usize, bucket: Option<u16>) -> DecisionInput<'static> {
        DecisionInput {
            channel,
            device: DeviceClass::Mobile,
            now: Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap(),
            attributes: &Attrs,
            bucket,
            has_traits: false,
            bucket_from_person: true,
            segments_from_person: false,
        }
    }

    #[test]
    fn shares_follow_weights_within_one_point_over_100k_ids() {
        let catalog = catalog(vec![
            variant("a", 50, 0, None),
            variant("b", 30, 0, None),
            variant("c", 15, 0, None),
            variant("d", 5, 0, None),
        ]);
        let placement = &catalog.placements[0];
        let mut counts = [0u32; 4];
        for i in 0..100_000 {
            let bucket = bucket_of(&format!("anon:visitor-{i}"));
            let decision = decide(placement, &input(0, Some(bucket)));
            counts[decision.variant.unwrap()] += 1;
            assert!(decision.personal && decision.used_bucket);
        }
        for (count, weight) in counts.iter().zip([50.0, 30.0, 15.0, 5.0]) {
            let share = f64::from(*count) / 1000.0;
            assert!(
                (share - weight).abs() <= 1.0,
                "share {share}% vs weight {weight}%"
            );
        }
    }

    #[test]
    fn one_id_always_gets_the_same_variant_on_every_channel() {
        let catalog = catalog(vec![
            variant("a", 1, 0, None),
            variant("b", 1, 0, None),
            variant("c", 1, 0, None),
        ]);
        let placement = &catalog.placements[0];
        for i in 0..1000 {
            let bucket = bucket_of(&format!("anon:{i}"));
            let web = decide(placement, &input(0, Some(bucket))).variant;
            for _ in 0..3 {
                assert_eq!(decide(placement, &input(0, Some(bucket))).variant, web);
                assert_eq!(decide(placement, &input(1, Some(bucket))).variant, web);
            }
        }
    }

    #[test]
    fn priority_and_specificity_win_before_weights() {
        let catalog = catalog(vec![
            variant("default", 100, 0, None),
            variant("france", 1, 0, Some(r#"country == "FR""#)),
            variant("germany", 1, 5, Some(r#"country == "DE""#)),
        ]);
        let decision = decide(&catalog.placements[0], &input(0, Some(7)));
        assert_eq!(
            catalog.placements[0].variants[decision.variant.unwrap()]
                .id
                .as_ref(),
            "france"
        );
        assert!(!decision.used_bucket, "a single candidate needs no bucket");
    }

    #[test]
    fn without_a_person_the_heaviest_variant_is_served_and_shareable() {
        let catalog = catalog(vec![variant("a", 30, 0, None), variant("b", 70, 0, None)]);
        let decision = decide(&catalog.placements[0], &input(0, None));
        assert_eq!(
            catalog.placements[0].variants[decision.variant.unwrap()]
                .id
                .as_ref(),
            "b"
        );
        assert!(!decision.personal);
        assert!(
            decision.bucket_sensitive,
            "a named person could get the other variant"
        );
    }

    #[test]
    fn schedule_limits_and_reports_next_change() {
        let mut sale = variant("sale", 1, 10, None);
        sale.starts_at = Some(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap());
        let catalog = catalog(vec![variant("default", 1, 0, None), sale]);
        let decision = decide(&catalog.placements[0], &input(0, None));
        assert_eq!(decision.variant, Some(0));
        assert_eq!(
            decision.next_change,
            Some(Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap())
        );
    }

    #[test]
    fn blocks_come_in_gate_order_and_none_means_open() {
        let open = PlacementFacts {
            channel_retired: false,
            channel_offered: true,
            opted_out: false,
            capped: false,
        };
        assert_eq!(blocks(&open).next(), None);
        let all = PlacementFacts {
            channel_retired: true,
            channel_offered: false,
            opted_out: true,
            capped: true,
        };
        assert_eq!(
            blocks(&all).collect::<Vec<_>>(),
            [
                Blocked::ChannelRetired,
                Blocked::ChannelNotOffered,
                Blocked::OptedOut,
                Blocked::FrequencyCap
            ]
        );
        let capped = PlacementFacts {
            capped: true,
            ..open
        };
        assert_eq!(blocks(&capped).next(), Some(Blocked::FrequencyCap));
    }

    #[test]
    fn a_blocked_placement_chooses_nothing_and_no_variant_is_eligible() {
        let catalog = catalog(vec![variant("a", 1, 0, None)]);
        let placement = &catalog.placements[0];
        let input = input(0, Some(3));
        let decision = decide(placement, &input);
        let open = PlacementFacts::new(placement, 0);
        assert_eq!(chosen(&open, &decision), Some(0));
        assert!(eligible(&open, &placement.variants[0], &input));
        let opted_out = PlacementFacts {
            opted_out: true,
            ..open
        };
        assert_eq!(chosen(&opted_out, &decision), None);
        assert!(!eligible(&opted_out, &placement.variants[0], &input));
    }

    #[test]
    fn the_variant_gate_names_the_first_failing_check() {
        let mut draft = variant("draft", 1, 0, None);
        draft.state = VariantState::Draft;
        let mut email_only = variant("email", 1, 0, None);
        email_only.channels = Some(vec!["email".into()]);
        let mut ended = variant("ended", 1, 0, None);
        ended.ends_at = Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let german = variant("german", 1, 0, Some(r#"country == "DE""#));
        let catalog = catalog(vec![draft, email_only, ended, german]);
        let verdicts: Vec<_> = catalog.placements[0]
            .variants
            .iter()
            .map(|v| eligibility(v, &input(0, None)))
            .collect();
        assert_eq!(
            verdicts,
            [
                Err(Ineligible::NotPublished(VariantState::Draft)),
                Err(Ineligible::Channel),
                Err(Ineligible::Ended(
                    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
                )),
                Err(Ineligible::Rule),
            ]
        );
    }

    /// A variant of a random shape: any state, channel limit, schedule around the test
    /// clock, rule, priority and weight.
    fn any_variant() -> impl proptest::strategy::Strategy<Value = VariantDef> {
        use proptest::prelude::*;
        (
            0..3usize,
            0..3usize,
            0..3usize,
            0..3usize,
            0..3i32,
            1..20u32,
            0..3usize,
        )
            .prop_map(|(state, channels, schedule, rule, priority, weight, id)| {
                let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
                let mut def = variant(
                    &format!("v{id}"),
                    weight,
                    priority,
                    [None, Some(r#"country == "FR""#), Some(r#"country == "DE""#)][rule],
                );
                def.state = [
                    VariantState::Published,
                    VariantState::Draft,
                    VariantState::Archived,
                ][state];
                def.channels =
                    [None, Some(vec!["web".into()]), Some(vec!["email".into()])][channels].clone();
                match schedule {
                    1 => def.starts_at = Some(now + chrono::Duration::days(1)),
                    2 => def.ends_at = Some(now - chrono::Duration::days(1)),
                    _ => {}
                }
                def
            })
    }

    proptest::proptest! {
        #[test]
        fn assignment_is_a_pure_function_of_id_and_placement(id in "[a-z0-9]{1,24}") {
            let catalog = catalog(vec![variant("a", 2, 0, None), variant("b", 1, 0, None)]);
            let bucket = bucket_of(&id);
            let first = decide(&catalog.placements[0], &input(0, Some(bucket)));
            let again = decide(&catalog.placements[0], &input(1, Some(bucket_of(&id))));
            proptest::prop_assert_eq!(first.variant, again.variant);
        }
    }

    proptest::proptest! {
        /// Delivery's choice always passes the gate preview explains with, and when
        /// anything passes, something is chosen from the best eligible group.
        #[test]
        fn the_chosen_variant_is_always_one_the_gate_calls_eligible(
            defs in proptest::collection::vec(any_variant(), 1..6),
            channel in 0..2usize,
            bucket in proptest::option::of(0..1000u16),
            capped in proptest::bool::ANY,
        ) {
            // Ids are unique within a placement.
            let defs: Vec<VariantDef> = defs
                .into_iter()
                .enumerate()
                .map(|(i, mut d)| { d.id = format!("v{i}"); d })
                .collect();
            let catalog = catalog(defs);
            let placement = &catalog.placements[0];
            let input = input(channel, bucket);
            let facts = PlacementFacts { capped, ..PlacementFacts::new(placement, channel) };
            let decision = decide(placement, &input);
            let eligible_ones: Vec<usize> = (0..placement.variants.len())
                .filter(|&i| eligible(&facts, &placement.variants[i], &input))
                .collect();
            match chosen(&facts, &decision) {
                Some(i) => {
                    proptest::prop_assert!(eligible_ones.contains(&i));
                    let rank = |i: usize| {
                        (placement.variants[i].priority, placement.variants[i].specificity)
                    };
                    proptest::prop_assert!(eligible_ones.iter().all(|&j| rank(j) <= rank(i)));
                }
                None => proptest::prop_assert!(eligible_ones.is_empty()),
            }
            // Without the placement's blocks, the decision's own pick passes the variant gate.
            if let Some(i) = decision.variant {
                proptest::prop_assert!(eligibility(&placement.variants[i], &input).is_ok());
            }
        }
    }
}
