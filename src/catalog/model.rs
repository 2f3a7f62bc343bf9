//! Plain content definitions: what the files say and what the database stores (as JSON).
//! No spans, no compiled state: [`super::compile`] turns a [`ContentSet`] into the
//! serving [`super::Catalog`].

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelState {
    Active,
    AtRisk,
    Retired,
    Protected,
}

impl ChannelState {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelState::Active => "active",
            ChannelState::AtRisk => "at_risk",
            ChannelState::Retired => "retired",
            ChannelState::Protected => "protected",
        }
    }
    pub fn parse(value: &str) -> Option<ChannelState> {
        Some(match value {
            "active" => ChannelState::Active,
            "at_risk" => ChannelState::AtRisk,
            "retired" => ChannelState::Retired,
            "protected" => ChannelState::Protected,
            _ => return None,
        })
    }
}

/// How a channel carries text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TextMode {
    /// Plain text only (SMS, push): markup is not allowed in messages.
    Plain,
    /// Text the client lays out itself (web, app).
    #[default]
    Rich,
    /// A channel whose HTML fields are HTML (email): values placed into them are
    /// escaped; its text fields (subject, preheader) stay plain text, and a sender that
    /// puts one into HTML escapes it there.
    Html,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelDef {
    pub id: String,
    #[serde(default = "default_channel_state")]
    pub state: ChannelState,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub text: TextMode,
    /// Fluent's Unicode isolation marks around placeables: right for bidirectional UIs,
    /// wrong for SMS and push, where they would be counted and sometimes shown.
    #[serde(default = "default_true")]
    pub isolation_marks: bool,
    #[serde(default)]
    pub max_sms_segments: Option<u32>,
    #[serde(default)]
    pub max_payload_bytes: Option<usize>,
    /// Kept so existing channel files load: values placed into HTML fields are always
    /// escaped, and text fields (a subject line) are plain text on every channel.
    #[serde(default)]
    pub escape_html: bool,
    #[serde(default)]
    pub field_max_chars: BTreeMap<String, usize>,
    /// Links become tracked redirects (`/v1/t/...`), and email gets an open pixel.
    #[serde(default)]
    pub tracked_links: bool,
}

fn default_channel_state() -> ChannelState {
    ChannelState::Active
}
fn default_true() -> bool {
    true
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TraitType {
    String,
    Number,
    Bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraitDef {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: TraitType,
    #[serde(default)]
    pub description: String,
    /// A representative value, used by validation to render and measure messages.
    #[serde(default)]
    pub sample: Option<serde_json::Value>,
}

/// A named set of people, by a rule over their traits (e.g. `vip`). Segments are
/// computed from a verified person's traits and carried by cohort keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentDef {
    pub id: String,
    #[serde(default)]
    pub description: String,
    /// A targeting rule that reads only traits, e.g. `tier == "gold" or points >= 5000`.
    pub rule: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    Text,
    Html,
    Image,
    Link,
    Data,
}

impl FieldKind {
    pub fn is_message(self) -> bool {
        matches!(self, FieldKind::Text | FieldKind::Html)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldDef {
    pub kind: FieldKind,
    #[serde(default = "default_true")]
    pub required: bool,
    #[serde(default)]
    pub description: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariantState {
    Draft,
    InReview,
    Approved,
    Published,
    Archived,
    Retired,
}

impl VariantState {
    pub fn as_str(self) -> &'static str {
        match self {
            VariantState::Draft => "draft",
            VariantState::InReview => "in_review",
            VariantState::Approved => "approved",
            VariantState::Published => "published",
            VariantState::Archived => "archived",
            VariantState::Retired => "retired",
        }
    }
}

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DeviceClass {
    Desktop,
    Mobile,
    Tablet,
    Tv,
    Wearable,
    Voice,
    Unknown,
}

impl DeviceClass {
    pub const ALL: [DeviceClass; 7] = [
        DeviceClass::Desktop,
        DeviceClass::Mobile,
        DeviceClass::Tablet,
        DeviceClass::Tv,
        DeviceClass::Wearable,
        DeviceClass::Voice,
        DeviceClass::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeviceClass::Desktop => "desktop",
            DeviceClass::Mobile => "mobile",
            DeviceClass::Tablet => "tablet",
            DeviceClass::Tv => "tv",
            DeviceClass::Wearable => "wearable",
            DeviceClass::Voice => "voice",
            DeviceClass::Unknown => "unknown",
        }
    }

    pub fn parse(value: &str) -> Option<DeviceClass> {
        DeviceClass::ALL.into_iter().find(|d| d.as_str() == value)
    }
}

/// One field's authored value in a variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum FieldValue {
    /// `text`/`html`: a Fluent message id.
    Message { message: String },
    /// `image`/`link`: a URL.
    Url { url: String },
    /// `data`: structured JSON.
    Value { value: serde_json::Value },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantDef {
    pub id: String,
    #[serde(default = "default_version")]
    pub version: u32,
    pub state: VariantState,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub devices: Option<Vec<DeviceClass>>,
    #[serde(default)]
    pub rule: Option<String>,
    #[serde(default)]
    pub priority: i32,
    #[serde(default = "default_weight")]
    pub weight: u32,
    #[serde(default)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub fields: BTreeMap<String, FieldValue>,
}

fn default_version() -> u32 {
    1
}
fn default_weight() -> u32 {
    1
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementDef {
    pub id: String,
    #[serde(default)]
    pub description: String,
    pub channels: Vec<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, FieldDef>,
    /// At most so many impressions per person in a rolling window, across channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_cap: Option<FrequencyCap>,
    /// Locales (or `"*"`) where a variant may borrow a missing message from the next
    /// locale of the chain. Elsewhere a variant is live only in the locales that have
    /// every message it uses; other requests get it whole in the next complete locale.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_fallback: Vec<String>,
    /// Archived: kept with its history, no longer served.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub archived: bool,
    /// How the variants without a rule share traffic: by `weight` (the default), or
    /// `adaptive` (Thompson sampling on `reward`, recomputed on a schedule).
    #[serde(default, skip_serializing_if = "AllocationMode::is_weighted")]
    pub allocation: AllocationMode,
    /// What counts as success for adaptive allocation (default `click`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<Reward>,
    /// Adaptive allocation's tuning (defaults in [`AdaptiveTuning`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<AdaptiveTuning>,
    #[serde(default, rename = "variant")]
    pub variants: Vec<VariantDef>,
}

/// How a placement's rule-less variants share traffic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationMode {
    /// Fixed shares by `weight`.
    #[default]
    Weighted,
    /// Shares learned from engagement (see `crate::allocation`).
    Adaptive,
}

impl AllocationMode {
    fn is_weighted(&self) -> bool {
        *self == AllocationMode::Weighted
    }
}

/// What one event of reward is, for adaptive allocation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reward {
    #[default]
    Click,
    Conversion,
}

/// Adaptive allocation's knobs; every one has a default.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdaptiveTuning {
    /// Least share of traffic every arm keeps, so learning never stops (0.001–0.5).
    pub floor: f64,
    /// Days of engagement each recompute reads (1–90).
    pub window_days: u32,
    /// Distinct sources an arm's evidence needs before it counts.
    pub min_sources: u64,
    /// Largest share of an arm's events of one kind a source may send before it is
    /// discounted.
    pub max_source_share: f64,
    /// A guardrail cuts an arm whose opt-out or detractor rate is above this many times
    /// the other arms'.
    pub guardrail_factor: f64,
}

impl Default for AdaptiveTuning {
    fn default() -> AdaptiveTuning {
        AdaptiveTuning {
            floor: 0.05,
            window_days: 14,
            min_sources: crate::governance::policy::DEFAULT_MIN_SOURCES,
            max_source_share: crate::governance::policy::DEFAULT_MAX_SOURCE_SHARE,
            guardrail_factor: 1.5,
        }
    }
}

impl AdaptiveTuning {
    /// What is wrong with these knobs, as (key, reason).
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        if !(0.001..=0.5).contains(&self.floor) {
            return Some((
                "floor",
                "must be between 0.001 and 0.5 (every arm keeps learning)",
            ));
        }
        if !(1..=90).contains(&self.window_days) {
            return Some(("window_days", "must be between 1 and 90"));
        }
        if self.min_sources == 0 || self.min_sources > 1_000_000 {
            return Some(("min_sources", "must be between 1 and 1000000"));
        }
        if !(self.max_source_share > 0.0 && self.max_source_share <= 1.0) {
            return Some(("max_source_share", "must be above 0 and at most 1"));
        }
        if !(1.0..=100.0).contains(&self.guardrail_factor) {
            return Some(("guardrail_factor", "must be between 1 and 100"));
        }
        None
    }
}

impl PlacementDef {
    /// May this placement's variants borrow a missing message in `locale`?
    pub fn allows_fallback(&self, locale: &str) -> bool {
        self.allow_fallback.iter().any(|l| l == "*" || l == locale)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCap {
    pub impressions: u32,
    pub days: u32,
}

/// One Fluent resource file of one locale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FluentFile {
    pub locale: String,
    /// File name inside the locale folder, e.g. `home.ftl`.
    pub path: String,
    /// Shared: the serving catalog, the parsed-source memo and the localisation index
    /// all hold the same text (a large catalog's sources are most of its bytes).
    pub source: Arc<str>,
}

/// Everything that makes up the content: from files or from the database.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContentSet {
    pub channels: Vec<ChannelDef>,
    pub traits: Vec<TraitDef>,
    pub segments: Vec<SegmentDef>,
    /// Retirement policies (`governance.toml`).
    pub policies: Vec<crate::governance::policy::PolicyDef>,
    pub placements: Vec<PlacementDef>,
    pub fluent: Vec<FluentFile>,
}

impl ContentSet {
    /// What serves: the published variants of placements that are not archived.
    pub fn published_variants(&self) -> impl Iterator<Item = (&PlacementDef, &VariantDef)> {
        self.placements
            .iter()
            .filter(|p| !p.archived)
            .flat_map(|p| p.variants.iter().map(move |v| (p, v)))
            .filter(|(_, v)| v.state == VariantState::Published)
    }
}
