//! The identity graph's rules, without storage: which identifier types exist and what
//! their values look like, how an identify call's identifiers combine with the people
//! they already belong to (create, attach, merge or refuse), and how two people's
//! traits and consents combine when they merge.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How an identifier's value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IdFormat {
    /// 1–256 visible ASCII characters (ids issued by some system).
    Token,
    /// A SHA-256 digest as 64 hex digits (stored lowercase): emails and phone numbers
    /// never reach Tailor in clear.
    Sha256,
}

/// One type of identifier. Strong types name at most one person each way: a person has
/// at most one value of a strong type, so two different values never merge.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IdentifierType {
    pub name: String,
    #[serde(default)]
    pub strong: bool,
    #[serde(default = "token_format")]
    pub format: IdFormat,
}

fn token_format() -> IdFormat {
    IdFormat::Token
}

/// The identifier types this deployment knows: the built-in ones plus configured extras.
#[derive(Clone, Debug)]
pub struct IdentifierTypes {
    types: Vec<IdentifierType>,
}

const BUILT_IN: [(&str, bool, IdFormat); 7] = [
    ("anonymous_id", false, IdFormat::Token),
    ("device_id", false, IdFormat::Token),
    ("customer_id", true, IdFormat::Token),
    ("email_sha256", false, IdFormat::Sha256),
    ("phone_sha256", false, IdFormat::Sha256),
    ("loyalty_id", true, IdFormat::Token),
    ("social_handle", false, IdFormat::Token),
];

/// Which identifier a new person's sticky key is taken from, most preferred first: the
/// anonymous id a visitor had before logging in keeps their bucket afterwards.
const STICKY_ORDER: [&str; 4] = ["anonymous_id", "device_id", "customer_id", "loyalty_id"];

impl Default for IdentifierTypes {
    fn default() -> Self {
        IdentifierTypes {
            types: BUILT_IN
                .iter()
                .map(|(name, strong, format)| IdentifierType {
                    name: (*name).to_string(),
                    strong: *strong,
                    format: *format,
                })
                .collect(),
        }
    }
}

/// An identifier type name: lowercase letters, digits and `_`, 1–32 characters.
pub fn valid_type_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl IdentifierTypes {
    /// The built-in types plus `extra`; an extra type may not redefine a built-in one.
    pub fn with_extra(extra: &[IdentifierType]) -> Result<IdentifierTypes, String> {
        let mut types = IdentifierTypes::default();
        for t in extra {
            if !valid_type_name(&t.name) {
                return Err(format!(
                    "identifier type `{}` must be 1-32 lowercase letters, digits or _",
                    t.name
                ));
            }
            if types.get(&t.name).is_some() {
                return Err(format!("identifier type `{}` is defined twice", t.name));
            }
            types.types.push(t.clone());
        }
        Ok(types)
    }

    pub fn get(&self, name: &str) -> Option<&IdentifierType> {
        self.types.iter().find(|t| t.name == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.types.iter().map(|t| t.name.as_str()).collect()
    }

    pub fn is_strong(&self, name: &str) -> bool {
        self.get(name).is_some_and(|t| t.strong)
    }

    /// Checks a value against its type and returns it in stored form.
    pub fn normalize(&self, kind: &str, value: &str) -> Result<Identifier, IdentifierError> {
        let Some(t) = self.get(kind) else {
            return Err(IdentifierError::UnknownType {
                known: self.names().join(", "),
            });
        };
        let value = match t.format {
            IdFormat::Sha256 => {
                if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(IdentifierError::Malformed(
                        "must be a SHA-256 digest: 64 hexadecimal digits",
                    ));
                }
                value.to_ascii_lowercase()
            }
            IdFormat::Token => {
                if value.is_empty() || value.len() > 256 {
                    return Err(IdentifierError::Malformed("must be 1 to 256 characters"));
                }
                if !value.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(IdentifierError::Malformed(
                        "may contain only visible ASCII characters",
                    ));
                }
                value.to_string()
            }
        };
        Ok(Identifier {
            kind: t.name.clone(),
            value,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("unknown identifier type; known: {known}")]
    UnknownType { known: String },
    #[error("{0}")]
    Malformed(&'static str),
}

/// An identifier in stored form.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Identifier {
    pub kind: String,
    pub value: String,
}

impl Identifier {
    pub fn new(kind: &str, value: &str) -> Identifier {
        Identifier {
            kind: kind.to_string(),
            value: value.to_string(),
        }
    }

    /// What a person known only by this identifier is keyed by (bucket, caps, events).
    /// Anonymous ids keep the `anon:` form delivery has always used; other types are
    /// hashed, so customer ids and hashes do not spread into the event log, and every
    /// key fits its columns.
    pub fn sticky_key(&self) -> String {
        if self.kind == "anonymous_id" {
            format!("anon:{}", self.value)
        } else {
            format!("{}#{}", self.kind, self.digest())
        }
    }

    /// The sticky key this identifier had before keys were keyed (unkeyed xxh3-128):
    /// events logged then still carry it, and erasure must find them.
    pub fn legacy_sticky_key(&self) -> Option<String> {
        if self.kind == "anonymous_id" {
            return None;
        }
        let mut bytes = Vec::with_capacity(self.kind.len() + self.value.len() + 1);
        bytes.extend_from_slice(self.kind.as_bytes());
        bytes.push(0);
        bytes.extend_from_slice(self.value.as_bytes());
        Some(format!(
            "{}#{:032x}",
            self.kind,
            xxhash_rust::xxh3::xxh3_128(&bytes)
        ))
    }

    /// A 128-bit keyed digest of (type, value), as hex: how records and caches name an
    /// identifier without holding it (see [`super::pseudonym`]).
    pub fn digest(&self) -> String {
        format!("{:032x}", self.digest128())
    }

    pub fn digest128(&self) -> u128 {
        super::pseudonym(&[self.kind.as_bytes(), self.value.as_bytes()])
    }
}

/// The sticky key of a person created from `identifiers`.
pub fn sticky_key_for(identifiers: &[Identifier]) -> String {
    STICKY_ORDER
        .iter()
        .find_map(|kind| identifiers.iter().find(|i| i.kind == *kind))
        .or_else(|| identifiers.iter().min())
        .map(Identifier::sticky_key)
        .unwrap_or_default()
}

/// A person an identify call touches, as the graph knows them.
#[derive(Clone, Debug)]
pub struct KnownPerson {
    pub id: String,
    pub created_at: DateTime<Utc>,
    /// The person's identifiers of strong types.
    pub strong: Vec<Identifier>,
}

/// What an identify call does to the graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// None of the identifiers is known: a new person.
    Create { sticky_key: String },
    /// All known identifiers belong to one person; the rest attach to them.
    Attach { person: String },
    /// Several people are one: everything moves to the oldest.
    Merge {
        survivor: String,
        merged: Vec<String>,
    },
    /// Linking would give one person two values of a strong type.
    Conflict(Conflict),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Conflict {
    /// The strong identifier type with two values.
    pub kind: String,
    /// The people involved (may be empty when the call itself named two values).
    pub people: Vec<String>,
}

/// Decides what linking `given` means. `owners[i]` is the person `given[i]` belongs to,
/// if any; `people` describes every such person.
pub fn plan(
    given: &[Identifier],
    owners: &[Option<String>],
    people: &[KnownPerson],
    types: &IdentifierTypes,
) -> Plan {
    // Every strong value the linked person would end up with, by type.
    let mut strong: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for id in given.iter().filter(|i| types.is_strong(&i.kind)) {
        strong.entry(&id.kind).or_default().insert(&id.value);
    }
    for person in people {
        for id in &person.strong {
            strong.entry(&id.kind).or_default().insert(&id.value);
        }
    }
    if let Some((kind, _)) = strong.iter().find(|(_, values)| values.len() > 1) {
        let mut involved: Vec<String> = people.iter().map(|p| p.id.clone()).collect();
        involved.sort();
        return Plan::Conflict(Conflict {
            kind: (*kind).to_string(),
            people: involved,
        });
    }
    let mut owner_ids: Vec<&str> = owners.iter().flatten().map(String::as_str).collect();
    owner_ids.sort_unstable();
    owner_ids.dedup();
    match owner_ids.as_slice() {
        [] => Plan::Create {
            sticky_key: sticky_key_for(given),
        },
        [only] => Plan::Attach {
            person: (*only).to_string(),
        },
        many => {
            let mut ranked: Vec<&KnownPerson> = people
                .iter()
                .filter(|p| many.contains(&p.id.as_str()))
                .collect();
            // Oldest first; the id breaks ties so every node picks the same survivor.
            ranked.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            let survivor = ranked
                .first()
                .map(|p| p.id.clone())
                .unwrap_or_else(|| many[0].to_string());
            let merged = many
                .iter()
                .filter(|id| **id != survivor)
                .map(|id| (*id).to_string())
                .collect();
            Plan::Merge { survivor, merged }
        }
    }
}

/// A trait value as stored: a JSON scalar.
pub type TraitValue = serde_json::Value;

/// Trait limits: a person is not a document store.
pub const MAX_TRAITS: usize = 100;
pub const MAX_TRAIT_TEXT: usize = 1000;

/// A trait name: lowercase letters, digits and `_`, 1–64 characters.
pub fn valid_trait_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Checks one trait value; `null` means "remove the trait".
pub fn check_trait_value(value: &TraitValue) -> Result<(), &'static str> {
    match value {
        serde_json::Value::Null | serde_json::Value::Bool(_) => Ok(()),
        serde_json::Value::Number(n) if n.as_f64().is_some_and(f64::is_finite) => Ok(()),
        serde_json::Value::Number(_) => Err("must be a finite number"),
        serde_json::Value::String(s) if s.chars().count() <= MAX_TRAIT_TEXT => Ok(()),
        serde_json::Value::String(_) => Err("text traits are at most 1000 characters"),
        _ => Err("must be a string, number, boolean or null (no objects or arrays)"),
    }
}

/// A stored trait with the time it was last set.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredTrait {
    pub value: TraitValue,
    pub updated_at: DateTime<Utc>,
}

/// Traits of merged people: per trait the most recently set value wins; on a tie the
/// survivor's. `people` is survivor first.
pub fn merge_traits(people: &[BTreeMap<String, StoredTrait>]) -> BTreeMap<String, StoredTrait> {
    let mut merged: BTreeMap<String, StoredTrait> = BTreeMap::new();
    for traits in people {
        for (name, candidate) in traits {
            match merged.get(name) {
                Some(current) if current.updated_at >= candidate.updated_at => {}
                _ => {
                    merged.insert(name.clone(), candidate.clone());
                }
            }
        }
    }
    merged
}

/// Consents of merged people: a withdrawal anywhere wins over a grant anywhere.
pub fn merge_consents(people: &[BTreeMap<String, bool>]) -> BTreeMap<String, bool> {
    let mut merged: BTreeMap<String, bool> = BTreeMap::new();
    for consents in people {
        for (channel, granted) in consents {
            let entry = merged.entry(channel.clone()).or_insert(*granted);
            *entry &= *granted;
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: &str, value: &str) -> Identifier {
        Identifier::new(kind, value)
    }

    fn person(id_: &str, minute: u32, strong: &[(&str, &str)]) -> KnownPerson {
        KnownPerson {
            id: id_.to_string(),
            created_at: DateTime::parse_from_rfc3339(&format!("2026-11-25T10:{minute:02}:00Z"))
                .map(|d| d.with_timezone(&Utc))
                .unwrap_or_default(),
            strong: strong.iter().map(|(k, v)| Identifier::new(k, v)).collect(),
        }
    }

    #[test]
    fn values_are_checked_and_normalised() {
        let types = IdentifierTypes::default();
        let hash = "A".repeat(64);
        assert_eq!(
            types.normalize("email_sha256", &hash).map(|i| i.value),
            Ok("a".repeat(64))
        );
        assert!(matches!(
            types.normalize("email_sha256", "someone@example.com"),
            Err(IdentifierError::Malformed(_))
        ));
        assert!(matches!(
            types.normalize("passport", "X1"),
            Err(IdentifierError::UnknownType { .. })
        ));
        assert!(types.normalize("customer_id", "has space").is_err());
        assert!(types.normalize("customer_id", &"x".repeat(257)).is_err());
        let extended = IdentifierTypes::with_extra(&[IdentifierType {
            name: "crm_id".into(),
            strong: true,
            format: IdFormat::Token,
        }])
        .expect("valid extra type");
        assert!(extended.is_strong("crm_id"));
        assert!(IdentifierTypes::with_extra(&[IdentifierType {
            name: "customer_id".into(),
            strong: false,
            format: IdFormat::Token,
        }])
        .is_err());
    }

    #[test]
    fn new_identifiers_create_a_person_keyed_by_the_anonymous_id() {
        let types = IdentifierTypes::default();
        let given = [id("customer_id", "C1"), id("anonymous_id", "a1")];
        assert_eq!(
            plan(&given, &[None, None], &[], &types),
            Plan::Create {
                sticky_key: "anon:a1".into()
            }
        );
        let key = sticky_key_for(&[id("email_sha256", "ff"), id("customer_id", "C1")]);
        assert_eq!(key, id("customer_id", "C1").sticky_key());
        assert!(
            key.starts_with("customer_id#") && !key.contains("C1"),
            "{key}"
        );
        assert!(id("customer_id", &"x".repeat(256)).sticky_key().len() < 160);
    }

    #[test]
    fn known_identifiers_attach_or_merge_into_the_oldest() {
        let types = IdentifierTypes::default();
        let given = [id("anonymous_id", "a1"), id("device_id", "d1")];
        assert_eq!(
            plan(
                &given,
                &[Some("p1".into()), None],
                &[person("p1", 1, &[])],
                &types
            ),
            Plan::Attach {
                person: "p1".into()
            }
        );
        let people = [
            person("p-new", 30, &[("customer_id", "C1")]),
            person("p-old", 5, &[]),
        ];
        assert_eq!(
            plan(
                &given,
                &[Some("p-new".into()), Some("p-old".into())],
                &people,
                &types
            ),
            Plan::Merge {
                survivor: "p-old".into(),
                merged: vec!["p-new".into()]
            }
        );
    }

    #[test]
    fn two_strong_values_of_one_type_never_merge() {
        let types = IdentifierTypes::default();
        let people = [
            person("p1", 1, &[("customer_id", "C1")]),
            person("p2", 2, &[("customer_id", "C2")]),
        ];
        let given = [id("customer_id", "C1"), id("anonymous_id", "a2")];
        let plan = plan(
            &given,
            &[Some("p1".into()), Some("p2".into())],
            &people,
            &types,
        );
        assert_eq!(
            plan,
            Plan::Conflict(Conflict {
                kind: "customer_id".into(),
                people: vec!["p1".into(), "p2".into()]
            })
        );
        // Two customer ids in one call conflict even when neither is known.
        let given = [id("customer_id", "C1"), id("customer_id", "C2")];
        assert!(matches!(
            super::plan(&given, &[None, None], &[], &types),
            Plan::Conflict(_)
        ));
        // Weak types may have many values (several devices, several emails).
        let given = [id("device_id", "d1"), id("device_id", "d2")];
        assert!(matches!(
            super::plan(&given, &[None, None], &[], &types),
            Plan::Create { .. }
        ));
    }

    #[test]
    fn merged_traits_keep_the_newest_and_consent_the_most_restrictive() {
        let at = |minute: u32| person("x", minute, &[]).created_at;
        let survivor = BTreeMap::from([
            (
                "tier".to_string(),
                StoredTrait {
                    value: "silver".into(),
                    updated_at: at(1),
                },
            ),
            (
                "city".to_string(),
                StoredTrait {
                    value: "Lyon".into(),
                    updated_at: at(9),
                },
            ),
        ]);
        let merged = BTreeMap::from([
            (
                "tier".to_string(),
                StoredTrait {
                    value: "gold".into(),
                    updated_at: at(5),
                },
            ),
            (
                "city".to_string(),
                StoredTrait {
                    value: "Paris".into(),
                    updated_at: at(9),
                },
            ),
        ]);
        let result = merge_traits(&[survivor, merged]);
        assert_eq!(result["tier"].value, "gold");
        assert_eq!(result["city"].value, "Lyon", "ties keep the survivor's");

        let a = BTreeMap::from([("sms".to_string(), true), ("email".to_string(), true)]);
        let b = BTreeMap::from([("sms".to_string(), false), ("push".to_string(), true)]);
        let consents = merge_consents(&[a, b]);
        assert!(!consents["sms"]);
        assert!(consents["email"]);
        assert!(consents["push"]);
    }

    #[test]
    fn trait_values_are_scalars_of_bounded_size() {
        assert!(check_trait_value(&serde_json::json!("Ada")).is_ok());
        assert!(check_trait_value(&serde_json::json!(12.5)).is_ok());
        assert!(check_trait_value(&serde_json::json!(null)).is_ok());
        assert!(check_trait_value(&serde_json::json!({"a": 1})).is_err());
        assert!(check_trait_value(&serde_json::json!([1])).is_err());
        assert!(check_trait_value(&serde_json::json!("x".repeat(1001))).is_err());
        assert!(valid_trait_name("first_name") && !valid_trait_name("First Name"));
    }
}
