//! One event of a `POST /v1/events` batch as clients send it ([`EventWire`]), and its
//! validation into a [`NewEvent`] or a [`Rejection`] naming the item's index and field.
//!
//! Each item is deserialized on its own, so a bad item is rejected alone and the rest of
//! the batch is kept. Every field is a [`Sent`]: a value of the wrong JSON type reaches
//! validation, which checks the fields in a fixed order and rejects the first problem
//! with the field's own message. Unknown fields are ignored (clients send copies of the
//! decision, e.g. `placement`, which the tracking token overrides).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::event::{DecisionRef, EventKind, Feedback, FeedbackKind, NewEvent, Revenue};
use super::provenance::{SourceNamer, TrafficClass};
use crate::identity::{check_anonymous_id, Person};
use crate::tokens::{Signer, TokenError};
use crate::wire::{Object, Sent};

/// How far `occurred_at` may be ahead of the server clock (client clocks drift).
pub const MAX_FUTURE_SKEW: Duration = Duration::minutes(5);
/// How old an event may be (offline apps flush late, but not forever).
pub const MAX_AGE: Duration = Duration::days(30);
const MAX_COMMENT_CHARS: usize = 2000;
/// Largest revenue of one event, in minor units (ten billion euros).
pub const MAX_AMOUNT_MINOR: i64 = 1_000_000_000_000;

/// An event as sent.
#[derive(Deserialize)]
struct EventWire {
    event_id: Option<Sent<String>>,
    #[serde(rename = "type")]
    kind: Option<Sent<String>>,
    tracking_token: Option<Sent<String>>,
    occurred_at: Option<Sent<String>>,
    anonymous_id: Option<Sent<String>>,
    revenue: Option<Sent<Object<RevenueWire>>>,
    feedback: Option<Sent<Object<FeedbackWire>>>,
}

/// `revenue` as sent: `{"amount": "12.50", "currency": "EUR"}`.
#[derive(Deserialize)]
struct RevenueWire {
    amount: Option<Sent<Amount>>,
    currency: Option<Sent<String>>,
}

/// An amount is documented as a decimal string; a JSON number is taken as written.
#[derive(Deserialize)]
#[serde(untagged)]
enum Amount {
    Text(String),
    Number(serde_json::Number),
}

/// `feedback` as sent: `{"kind": "nps", "score": 9, "comment": "..."}`.
#[derive(Deserialize)]
struct FeedbackWire {
    kind: Option<Sent<String>>,
    score: Option<Sent<i64>>,
    comment: Option<Sent<String>>,
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
    pub person_keys: &'a HashMap<String, String>,
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

/// Rejections of one item: its index is set once, the checks name field and reason.
struct Item {
    index: usize,
}

impl Item {
    fn reject(&self, field: &str, reason: impl Into<String>) -> Rejection {
        Rejection {
            index: self.index,
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    /// A text field: `None` when missing or `null`.
    fn text<'a>(
        &self,
        field: &str,
        value: &'a Option<Sent<String>>,
    ) -> Result<Option<&'a str>, Rejection> {
        match value {
            None => Ok(None),
            Some(Sent::Valid(text)) => Ok(Some(text.as_str())),
            Some(Sent::Wrong) => Err(self.reject(field, "must be a string")),
        }
    }

    fn required<'a>(
        &self,
        field: &str,
        value: &'a Option<Sent<String>>,
    ) -> Result<&'a str, Rejection> {
        self.text(field, value)?
            .ok_or_else(|| self.reject(field, "is required"))
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
    let item = Item { index };
    if !value.is_object() {
        return Err(item.reject("", "an event must be a JSON object"));
    }
    // Cannot fail for an object (every field is optional and kept as sent), but if it
    // ever did, it is this item's problem only.
    let wire = EventWire::deserialize(value).map_err(|e| item.reject("", e.to_string()))?;
    wire.validate(&item, ctx)
}

impl EventWire {
    /// The checks, in the order the API has always made them: the first problem wins.
    fn validate(self, item: &Item, ctx: &EventContext) -> Result<NewEvent, Rejection> {
        let event_id = item.required("event_id", &self.event_id)?;
        check_event_id(event_id).map_err(|r| item.reject("event_id", r))?;

        let kind_name = item.required("type", &self.kind)?;
        let kind = EventKind::parse(kind_name).ok_or_else(|| {
            item.reject(
                "type",
                format!(
                    "unknown type `{kind_name}`; one of {}",
                    EventKind::ALL.map(EventKind::as_str).join(", ")
                ),
            )
        })?;

        let token = item.required("tracking_token", &self.tracking_token)?;
        let (decision, issued_at) = verify_token(item, token, ctx)?;
        let occurred_at = match item.text("occurred_at", &self.occurred_at)? {
            None => ctx.now,
            Some(at) => check_occurred_at(item, at, issued_at, ctx.now)?,
        };
        let anonymous_id = item.text("anonymous_id", &self.anonymous_id)?;
        let (person, vouched) = person_of(item, anonymous_id, ctx)?;
        let revenue = match self.revenue {
            None => None,
            Some(Sent::Valid(Object(revenue))) => Some(revenue.validate(item, kind)?),
            Some(Sent::Wrong) => {
                return Err(item.reject("revenue", "must be an object {\"amount\", \"currency\"}"))
            }
        };
        let feedback = match self.feedback {
            None if kind == EventKind::Feedback => {
                return Err(item.reject("feedback", "is required for a feedback event"))
            }
            None => None,
            Some(Sent::Valid(Object(feedback))) => Some(feedback.validate(item, kind)?),
            Some(Sent::Wrong) => {
                return Err(item.reject(
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
}

/// The decision the tracking token signed, and when it was issued.
fn verify_token(
    item: &Item,
    token: &str,
    ctx: &EventContext,
) -> Result<(DecisionRef, DateTime<Utc>), Rejection> {
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
            item.reject("tracking_token", reason)
        })?;
    let issued_at = DateTime::from_timestamp(claims.iat as i64, 0).unwrap_or(ctx.now);
    Ok((claims.into(), issued_at))
}

fn check_occurred_at(
    item: &Item,
    at: &str,
    issued_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, Rejection> {
    let at = DateTime::parse_from_rfc3339(at)
        .map_err(|_| {
            item.reject(
                "occurred_at",
                "must be an RFC 3339 time like 2026-11-23T10:15:00Z",
            )
        })?
        .with_timezone(&Utc);
    if at > now + MAX_FUTURE_SKEW {
        return Err(item.reject("occurred_at", "is more than 5 minutes in the future"));
    }
    if at < now - MAX_AGE {
        return Err(item.reject("occurred_at", "is more than 30 days in the past"));
    }
    // Nothing happens to an answer before it was given: a backdated event would
    // rewrite history (and the baselines governance compares floods against).
    if at < issued_at - MAX_FUTURE_SKEW {
        return Err(item.reject("occurred_at", "is before its tracking token was issued"));
    }
    Ok(at)
}

/// The event's person key, and whether someone vouches for it.
fn person_of(
    item: &Item,
    anonymous_id: Option<&str>,
    ctx: &EventContext,
) -> Result<(Option<String>, bool), Rejection> {
    Ok(
        match (ctx.verified_person, anonymous_id.or(ctx.batch_person)) {
            (Some(key), _) => (Some(key.to_string()), true),
            (None, Some(id)) => {
                check_anonymous_id(id).map_err(|r| item.reject("anonymous_id", r))?;
                match ctx.person_keys.get(id) {
                    // A person the graph knows, named by a server: the server's word.
                    Some(key) => (Some(key.clone()), ctx.origin.server_key.is_some()),
                    None => (Some(Person::anonymous(id).key), false),
                }
            }
            (None, None) => (None, false),
        },
    )
}

impl RevenueWire {
    fn validate(self, item: &Item, kind: EventKind) -> Result<Revenue, Rejection> {
        if kind != EventKind::Conversion {
            return Err(item.reject("revenue", "only conversions carry revenue"));
        }
        let amount = match self.amount {
            Some(Sent::Valid(Amount::Text(text))) => text,
            Some(Sent::Valid(Amount::Number(number))) => number.to_string(),
            _ => {
                return Err(item.reject(
                    "revenue.amount",
                    "is required, as a decimal string like \"12.50\"",
                ))
            }
        };
        let code = self
            .currency
            .as_ref()
            .and_then(Sent::valid)
            .ok_or_else(|| {
                item.reject("revenue.currency", "is required (ISO 4217, e.g. \"EUR\")")
            })?;
        let currency = iso_currency::Currency::from_code(code).ok_or_else(|| {
            item.reject(
                "revenue.currency",
                format!("`{code}` is not an ISO 4217 currency"),
            )
        })?;
        let exponent = u32::from(currency.exponent().unwrap_or(2));
        let minor =
            parse_amount(&amount, exponent).map_err(|r| item.reject("revenue.amount", r))?;
        Ok(Revenue {
            minor,
            currency: currency.code().to_string(),
        })
    }
}

impl FeedbackWire {
    fn validate(self, item: &Item, event_kind: EventKind) -> Result<Feedback, Rejection> {
        if event_kind != EventKind::Feedback {
            return Err(item.reject("feedback", "only feedback events carry feedback"));
        }
        let kind = self
            .kind
            .as_ref()
            .and_then(Sent::valid)
            .and_then(|name| FeedbackKind::parse(name))
            .ok_or_else(|| item.reject("feedback.kind", "must be csat, nps or ces"))?;
        let (low, high) = kind.range();
        let score = *self
            .score
            .as_ref()
            .and_then(Sent::valid)
            .ok_or_else(|| item.reject("feedback.score", "is required, as a whole number"))?;
        if score < i64::from(low) || score > i64::from(high) {
            return Err(item.reject(
                "feedback.score",
                format!(
                    "{} scores run from {low} to {high}",
                    kind.as_str().to_uppercase()
                ),
            ));
        }
        let comment = match self.comment {
            None => None,
            Some(Sent::Valid(c)) if c.chars().count() <= MAX_COMMENT_CHARS => Some(c),
            Some(Sent::Valid(_)) => {
                return Err(item.reject("feedback.comment", "is longer than 2000 characters"))
            }
            Some(Sent::Wrong) => return Err(item.reject("feedback.comment", "must be a string")),
        };
        // PostgreSQL text cannot hold NUL; other control characters are no comment.
        if comment.as_deref().is_some_and(|c| {
            c.chars()
                .any(|ch| ch.is_control() && !matches!(ch, '\n' | '\r' | '\t'))
        }) {
            return Err(item.reject("feedback.comment", "must not contain control characters"));
        }
        Ok(Feedback {
            kind,
            score: score as i16,
            comment,
        })
    }
}

#[cfg(test)]
pub(super) mod tests;
