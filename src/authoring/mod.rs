//! Authoring: marketers write placements, variants and Fluent resources through the
//! admin API; every save is a version, variants and Fluent resources go through review
//! ([`workflow`]) before they are published, and a publish is live on every node at once.
//!
//! This module holds the checks and reports over plain content (no HTTP, no SQL):
//! what a draft may be saved or submitted with, which locales a variant is live in,
//! translation coverage, and diffs between versions.
//!
//! Layers: [`usecases`] orchestrate a change (load, check, store the version or step,
//! announce it, purge) and fail with an [`error::AuthoringError`]; the handlers, one
//! module per resource ([`placements`], [`variants`], [`fluent`], [`history`],
//! [`preview`]), only extract, call a use case and shape the answer; [`http`] is the
//! route table. [`workflow`] is the review state machine.

pub mod error;
pub mod fluent;
pub mod history;
pub mod http;
pub mod placements;
pub mod preview;
mod service;
pub mod usecases;
pub mod variants;
pub mod workflow;

pub use error::AuthoringError;
pub use service::Authoring;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::catalog::model::{ContentSet, FieldValue, FluentFile, PlacementDef, VariantDef};
use crate::catalog::{self, Catalog, Issue, Loc};
use crate::l10n::L10n;
use crate::problem::ContentError;

/// How strictly a variant is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strictness {
    /// Saving a draft: its messages may not be written yet.
    Draft,
    /// Submitting for review, and publishing: every message exists in the default
    /// locale, and every channel's limits hold in every locale.
    Submit,
}

/// The content checks for one variant of one placement, against the rest of `content`
/// (channels, traits, segments, Fluent resources). Nothing found: an empty list.
pub fn check_variant(
    content: &ContentSet,
    placement: &PlacementDef,
    variant: &VariantDef,
    default_locale: &str,
    strictness: Strictness,
) -> Vec<ContentError> {
    // The placement alone, and no copy of the Fluent resources (read where they are).
    let alone = ContentSet {
        channels: content.channels.clone(),
        traits: content.traits.clone(),
        segments: content.segments.clone(),
        placements: vec![PlacementDef {
            variants: vec![variant.clone()],
            ..placement.clone()
        }],
        policies: Vec::new(),
        fluent: Vec::new(),
    };
    let (l10n, _) = L10n::build(&content.fluent, default_locale);
    let default = l10n.default_index();
    // A text field whose message is not written yet (the one problem a draft may have).
    let unwritten = |field: &str| {
        placement
            .fields
            .get(field)
            .is_some_and(|def| def.kind.is_message())
            && matches!(variant.fields.get(field), Some(FieldValue::Message { message })
                if l10n.message_info(default, message).is_none())
    };
    let mut errors: Vec<ContentError> = catalog::validate(&alone, &l10n)
        .into_iter()
        .filter(|issue| match &issue.at {
            Loc::Placement { .. } | Loc::Variant { .. } => true,
            Loc::VariantField { field, .. } => {
                strictness == Strictness::Submit || !unwritten(field)
            }
            // Problems in other content are not this author's to fix here.
            _ => false,
        })
        .map(content_error)
        .collect();
    // Adaptive allocation serves its arms as one group: a variant without a rule that
    // would be published at another priority is refused before it gets there.
    if strictness == Strictness::Submit && variant.rule.is_none() {
        if let Some(reason) = catalog::adaptive_group_problem(placement, Some(variant)) {
            errors.push(ContentError {
                field: Some("priority".into()),
                line: None,
                column: None,
                reason,
            });
        }
    }
    if strictness == Strictness::Submit && errors.is_empty() {
        let (compiled, _) =
            Catalog::compile_with_fluent(&alone, &content.fluent, default_locale, 0);
        errors.extend(
            catalog::check_channel_constraints(&compiled)
                .into_iter()
                .map(content_error),
        );
    }
    errors
}

/// The content checks for a placement, with the variants it already has.
pub fn check_placement(
    content: &ContentSet,
    placement: &PlacementDef,
    default_locale: &str,
) -> Vec<ContentError> {
    let alone = ContentSet {
        channels: content.channels.clone(),
        traits: content.traits.clone(),
        segments: content.segments.clone(),
        placements: vec![placement.clone()],
        policies: Vec::new(),
        fluent: Vec::new(),
    };
    let (l10n, _) = L10n::build(&content.fluent, default_locale);
    // The placement's own problems, and those it would cause its variants (a channel
    // taken away that a variant is limited to, a field a variant fills removed).
    catalog::validate(&alone, &l10n)
        .into_iter()
        .filter(|issue| {
            matches!(
                issue.at,
                Loc::Placement { .. } | Loc::Variant { .. } | Loc::VariantField { .. }
            )
        })
        .map(content_error)
        .collect()
}

/// Where an issue is, as an API field path (variant-relative).
pub fn content_error(issue: Issue) -> ContentError {
    let (field, line, column) = match issue.at {
        Loc::Placement { key, .. } | Loc::Variant { key, .. } => {
            (key.map(str::to_string), None, None)
        }
        Loc::VariantField { field, .. } => (Some(format!("fields.{field}")), None, None),
        Loc::Fluent {
            locale,
            path,
            line,
            column,
        } => (Some(format!("{locale}/{path}")), Some(line), Some(column)),
        Loc::Channels { .. } => (Some("channels".into()), None, None),
        Loc::Traits { .. } => (Some("traits".into()), None, None),
        Loc::Segments { .. } => (Some("segments".into()), None, None),
        Loc::Policies { .. } => (Some("policies".into()), None, None),
    };
    ContentError {
        field,
        line,
        column,
        reason: issue.message,
    }
}

/// The syntax and duplicate-id errors of one Fluent resource, read beside the other
/// resources of its locale, with line and column.
pub fn check_fluent(others: &[FluentFile], file: &FluentFile) -> Vec<ContentError> {
    let mut files: Vec<FluentFile> = others
        .iter()
        .filter(|f| f.locale == file.locale && f.path != file.path)
        .cloned()
        .collect();
    files.push(file.clone());
    let (_, errors) = L10n::build(&files, &file.locale);
    errors
        .into_iter()
        .filter(|e| e.path == file.path)
        .map(|e| ContentError {
            field: Some(format!("{}/{}", e.locale, e.path)),
            line: Some(e.line),
            column: Some(e.column),
            reason: e.message,
        })
        .collect()
}

/// A locale a variant is not live in, and the messages it lacks there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IncompleteLocale {
    pub locale: String,
    pub missing: Vec<String>,
}

/// Where a variant is live (the locale completeness gate), and where not and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LiveLocales {
    pub live_locales: Vec<String>,
    pub incomplete_locales: Vec<IncompleteLocale>,
}

pub fn live_locales(l10n: &L10n, placement: &PlacementDef, variant: &VariantDef) -> LiveLocales {
    let live = catalog::live_locales(l10n, placement, variant);
    let mut report = LiveLocales {
        live_locales: Vec::new(),
        incomplete_locales: Vec::new(),
    };
    for (index, name) in l10n.locale_names().iter().enumerate() {
        if live[index] {
            report.live_locales.push(name.to_string());
        } else {
            report.incomplete_locales.push(IncompleteLocale {
                locale: name.to_string(),
                missing: catalog::messages_of(variant)
                    .filter(|m| l10n.message_info(index, m).is_none())
                    .map(str::to_string)
                    .collect(),
            });
        }
    }
    report
}

/// Published variants whose messages the default locale of `l10n` (built from the
/// content's Fluent resources) lacks: a Fluent change that would leave them so must not
/// go live.
pub fn broken_by(content: &ContentSet, l10n: &L10n) -> Vec<ContentError> {
    let default = l10n.default_index();
    let default_locale = l10n.locale_name(default);
    let mut errors = Vec::new();
    for (_, variant) in content.published_variants() {
        for message in catalog::messages_of(variant) {
            if l10n.message_info(default, message).is_none() {
                errors.push(ContentError {
                    field: Some(format!("{default_locale}:{message}")),
                    line: None,
                    column: None,
                    reason: format!(
                        "published variant `{}` uses message `{message}`, which would be missing in the default locale {default_locale}",
                        variant.id
                    ),
                });
            }
        }
    }
    errors
}

/// One message's translation state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct MessageCoverage {
    pub id: String,
    /// `placement/variant` pairs that use it.
    pub used_by: Vec<String>,
    /// Locales without the message, where the variants using it are not live.
    pub missing: Vec<String>,
    /// Locales without the message where every placement using it allows fallback.
    pub fallback: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LocaleCoverage {
    pub locale: String,
    pub present: usize,
    pub missing: usize,
    pub fallback: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Coverage {
    pub default_locale: String,
    pub locales: Vec<LocaleCoverage>,
    pub messages: Vec<MessageCoverage>,
}

/// Translation coverage of every message a published variant uses.
pub fn coverage(content: &ContentSet, l10n: &L10n) -> Coverage {
    // message → (users, placements allowing fallback per locale index)
    let mut used: BTreeMap<&str, (BTreeSet<String>, Vec<&PlacementDef>)> = BTreeMap::new();
    for (placement, variant) in content.published_variants() {
        for message in catalog::messages_of(variant) {
            let entry = used.entry(message).or_default();
            entry.0.insert(format!("{}/{}", placement.id, variant.id));
            if !entry.1.iter().any(|p| p.id == placement.id) {
                entry.1.push(placement);
            }
        }
    }
    let names = l10n.locale_names();
    let mut locales: Vec<LocaleCoverage> = names
        .iter()
        .map(|n| LocaleCoverage {
            locale: n.to_string(),
            present: 0,
            missing: 0,
            fallback: 0,
        })
        .collect();
    let mut messages = Vec::new();
    for (id, (users, placements)) in used {
        let mut missing = Vec::new();
        let mut fallback = Vec::new();
        for (index, name) in names.iter().enumerate() {
            if l10n.message_info(index, id).is_some() {
                locales[index].present += 1;
            } else if placements.iter().all(|p| p.allows_fallback(name)) {
                locales[index].fallback += 1;
                fallback.push(name.to_string());
            } else {
                locales[index].missing += 1;
                missing.push(name.to_string());
            }
        }
        messages.push(MessageCoverage {
            id: id.to_string(),
            used_by: users.into_iter().collect(),
            missing,
            fallback,
        });
    }
    Coverage {
        default_locale: names[l10n.default_index()].to_string(),
        locales,
        messages,
    }
}

/// The ids of the messages a Fluent source defines (whatever parses).
pub fn message_ids(source: &str) -> Vec<String> {
    if crate::l10n::refused_before_parsing(source).is_some() {
        return Vec::new();
    }
    let resource = match fluent_syntax::parser::parse(source) {
        Ok(resource) => resource,
        Err((resource, _)) => resource,
    };
    resource
        .body
        .iter()
        .filter_map(|entry| match entry {
            fluent_syntax::ast::Entry::Message(m) => Some(m.id.name.to_string()),
            _ => None,
        })
        .collect()
}

/// A unified diff between two versions' documents (JSON pretty-printed first, so a
/// changed field is one changed line).
pub fn diff(from_name: &str, from: &str, to_name: &str, to: &str) -> String {
    let readable = |doc: &str| match serde_json::from_str::<serde_json::Value>(doc) {
        Ok(value) if value.is_object() => {
            serde_json::to_string_pretty(&value).unwrap_or_else(|_| doc.to_string()) + "\n"
        }
        _ => doc.to_string(),
    };
    let (from, to) = (readable(from), readable(to));
    // Two 256 KiB resources with nothing in common must not hold a worker for long: past
    // the deadline the diff is coarser, never wrong.
    similar::TextDiff::configure()
        .timeout(std::time::Duration::from_millis(250))
        .diff_lines(&from, &to)
        .unified_diff()
        .context_radius(3)
        .header(from_name, to_name)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::model::FluentFile;

    fn file(locale: &str, path: &str, source: &str) -> FluentFile {
        FluentFile {
            locale: locale.into(),
            path: path.into(),
            source: source.into(),
        }
    }

    #[test]
    fn fluent_syntax_errors_carry_line_and_column() {
        let errors = check_fluent(
            &[],
            &file(
                "fr",
                "home.ftl",
                "hello = Bonjour\nbroken = { $name\nok = Oui\n",
            ),
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        // Line 2, just after `$name`, where the closing brace belongs.
        assert_eq!((errors[0].line, errors[0].column), (Some(2), Some(17)));
        assert_eq!(errors[0].field.as_deref(), Some("fr/home.ftl"));
    }

    #[test]
    fn a_duplicate_in_another_file_of_the_locale_is_reported() {
        let errors = check_fluent(
            &[file("fr", "a.ftl", "hello = Salut\n")],
            &file("fr", "b.ftl", "hello = Bonjour\n"),
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].reason.contains("already defined"));
    }

    fn demo() -> ContentSet {
        crate::catalog::files::load(
            std::path::Path::new("content"),
            std::path::Path::new("locales"),
        )
        .content
    }

    fn hero(content: &ContentSet) -> &PlacementDef {
        content
            .placements
            .iter()
            .find(|p| p.id == "home.hero")
            .unwrap()
    }

    fn draft(fields: serde_json::Value, rule: Option<&str>) -> VariantDef {
        serde_json::from_value(serde_json::json!({
            "id": "home-hero-new", "state": "draft", "rule": rule, "fields": fields
        }))
        .unwrap()
    }

    #[test]
    fn a_draft_may_lack_its_messages_but_a_submission_may_not() {
        let content = demo();
        let hero = hero(&content);
        let fields = serde_json::json!({
            "title": {"message": "home-hero-not-yet-written"},
            "body": {"message": "home-hero-default-body"}
        });
        let variant = draft(fields, None);
        assert_eq!(
            check_variant(&content, hero, &variant, "en", Strictness::Draft),
            vec![]
        );
        let errors = check_variant(&content, hero, &variant, "en", Strictness::Submit);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field.as_deref(), Some("fields.title"));
    }

    #[test]
    fn a_broken_rule_is_named() {
        let content = demo();
        let hero = hero(&content);
        let fields = serde_json::json!({
            "title": {"message": "home-hero-default-title"},
            "body": {"message": "home-hero-default-body"}
        });
        let errors = check_variant(
            &content,
            hero,
            &draft(fields, Some("tier ==")),
            "en",
            Strictness::Draft,
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field.as_deref(), Some("rule"));
    }

    #[test]
    fn diffs_show_the_changed_line_only() {
        let text = diff(
            "v1",
            r#"{"id":"a","weight":1,"priority":0}"#,
            "v2",
            r#"{"id":"a","weight":5,"priority":0}"#,
        );
        assert!(text.contains("-  \"weight\": 1\n"), "{text}");
        assert!(text.contains("+  \"weight\": 5\n"), "{text}");
        assert!(!text.contains("-  \"priority\""), "{text}");
    }
}
