//! Selection: which variant of a placement a context gets, and what the choice depended
//! on (so delivery knows whether the answer may be shared by a cache).
//!
//! Order (see DESIGN.md): eligible variants (published, in schedule, channel and device
//! allowed, rule true) → the best group by (priority, specificity) → a weighted choice
//! that is sticky per person and placement: the person's bucket is ranked by the
//! placement's bucket permutation and the rank falls into one variant's share of
//! [0, BUCKETS). Without a person the heaviest variant of the group is served.

use chrono::{DateTime, Utc};

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

pub fn decide(placement: &Placement, input: &DecisionInput) -> Decision {
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
        candidates => match input.bucket {
            Some(bucket) => (Some(weighted(placement, candidates, bucket)), true),
            None => {
                let heaviest = candidates
                    .iter()
                    .copied()
                    .max_by_key(|&i| (placement.variants[i].weight, std::cmp::Reverse(i)))
                    .unwrap_or(candidates[0]);
                (Some(heaviest), false)
            }
        },
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

fn weighted(placement: &Placement, candidates: &[usize], bucket: u16) -> usize {
    let rank = u64::from(placement.bucket_rank[(bucket % BUCKETS) as usize]);
    let total: u64 = candidates
        .iter()
        .map(|&i| u64::from(placement.variants[i].weight))
        .sum();
    let mut cumulative = 0u64;
    for &i in candidates {
        cumulative += u64::from(placement.variants[i].weight);
        // rank / BUCKETS < cumulative / total, in integers.
        if rank * total < cumulative * u64::from(BUCKETS) {
            return i;
        }
    }
    candidates[candidates.len() - 1]
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
}
