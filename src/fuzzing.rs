//! Fuzz target bodies: one function per target, each taking arbitrary bytes and driving
//! Tailor's own parsing and validation code through its public API, the way a request
//! or a content file reaches it.
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` call these, and so does
//! `tests/fuzz_corpus.rs`, which replays every corpus file and every crash ever found
//! (`fuzz/corpus/<target>/`, `fuzz/regressions/<target>/`) on stable, in CI.
//!
//! None of them may panic on any input. Where a law is cheap to check it is asserted,
//! so a broken law is a crash the fuzzer reports like any other. Everything that needs
//! a catalog uses the repository's own `content/` and `locales/`, compiled once; every
//! clock is a fixed instant, so an input behaves the same on every run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use chrono::{DateTime, TimeZone, Utc};

use crate::catalog::files;
use crate::catalog::model::{ContentSet, FluentFile, TraitType};
use crate::catalog::rules::{self, temporal_value, Attr, Rule, RuleInput, Value};
use crate::catalog::Catalog;
use crate::engagement::provenance::SourceNamer;
use crate::engagement::{parse_event, EventContext, Origin, TrafficClass};
use crate::tokens::{Signer, TrackingClaims, Validity};

/// The signing secret of every fuzz target (tokens, source names).
pub const SECRET: &[u8] = b"tailor-fuzzing-secret-0123456789abcdef";

/// The instant every target treats as now: Saturday 2026-11-21, 10:15 UTC.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 10, 15, 0)
        .single()
        .unwrap_or_default()
}

fn now_unix() -> u64 {
    now().timestamp().max(0) as u64
}

/// The repository the library was built from (its `content/` and `locales/`).
fn repository() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The repository's content, loaded and compiled once.
struct Demo {
    content: ContentSet,
    catalog: Catalog,
    signer: Signer,
}

fn demo() -> &'static Demo {
    static DEMO: OnceLock<Demo> = OnceLock::new();
    DEMO.get_or_init(|| {
        let root = repository();
        let loaded = files::load(&root.join("content"), &root.join("locales"));
        let (catalog, _) = Catalog::compile(&loaded.content, "en", 1);
        Demo {
            content: loaded.content,
            catalog,
            signer: Signer::new(SECRET),
        }
    })
}

/// Lines of `text` as line numbers count them (a last line without `\n` counts).
fn line_count(text: &str) -> usize {
    text.matches('\n').count() + 1
}

// ---------------------------------------------------------------------------------------
// rule

/// Attribute values a rule is evaluated against: everything present, or only the clock.
struct FuzzInput {
    full: bool,
    now: DateTime<Utc>,
    traits: Vec<Option<Value>>,
    segments: Vec<Box<str>>,
}

impl RuleInput for FuzzInput {
    fn value(&self, attr: Attr) -> Option<Value> {
        let text = |s: &str| Some(Value::Text(s.into()));
        if !self.full && !attr.is_temporal() {
            return None;
        }
        match attr {
            Attr::Channel => text("web"),
            Attr::Device => text("mobile"),
            Attr::Locale => text("fr-CA"),
            Attr::Language => text("fr"),
            Attr::Country => text("FR"),
            Attr::Bucket => Some(Value::Number(417.0)),
            Attr::Segments => None,
            Attr::Trait(index) => self.traits.get(index).cloned().flatten(),
            _ => temporal_value(attr, self.now),
        }
    }

    fn segments(&self) -> &[Box<str>] {
        &self.segments
    }
}

fn rule_inputs(catalog: &Catalog) -> Vec<FuzzInput> {
    let traits: Vec<Option<Value>> = catalog
        .traits
        .iter()
        .map(|t| {
            Some(match t.kind {
                TraitType::String => Value::Text("gold".into()),
                TraitType::Number => Value::Number(1250.0),
                TraitType::Bool => Value::Bool(true),
            })
        })
        .collect();
    vec![
        FuzzInput {
            full: true,
            now: now(),
            traits,
            segments: vec!["vip".into()],
        },
        FuzzInput {
            full: false,
            // A Wednesday night.
            now: Utc
                .with_ymd_and_hms(2027, 1, 6, 23, 59, 59)
                .single()
                .unwrap_or_default(),
            traits: Vec::new(),
            segments: Vec::new(),
        },
    ]
}

/// How deep a compiled rule nests (what evaluation recurses over).
fn rule_depth(rule: &Rule) -> usize {
    match rule {
        Rule::Not(inner) => 1 + rule_depth(inner),
        Rule::All(items) | Rule::Any(items) => 1 + items.iter().map(rule_depth).max().unwrap_or(0),
        _ => 1,
    }
}

/// A targeting rule (`rule = '...'` of a variant, or a segment's rule) through
/// [`rules::compile`] against the repository's declared traits, then everything a
/// compiled rule offers: specificity, reads, segment names, and evaluation against a
/// context with every attribute present and one with only the clock.
///
/// Laws: an error's column lies within the rule (1 to its length in characters + 1); a
/// compiled rule nests no deeper than [`rules::MAX_RULE_DEPTH`] allows (at most three
/// tree levels per nesting level: `or`, `and`, then `not` or parentheses); and where
/// `not (rule)` also compiles it evaluates to the opposite of the rule.
pub fn rule(data: &[u8]) {
    let source = String::from_utf8_lossy(data);
    let catalog = &demo().catalog;
    let compiled = match rules::compile(&source, &catalog.traits) {
        Ok(rule) => rule,
        Err(e) => {
            let columns = source.chars().count() + 1;
            assert!(
                (1..=columns).contains(&e.column),
                "error column {} outside 1..={columns}: {e}",
                e.column
            );
            return;
        }
    };
    let depth = rule_depth(&compiled);
    assert!(
        depth <= 3 * (rules::MAX_RULE_DEPTH + 1) + 1,
        "a compiled rule nests {depth} levels deep"
    );
    let _ = compiled.specificity();
    let _ = compiled.reads();
    let _ = compiled.reads_only_traits();
    let _ = compiled.segment_names();
    let negated = rules::compile(&format!("not ({source})"), &catalog.traits).ok();
    for input in rule_inputs(catalog) {
        let value = compiled.eval(&input);
        if let Some(negated) = &negated {
            assert_eq!(
                negated.eval(&input),
                !value,
                "`not (rule)` is not the opposite"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// content_file

/// Which content file an input stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Channels,
    Traits,
    Segments,
    Policies,
    /// A campaign file in `content/variants/`.
    Variants,
    /// A placement file in `content/placements/`.
    Placement,
}

impl Slot {
    /// Told by the file's first array table (`[[channel]]`, `[[trait]]`, `[[segment]]`,
    /// `[[policy]]`) or a top-level `placement = ...` key: what the loader's file name
    /// would say. Anything else is a placement file.
    fn of(text: &str) -> Slot {
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("[[") {
                return match rest.split("]]").next().unwrap_or_default().trim() {
                    "channel" => Slot::Channels,
                    "trait" => Slot::Traits,
                    "segment" => Slot::Segments,
                    "policy" => Slot::Policies,
                    _ => Slot::Placement,
                };
            }
            if line.starts_with('[') {
                return Slot::Placement;
            }
            if let Some((key, _)) = line.split_once('=') {
                if key.trim().trim_matches('"') == "placement" {
                    return Slot::Variants;
                }
            }
        }
        Slot::Placement
    }

    /// Where the input goes, inside `content/`.
    fn file(self) -> &'static str {
        match self {
            Slot::Channels => "channels.toml",
            Slot::Traits => "traits.toml",
            Slot::Segments => "segments.toml",
            Slot::Policies => "governance.toml",
            Slot::Variants => "variants/zz-fuzz.toml",
            // In place of the scratch copy's one placement.
            Slot::Placement => "placements/home.hero.toml",
        }
    }
}

/// The locales the scratch copy keeps: the default, a language with a regional
/// variant, right-to-left Arabic and Polish (both with many plural forms).
const SCRATCH_LOCALES: [&str; 5] = ["en", "fr", "fr-CA", "ar", "pl"];

/// A scratch copy of the repository's content, made once per process: its channels,
/// traits, segments and policies, one placement (`home.hero`, which the campaign file
/// extends) and a few locales, so a check takes milliseconds, not a tenth of a second.
fn scratch() -> &'static Mutex<PathBuf> {
    static SCRATCH: OnceLock<Mutex<PathBuf>> = OnceLock::new();
    SCRATCH.get_or_init(|| {
        let temp = std::env::temp_dir();
        remove_stale_scratch(&temp);
        let dir = temp.join(format!("tailor-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (from, to) = (repository().join("content"), dir.join("content"));
        for directory in ["placements", "variants"] {
            let _ = std::fs::create_dir_all(to.join(directory));
        }
        for file in [
            "channels.toml",
            "traits.toml",
            "segments.toml",
            "governance.toml",
            "placements/home.hero.toml",
        ] {
            let _ = std::fs::copy(from.join(file), to.join(file));
        }
        for locale in SCRATCH_LOCALES {
            copy_dir(
                &repository().join("locales").join(locale),
                &dir.join("locales").join(locale),
            );
        }
        Mutex::new(dir)
    })
}

/// Scratch copies of processes that have ended (a fuzzer stops by exiting, so nothing
/// removes its own); only where `/proc` tells which processes are alive.
fn remove_stale_scratch(temp: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(temp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("tailor-fuzz-")) else {
            continue;
        };
        if pid.bytes().all(|b| b.is_ascii_digit()) && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::create_dir_all(to);
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    for entry in entries.flatten() {
        let _ = std::fs::copy(entry.path(), to.join(entry.file_name()));
    }
}

/// One content file, as `tailor validate` reads it: the bytes are written into a copy
/// of the repository's content (as `channels.toml`, `traits.toml`, `segments.toml`,
/// `governance.toml`, a campaign file in `variants/` or the one placement file in
/// `placements/`, told by its first array table or a top-level `placement` key, see
/// `Slot::of`) and checked with [`files::check`] against some of its `locales/`:
/// loading (TOML syntax and shape), every validation of `catalog::validate`, compiling
/// the catalog and rendering every variant against its channels' constraints, and
/// placing each finding at `file:line`.
///
/// Laws: a finding in the fuzzed file names a line of it; and content that checks clean
/// survives [`files::write`] then [`files::load`] unchanged (the export contract).
pub fn content_file(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let slot = Slot::of(&text);
    let scratch = scratch().lock().unwrap_or_else(|e| e.into_inner());
    let content_dir = scratch.join("content");
    let locales_dir = scratch.join("locales");
    let path = content_dir.join(slot.file());
    let original = std::fs::read(&path).ok();
    if let Some(parent) = path.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let (loaded, findings) = files::check(&content_dir, &locales_dir, "en");
    match original {
        Some(bytes) => {
            let _ = std::fs::write(&path, bytes);
        }
        None => {
            let _ = std::fs::remove_file(&path);
        }
    }
    let lines = line_count(&text);
    for finding in findings.iter().filter(|f| f.path == path) {
        assert!(
            finding.line <= lines,
            "{finding} is past the file's last line ({lines})"
        );
    }
    if !findings.is_empty() || !loaded.errors.is_empty() {
        return;
    }
    // Ids are valid here (validation checked them), so every written path stays inside
    // the scratch directory.
    let out = scratch.join("export");
    let _ = std::fs::remove_dir_all(&out);
    if files::write(&loaded.content, &out.join("content"), &out.join("locales")).is_err() {
        return;
    }
    let again = files::load(&out.join("content"), &out.join("locales"));
    assert!(
        again.errors.is_empty(),
        "exported content does not load: {:?}",
        again.errors
    );
    assert!(
        files::normalised(again.content) == files::normalised(loaded.content),
        "exported content loads back different"
    );
}

// ---------------------------------------------------------------------------------------
// fluent

/// A Fluent resource through Tailor's checks: [`crate::l10n::too_deeply_nested`],
/// [`crate::authoring::message_ids`] (what `PUT /v1/admin/locales/...` answers),
/// [`crate::l10n::L10n::build`] (parsing, indexing messages and their variables,
/// duplicates, positioned errors), [`crate::authoring::check_fluent`] beside the
/// repository's `en/home.ftl`, and formatting every message it defines with and
/// without arguments, with and without isolation marks.
///
/// Laws: a too-deep offset points at a `{` or a `(`, and such a resource yields no message ids
/// and an error; otherwise the parsed resource nests placeables and call arguments no
/// deeper than [`crate::l10n::MAX_PLACEABLE_DEPTH`] and every id `message_ids` reports
/// is indexed by `L10n::build`; every error is on a line of the resource with a column
/// of at least 1.
pub fn fluent(data: &[u8]) {
    use fluent_bundle::{FluentArgs, FluentValue};

    let source = String::from_utf8_lossy(data).into_owned();
    let deep = crate::l10n::too_deeply_nested(&source);
    let ids = crate::authoring::message_ids(&source);
    if let Some(at) = deep {
        assert!(
            source
                .get(at..)
                .is_some_and(|s| s.starts_with('{') || s.starts_with('(')),
            "too_deeply_nested points at byte {at}, not at a `{{` or a `(`"
        );
    }
    if crate::l10n::refused_before_parsing(&source).is_some() {
        assert!(ids.is_empty(), "a refused resource still gave message ids");
    } else {
        // The scan must see every level the parser recursed into: a resource it lets
        // through nests no deeper than the limit once parsed. (A scan that misses a
        // level is found here with 17 levels, long before one that overflows a stack.)
        let resource = match fluent_syntax::parser::parse(source.as_str()) {
            Ok(resource) | Err((resource, _)) => resource,
        };
        let nesting = resource.body.iter().map(entry_nesting).max().unwrap_or(0);
        assert!(
            nesting <= crate::l10n::MAX_PLACEABLE_DEPTH,
            "too_deeply_nested let through a resource that nests {nesting} levels deep"
        );
    }
    let lines = line_count(&source);
    let file = FluentFile {
        locale: "en".into(),
        path: "fuzz.ftl".into(),
        source: source.into(),
    };
    let (l10n, errors) = crate::l10n::L10n::build(std::slice::from_ref(&file), "en");
    for e in &errors {
        assert!(
            (1..=lines).contains(&e.line) && e.column >= 1,
            "error at {}:{} outside the resource ({lines} lines): {}",
            e.line,
            e.column,
            e.message
        );
    }
    if deep.is_some() {
        assert!(
            !errors.is_empty(),
            "a too-deep resource built without error"
        );
    }
    let default = l10n.default_index();
    for id in &ids {
        assert!(
            l10n.message_info(default, id).is_some(),
            "message `{id}` is listed but not indexed"
        );
    }
    let demo = demo();
    let is_trait = |name: &str| demo.catalog.is_trait(name);
    let chain = l10n.negotiate(&["en".parse().unwrap_or_default()]);
    for id in &ids {
        let Some(info) = l10n.message_info(default, id) else {
            continue;
        };
        let mut numbers = FluentArgs::new();
        let mut texts = FluentArgs::new();
        for variable in info.variables() {
            numbers.set(variable.to_string(), FluentValue::from(1250));
            texts.set(variable.to_string(), FluentValue::from("Zoé"));
        }
        for args in [FluentArgs::new(), numbers, texts] {
            for isolating in [true, false] {
                let _ = l10n.format(&chain, id, &args, isolating, &is_trait);
            }
        }
    }
    let others: Vec<FluentFile> = demo
        .content
        .fluent
        .iter()
        .filter(|f| f.locale == "en" && f.path == "home.ftl")
        .cloned()
        .collect();
    let _ = crate::authoring::check_fluent(&others, &file);
}

/// How deep an entry nests placeables (`{`) and call arguments (`(`): the levels the
/// parser recursed through, as [`crate::l10n::too_deeply_nested`] counts them.
fn entry_nesting(entry: &fluent_syntax::ast::Entry<&str>) -> usize {
    use fluent_syntax::ast::Entry;
    let patterns: Vec<_> = match entry {
        Entry::Message(m) => m
            .value
            .iter()
            .chain(m.attributes.iter().map(|a| &a.value))
            .collect(),
        Entry::Term(t) => std::iter::once(&t.value)
            .chain(t.attributes.iter().map(|a| &a.value))
            .collect(),
        _ => Vec::new(),
    };
    patterns.into_iter().map(pattern_nesting).max().unwrap_or(0)
}

fn pattern_nesting(pattern: &fluent_syntax::ast::Pattern<&str>) -> usize {
    use fluent_syntax::ast::PatternElement;
    pattern
        .elements
        .iter()
        .map(|element| match element {
            PatternElement::Placeable { expression } => 1 + expression_nesting(expression),
            PatternElement::TextElement { .. } => 0,
        })
        .max()
        .unwrap_or(0)
}

fn expression_nesting(expression: &fluent_syntax::ast::Expression<&str>) -> usize {
    use fluent_syntax::ast::Expression;
    match expression {
        Expression::Select { selector, variants } => variants
            .iter()
            .map(|v| pattern_nesting(&v.value))
            .max()
            .unwrap_or(0)
            .max(inline_nesting(selector)),
        Expression::Inline(inline) => inline_nesting(inline),
    }
}

fn inline_nesting(inline: &fluent_syntax::ast::InlineExpression<&str>) -> usize {
    use fluent_syntax::ast::InlineExpression;
    let arguments = |arguments: &fluent_syntax::ast::CallArguments<&str>| {
        arguments
            .positional
            .iter()
            .chain(arguments.named.iter().map(|n| &n.value))
            .map(inline_nesting)
            .max()
            .unwrap_or(0)
    };
    match inline {
        InlineExpression::Placeable { expression } => 1 + expression_nesting(expression),
        InlineExpression::FunctionReference { arguments: a, .. } => 1 + arguments(a),
        InlineExpression::TermReference {
            arguments: Some(a), ..
        } => 1 + arguments(a),
        _ => 0,
    }
}

// ---------------------------------------------------------------------------------------
// events

/// Replaces every `needle` in `haystack`.
fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut rest = haystack;
    while let Some(at) = rest.windows(needle.len()).position(|w| w == needle) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(with);
        rest = &rest[at + needle.len()..];
    }
    out.extend_from_slice(rest);
    out
}

/// The tracking token of a decision on the demo's home hero, issued an hour ago.
fn tracking_claims(validity: Validity) -> TrackingClaims {
    Signer::tracking_claims(
        "home.hero",
        "home-hero-default",
        1,
        "web",
        "mobile",
        "en",
        1,
        validity,
    )
}

/// `$TOKEN`, `$EXPIRED` and `$LINK` in an events body become a valid tracking token, an
/// expired one and a link token (so the fuzzer reaches past the signature check).
fn with_tokens(data: &[u8], signer: &Signer) -> Vec<u8> {
    if !data.contains(&b'$') {
        return data.to_vec();
    }
    let now = now_unix();
    let fresh = tracking_claims(Validity::current(now - 3600, 86_400));
    let expired = tracking_claims(Validity::current(now - 40 * 86_400, 86_400));
    let body = replace_all(data, b"$TOKEN", signer.sign_tracking(&fresh).as_bytes());
    let body = replace_all(
        &body,
        b"$EXPIRED",
        signer.sign_tracking(&expired).as_bytes(),
    );
    replace_all(
        &body,
        b"$LINK",
        signer.link_token(&fresh, Some("cta"), None).as_bytes(),
    )
}

/// A `POST /v1/events` body as the handler reads it: JSON from bytes (at most
/// `MAX_BATCH_BYTES`), `{"events": [...]}` of at most `MAX_EVENTS_PER_BATCH`, then
/// [`parse_event`] on every item, for an anonymous batch (`X-Anonymous-Id`, one id the
/// identity graph knows, under a server key) and for a verified person. `$TOKEN`,
/// `$EXPIRED` and `$LINK` in the body are replaced by real tokens first.
///
/// Laws: a rejection names its item's index; an accepted event has a valid id, a time
/// within the accepted window (30 days back, 5 minutes ahead), revenue only on
/// conversions and within bounds, feedback only on feedback events with a score in its
/// kind's range and a comment of at most 2000 characters.
pub fn events(data: &[u8]) {
    use crate::engagement::{EventKind, MAX_AMOUNT_MINOR, MAX_EVENTS_PER_BATCH};

    if data.len() > crate::engagement::MAX_BATCH_BYTES {
        return;
    }
    let demo = demo();
    let body = with_tokens(data, &demo.signer);
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return;
    };
    let Some(events) = document.get("events").and_then(|e| e.as_array()) else {
        return;
    };
    if events.len() > MAX_EVENTS_PER_BATCH {
        return;
    }
    let names = SourceNamer::new(SECRET);
    let known: HashMap<String, String> =
        [("visitor-9".to_string(), "customer_id#0f".to_string())].into();
    let none = HashMap::new();
    let now = now();
    let contexts = [
        EventContext {
            signer: &demo.signer,
            now,
            batch_person: Some("visitor-9"),
            person_keys: &known,
            verified_person: None,
            origin: Origin {
                network: "net:00",
                server_key: Some("key:00"),
                traffic: TrafficClass::of_user_agent(Some("Mozilla/5.0 (iPhone)")),
                names: &names,
            },
        },
        EventContext {
            signer: &demo.signer,
            now,
            batch_person: None,
            person_keys: &none,
            verified_person: Some("customer_id#0f"),
            origin: Origin {
                network: "net:01",
                server_key: None,
                traffic: TrafficClass::of_user_agent(Some("Googlebot/2.1")),
                names: &names,
            },
        },
    ];
    for ctx in &contexts {
        for (index, event) in events.iter().enumerate() {
            let accepted = match parse_event(index, event, ctx) {
                Ok(accepted) => accepted,
                Err(rejection) => {
                    assert_eq!(rejection.index, index, "{rejection:?}");
                    continue;
                }
            };
            let id = &accepted.event_id;
            assert!(
                !id.is_empty() && id.len() <= 64 && id.is_ascii(),
                "accepted event id {id:?}"
            );
            assert!(
                accepted.occurred_at <= now + crate::engagement::wire::MAX_FUTURE_SKEW
                    && accepted.occurred_at >= now - crate::engagement::wire::MAX_AGE,
                "accepted a time outside the window: {}",
                accepted.occurred_at
            );
            if let Some(revenue) = &accepted.revenue {
                assert_eq!(accepted.kind, EventKind::Conversion);
                assert!(
                    (0..=MAX_AMOUNT_MINOR).contains(&revenue.minor),
                    "{revenue:?}"
                );
            }
            if let Some(feedback) = &accepted.feedback {
                assert_eq!(accepted.kind, EventKind::Feedback);
                let (low, high) = feedback.kind.range();
                assert!((low..=high).contains(&feedback.score), "{feedback:?}");
                assert!(feedback
                    .comment
                    .as_ref()
                    .is_none_or(|c| c.chars().count() <= 2000));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// identify

/// A `POST /v1/identify` body as the handler reads it: JSON from bytes (at most 64 KiB),
/// then [`crate::identity::wire::parse_identify`] with the built-in identifier types
/// against the repository's catalog (its channels for consents, its trait types).
///
/// Laws: an accepted call has 1 to `MAX_IDENTIFIERS` identifiers, each already in stored
/// form (normalizing it again changes nothing); at most `MAX_TRAITS` traits, each a
/// valid name with a valid value; consents only for channels of the catalog.
pub fn identify(data: &[u8]) {
    use crate::identity::graph::{self, IdentifierTypes};
    use crate::identity::wire::{parse_identify, MAX_IDENTIFIERS};

    if data.len() > 64 * 1024 {
        return;
    }
    let Ok(document) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let catalog = &demo().catalog;
    let types = IdentifierTypes::default();
    let Ok(command) = parse_identify(&document, &types, catalog) else {
        return;
    };
    assert!((1..=MAX_IDENTIFIERS).contains(&command.identifiers.len()));
    for id in &command.identifiers {
        let again = types.normalize(&id.kind, &id.value);
        assert_eq!(
            again.as_ref(),
            Ok(id),
            "an identifier is not in stored form"
        );
        let _ = id.sticky_key();
    }
    let _ = graph::sticky_key_for(&command.identifiers);
    assert!(command.traits.len() <= graph::MAX_TRAITS);
    for (name, value) in &command.traits {
        assert!(graph::valid_trait_name(name), "trait name {name:?}");
        assert!(
            graph::check_trait_value(value).is_ok(),
            "trait value {value}"
        );
    }
    for channel in command.consents.keys() {
        assert!(
            catalog.channel(channel).is_some(),
            "consent for {channel:?}"
        );
    }
    let _ = catalog.segments_of(&catalog.person_traits(&command.traits));
}

// ---------------------------------------------------------------------------------------
// tracking_token

/// `header.payload.signature` of an HS256 JWT with `payload` as its claims, signed
/// with [`SECRET`]: arbitrary claims the signature check lets through.
fn signed_with_payload(payload: &[u8]) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!(
        "{}.{}",
        b64.encode(br#"{"typ":"JWT","alg":"HS256"}"#),
        b64.encode(payload)
    );
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(SECRET) else {
        return signing_input;
    };
    mac.update(signing_input.as_bytes());
    let signature = b64.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// A string offered as a token: [`Signer::verify_tracking`] (at three instants),
/// [`Signer::verify_link`] and [`Signer::verify_cohort`]; then the same bytes as the
/// claims of a token signed with the right key, so the claims' parsing and checks are
/// reached too.
///
/// Laws: a tracking token accepted at `now` expires after `now`; accepted tracking
/// claims signed again verify to the same claims.
pub fn tracking_token(data: &[u8]) {
    let signer = &demo().signer;
    let text = String::from_utf8_lossy(data);
    for token in [text.into_owned(), signed_with_payload(data)] {
        for at in [0, now_unix(), u64::MAX] {
            if let Ok(claims) = signer.verify_tracking(&token, at) {
                assert!(
                    at < claims.exp,
                    "accepted at {at}, expiring at {}",
                    claims.exp
                );
                let again = signer.verify_tracking(&signer.sign_tracking(&claims), at);
                assert_eq!(
                    again.as_ref(),
                    Ok(&claims),
                    "signed again, verified different"
                );
            }
        }
        if let Ok(link) = signer.verify_link(&token) {
            let _ = link.counts_at(now_unix());
        }
        let _ = signer.verify_cohort(&token);
    }
}

// ---------------------------------------------------------------------------------------
// accept_language

/// An `Accept-Language` header and a content request's query string (the text before
/// the first newline is the header, the rest the query; without a newline the whole
/// input is both): [`crate::context::first_ranges`] and
/// [`crate::context::parse_accept_language`], [`crate::context::parse_params`], and
/// [`crate::context::resolve`] of both against the repository's catalog (channel,
/// device from the User-Agent, locale negotiation, country, cohort key, trait values).
///
/// Laws: `first_ranges` returns a prefix of the header of at most
/// `ACCEPT_LANGUAGE_READ` bytes, the whole header when it is that short, else cut just
/// before a comma; `parse_accept_language` returns at most one locale per range and at
/// most 20; a resolved context's chain holds the default locale and its channel exists.
pub fn accept_language(data: &[u8]) {
    use crate::context::{
        first_ranges, parse_accept_language, parse_params, resolve, RawRequest,
        ACCEPT_LANGUAGE_READ,
    };

    let text = String::from_utf8_lossy(data);
    let (header, query) = text.split_once('\n').unwrap_or((&*text, &*text));
    let read = first_ranges(header);
    assert!(header.starts_with(read), "not a prefix");
    assert!(
        read.len() <= ACCEPT_LANGUAGE_READ,
        "{} bytes read",
        read.len()
    );
    if header.len() <= ACCEPT_LANGUAGE_READ {
        assert_eq!(read, header, "a short header is read whole");
    } else if !read.is_empty() {
        assert_eq!(header.as_bytes()[read.len()], b',', "cut inside a range");
    }
    for ranges in [read, header] {
        let parsed = parse_accept_language(ranges);
        assert!(parsed.len() <= ranges.split(',').count() && parsed.len() <= 20);
    }
    let Ok(params) = parse_params(query) else {
        return;
    };
    let demo = demo();
    let raw = RawRequest {
        query,
        accept_language: Some(header),
        ch_ua_mobile: None,
        user_agent: Some(header),
        anonymous_id: None,
        authorization: None,
        api_key: None,
    };
    let Ok(context) = resolve(&raw, &params, &demo.catalog, &demo.signer, now(), None) else {
        return;
    };
    let default = demo.catalog.l10n.default_index() as u16;
    assert!(context.chain.0.contains(&default), "{:?}", context.chain);
    assert!(context.channel < demo.catalog.channels.len());
}
