//! The identity graph's domain values that cross into storage: a person as delivery
//! needs them ([`PersonRecord`]), a validated identify call ([`IdentifyCommand`]) and
//! what one did ([`IdentifyOutcome`]).
//! Storage reads and writes these; they do not depend on it.

use std::collections::BTreeMap;

use serde::Serialize;

use super::graph::{Identifier, TraitValue};

/// What delivery needs of a person.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct PersonRecord {
    pub id: String,
    pub sticky_key: String,
    pub traits: BTreeMap<String, TraitValue>,
    /// Per channel: `false` is an opt-out.
    pub consents: BTreeMap<String, bool>,
}

/// An identify call, validated.
#[derive(Clone, Debug, Default)]
pub struct IdentifyCommand {
    pub identifiers: Vec<Identifier>,
    /// `null` removes a trait.
    pub traits: BTreeMap<String, TraitValue>,
    pub consents: BTreeMap<String, bool>,
    /// Who made the call (`server-key:<name>` or `staff:<sub>`), for the records.
    pub actor: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct IdentifyOutcome {
    pub person_id: String,
    pub created: bool,
    /// People merged into `person_id` by this call.
    pub merged: Vec<String>,
    /// Identifiers that were new to the graph.
    pub linked: Vec<Identifier>,
    pub traits_changed: Vec<String>,
    pub consents_changed: Vec<String>,
    /// Every identifier of the person after the call (what caches must forget).
    #[serde(skip)]
    pub identifiers: Vec<Identifier>,
}

impl IdentifyOutcome {
    pub fn changed(&self) -> bool {
        self.created
            || !self.merged.is_empty()
            || !self.linked.is_empty()
            || !self.traits_changed.is_empty()
            || !self.consents_changed.is_empty()
    }
}
