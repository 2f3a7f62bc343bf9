//! The body of `POST /v1/identify` as clients send it ([`IdentifyWire`]), and its
//! validation into an [`IdentifyCommand`] against the identifier types and the
//! catalog's channels and trait types.
//!
//! Fields are kept as sent ([`Sent`]), so a value of the wrong JSON type is rejected by
//! validation, naming the field with its own message, in the same order as every other
//! check: unknown fields, identifiers, traits, consents.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::graph::{self, IdentifierTypes, TraitValue};
use super::model::IdentifyCommand;
use crate::catalog::model::TraitType;
use crate::catalog::Catalog;
use crate::problem::Problem;
use crate::wire::{present, Sent};

/// Most identifiers one call may tie together.
pub const MAX_IDENTIFIERS: usize = 20;

/// An identify body as sent:
/// `{"identifiers": {...}, "traits": {...}, "consents": {...}}`.
#[derive(Deserialize)]
pub struct IdentifyWire {
    #[serde(default, deserialize_with = "present")]
    identifiers: Option<Sent<BTreeMap<String, IdentifierValues>>>,
    #[serde(default, deserialize_with = "present")]
    traits: Option<Sent<BTreeMap<String, TraitValue>>>,
    #[serde(default, deserialize_with = "present")]
    consents: Option<Sent<BTreeMap<String, Sent<bool>>>>,
    /// Anything else, which is refused by name.
    #[serde(flatten)]
    unknown: BTreeMap<String, serde::de::IgnoredAny>,
}

/// One identifier type's value, or several.
#[derive(Deserialize)]
#[serde(untagged)]
enum IdentifierValues {
    One(String),
    Several(Vec<Sent<String>>),
    Other(serde::de::IgnoredAny),
}

/// Parses and checks an identify body against the identifier types and the catalog's
/// channels and trait types. Pure apart from its inputs, so it is tested directly.
pub fn parse_identify(
    document: &serde_json::Value,
    types: &IdentifierTypes,
    catalog: &Catalog,
) -> Result<IdentifyCommand, Problem> {
    if !document.is_object() {
        return Err(Problem::invalid("body", "must be a JSON object"));
    }
    // Cannot fail for an object: every field is optional and kept as sent.
    let wire =
        IdentifyWire::deserialize(document).map_err(|e| Problem::invalid("body", e.to_string()))?;
    wire.validate(types, catalog)
}

impl IdentifyWire {
    pub fn validate(
        self,
        types: &IdentifierTypes,
        catalog: &Catalog,
    ) -> Result<IdentifyCommand, Problem> {
        if let Some(key) = self.unknown.keys().next() {
            return Err(Problem::invalid(
                key.as_str(),
                "unknown field; expected identifiers, traits, consents",
            ));
        }
        let mut command = IdentifyCommand::default();
        let Some(Sent::Valid(identifiers)) = self.identifiers else {
            return Err(Problem::invalid(
                "identifiers",
                "give an object of identifiers, e.g. {\"customer_id\": \"C1\", \"anonymous_id\": \"a1\"}",
            ));
        };
        for (kind, values) in &identifiers {
            let field = format!("identifiers.{kind}");
            let values: Vec<&str> = match values {
                IdentifierValues::One(value) => vec![value.as_str()],
                IdentifierValues::Several(values) => values
                    .iter()
                    .map(|v| {
                        v.valid().map(String::as_str).ok_or_else(|| {
                            Problem::invalid(field.as_str(), "values must be strings")
                        })
                    })
                    .collect::<Result<_, _>>()?,
                IdentifierValues::Other(_) => {
                    return Err(Problem::invalid(
                        field,
                        "must be a string (or an array of strings)",
                    ))
                }
            };
            for value in values {
                let id = types
                    .normalize(kind, value)
                    .map_err(|e| super::identifier_problem(&field, &e))?;
                command.identifiers.push(id);
            }
        }
        if command.identifiers.is_empty() || command.identifiers.len() > MAX_IDENTIFIERS {
            return Err(Problem::invalid(
                "identifiers",
                format!("give 1 to {MAX_IDENTIFIERS} identifiers"),
            ));
        }
        match self.traits {
            None => {}
            Some(Sent::Valid(traits)) => command.traits = check_traits(traits, catalog)?,
            Some(Sent::Wrong) => {
                return Err(Problem::invalid(
                    "traits",
                    "must be an object of name: value",
                ))
            }
        }
        match self.consents {
            None => {}
            Some(Sent::Valid(consents)) => command.consents = check_consents(consents, catalog)?,
            Some(Sent::Wrong) => {
                return Err(Problem::invalid(
                    "consents",
                    "must be an object of channel: true|false",
                ))
            }
        }
        Ok(command)
    }
}

fn check_traits(
    traits: BTreeMap<String, TraitValue>,
    catalog: &Catalog,
) -> Result<BTreeMap<String, TraitValue>, Problem> {
    if traits.len() > graph::MAX_TRAITS {
        return Err(Problem::invalid(
            "traits",
            format!(
                "{} traits; a call sets at most {}",
                traits.len(),
                graph::MAX_TRAITS
            ),
        ));
    }
    for (name, value) in &traits {
        let field = format!("traits.{name}");
        if !graph::valid_trait_name(name) {
            return Err(Problem::invalid(
                field,
                "trait names are 1-64 lowercase letters, digits or _",
            ));
        }
        graph::check_trait_value(value).map_err(|reason| Problem::invalid(&field, reason))?;
        if let (Some((_, def)), false) = (catalog.trait_def(name), value.is_null()) {
            let fits = matches!(
                (def.kind, value),
                (TraitType::String, serde_json::Value::String(_))
                    | (TraitType::Number, serde_json::Value::Number(_))
                    | (TraitType::Bool, serde_json::Value::Bool(_))
            );
            if !fits {
                let expected = match def.kind {
                    TraitType::String => "a string",
                    TraitType::Number => "a number",
                    TraitType::Bool => "true or false",
                };
                return Err(Problem::invalid(field, format!("must be {expected}")));
            }
        }
    }
    Ok(traits)
}

fn check_consents(
    consents: BTreeMap<String, Sent<bool>>,
    catalog: &Catalog,
) -> Result<BTreeMap<String, bool>, Problem> {
    let mut checked = BTreeMap::new();
    for (channel, granted) in consents {
        let field = format!("consents.{channel}");
        if catalog.channel(&channel).is_none() {
            return Err(Problem::invalid(
                field,
                format!(
                    "unknown channel; known: {}",
                    catalog.channel_ids().join(", ")
                ),
            ));
        }
        let Sent::Valid(granted) = granted else {
            return Err(Problem::invalid(
                &field,
                "must be true (opt in) or false (opt out)",
            ));
        };
        checked.insert(channel, granted);
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The repository's content: channels web, sms, email...; `points` is a number.
    fn catalog() -> Catalog {
        let loaded = crate::catalog::files::load(
            std::path::Path::new("content"),
            std::path::Path::new("locales"),
        );
        Catalog::compile(&loaded.content, "en", 0).0
    }

    fn problem(body: serde_json::Value) -> (String, String) {
        let problem = parse_identify(&body, &IdentifierTypes::default(), &catalog())
            .expect_err(&body.to_string());
        let value = serde_json::to_value(&problem).unwrap();
        (
            value["field"].as_str().unwrap_or_default().to_string(),
            value["detail"].as_str().unwrap_or_default().to_string(),
        )
    }

    #[test]
    fn a_valid_call_becomes_a_command() {
        let command = parse_identify(
            &json!({"identifiers": {"customer_id": "C1", "anonymous_id": ["a1", "a2"]},
                "traits": {"points": 3, "tier": null}, "consents": {"sms": false}}),
            &IdentifierTypes::default(),
            &catalog(),
        )
        .unwrap();
        assert_eq!(command.identifiers.len(), 3);
        assert_eq!(command.traits["points"], json!(3));
        assert!(command.traits["tier"].is_null(), "null removes a trait");
        assert!(!command.consents["sms"], "an opt-out");
    }

    #[test]
    fn wrong_types_and_nulls_are_named_with_the_fields_own_message() {
        let strings = "must be a string (or an array of strings)";
        let cases = [
            (json!([]), "body", "must be a JSON object"),
            (json!({"identifiers": null}), "identifiers", "give an object of identifiers, e.g. {\"customer_id\": \"C1\", \"anonymous_id\": \"a1\"}"),
            (json!({"identifiers": {"customer_id": 1}}), "identifiers.customer_id", strings),
            (json!({"identifiers": {"customer_id": null}}), "identifiers.customer_id", strings),
            (json!({"identifiers": {"anonymous_id": ["a", 1]}}), "identifiers.anonymous_id", "values must be strings"),
            (json!({"identifiers": {"customer_id": "C"}, "traits": null}), "traits", "must be an object of name: value"),
            (json!({"identifiers": {"customer_id": "C"}, "traits": {"points": "x"}}), "traits.points", "must be a number"),
            (json!({"identifiers": {"customer_id": "C"}, "consents": [true]}), "consents", "must be an object of channel: true|false"),
            (json!({"identifiers": {"customer_id": "C"}, "consents": {"sms": null}}), "consents.sms", "must be true (opt in) or false (opt out)"),
        ];
        for (body, field, detail) in cases {
            assert_eq!(
                problem(body.clone()),
                (field.into(), detail.into()),
                "{body}"
            );
        }
    }

    #[test]
    fn unknown_fields_are_refused_first() {
        // Before the (missing) identifiers, whatever the order in the document.
        let (field, detail) = problem(json!({"traits": 1, "extra": 1}));
        assert_eq!(field, "extra");
        assert_eq!(
            detail,
            "unknown field; expected identifiers, traits, consents"
        );
    }
}
