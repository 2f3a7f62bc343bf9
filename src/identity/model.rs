//! The identity graph's domain values that cross into storage: a person as delivery
//! needs them ([`PersonRecord`]) and a validated identify call ([`IdentifyCommand`]).
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
