//! What an engagement event is once validated: its kind ([`EventKind`], with feedback
//! surveys as [`FeedbackKind`]), the decision it belongs to ([`DecisionRef`], from the
//! tracking token) and the [`NewEvent`] the writer stores. Parsing what clients send
//! into these is [`super::wire`]'s job.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::TrafficClass;
use crate::tokens::TrackingClaims;

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
    pub const ALL: [FeedbackKind; 3] = [FeedbackKind::Csat, FeedbackKind::Nps, FeedbackKind::Ces];

    pub fn as_str(self) -> &'static str {
        match self {
            FeedbackKind::Csat => "csat",
            FeedbackKind::Nps => "nps",
            FeedbackKind::Ces => "ces",
        }
    }

    pub fn parse(value: &str) -> Option<FeedbackKind> {
        FeedbackKind::ALL.into_iter().find(|k| k.as_str() == value)
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
