//! Building blocks of the typed request bodies (wire structs) that clients send as JSON.
//!
//! A wire struct is deserialized first and validated into a domain type after. Its
//! fields use [`Sent`] so that a value of the wrong JSON type does not fail the whole
//! body: validation sees it, in its own order of checks, and rejects it naming the
//! field with the field's own message (the API's contract), exactly as for a value of
//! the right type that breaks a rule.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};

/// A field's value as the client sent it: of the expected type, or not.
///
/// `Option<Sent<T>>` reads a missing field and `null` as `None`, like the API always
/// has. Where `null` must be told apart from missing, use [`present`].
#[derive(Clone, Debug, PartialEq)]
pub enum Sent<T> {
    Valid(T),
    /// Any other JSON value (its content is not needed: the message names the field).
    Wrong,
}

impl<T> Sent<T> {
    /// The value, if it is of the expected type.
    pub fn valid(&self) -> Option<&T> {
        match self {
            Sent::Valid(value) => Some(value),
            Sent::Wrong => None,
        }
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Sent<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        Ok(match T::deserialize(&value) {
            Ok(valid) => Sent::Valid(valid),
            Err(_) => Sent::Wrong,
        })
    }
}

/// A wire struct that must arrive as a JSON object: derived structs would also accept
/// an array of their fields' values, which no client means.
#[derive(Clone, Debug, PartialEq)]
pub struct Object<T>(pub T);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::deserialize(deserializer)?;
        T::deserialize(serde_json::Value::Object(map))
            .map(Object)
            .map_err(D::Error::custom)
    }
}

/// `#[serde(default, deserialize_with = "present")]` on an `Option<T>` field: `None`
/// only when the field is missing, so a `null` reaches `T` (and, with `T = Sent<_>`,
/// validation) instead of reading as "not sent".
pub fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Body {
        text: Option<Sent<String>>,
        #[serde(default, deserialize_with = "present")]
        nullable: Option<Sent<Object<Inner>>>,
    }

    #[derive(Deserialize)]
    struct Inner {
        n: Option<Sent<i64>>,
    }

    fn body(value: serde_json::Value) -> Body {
        Body::deserialize(&value).unwrap()
    }

    #[test]
    fn a_wrong_type_is_kept_for_validation_not_a_deserialization_error() {
        assert_eq!(
            body(json!({"text": "a"})).text,
            Some(Sent::Valid("a".into()))
        );
        assert_eq!(body(json!({"text": 1})).text, Some(Sent::Wrong));
        assert_eq!(body(json!({"text": null})).text, None);
        assert_eq!(body(json!({})).text, None);
    }

    #[test]
    fn present_tells_null_from_missing_and_objects_must_be_objects() {
        assert!(body(json!({})).nullable.is_none());
        assert!(matches!(
            body(json!({"nullable": null})).nullable,
            Some(Sent::Wrong)
        ));
        assert!(matches!(
            body(json!({"nullable": [1]})).nullable,
            Some(Sent::Wrong)
        ));
        let Some(Sent::Valid(Object(inner))) = body(json!({"nullable": {"n": 1.5}})).nullable
        else {
            panic!("an object is an object");
        };
        assert_eq!(inner.n, Some(Sent::Wrong), "a fraction is no whole number");
    }
}
