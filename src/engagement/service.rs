//! What the engagement area holds: the group-commit event writer, provenance (client
//! networks and source names), the signer that checks tracking tokens, the live catalog
//! tracked links resolve against, and the person resolver.

use std::sync::Arc;

use super::provenance::Provenance;
use super::writer::EventWriter;
use crate::catalog::live::LiveCatalog;
use crate::identity::Resolver;
use crate::metrics::Metrics;
use crate::tokens::Signer;

pub struct Engagement {
    pub events: Arc<EventWriter>,
    pub provenance: Arc<Provenance>,
    pub signer: Arc<Signer>,
    pub catalog: LiveCatalog,
    pub people: Resolver,
    pub metrics: Arc<Metrics>,
}
