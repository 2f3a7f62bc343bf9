//! The content checks, over plain definitions. Both `tailor validate` (files) and the
//! compile step (database) use them; only the presentation of locations differs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use fluent_bundle::{FluentArgs, FluentValue};

use super::ids::{valid_id, IdKind};
use super::model::{
    AllocationMode, ContentSet, FieldKind, FieldValue, PlacementDef, TextMode, TraitType,
    VariantDef,
};
use super::{rules, Catalog, Issue, Loc};
use crate::l10n::L10n;

const BUILTIN_ATTRIBUTES: [&str; 11] = [
    "channel", "device", "locale", "language", "country", "segments", "now", "date", "time",
    "weekday", "bucket",
];
/// Context values every message may use.
pub const CONTEXT_VARIABLES: [&str; 2] = ["channel", "device"];

/// Every content check, in file order: channels, policies, segments, traits, then
/// placements with their variants.
pub fn validate(content: &ContentSet, l10n: &L10n) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mut push = |at: Loc, message: String| issues.push(Issue { at, message });
    let channel_ids = check_channels(content, &mut push);
    check_policies(content, &mut push);
    check_segments(content, &mut push);
    let trait_ids = check_traits(content, &mut push);
    check_placements(content, l10n, &channel_ids, &trait_ids, &mut push);
    issues
}

/// Channels; returns their ids.
fn check_channels<'a>(
    content: &'a ContentSet,
    push: &mut dyn FnMut(Loc, String),
) -> HashSet<&'a str> {
    let mut channel_ids = HashSet::new();
    if content.channels.is_empty() {
        push(
            Loc::Channels {
                channel: None,
                key: None,
            },
            "no channels are defined".into(),
        );
    }
    if content.channels.len() > 64 {
        push(
            Loc::Channels {
                channel: Some(64),
                key: None,
            },
            "at most 64 channels are supported".into(),
        );
    }
    for (i, channel) in content.channels.iter().enumerate() {
        let at = |key| Loc::Channels {
            channel: Some(i),
            key,
        };
        if !valid_id(&channel.id, IdKind::Channel) {
            push(
                at(Some("id")),
                format!("channel id `{}` must be [a-z0-9_]", channel.id),
            );
        }
        if !channel_ids.insert(channel.id.as_str()) {
            push(
                at(Some("id")),
                format!("channel `{}` is defined twice", channel.id),
            );
        }
        if channel.max_sms_segments.is_some() && channel.isolation_marks {
            push(
                at(Some("isolation_marks")),
                format!(
                    "channel `{}` sends SMS: isolation marks must be off",
                    channel.id
                ),
            );
        }
        if channel.max_sms_segments == Some(0) {
            push(at(Some("max_sms_segments")), "must be at least 1".into());
        }
    }

    channel_ids
}

/// Retirement policies.
fn check_policies(content: &ContentSet, push: &mut dyn FnMut(Loc, String)) {
    let channel_names: Vec<&str> = content.channels.iter().map(|c| c.id.as_str()).collect();
    let mut policy_ids = HashSet::new();
    for (i, policy) in content.policies.iter().enumerate() {
        if !policy_ids.insert(policy.id.as_str()) {
            push(
                Loc::Policies {
                    index: Some(i),
                    key: Some("id"),
                },
                format!("policy `{}` is defined twice", policy.id),
            );
        }
        for (field, message) in crate::governance::policy::check(policy, &channel_names) {
            push(
                Loc::Policies {
                    index: Some(i),
                    key: Some(field),
                },
                format!("policy `{}`: {field} {message}", policy.id),
            );
        }
    }
}

fn check_segments(content: &ContentSet, push: &mut dyn FnMut(Loc, String)) {
    // Segments: rules over traits only, so a person's segments depend on nothing else.
    let mut segment_ids = HashSet::new();
    for (i, segment) in content.segments.iter().enumerate() {
        let at = || Loc::Segments { index: Some(i) };
        if !valid_id(&segment.id, IdKind::Segment) {
            push(
                at(),
                format!("segment id `{}` must be [a-z0-9_]", segment.id),
            );
        }
        if !segment_ids.insert(segment.id.as_str()) {
            push(at(), format!("segment `{}` is defined twice", segment.id));
        }
        match super::rules::compile(&segment.rule, &content.traits) {
            Err(e) => push(at(), format!("segment `{}`: {e}", segment.id)),
            Ok(rule) if !rule.reads_only_traits() => push(
                at(),
                format!(
                    "segment `{}`: a segment rule may read only traits",
                    segment.id
                ),
            ),
            Ok(_) => {}
        }
    }
}

/// Traits; returns their ids.
fn check_traits<'a>(
    content: &'a ContentSet,
    push: &mut dyn FnMut(Loc, String),
) -> HashSet<&'a str> {
    let mut trait_ids = HashSet::new();
    for (i, t) in content.traits.iter().enumerate() {
        let at = || Loc::Traits { index: Some(i) };
        if !valid_id(&t.id, IdKind::Trait) {
            push(at(), format!("trait id `{}` must be [a-z0-9_]", t.id));
        }
        if BUILTIN_ATTRIBUTES.contains(&t.id.as_str()) || CONTEXT_VARIABLES.contains(&t.id.as_str())
        {
            push(
                at(),
                format!("trait `{}` shadows a built-in attribute", t.id),
            );
        }
        if !trait_ids.insert(t.id.as_str()) {
            push(at(), format!("trait `{}` is defined twice", t.id));
        }
        let sample_ok = matches!(
            (&t.sample, t.kind),
            (None, _)
                | (Some(serde_json::Value::String(_)), TraitType::String)
                | (Some(serde_json::Value::Number(_)), TraitType::Number)
                | (Some(serde_json::Value::Bool(_)), TraitType::Bool)
        );
        if !sample_ok {
            push(
                at(),
                format!("trait `{}`: sample does not match its type", t.id),
            );
        }
    }

    trait_ids
}

fn check_placements(
    content: &ContentSet,
    l10n: &L10n,
    channel_ids: &HashSet<&str>,
    trait_ids: &HashSet<&str>,
    push: &mut dyn FnMut(Loc, String),
) {
    let mut placement_ids = HashSet::new();
    let mut variant_ids: HashMap<&str, usize> = HashMap::new();
    // A placement's own checks read its definition, the channels, traits, segments and
    // what its messages are: with all of them as before, its findings are too (see
    // `crate::memo`).
    let context = crate::memo::digest(&[
        &serde_json::to_vec(&content.channels).unwrap_or_default(),
        &serde_json::to_vec(&content.traits).unwrap_or_default(),
        &serde_json::to_vec(&content.segments).unwrap_or_default(),
    ]);
    let memo = checked_placements();
    let round = memo.begin();
    for (p, placement) in content.placements.iter().enumerate() {
        let key = crate::memo::digest(&[
            &context.to_le_bytes(),
            &serde_json::to_vec(placement).unwrap_or_default(),
            &l10n
                .messages_digest(placement.variants.iter().flat_map(super::messages_of))
                .to_le_bytes(),
        ]);
        let own = memo.get_or(round, key, || {
            let mut issues = Vec::new();
            check_placement(
                content,
                l10n,
                placement,
                channel_ids,
                trait_ids,
                &mut |at, message| issues.push(Issue { at, message }),
            );
            Arc::new(issues)
        });
        // Across placements: ids defined twice.
        if !placement_ids.insert(placement.id.as_str()) {
            push(
                Loc::Placement {
                    placement: p,
                    key: Some("id"),
                },
                format!("placement `{}` is defined twice", placement.id),
            );
        }
        for (v, variant) in placement.variants.iter().enumerate() {
            if variant_ids.insert(&variant.id, p).is_some() {
                push(
                    Loc::Variant {
                        placement: p,
                        variant: v,
                        key: Some("id"),
                    },
                    format!("variant `{}` is defined twice", variant.id),
                );
            }
        }
        for issue in own.iter() {
            push(in_placement(issue.at.clone(), p), issue.message.clone());
        }
    }
    memo.finish(round);
}

/// The process's findings per placement (see [`crate::memo`]).
fn checked_placements() -> &'static crate::memo::Memo<Arc<Vec<Issue>>> {
    static MEMO: std::sync::OnceLock<crate::memo::Memo<Arc<Vec<Issue>>>> =
        std::sync::OnceLock::new();
    MEMO.get_or_init(|| crate::memo::Memo::new(16))
}

/// A finding of a placement checked on its own (as placement 0), moved to placement `p`.
fn in_placement(at: Loc, p: usize) -> Loc {
    match at {
        Loc::Placement { key, .. } => Loc::Placement { placement: p, key },
        Loc::Variant { variant, key, .. } => Loc::Variant {
            placement: p,
            variant,
            key,
        },
        Loc::VariantField { variant, field, .. } => Loc::VariantField {
            placement: p,
            variant,
            field,
        },
        other => other,
    }
}

/// Why an adaptive placement's arms (its published variants without a rule) would not
/// form one group, if they would not: they must share one priority. `candidate` is a
/// variant about to be published, standing in for its namesake.
pub fn adaptive_group_problem(
    placement: &PlacementDef,
    candidate: Option<&VariantDef>,
) -> Option<String> {
    if placement.allocation != AllocationMode::Adaptive {
        return None;
    }
    let others = placement
        .variants
        .iter()
        .filter(|v| candidate.is_none_or(|c| c.id != v.id))
        .filter(|v| v.state == super::model::VariantState::Published);
    let mut priorities: Vec<i32> = others
        .chain(candidate)
        .filter(|v| v.rule.is_none())
        .map(|v| v.priority)
        .collect();
    priorities.sort_unstable();
    priorities.dedup();
    (priorities.len() > 1).then(|| {
        format!(
            "adaptive allocation needs its published variants without a rule in one group; they would have different priorities ({priorities:?})"
        )
    })
}

/// One placement's own checks (ids defined twice are the caller's), located as
/// placement 0.
fn check_placement(
    content: &ContentSet,
    l10n: &L10n,
    placement: &PlacementDef,
    channel_ids: &HashSet<&str>,
    trait_ids: &HashSet<&str>,
    push: &mut dyn FnMut(Loc, String),
) {
    let p = 0;
    {
        let at = |key| Loc::Placement { placement: p, key };
        if !valid_id(&placement.id, IdKind::Placement) {
            push(
                at(Some("id")),
                format!("placement id `{}` must be [a-z0-9_.-]", placement.id),
            );
        }
        if let Some(cap) = placement.frequency_cap {
            if cap.impressions == 0 || cap.impressions > 64 || cap.days == 0 || cap.days > 365 {
                push(
                    at(Some("frequency_cap")),
                    "frequency_cap needs impressions between 1 and 64 and days between 1 and 365"
                        .into(),
                );
            }
        }
        match placement.allocation {
            AllocationMode::Weighted => {
                for (key, given) in [
                    ("reward", placement.reward.is_some()),
                    ("adaptive", placement.adaptive.is_some()),
                ] {
                    if given {
                        push(
                            at(Some(key)),
                            format!("{key} applies only to `allocation = \"adaptive\"`"),
                        );
                    }
                }
            }
            AllocationMode::Adaptive => {
                if let Some((key, reason)) = placement.adaptive.and_then(|t| t.problem()) {
                    push(at(Some("adaptive")), format!("adaptive.{key} {reason}"));
                }
                let arms = placement
                    .variants
                    .iter()
                    .filter(|v| v.rule.is_none())
                    .count();
                if let Some(problem) = adaptive_group_problem(placement, None) {
                    push(at(Some("allocation")), problem);
                }
                if arms > crate::allocation::slots::MAX_ARMS {
                    push(
                        at(Some("allocation")),
                        format!(
                            "adaptive allocation takes at most {} variants without a rule",
                            crate::allocation::slots::MAX_ARMS
                        ),
                    );
                }
            }
        }
        for locale in &placement.allow_fallback {
            if locale != "*" && !l10n.locale_names().iter().any(|n| **n == **locale) {
                push(
                    at(Some("allow_fallback")),
                    format!("allow_fallback: `{locale}` is not a locale with messages"),
                );
            }
        }
        if placement.channels.is_empty() {
            push(
                at(Some("channels")),
                "a placement needs at least one channel".into(),
            );
        }
        for channel in &placement.channels {
            let Some(def) = content.channels.iter().find(|c| c.id == *channel) else {
                push(at(Some("channels")), format!("unknown channel `{channel}`"));
                continue;
            };
            if def.text == TextMode::Plain {
                for (name, field) in &placement.fields {
                    if field.kind == FieldKind::Html {
                        push(
                            at(Some("channels")),
                            format!("html field `{name}` cannot be sent on plain-text channel `{channel}`"),
                        );
                    }
                }
            }
        }
        for (v, variant) in placement.variants.iter().enumerate() {
            check_variant(
                content,
                l10n,
                (p, placement),
                (v, variant),
                channel_ids,
                trait_ids,
                push,
            );
        }
    }
}

/// One variant of placement `p`: id, channels, weight, schedule, rule and fields.
#[allow(clippy::too_many_arguments)]
fn check_variant(
    content: &ContentSet,
    l10n: &L10n,
    (p, placement): (usize, &PlacementDef),
    (v, variant): (usize, &VariantDef),
    channel_ids: &HashSet<&str>,
    trait_ids: &HashSet<&str>,
    push: &mut dyn FnMut(Loc, String),
) {
    let vat = |key| Loc::Variant {
        placement: p,
        variant: v,
        key,
    };
    if !valid_id(&variant.id, IdKind::Variant) {
        push(
            vat(Some("id")),
            format!("variant id `{}` must be [a-z0-9_.-]", variant.id),
        );
    }
    for channel in variant.channels.iter().flatten() {
        if !channel_ids.contains(channel.as_str()) {
            push(
                vat(Some("channels")),
                format!("unknown channel `{channel}`"),
            );
        } else if !placement.channels.contains(channel) {
            push(
                vat(Some("channels")),
                format!(
                    "channel `{channel}` is not one of placement `{}`'s channels",
                    placement.id
                ),
            );
        }
    }
    if variant.weight == 0 {
        push(vat(Some("weight")), "weight must be at least 1".into());
    }
    if let (Some(start), Some(end)) = (variant.starts_at, variant.ends_at) {
        if start >= end {
            push(
                vat(Some("ends_at")),
                "ends_at must be after starts_at".into(),
            );
        }
    }
    if let Some(rule) = &variant.rule {
        match rules::compile(rule, &content.traits) {
            Err(e) => push(vat(Some("rule")), format!("rule: {e}")),
            Ok(rule) => {
                for name in rule.segment_names() {
                    if !content.segments.iter().any(|s| s.id == name) {
                        push(
                            vat(Some("rule")),
                            format!("rule: unknown segment `{name}` (segments.toml)"),
                        );
                    }
                }
            }
        }
    }
    for (name, def) in &placement.fields {
        if def.required && !variant.fields.contains_key(name) {
            push(vat(None), format!("required field `{name}` is missing"));
        }
    }
    check_variant_fields(l10n, (p, placement), (v, variant), trait_ids, push);
}

/// A variant's fields against its placement's schema: kinds, URLs, messages present in
/// the default locale and the person variables they use.
fn check_variant_fields(
    l10n: &L10n,
    (p, placement): (usize, &PlacementDef),
    (v, variant): (usize, &VariantDef),
    trait_ids: &HashSet<&str>,
    push: &mut dyn FnMut(Loc, String),
) {
    let default = l10n.default_index();
    let default_name = l10n.locale_name(default);
    for (name, value) in &variant.fields {
        let fat = || Loc::VariantField {
            placement: p,
            variant: v,
            field: name.clone(),
        };
        let Some(def) = placement.fields.get(name) else {
            push(
                fat(),
                format!(
                    "field `{name}` is not in placement `{}`'s schema",
                    placement.id
                ),
            );
            continue;
        };
        match (value, def.kind.is_message()) {
            (FieldValue::Message { message }, true) => {
                if l10n.message_info(default, message).is_none() {
                    push(
                        fat(),
                        format!(
                            "message `{message}` is missing in the default locale {default_name}"
                        ),
                    );
                    continue;
                }
                check_person_variables(
                    l10n,
                    message,
                    trait_ids,
                    &mut |locale, path, line, text| issues_push(push, locale, path, line, text),
                );
            }
            (FieldValue::Url { url }, false)
                if matches!(def.kind, FieldKind::Image | FieldKind::Link) =>
            {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    push(fat(), format!("`{url}` is not an http(s) URL"));
                }
            }
            (FieldValue::Value { .. }, false) if def.kind == FieldKind::Data => {}
            _ => push(
                fat(),
                format!("field `{name}` is of kind {:?}: wrong value form", def.kind),
            ),
        }
    }
}

fn issues_push(
    push: &mut dyn FnMut(Loc, String),
    locale: &str,
    path: &str,
    line: usize,
    text: String,
) {
    push(
        Loc::Fluent {
            locale: locale.to_string(),
            path: path.to_string(),
            line,
            column: 1,
        },
        text,
    );
}

/// Messages with person variables need an `.anonymous` form without them, everywhere.
fn check_person_variables(
    l10n: &L10n,
    message: &str,
    traits: &HashSet<&str>,
    report: &mut dyn FnMut(&str, &str, usize, String),
) {
    for (locale, name) in l10n.locale_names().iter().enumerate() {
        let Some(info) = l10n.message_info(locale, message) else {
            continue;
        };
        let personal = info.variables().any(|v| traits.contains(v));
        for variable in info.variables() {
            if !traits.contains(variable) && !CONTEXT_VARIABLES.contains(&variable) {
                report(
                    name,
                    info.path(),
                    info.line(),
                    format!("message `{message}` uses unknown variable `${variable}` (declare it in traits.toml)"),
                );
            }
        }
        if !personal {
            continue;
        }
        let anonymous_personal = info
            .anonymous_variables()
            .map(|mut vars| vars.any(|v| traits.contains(v)));
        match anonymous_personal {
            None => report(
                name,
                info.path(),
                info.line(),
                format!(
                    "message `{message}` uses person variables but has no `.anonymous` attribute"
                ),
            ),
            Some(true) => report(
                name,
                info.path(),
                info.line(),
                format!("message `{message}`: `.anonymous` must not use person variables"),
            ),
            Some(false) => {}
        }
    }
}

/// Renders every variant on every channel it serves, in every locale, with the traits'
/// sample values and without them, and reports channel constraints that break.
pub fn check_channel_constraints(catalog: &Catalog) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mut seen = HashSet::new();
    let sample_args = |with_sample: bool| {
        let mut args = FluentArgs::new();
        for t in catalog.traits.iter().filter(|_| with_sample) {
            match &t.sample {
                Some(serde_json::Value::String(s)) => {
                    args.set(t.id.clone(), FluentValue::from(s.clone()))
                }
                Some(serde_json::Value::Number(n)) => {
                    args.set(t.id.clone(), FluentValue::from(n.as_f64().unwrap_or(0.0)))
                }
                _ => {}
            }
        }
        args
    };
    for placement in &catalog.placements {
        for variant in &placement.variants {
            for (c, channel) in catalog.channels.iter().enumerate() {
                // Only limits make violations: a channel without any cannot have one,
                // so its renders (every variant × locale) are not worth doing.
                let limited = !channel.def.field_max_chars.is_empty()
                    || channel.def.max_sms_segments.is_some()
                    || channel.def.max_payload_bytes.is_some();
                if !limited || !variant.allows_channel(c) {
                    continue;
                }
                for locale in 0..catalog.l10n.locale_names().len() {
                    let chain = crate::l10n::Chain(vec![
                        locale as u16,
                        catalog.l10n.default_index() as u16,
                    ]);
                    for with_sample in [true, false] {
                        let mut args = sample_args(with_sample);
                        args.set("channel", FluentValue::from(channel.id.to_string()));
                        args.set("device", FluentValue::from("mobile"));
                        let rendered = crate::render::render(catalog, variant, c, &chain, &args);
                        for violation in rendered.violations {
                            let key = (
                                variant.id.clone(),
                                channel.id.clone(),
                                violation.locale.clone(),
                                violation.field.clone(),
                            );
                            if !seen.insert(key) {
                                continue;
                            }
                            let locale_index = catalog
                                .l10n
                                .locale_names()
                                .iter()
                                .position(|n| *n == violation.locale)
                                .unwrap_or(0);
                            let info = violation
                                .message
                                .as_deref()
                                .and_then(|m| catalog.l10n.message_info(locale_index, m));
                            issues.push(Issue {
                                at: Loc::Fluent {
                                    locale: violation.locale.to_string(),
                                    path: info.map(|i| i.path().to_string()).unwrap_or_default(),
                                    line: info.map_or(0, |i| i.line()),
                                    column: 1,
                                },
                                message: format!(
                                    "variant `{}` on channel `{}`, locale {}, message `{}`: {}",
                                    variant.id,
                                    channel.id,
                                    violation.locale,
                                    violation.message.as_deref().unwrap_or("(all fields)"),
                                    violation.detail
                                ),
                            });
                        }
                    }
                }
            }
        }
    }
    issues
}
