//! Engagement: events clients send back, validated here into [`NewEvent`]s, written
//! exactly once by the [`writer`] (group commit), rolled up per day and decision.
//!
//! An event names its decision only through the signed tracking token from the content
//! answer: placement, variant, version, channel, device and locale are taken from the
//! token, never from client-supplied copies. The person comes with the event
//! (`anonymous_id`, or the batch's `X-Anonymous-Id`).
//!
//! [`event`] holds what an event is, [`wire`] how one arrives and is validated,
//! [`counts`] the rollup's counters (declared once) and [`rollup`] how events are
//! rolled up; their items are re-exported here, as `engagement::X`.

pub mod counts;
pub mod event;
pub mod http;
pub mod provenance;
pub mod reach;
pub mod rollup;
mod service;
pub mod wire;
pub mod writer;

pub use counts::{Counter, Counts, Measure};
pub use event::{DecisionRef, EventKind, Feedback, FeedbackKind, NewEvent, Revenue};
pub use provenance::TrafficClass;
pub use rollup::{
    arrival_counts, rollup, source_counts, traffic_counts, velocity_bucket, velocity_quantile,
    EvidenceKind, Rollup, RollupKey,
};
pub use service::Engagement;
pub use wire::{
    parse_amount, parse_event, EventContext, Origin, Rejection, MAX_AGE, MAX_AMOUNT_MINOR,
    MAX_FUTURE_SKEW,
};

/// Documented limits of `POST /v1/events`.
pub const MAX_EVENTS_PER_BATCH: usize = 500;
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
