//! The catalog: channels, traits, placements and variants, compiled for serving.
//!
//! Data flows files → [`model::ContentSet`] → database (JSON documents) → `ContentSet`
//! → [`Catalog::compile`]. Compiling resolves every name to an index, compiles rules once
//! and builds the Fluent bundles, so a request never parses anything. [`validate`] is the
//! one set of content checks; `tailor validate` shows its findings as `file:line` through
//! [`files::SourceMap`], the database path as names.

pub mod files;
pub mod ids;
pub mod live;
pub mod model;
pub mod rules;
mod validate;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

pub use validate::{adaptive_group_problem, check_channel_constraints, validate};

use crate::l10n::{Chain, FtlError, L10n};
use model::{
    ChannelDef, ChannelState, ContentSet, DeviceClass, FieldKind, FieldValue, TraitDef, TraitType,
    VariantState,
};
use rules::{Reads, Rule};

/// Where a content problem is, by name; [`files::SourceMap`] turns it into `file:line`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loc {
    Channels {
        channel: Option<usize>,
        key: Option<&'static str>,
    },
    Traits {
        index: Option<usize>,
    },
    Segments {
        index: Option<usize>,
    },
    Policies {
        index: Option<usize>,
        key: Option<&'static str>,
    },
    Placement {
        placement: usize,
        key: Option<&'static str>,
    },
    Variant {
        placement: usize,
        variant: usize,
        key: Option<&'static str>,
    },
    VariantField {
        placement: usize,
        variant: usize,
        field: String,
    },
    Fluent {
        locale: String,
        path: String,
        line: usize,
        column: usize,
    },
}

/// One content problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Issue {
    pub at: Loc,
    pub message: String,
}

impl From<FtlError> for Issue {
    fn from(e: FtlError) -> Issue {
        Issue {
            at: Loc::Fluent {
                locale: e.locale,
                path: e.path,
                line: e.line,
                column: e.column,
            },
            message: e.message,
        }
    }
}

/// Number of sticky buckets a person hashes into. Changing it reshuffles everyone, so it
/// is a constant of the product rather than a setting.
pub const BUCKETS: u16 = 1000;

pub struct Channel {
    pub def: ChannelDef,
    pub id: Arc<str>,
}

impl Channel {
    pub fn state(&self) -> ChannelState {
        self.def.state
    }
    pub fn serves(&self) -> bool {
        self.def.state != ChannelState::Retired
    }
}

pub enum CompiledField {
    Message { id: Arc<str>, personal: bool },
    Url(Arc<str>),
    Data(serde_json::Value),
}

pub struct Field {
    pub name: Arc<str>,
    pub kind: FieldKind,
    pub value: CompiledField,
}

pub struct Variant {
    pub id: Arc<str>,
    pub version: u32,
    pub state: VariantState,
    /// Bit `i` set: channel `i` of the catalog is allowed.
    pub channels: u64,
    /// Bit `d as u8` set: that device class is allowed.
    pub devices: u8,
    pub rule: Option<Rule>,
    pub reads: Reads,
    pub specificity: u32,
    pub priority: i32,
    pub weight: u32,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    pub fields: Vec<Field>,
    /// By locale index: the variant may be answered in that locale (it has every
    /// message there, or its placement allows fallback there).
    pub live_locales: Box<[bool]>,
}

impl Variant {
    pub fn is_live_in(&self, locale: usize) -> bool {
        self.live_locales.get(locale).copied().unwrap_or(false)
    }

    /// The request's locale chain without the locales this variant is not live in, so
    /// an incomplete translation is never mixed into an answer; the chain itself when
    /// every locale is live (the common case, no allocation).
    pub fn live_chain<'c>(&self, chain: &'c Chain) -> std::borrow::Cow<'c, Chain> {
        if chain.0.iter().all(|&l| self.is_live_in(l as usize)) {
            return std::borrow::Cow::Borrowed(chain);
        }
        let live: Vec<u16> = chain
            .0
            .iter()
            .copied()
            .filter(|&l| self.is_live_in(l as usize))
            .collect();
        if live.is_empty() {
            // Not even complete in the default locale (content submitted before the
            // gate existed): per-message fallback is the only answer left.
            std::borrow::Cow::Borrowed(chain)
        } else {
            std::borrow::Cow::Owned(Chain(live))
        }
    }

    pub fn in_schedule(&self, now: DateTime<Utc>) -> bool {
        self.starts_at.is_none_or(|s| s <= now) && self.ends_at.is_none_or(|e| now < e)
    }
    pub fn allows_device(&self, device: DeviceClass) -> bool {
        self.devices & (1 << device as u8) != 0
    }
    pub fn allows_channel(&self, channel: usize) -> bool {
        self.channels & (1 << channel) != 0
    }
}

pub struct Placement {
    pub id: Arc<str>,
    pub frequency_cap: Option<model::FrequencyCap>,
    pub channels: u64,
    pub variants: Vec<Variant>,
    /// A per-placement permutation of buckets, so that assignment in one placement says
    /// nothing about assignment in another while every bucket still counts exactly once.
    pub bucket_rank: Box<[u16]>,
    /// Adaptive allocation's reward and tuning; `None` splits by weight.
    pub adaptive: Option<(model::Reward, model::AdaptiveTuning)>,
}

impl Placement {
    /// The arms of adaptive allocation: published variants without a rule (variants
    /// with a rule win by rule and priority, as ever), in definition order.
    pub fn arms(&self) -> impl Iterator<Item = (usize, &Variant)> {
        self.variants
            .iter()
            .enumerate()
            .filter(|(_, v)| v.rule.is_none() && v.state == model::VariantState::Published)
    }
}

pub struct Catalog {
    pub generation: u64,
    pub channels: Vec<Channel>,
    pub traits: Vec<TraitDef>,
    /// Retirement policies, as imported.
    pub policies: Vec<crate::governance::policy::PolicyDef>,
    /// Segments in definition order, with their compiled rules (over traits only).
    pub segments: Vec<(Arc<str>, Rule)>,
    pub placements: Vec<Arc<Placement>>,
    pub l10n: L10n,
    /// Locale negotiation results by raw `Accept-Language` header / `locale` parameter:
    /// the same few strings arrive all day, so negotiate each once per generation.
    pub negotiated_header: moka::sync::Cache<String, Arc<Chain>>,
    pub negotiated_param: moka::sync::Cache<String, Arc<Chain>>,
    placement_index: HashMap<Arc<str>, usize>,
    channel_index: HashMap<Arc<str>, usize>,
    /// The content this catalog was compiled from, when the serving catalog keeps it
    /// ([`live::LiveCatalog`]): previews read it instead of the whole database.
    pub source: Option<Arc<ContentSet>>,
    /// The stored slot maps of adaptive placements, by placement id
    /// ([`Catalog::attach_allocations`]).
    pub allocations: HashMap<Arc<str>, crate::allocation::Serving>,
}

impl Catalog {
    /// Compiles a content set. Invalid parts (which validation reports) are skipped so a
    /// single bad variant in the database cannot take delivery down.
    pub fn compile(
        content: &ContentSet,
        default_locale: &str,
        generation: u64,
    ) -> (Catalog, Vec<Issue>) {
        Catalog::compile_with_fluent(content, &content.fluent, default_locale, generation)
    }

    /// [`Catalog::compile`] with the Fluent resources given apart from the rest of the
    /// content (its `fluent` is not read): a check of one placement of a large catalog
    /// need not copy every resource.
    pub fn compile_with_fluent(
        content: &ContentSet,
        fluent: &[model::FluentFile],
        default_locale: &str,
        generation: u64,
    ) -> (Catalog, Vec<Issue>) {
        let (l10n, ftl_errors) = L10n::build(fluent, default_locale);
        let (catalog, mut issues) = Catalog::compile_with_l10n(content, l10n, generation);
        issues.extend(ftl_errors.into_iter().map(Issue::from));
        (catalog, issues)
    }

    /// [`Catalog::compile`] with the Fluent resources already compiled: a preview with
    /// no Fluent change pending uses the serving catalog's.
    pub fn compile_with_l10n(
        content: &ContentSet,
        l10n: L10n,
        generation: u64,
    ) -> (Catalog, Vec<Issue>) {
        let issues: Vec<Issue> = validate(content, &l10n);

        let channels: Vec<Channel> = content
            .channels
            .iter()
            .take(64)
            .map(|def| Channel {
                id: Arc::from(def.id.as_str()),
                def: def.clone(),
            })
            .collect();
        let channel_index: HashMap<Arc<str>, usize> = channels
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.clone(), i))
            .collect();
        let channel_mask = |names: &[String]| -> u64 {
            names
                .iter()
                .filter_map(|n| channel_index.get(n.as_str()))
                .fold(0u64, |mask, i| mask | (1 << i))
        };
        let trait_ids: Vec<&str> = content.traits.iter().map(|t| t.id.as_str()).collect();

        // A placement compiles from its definition, the channels, the traits and what the
        // messages it uses are (not their text): with all of them as before, the
        // placement compiled before is reused (one variant published in a large catalog
        // recompiles one placement; one Fluent file, those whose messages it changed).
        let context = crate::memo::digest(&[
            &serde_json::to_vec(&content.channels).unwrap_or_default(),
            &serde_json::to_vec(&content.traits).unwrap_or_default(),
        ]);
        let memo = compiled_placements();
        let round = memo.begin();
        let mut placements = Vec::new();
        for def in content.placements.iter().filter(|p| !p.archived) {
            let key = crate::memo::digest(&[
                &context.to_le_bytes(),
                &serde_json::to_vec(def).unwrap_or_default(),
                &l10n
                    .messages_digest(def.variants.iter().flat_map(messages_of))
                    .to_le_bytes(),
            ]);
            placements.push(memo.get_or(round, key, || {
                let placement_channels = channel_mask(&def.channels);
                let variants = def
                    .variants
                    .iter()
                    .filter_map(|v| {
                        compile_variant(
                            def,
                            v,
                            content,
                            &l10n,
                            &trait_ids,
                            placement_channels,
                            &channel_mask,
                        )
                    })
                    .collect();
                Arc::new(Placement {
                    adaptive: (def.allocation == model::AllocationMode::Adaptive).then(|| {
                        (
                            def.reward.unwrap_or_default(),
                            def.adaptive.unwrap_or_default(),
                        )
                    }),
                    bucket_rank: bucket_rank(&def.id),
                    id: Arc::from(def.id.as_str()),
                    frequency_cap: def.frequency_cap,
                    channels: placement_channels,
                    variants,
                })
            }));
        }
        memo.finish(round);
        let placement_index = placements
            .iter()
            .enumerate()
            .map(|(i, p)| (p.id.clone(), i))
            .collect();
        (
            Catalog {
                generation,
                channels,
                traits: content.traits.clone(),
                policies: content.policies.clone(),
                segments: content
                    .segments
                    .iter()
                    .filter_map(|s| {
                        let rule = rules::compile(&s.rule, &content.traits).ok()?;
                        rule.reads_only_traits()
                            .then(|| (Arc::from(s.id.as_str()), rule))
                    })
                    .collect(),
                placements,
                l10n,
                negotiated_header: moka::sync::Cache::new(10_000),
                negotiated_param: moka::sync::Cache::new(10_000),
                placement_index,
                channel_index,
                source: None,
                allocations: HashMap::new(),
            },
            issues,
        )
    }

    /// The loaded slot map of an adaptive placement.
    pub fn allocation(&self, placement: &Placement) -> Option<&crate::allocation::Serving> {
        if self.allocations.is_empty() {
            return None;
        }
        self.allocations.get(&*placement.id)
    }

    pub fn placement(&self, id: &str) -> Option<(usize, &Placement)> {
        let index = *self.placement_index.get(id)?;
        Some((index, self.placements[index].as_ref()))
    }

    pub fn channel(&self, id: &str) -> Option<(usize, &Channel)> {
        let index = *self.channel_index.get(id)?;
        Some((index, &self.channels[index]))
    }

    pub fn channel_ids(&self) -> Vec<&str> {
        self.channels.iter().map(|c| &*c.id).collect()
    }

    /// The segments a person with these trait values (by trait index) belongs to.
    pub fn segments_of(&self, traits: &[Option<rules::Value>]) -> Vec<Box<str>> {
        struct TraitsOnly<'a>(&'a [Option<rules::Value>]);
        impl rules::RuleInput for TraitsOnly<'_> {
            fn value(&self, attr: rules::Attr) -> Option<rules::Value> {
                match attr {
                    rules::Attr::Trait(index) => self.0.get(index).cloned().flatten(),
                    _ => None,
                }
            }
            fn segments(&self) -> &[Box<str>] {
                &[]
            }
        }
        let input = TraitsOnly(traits);
        self.segments
            .iter()
            .filter(|(_, rule)| rule.eval(&input))
            .map(|(id, _)| Box::from(id.as_ref()))
            .collect()
    }

    /// A person's stored traits by trait index, as rules and messages see them (traits
    /// the catalog does not declare, or of another type, are left out).
    pub fn person_traits(
        &self,
        stored: &std::collections::BTreeMap<String, serde_json::Value>,
    ) -> Vec<Option<rules::Value>> {
        let mut traits = vec![None; self.traits.len()];
        for (name, value) in stored {
            if let Some((index, _)) = self.trait_def(name) {
                traits[index] = self.trait_value(index, value);
            }
        }
        traits
    }

    /// A stored trait value as the rules see it, if it has the trait's declared type.
    pub fn trait_value(&self, index: usize, value: &serde_json::Value) -> Option<rules::Value> {
        match (self.trait_type(index)?, value) {
            (TraitType::String, serde_json::Value::String(s)) => {
                Some(rules::Value::Text(s.as_str().into()))
            }
            (TraitType::Number, serde_json::Value::Number(n)) => {
                n.as_f64().map(rules::Value::Number)
            }
            (TraitType::Bool, serde_json::Value::Bool(b)) => Some(rules::Value::Bool(*b)),
            _ => None,
        }
    }

    pub fn is_trait(&self, name: &str) -> bool {
        self.traits.iter().any(|t| t.id == name)
    }

    pub fn trait_def(&self, name: &str) -> Option<(usize, &TraitDef)> {
        self.traits.iter().enumerate().find(|(_, t)| t.id == name)
    }

    pub fn trait_type(&self, index: usize) -> Option<TraitType> {
        self.traits.get(index).map(|t| t.kind)
    }
}

/// The messages a variant's text fields use.
pub fn messages_of(variant: &model::VariantDef) -> impl Iterator<Item = &str> {
    variant.fields.values().filter_map(|value| match value {
        FieldValue::Message { message } => Some(message.as_str()),
        _ => None,
    })
}

/// The locale completeness gate, by locale index: a variant is live in a locale that
/// has every message it uses, or where its placement allows fallback.
pub fn live_locales(
    l10n: &L10n,
    placement: &model::PlacementDef,
    variant: &model::VariantDef,
) -> Box<[bool]> {
    l10n.locale_names()
        .iter()
        .enumerate()
        .map(|(index, name)| {
            placement.allows_fallback(name)
                || messages_of(variant).all(|m| l10n.message_info(index, m).is_some())
        })
        .collect()
}

/// One variant, compiled: its rule (a rule that does not compile leaves the variant
/// out; validation reports it), fields, channel and device masks and live locales.
fn compile_variant(
    def: &model::PlacementDef,
    v: &model::VariantDef,
    content: &ContentSet,
    l10n: &L10n,
    trait_ids: &[&str],
    placement_channels: u64,
    channel_mask: &dyn Fn(&[String]) -> u64,
) -> Option<Variant> {
    let rule = match v
        .rule
        .as_deref()
        .map(|r| rules::compile(r, &content.traits))
    {
        None => None,
        Some(Ok(rule)) => Some(rule),
        Some(Err(_)) => return None,
    };
    let fields = v
        .fields
        .iter()
        .filter_map(|(name, value)| {
            let kind = def.fields.get(name)?.kind;
            let value = match value {
                FieldValue::Message { message } => CompiledField::Message {
                    id: Arc::from(message.as_str()),
                    personal: message_is_personal(l10n, message, trait_ids),
                },
                FieldValue::Url { url } => CompiledField::Url(Arc::from(url.as_str())),
                FieldValue::Value { value } => CompiledField::Data(value.clone()),
            };
            Some(Field {
                name: Arc::from(name.as_str()),
                kind,
                value,
            })
        })
        .collect();
    let devices = match &v.devices {
        None => u8::MAX,
        Some(list) => list.iter().fold(0u8, |m, d| m | (1 << *d as u8)),
    };
    let channels = match &v.channels {
        None => placement_channels,
        Some(list) => channel_mask(list) & placement_channels,
    };
    Some(Variant {
        id: Arc::from(v.id.as_str()),
        version: v.version,
        state: v.state,
        channels,
        devices,
        reads: rule.as_ref().map(Rule::reads).unwrap_or_default(),
        specificity: rule.as_ref().map_or(0, Rule::specificity),
        rule,
        priority: v.priority,
        weight: v.weight,
        starts_at: v.starts_at,
        ends_at: v.ends_at,
        live_locales: live_locales(l10n, def, v),
        fields,
    })
}

fn message_is_personal(l10n: &L10n, message: &str, traits: &[&str]) -> bool {
    (0..l10n.locale_names().len()).any(|locale| {
        l10n.message_info(locale, message)
            .is_some_and(|info| info.variables().any(|v| traits.contains(&v)))
    })
}

/// The stable hash everything sticky is built on (xxh3, fixed seed): the same on every
/// node, every channel and every release.
pub fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut hasher = xxhash_rust::xxh3::Xxh3::with_seed(0x7a11_0c0d_e5ee_d001);
    for part in parts {
        hasher.update(&(part.len() as u32).to_le_bytes());
        hasher.update(part);
    }
    hasher.digest()
}

/// The process's compiled placements (see [`crate::memo`]): the serving catalog's and
/// those the last few checks and previews compiled.
fn compiled_placements() -> &'static crate::memo::Memo<Arc<Placement>> {
    static MEMO: std::sync::OnceLock<crate::memo::Memo<Arc<Placement>>> =
        std::sync::OnceLock::new();
    MEMO.get_or_init(|| crate::memo::Memo::new(16))
}

fn bucket_rank(placement: &str) -> Box<[u16]> {
    let mut order: Vec<u16> = (0..BUCKETS).collect();
    // Cached: one hash per bucket, not one per comparison.
    order.sort_by_cached_key(|b| stable_hash(&[placement.as_bytes(), &b.to_le_bytes()]));
    let mut rank = vec![0u16; BUCKETS as usize];
    for (position, bucket) in order.into_iter().enumerate() {
        rank[bucket as usize] = position as u16;
    }
    rank.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    //! Compiling reuses placements compiled before (see `crate::memo`): what it gives must
    //! be what a compile from nothing would, whatever was compiled before.
    use super::*;

    fn demo() -> ContentSet {
        files::load(
            std::path::Path::new("content"),
            std::path::Path::new("locales"),
        )
        .content
    }

    fn live_in(catalog: &Catalog, variant: &str, locale: &str) -> bool {
        let (_, hero) = catalog.placement("home.hero").expect("home.hero");
        let variant = hero
            .variants
            .iter()
            .find(|v| &*v.id == variant)
            .expect("variant");
        let index = catalog
            .l10n
            .locale_names()
            .iter()
            .position(|n| &**n == locale)
            .expect("locale");
        variant.live_locales[index]
    }

    #[test]
    fn a_message_removed_from_a_locale_takes_the_variant_out_of_it_and_back() {
        let content = demo();
        let before = Catalog::compile(&content, "en", 1).0;
        assert!(live_in(&before, "home-hero-default", "fr"));

        let mut without = content.clone();
        let fr = without
            .fluent
            .iter_mut()
            .find(|f| f.locale == "fr" && f.path == "home.ftl")
            .expect("fr/home.ftl");
        fr.source = fr
            .source
            .lines()
            .filter(|line| !line.starts_with("home-hero-default-title"))
            .collect::<Vec<_>>()
            .join("\n")
            .into();
        let (after, _) = Catalog::compile(&without, "en", 2);
        assert!(
            !live_in(&after, "home-hero-default", "fr"),
            "the placement compiled before was not reused with the message gone"
        );
        assert!(live_in(&after, "home-hero-default", "de"));

        let again = Catalog::compile(&content, "en", 3).0;
        assert!(live_in(&again, "home-hero-default", "fr"));
    }

    #[test]
    fn findings_reused_from_before_point_at_the_placement_where_it_is_now() {
        let mut content = demo();
        let hero = content
            .placements
            .iter()
            .position(|p| p.id == "home.hero")
            .expect("home.hero");
        content.placements[hero].variants[0].weight = 0;
        let weight_issue = |issues: &[Issue]| {
            issues.iter().find_map(|issue| match issue.at {
                Loc::Variant {
                    placement,
                    key: Some("weight"),
                    ..
                } => Some(placement),
                _ => None,
            })
        };
        let (_, issues) = Catalog::compile(&content, "en", 1);
        assert_eq!(weight_issue(&issues), Some(hero));

        // The same placement, moved: its findings (reused) move with it.
        let moved = content.placements.remove(hero);
        content.placements.push(moved);
        let last = content.placements.len() - 1;
        let (_, issues) = Catalog::compile(&content, "en", 2);
        assert_eq!(weight_issue(&issues), Some(last));
    }

    #[test]
    fn a_variant_id_defined_twice_is_found_across_placements_however_they_were_compiled() {
        let mut content = demo();
        let (_, issues) = Catalog::compile(&content, "en", 1);
        assert!(!issues.iter().any(|i| i.message.contains("defined twice")));
        let copied = content.placements[0].variants[0].clone();
        content.placements[1].variants.push(copied);
        let (_, issues) = Catalog::compile(&content, "en", 2);
        assert!(
            issues.iter().any(|i| i.message.contains("defined twice")),
            "{issues:?}"
        );
    }
}
