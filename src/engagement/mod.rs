//! Engagement: events clients send back, validated here into [`NewEvent`]s, written
//! exactly once by the [`writer`] (group commit), rolled up per day and decision.
//!
//! An event names its decision only through the signed tracking token from the content
//! answer: placement, variant, version, channel, device and locale are taken from the
//! token, never from client-supplied copies. The person comes with the event
//! (`anonymous_id`, or the batch's `X-Anonymous-Id`).

pub mod http;
pub mod provenance;
mod service;
pub mod writer;

pub use service::Engagement;

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Serialize;

use crate::identity::{check_anonymous_id, Person};
use crate::tokens::{Signer, TokenError, TrackingClaims};
use provenance::SourceNamer;
pub use provenance::TrafficClass;

/// Documented limits of `POST /v1/events`.
pub const MAX_EVENTS_PER_BATCH: usize = 500;
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// How far `occurred_at` may be ahead of the server clock (client clocks drift).
pub const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);
/// How old an event may be (offline apps flush late, but not forever).
pub const MAX_AGE: Duration = Duration::days(30);
const MAX_COMMENT_CHARS: usize = 2000;
/// Largest revenue of one event, in minor units (ten billion euros).
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Impression,
    View,
    Click,
    Conversion,
    Dismiss,
    OptIn,
    OptOut,
    Share,
    Feedback,
}

impl EventKind {
    pub const ALL: [EventKind; 9] = [
        EventKind::Impression,
        EventKind::View,
        EventKind::Click,
        EventKind::Conversion,
        EventKind::Dismiss,
        EventKind::OptIn,
        EventKind::OptOut,
        EventKind::Share,
        EventKind::Feedback,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Impression => "impression",
            EventKind::View => "view",
            EventKind::Click => "click",
            EventKind::Conversion => "conversion",
            EventKind::Dismiss => "dismiss",
            EventKind::OptIn => "opt_in",
            EventKind::OptOut => "opt_out",
            EventKind::Share => "share",
            EventKind::Feedback => "feedback",
        }
    }

    pub fn parse(value: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == value)
    }

    /// Outcomes whose time since the person's impression is tracked (velocity).
    pub fn is_outcome(self) -> bool {
        matches!(
            self,
            EventKind::Click | EventKind::Conversion | EventKind::OptOut
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FeedbackKind {
    Csat,
    Nps,
    Ces,
}

impl FeedbackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Csat => "csat",
            FeedbackKind::Nps => "nps",
            FeedbackKind::Ces => "ces",
        }
    }

    /// CSAT 1–5, NPS 0–10, CES 1–7.
    pub fn range(self) -> (i16, i16) {
        match self {
            FeedbackKind::Csat => (1, 5),
            FeedbackKind::Nps => (0, 10),
            FeedbackKind::Ces => (1, 7),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revenue {
    /// Amount in the currency's minor unit (cents), exact.
    pub minor: i64,
    pub currency: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feedback {
    pub kind: FeedbackKind,
    pub score: i16,
    pub comment: Option<String>,
}

/// The decision an event belongs to, as the tracking token signed it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DecisionRef {
    pub placement: String,
    pub variant: String,
    pub version: u32,
    pub channel: String,
    pub device: String,
    pub locale: String,
    /// The segment set the decision was made for (comma-separated), or empty.
    pub segments: String,
}

impl From<TrackingClaims> for DecisionRef {
    fn from(c: TrackingClaims) -> DecisionRef {
        DecisionRef {
            placement: c.pl,
            variant: c.va,
            version: c.ve,
            channel: c.ch,
            device: c.dv,
            locale: c.lo,
            segments: c.sg,
        }
    }
}

/// A validated event, ready to store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: String,
    pub kind: EventKind,
    pub occurred_at: DateTime<Utc>,
    pub decision: DecisionRef,
    pub person_key: Option<String>,
    pub revenue: Option<Revenue>,
    pub feedback: Option<Feedback>,
    /// For clicks through a tracked link: the link field.
    pub link: Option<String>,
    /// Who could have sent it: `net:<hash>`, `person:<hash>` or `key:<hash>`.
    pub source: String,
    pub traffic: TrafficClass,
}

/// Why one event of a batch was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Rejection {
    pub index: usize,
    pub field: String,
    pub reason: String,
}

/// What validation needs besides the event.
pub struct EventContext<'a> {
    pub signer: &'a Signer,
    pub now: DateTime<Utc>,
    /// The batch's `X-Anonymous-Id`, for events without their own `anonymous_id`.
    pub batch_person: Option<&'a str>,
    /// Person keys of anonymous ids the identity graph knows (the person's sticky key,
    /// so caps and velocity count across all of a person's identifiers).
    pub person_keys: &'a std::collections::HashMap<String, String>,
    /// The person of a verified identity token: every event of the batch is theirs.
    pub verified_person: Option<&'a str>,
    /// Where the request came from.
    pub origin: Origin<'a>,
}

/// Where a batch came from: the client network, and whether a server key vouches for
/// the people its events name.
pub struct Origin<'a> {
    /// `net:<hash>` of the client's network.
    pub network: &'a str,
    /// `key:<hash>` of the server key the batch came with, if any.
    pub server_key: Option<&'a str>,
    pub traffic: TrafficClass,
    pub names: &'a SourceNamer,
}

impl Origin<'_> {
    /// An event's source: a vouched-for person (an identity token's, or under a server
    /// key one the identity graph knows — an anonymous id anyone could make up is no
    /// one's word), else the server key, else the client network.
    fn source_of(&self, person: Option<&str>, vouched: bool) -> String {
        match (person, vouched, self.server_key) {
            (Some(key), true, _) => self.names.person(key),
            (_, _, Some(server)) => server.to_string(),
            _ => self.network.to_string(),
        }
    }
}

fn reject(index: usize, field: &str, reason: impl Into<String>) -> Rejection {
    Rejection {
        index,
        field: field.to_string(),
        reason: reason.into(),
    }
}

fn check_event_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > 64 {
        return Err("must be 1 to 64 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        return Err("may contain only letters, digits and - _ . :");
    }
    Ok(())
}

/// Parses a decimal amount ("12.50") into minor units of `currency`, exactly.
pub fn parse_amount(amount: &str, exponent: u32) -> Result<i64, &'static str> {
    let amount = amount.trim();
    if amount.starts_with('-') {
        return Err("must not be negative");
    }
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return Err("must be a decimal number like \"12.50\"");
    }
    if fraction.len() > exponent as usize {
        return Err("has more decimals than the currency allows");
    }
    let scale = 10i64.pow(exponent);
    let whole: i64 = whole.parse().map_err(|_| "is too large")?;
    let mut fraction_value: i64 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| "is not a number")?
    };
    fraction_value *= 10i64.pow(exponent - fraction.len() as u32);
    whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(fraction_value))
        // 10^12 minor units per event keeps every rollup sum far inside i64.
        .filter(|v| *v <= MAX_AMOUNT_MINOR)
        .ok_or("is too large")
}

/// Validates one event of a batch.
pub fn parse_event(
    index: usize,
    value: &serde_json::Value,
    ctx: &EventContext,
) -> Result<NewEvent, Rejection> {
    let object = value
        .as_object()
        .ok_or_else(|| reject(index, "", "an event must be a JSON object"))?;
    let text = |field: &str| -> Result<Option<&str>, Rejection> {
        match object.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(reject(index, field, "must be a string")),
        }
    };

    let event_id = text("event_id")?.ok_or_else(|| reject(index, "event_id", "is required"))?;
    check_event_id(event_id).map_err(|r| reject(index, "event_id", r))?;

    let kind_name = text("type")?.ok_or_else(|| reject(index, "type", "is required"))?;
    let kind = EventKind::parse(kind_name).ok_or_else(|| {
        reject(
            index,
            "type",
            format!(
                "unknown type `{kind_name}`; one of {}",
                EventKind::ALL.map(EventKind::as_str).join(", ")
            ),
        )
    })?;

    let token =
        text("tracking_token")?.ok_or_else(|| reject(index, "tracking_token", "is required"))?;
    let claims = ctx
        .signer
        .verify_tracking(token, ctx.now.timestamp().max(0) as u64)
        .map_err(|e| {
            let reason = match e {
                TokenError::Expired => {
                    "has expired (tracking tokens count engagement for tracking_token_ttl); fetch the content again"
                }
                TokenError::Invalid(_) => "is not a tracking token Tailor signed",
            };
            reject(index, "tracking_token", reason)
        })?;
    let issued_at = DateTime::from_timestamp(claims.iat as i64, 0).unwrap_or(ctx.now);
    let decision: DecisionRef = claims.into();

    let occurred_at = match text("occurred_at")? {
        None => ctx.now,
        Some(s) => {
            let at = DateTime::parse_from_rfc3339(s)
                .map_err(|_| {
                    reject(
                        index,
                        "occurred_at",
                        "must be an RFC 3339 time like 2026-11-23T10:15:00Z",
                    )
                })?
                .with_timezone(&Utc);
            if at > ctx.now + MAX_FUTURE_SKEW {
                return Err(reject(
                    index,
                    "occurred_at",
                    "is more than 5 minutes in the future",
                ));
            }
            if at < ctx.now - MAX_AGE {
                return Err(reject(
                    index,
                    "occurred_at",
                    "is more than 30 days in the past",
                ));
            }
            // Nothing happens to an answer before it was given: a backdated event would
            // rewrite history (and the baselines governance compares floods against).
            if at < issued_at - MAX_FUTURE_SKEW {
                return Err(reject(
                    index,
                    "occurred_at",
                    "is before its tracking token was issued",
                ));
            }
            at
        }
    };

    let (person, vouched) = match (
        ctx.verified_person,
        text("anonymous_id")?.or(ctx.batch_person),
    ) {
        (Some(key), _) => (Some(key.to_string()), true),
        (None, Some(id)) => {
            check_anonymous_id(id).map_err(|r| reject(index, "anonymous_id", r))?;
            match ctx.person_keys.get(id) {
                // A person the graph knows, named by a server: the server's word.
                Some(key) => (Some(key.clone()), ctx.origin.server_key.is_some()),
                None => (Some(Person::anonymous(id).key), false),
            }
        }
        (None, None) => (None, false),
    };

    let revenue = match object.get("revenue") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(r)) => {
            if kind != EventKind::Conversion {
                return Err(reject(index, "revenue", "only conversions carry revenue"));
            }
            let amount = match r.get("amount") {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(serde_json::Value::Number(n)) => n.to_string(),
                _ => {
                    return Err(reject(
                        index,
                        "revenue.amount",
                        "is required, as a decimal string like \"12.50\"",
                    ))
                }
            };
            let code = r.get("currency").and_then(|c| c.as_str()).ok_or_else(|| {
                reject(
                    index,
                    "revenue.currency",
                    "is required (ISO 4217, e.g. \"EUR\")",
                )
            })?;
            let currency = iso_currency::Currency::from_code(code).ok_or_else(|| {
                reject(
                    index,
                    "revenue.currency",
                    format!("`{code}` is not an ISO 4217 currency"),
                )
            })?;
            let exponent = u32::from(currency.exponent().unwrap_or(2));
            let minor =
                parse_amount(&amount, exponent).map_err(|r| reject(index, "revenue.amount", r))?;
            Some(Revenue {
                minor,
                currency: currency.code().to_string(),
            })
        }
        Some(_) => {
            return Err(reject(
                index,
                "revenue",
                "must be an object {\"amount\", \"currency\"}",
            ))
        }
    };

    let feedback = match object.get("feedback") {
        None | Some(serde_json::Value::Null) => {
            if kind == EventKind::Feedback {
                return Err(reject(
                    index,
                    "feedback",
                    "is required for a feedback event",
                ));
            }
            None
        }
        Some(serde_json::Value::Object(f)) => {
            if kind != EventKind::Feedback {
                return Err(reject(
                    index,
                    "feedback",
                    "only feedback events carry feedback",
                ));
            }
            let kind = match f.get("kind").and_then(|k| k.as_str()) {
                Some("csat") => FeedbackKind::Csat,
                Some("nps") => FeedbackKind::Nps,
                Some("ces") => FeedbackKind::Ces,
                _ => return Err(reject(index, "feedback.kind", "must be csat, nps or ces")),
            };
            let (low, high) = kind.range();
            let score = f
                .get("score")
                .and_then(|s| s.as_i64())
                .ok_or_else(|| reject(index, "feedback.score", "is required, as a whole number"))?;
            if score < i64::from(low) || score > i64::from(high) {
                return Err(reject(
                    index,
                    "feedback.score",
                    format!(
                        "{} scores run from {low} to {high}",
                        kind.as_str().to_uppercase()
                    ),
                ));
            }
            let comment = match f.get("comment") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(c)) if c.chars().count() <= MAX_COMMENT_CHARS => {
                    Some(c.clone())
                }
                Some(serde_json::Value::String(_)) => {
                    return Err(reject(
                        index,
                        "feedback.comment",
                        "is longer than 2000 characters",
                    ))
                }
                Some(_) => return Err(reject(index, "feedback.comment", "must be a string")),
            };
            // PostgreSQL text cannot hold NUL; other control characters are no comment.
            if comment.as_deref().is_some_and(|c| {
                c.chars()
                    .any(|ch| ch.is_control() && !matches!(ch, '\n' | '\r' | '\t'))
            }) {
                return Err(reject(
                    index,
                    "feedback.comment",
                    "must not contain control characters",
                ));
            }
            Some(Feedback {
                kind,
                score: score as i16,
                comment,
            })
        }
        Some(_) => {
            return Err(reject(
                index,
                "feedback",
                "must be an object {\"kind\", \"score\", \"comment\"}",
            ))
        }
    };

    Ok(NewEvent {
        event_id: event_id.to_string(),
        kind,
        occurred_at,
        decision,
        source: ctx.origin.source_of(person.as_deref(), vouched),
        traffic: ctx.origin.traffic,
        person_key: person,
        revenue,
        feedback,
        link: None,
    })
}

/// The grouping of the daily rollup.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RollupKey {
    pub day: NaiveDate,
    pub placement: String,
    pub variant: String,
    pub channel: String,
    pub device: String,
    pub locale: String,
}

impl RollupKey {
    pub fn of(event: &NewEvent) -> RollupKey {
        let d = &event.decision;
        RollupKey {
            day: event.occurred_at.date_naive(),
            placement: d.placement.clone(),
            variant: d.variant.clone(),
            channel: d.channel.clone(),
            device: d.device.clone(),
            locale: d.locale.clone(),
        }
    }
}

/// Increments to one daily rollup row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub impressions: i64,
    pub views: i64,
    pub clicks: i64,
    pub conversions: i64,
    pub dismissals: i64,
    pub opt_ins: i64,
    pub opt_outs: i64,
    pub shares: i64,
    pub csat_count: i64,
    pub csat_sum: i64,
    pub nps_count: i64,
    pub nps_sum: i64,
    pub nps_promoters: i64,
    pub nps_detractors: i64,
    pub ces_count: i64,
    pub ces_sum: i64,
}

impl Counts {
    /// How many events of `kind` these counts hold.
    pub fn of(&self, kind: EvidenceKind) -> i64 {
        match kind {
            EvidenceKind::Impression => self.impressions,
            EvidenceKind::View => self.views,
            EvidenceKind::Click => self.clicks,
            EvidenceKind::Conversion => self.conversions,
            EvidenceKind::Dismiss => self.dismissals,
            EvidenceKind::OptIn => self.opt_ins,
            EvidenceKind::OptOut => self.opt_outs,
            EvidenceKind::Share => self.shares,
            EvidenceKind::Csat => self.csat_count,
            EvidenceKind::Nps => self.nps_count,
            EvidenceKind::Ces => self.ces_count,
        }
    }

    /// Judged events these counts hold (feedback answers counted once each).
    pub fn events(&self) -> i64 {
        EvidenceKind::ALL.into_iter().map(|k| self.of(k)).sum()
    }

    /// Adds another group's counts to these.
    pub fn merge(&mut self, other: &Counts) {
        self.impressions += other.impressions;
        self.views += other.views;
        self.clicks += other.clicks;
        self.conversions += other.conversions;
        self.dismissals += other.dismissals;
        self.opt_ins += other.opt_ins;
        self.opt_outs += other.opt_outs;
        self.shares += other.shares;
        self.csat_count += other.csat_count;
        self.csat_sum += other.csat_sum;
        self.nps_count += other.nps_count;
        self.nps_sum += other.nps_sum;
        self.nps_promoters += other.nps_promoters;
        self.nps_detractors += other.nps_detractors;
        self.ces_count += other.ces_count;
        self.ces_sum += other.ces_sum;
    }

    fn add(&mut self, event: &NewEvent) {
        match event.kind {
            EventKind::Impression => self.impressions += 1,
            EventKind::View => self.views += 1,
            EventKind::Click => self.clicks += 1,
            EventKind::Conversion => self.conversions += 1,
            EventKind::Dismiss => self.dismissals += 1,
            EventKind::OptIn => self.opt_ins += 1,
            EventKind::OptOut => self.opt_outs += 1,
            EventKind::Share => self.shares += 1,
            EventKind::Feedback => {
                if let Some(f) = &event.feedback {
                    let score = i64::from(f.score);
                    match f.kind {
                        FeedbackKind::Csat => {
                            self.csat_count += 1;
                            self.csat_sum += score;
                        }
                        FeedbackKind::Nps => {
                            self.nps_count += 1;
                            self.nps_sum += score;
                            // NPS: 9–10 promote, 0–6 detract.
                            self.nps_promoters += i64::from(score >= 9);
                            self.nps_detractors += i64::from(score <= 6);
                        }
                        FeedbackKind::Ces => {
                            self.ces_count += 1;
                            self.ces_sum += score;
                        }
                    }
                }
            }
        }
    }
}

/// Rollup increments for a set of newly stored events.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rollup {
    pub daily: HashMap<RollupKey, Counts>,
    /// (key, currency) → (conversions, amount in minor units)
    pub revenue: HashMap<(RollupKey, String), (i64, i64)>,
}

/// The judged rollups of newly stored events: bot traffic is left out (it is counted in
/// [`traffic_counts`] and never judged).
pub fn rollup<'a>(events: impl IntoIterator<Item = &'a NewEvent>) -> Rollup {
    let mut rollup = Rollup::default();
    for event in events.into_iter().filter(|e| e.traffic.is_judged()) {
        let key = RollupKey::of(event);
        if let Some(revenue) = &event.revenue {
            let entry = rollup
                .revenue
                .entry((key.clone(), revenue.currency.clone()))
                .or_default();
            entry.0 += 1;
            entry.1 = entry.1.saturating_add(revenue.minor);
        }
        rollup.daily.entry(key).or_default().add(event);
    }
    rollup
}

/// What an event contributes as evidence, as governance reads it: its kind, with
/// feedback split by survey (`csat`, `nps`, `ces`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EvidenceKind {
    Impression,
    View,
    Click,
    Conversion,
    Dismiss,
    OptIn,
    OptOut,
    Share,
    Csat,
    Nps,
    Ces,
}

impl EvidenceKind {
    pub const ALL: [EvidenceKind; 11] = [
        EvidenceKind::Impression,
        EvidenceKind::View,
        EvidenceKind::Click,
        EvidenceKind::Conversion,
        EvidenceKind::Dismiss,
        EvidenceKind::OptIn,
        EvidenceKind::OptOut,
        EvidenceKind::Share,
        EvidenceKind::Csat,
        EvidenceKind::Nps,
        EvidenceKind::Ces,
    ];

    /// The event's evidence kind; `None` for feedback without an answer (which
    /// validation never lets through, and the rollups would not count either).
    pub fn of(event: &NewEvent) -> Option<EvidenceKind> {
        Some(match (event.kind, &event.feedback) {
            (EventKind::Feedback, Some(f)) => match f.kind {
                FeedbackKind::Csat => EvidenceKind::Csat,
                FeedbackKind::Nps => EvidenceKind::Nps,
                FeedbackKind::Ces => EvidenceKind::Ces,
            },
            (EventKind::Impression, _) => EvidenceKind::Impression,
            (EventKind::View, _) => EvidenceKind::View,
            (EventKind::Click, _) => EvidenceKind::Click,
            (EventKind::Conversion, _) => EvidenceKind::Conversion,
            (EventKind::Dismiss, _) => EvidenceKind::Dismiss,
            (EventKind::OptIn, _) => EvidenceKind::OptIn,
            (EventKind::OptOut, _) => EvidenceKind::OptOut,
            (EventKind::Share, _) => EvidenceKind::Share,
            (EventKind::Feedback, None) => return None,
        })
    }

    /// As stored in `source_daily.kind` and `arrivals_daily.kind`: the event kind's
    /// name, or the survey's.
    pub fn as_str(self) -> &'static str {
        match self {
            EvidenceKind::Impression => EventKind::Impression.as_str(),
            EvidenceKind::View => EventKind::View.as_str(),
            EvidenceKind::Click => EventKind::Click.as_str(),
            EvidenceKind::Conversion => EventKind::Conversion.as_str(),
            EvidenceKind::Dismiss => EventKind::Dismiss.as_str(),
            EvidenceKind::OptIn => EventKind::OptIn.as_str(),
            EvidenceKind::OptOut => EventKind::OptOut.as_str(),
            EvidenceKind::Share => EventKind::Share.as_str(),
            EvidenceKind::Csat => FeedbackKind::Csat.as_str(),
            EvidenceKind::Nps => FeedbackKind::Nps.as_str(),
            EvidenceKind::Ces => FeedbackKind::Ces.as_str(),
        }
    }

    pub fn parse(value: &str) -> Option<EvidenceKind> {
        EvidenceKind::ALL.into_iter().find(|k| k.as_str() == value)
    }
}

/// Per-source increments of judged events: (day key, source, evidence kind) → count.
pub fn source_counts<'a>(
    events: impl IntoIterator<Item = &'a NewEvent>,
) -> HashMap<(RollupKey, String, &'static str), i64> {
    let mut counts = HashMap::new();
    for event in events.into_iter().filter(|e| e.traffic.is_judged()) {
        if let Some(kind) = EvidenceKind::of(event) {
            *counts
                .entry((RollupKey::of(event), event.source.clone(), kind.as_str()))
                .or_default() += 1;
        }
    }
    counts
}

/// Judged events by the day they arrived: (key with the arrival day, evidence kind) →
/// count.
pub fn arrival_counts<'a>(
    events: impl IntoIterator<Item = &'a NewEvent>,
    arrived: NaiveDate,
) -> HashMap<(RollupKey, &'static str), i64> {
    let mut counts = HashMap::new();
    for event in events.into_iter().filter(|e| e.traffic.is_judged()) {
        let key = RollupKey {
            day: arrived,
            ..RollupKey::of(event)
        };
        if let Some(kind) = EvidenceKind::of(event) {
            *counts.entry((key, kind.as_str())).or_default() += 1;
        }
    }
    counts
}

/// Events per traffic class: (day key, class) → count, bots included.
pub fn traffic_counts<'a>(
    events: impl IntoIterator<Item = &'a NewEvent>,
) -> HashMap<(RollupKey, TrafficClass), i64> {
    let mut counts = HashMap::new();
    for event in events {
        *counts
            .entry((RollupKey::of(event), event.traffic))
            .or_default() += 1;
    }
    counts
}

/// Velocity histogram bucket of a delay: bucket `b` holds `[2^b − 1, 2^(b+1) − 1)`
/// seconds, so one second and one month both fit in 23 small rows per group.
pub fn velocity_bucket(seconds: i64) -> i16 {
    let seconds = seconds.max(0) as u64;
    (u64::BITS - (seconds + 1).leading_zeros() - 1) as i16
}

/// The `q`-quantile (0–1) of a velocity histogram, in seconds, interpolated linearly
/// inside the bucket it falls in. `None` for an empty histogram.
pub fn velocity_quantile(histogram: &[(i16, i64)], q: f64) -> Option<f64> {
    let total: i64 = histogram.iter().map(|(_, c)| *c).sum();
    if total == 0 {
        return None;
    }
    let mut sorted: Vec<(i16, i64)> = histogram.to_vec();
    sorted.sort();
    let target = q.clamp(0.0, 1.0) * total as f64;
    let mut seen = 0f64;
    for (bucket, count) in &sorted {
        let next = seen + *count as f64;
        if next >= target && *count > 0 {
            let low = (1u64 << *bucket) as f64 - 1.0;
            let high = (1u64 << (*bucket + 1)) as f64 - 1.0;
            let within = ((target - seen) / *count as f64).clamp(0.0, 1.0);
            return Some(low + within * (high - low));
        }
        seen = next;
    }
    sorted.last().map(|(b, _)| (1u64 << (*b + 1)) as f64 - 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(b"engagement-tests-engagement-tests-engagement")
    }

    const NOW: &str = "2026-11-23T12:00:00Z";

    fn token(signer: &Signer) -> String {
        let now: DateTime<Utc> = NOW.parse().unwrap();
        signer.tracking_token(
            "home.hero",
            "home-hero-default",
            1,
            "web",
            "mobile",
            "fr",
            3,
            crate::tokens::Validity {
                issued_at: (now - Duration::days(20)).timestamp() as u64,
                expires_at: (now + Duration::hours(1)).timestamp() as u64,
            },
        )
    }

    /// A batch's context in these tests: `visitor-1` from the network `net:test`.
    fn context<'a>(
        signer: &'a Signer,
        names: &'a SourceNamer,
        person_keys: &'a HashMap<String, String>,
        server_key: Option<&'a str>,
        traffic: TrafficClass,
    ) -> EventContext<'a> {
        EventContext {
            signer,
            now: NOW.parse().unwrap(),
            batch_person: Some("visitor-1"),
            person_keys,
            verified_person: None,
            origin: Origin {
                network: "net:test",
                server_key,
                traffic,
                names,
            },
        }
    }

    fn parse_with(value: serde_json::Value, traffic: TrafficClass) -> Result<NewEvent, Rejection> {
        let signer = signer();
        let names = SourceNamer::new(b"engagement-tests");
        let nobody_known = HashMap::new();
        parse_event(
            0,
            &value,
            &context(&signer, &names, &nobody_known, None, traffic),
        )
    }

    fn parse(value: serde_json::Value) -> Result<NewEvent, Rejection> {
        parse_with(value, TrafficClass::Human)
    }

    #[test]
    fn only_a_vouched_for_person_is_a_source_of_their_own() {
        let signer = signer();
        let names = SourceNamer::new(b"engagement-tests");
        let known = HashMap::from([("known-1".to_string(), "p:42".to_string())]);
        let source = |anonymous_id: &str, server_key: Option<&str>| {
            let ctx = context(&signer, &names, &known, server_key, TrafficClass::Unknown);
            let event = serde_json::json!({"event_id": "e", "type": "click",
                "tracking_token": token(&signer), "anonymous_id": anonymous_id});
            parse_event(0, &event, &ctx).unwrap().source
        };
        // Under a server key, a person the graph knows is their own source...
        assert_eq!(source("known-1", Some("key:k")), names.person("p:42"));
        // ...an id anyone could make up is the key's word only, and without a key the
        // network's.
        assert_eq!(source("made-up-1", Some("key:k")), "key:k");
        assert_eq!(source("made-up-2", Some("key:k")), "key:k");
        assert_eq!(source("known-1", None), "net:test");
    }

    #[test]
    fn expired_tokens_and_events_before_the_decision_are_rejected() {
        let s = signer();
        let now: DateTime<Utc> = NOW.parse().unwrap();
        let expired = s.tracking_token(
            "home.hero",
            "v",
            1,
            "web",
            "desktop",
            "en",
            1,
            crate::tokens::Validity {
                issued_at: (now - Duration::days(2)).timestamp() as u64,
                expires_at: (now - Duration::days(1)).timestamp() as u64,
            },
        );
        let rejection =
            parse(serde_json::json!({"event_id": "e", "type": "click", "tracking_token": expired}))
                .unwrap_err();
        assert_eq!(rejection.field, "tracking_token");
        assert!(rejection.reason.contains("expired"), "{}", rejection.reason);
        let backdated = parse(serde_json::json!({"event_id": "e", "type": "click",
            "tracking_token": token(&s), "occurred_at": "2026-11-01T00:00:00Z"}))
        .unwrap_err();
        assert_eq!(backdated.field, "occurred_at");
    }

    #[test]
    fn bots_are_stored_with_their_source_but_never_rolled_up() {
        let t = token(&signer());
        let human =
            parse(serde_json::json!({"event_id": "1", "type": "click", "tracking_token": t}))
                .unwrap();
        let bot = parse_with(
            serde_json::json!({"event_id": "2", "type": "click", "tracking_token": t}),
            TrafficClass::Bot,
        )
        .unwrap();
        assert_eq!(human.source, "net:test");
        assert_eq!(bot.traffic, TrafficClass::Bot);
        let rolled = rollup([&human, &bot]);
        assert_eq!(rolled.daily.values().map(|c| c.clicks).sum::<i64>(), 1);
        assert_eq!(source_counts([&human, &bot]).values().sum::<i64>(), 1);
        assert_eq!(traffic_counts([&human, &bot]).len(), 2);
    }

    #[test]
    fn a_conversion_takes_its_decision_from_the_token() {
        let t = token(&signer());
        let event = parse(serde_json::json!({
            "event_id": "e-1", "type": "conversion", "tracking_token": t,
            "occurred_at": "2026-11-23T11:59:00Z",
            "revenue": {"amount": "12.50", "currency": "EUR"},
            "placement": "forged.placement"
        }))
        .unwrap();
        assert_eq!(event.decision.placement, "home.hero");
        assert_eq!(
            event.revenue,
            Some(Revenue {
                minor: 1250,
                currency: "EUR".into()
            })
        );
        assert_eq!(event.person_key.as_deref(), Some("anon:visitor-1"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let t = token(&signer());
        let cases = [
            (
                serde_json::json!({"type": "click", "tracking_token": t}),
                "event_id",
            ),
            (
                serde_json::json!({"event_id": "a b", "type": "click", "tracking_token": t}),
                "event_id",
            ),
            (
                serde_json::json!({"event_id": "e", "type": "teleport", "tracking_token": t}),
                "type",
            ),
            (
                serde_json::json!({"event_id": "e", "type": "click", "tracking_token": "x.y.z"}),
                "tracking_token",
            ),
            (
                serde_json::json!({"event_id": "e", "type": "click", "tracking_token": t, "occurred_at": "2026-11-23T12:10:00Z"}),
                "occurred_at",
            ),
            (
                serde_json::json!({"event_id": "e", "type": "click", "tracking_token": t, "occurred_at": "2026-09-01T00:00:00Z"}),
                "occurred_at",
            ),
            (
                serde_json::json!({"event_id": "e", "type": "conversion", "tracking_token": t, "revenue": {"amount": "-1.00", "currency": "EUR"}}),
                "revenue.amount",
            ),
            (
                serde_json::json!({"event_id": "e", "type": "conversion", "tracking_token": t, "revenue": {"amount": "1.005", "currency": "EUR"}}),
                "revenue.amount",
            ),
            (
                serde_json::json!({"event_id": "e", "type": "conversion", "tracking_token": t, "revenue": {"amount": "1", "currency": "EURO"}}),
                "revenue.currency",
            ),
            (
                serde_json::json!({"event_id": "e", "type": "feedback", "tracking_token": t, "feedback": {"kind": "nps", "score": 11}}),
                "feedback.score",
            ),
            (
                serde_json::json!({"event_id": "e", "type": "feedback", "tracking_token": t, "feedback": {"kind": "csat", "score": 0}}),
                "feedback.score",
            ),
            (
                serde_json::json!({"event_id": "e", "type": "feedback", "tracking_token": t}),
                "feedback",
            ),
        ];
        for (event, field) in cases {
            let rejection = parse(event.clone()).expect_err(&event.to_string());
            assert_eq!(rejection.field, field, "{event}: {}", rejection.reason);
        }
    }

    #[test]
    fn amounts_are_exact_in_minor_units() {
        assert_eq!(parse_amount("12.5", 2), Ok(1250));
        assert_eq!(parse_amount("0.01", 2), Ok(1));
        assert_eq!(parse_amount("1500", 0), Ok(1500));
        assert_eq!(parse_amount("1.234", 3), Ok(1234));
        assert!(parse_amount("1.2.3", 2).is_err());
        assert!(parse_amount("", 2).is_err());
        assert!(parse_amount("99999999999999999999", 2).is_err());
        assert!(
            parse_amount("10000000001", 2).is_err(),
            "over the per-event ceiling"
        );
    }

    #[test]
    fn rollups_count_each_kind_and_score() {
        let t = token(&signer());
        let events: Vec<NewEvent> = [
            serde_json::json!({"event_id": "1", "type": "impression", "tracking_token": t}),
            serde_json::json!({"event_id": "2", "type": "click", "tracking_token": t}),
            serde_json::json!({"event_id": "3", "type": "conversion", "tracking_token": t, "revenue": {"amount": "10", "currency": "EUR"}}),
            serde_json::json!({"event_id": "4", "type": "conversion", "tracking_token": t, "revenue": {"amount": "2.50", "currency": "EUR"}}),
            serde_json::json!({"event_id": "5", "type": "feedback", "tracking_token": t, "feedback": {"kind": "nps", "score": 10}}),
            serde_json::json!({"event_id": "6", "type": "feedback", "tracking_token": t, "feedback": {"kind": "nps", "score": 3}}),
            serde_json::json!({"event_id": "7", "type": "feedback", "tracking_token": t, "feedback": {"kind": "csat", "score": 4}}),
        ]
        .into_iter()
        .map(|e| parse(e).unwrap())
        .collect();
        let rollup = rollup(&events);
        assert_eq!(rollup.daily.len(), 1);
        let counts = rollup.daily.values().next().unwrap();
        assert_eq!(
            (counts.impressions, counts.clicks, counts.conversions),
            (1, 1, 2)
        );
        assert_eq!(
            (
                counts.nps_count,
                counts.nps_sum,
                counts.nps_promoters,
                counts.nps_detractors
            ),
            (2, 13, 1, 1)
        );
        assert_eq!((counts.csat_count, counts.csat_sum), (1, 4));
        assert_eq!(rollup.revenue.values().next(), Some(&(2, 1250)));
    }

    #[test]
    fn velocity_buckets_and_quantiles() {
        assert_eq!(velocity_bucket(0), 0);
        assert_eq!(velocity_bucket(1), 1);
        assert_eq!(velocity_bucket(2), 1);
        assert_eq!(velocity_bucket(3), 2);
        assert_eq!(velocity_bucket(86_400), 16);
        // 10 delays of ~1–2 s and 10 of ~1–2 h: the median sits at the top of the first
        // group, p90 inside the second.
        let histogram = [(velocity_bucket(2), 10), (velocity_bucket(5000), 10)];
        let median = velocity_quantile(&histogram, 0.5).unwrap();
        assert!((1.0..=3.0).contains(&median), "{median}");
        let p90 = velocity_quantile(&histogram, 0.9).unwrap();
        assert!((4095.0..=8191.0).contains(&p90), "{p90}");
        assert_eq!(velocity_quantile(&[], 0.5), None);
    }
}
