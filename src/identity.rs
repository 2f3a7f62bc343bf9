//! Who the request is about. For now a person is known by an anonymous id (header
//! `X-Anonymous-Id` or parameter `anonymous_id`); the identity graph extends this.
//! The person's sticky bucket comes from here, and so does the only form of the person
//! that may appear in logs: a keyed hash.

use crate::catalog::{stable_hash, BUCKETS};

/// A resolved person, as much as delivery needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// Stable key: `anon:<id>` today, the identity graph's person id later.
    pub key: String,
}

impl Person {
    pub fn anonymous(id: &str) -> Person {
        Person {
            key: format!("anon:{id}"),
        }
    }

    pub fn bucket(&self) -> u16 {
        bucket_of(&self.key)
    }

    /// For logs and traces: never the raw identifier.
    pub fn log_id(&self) -> String {
        format!("{:016x}", stable_hash(&[b"log", self.key.as_bytes()]))
    }
}

/// The person's sticky bucket in `[0, BUCKETS)`.
pub fn bucket_of(person_key: &str) -> u16 {
    (stable_hash(&[b"bucket", person_key.as_bytes()]) % u64::from(BUCKETS)) as u16
}

/// An anonymous id is 1–128 visible ASCII characters from a URL-safe set.
pub fn check_anonymous_id(id: &str) -> Result<(), &'static str> {
    if id.is_empty() || id.len() > 128 {
        return Err("must be 1 to 128 characters");
    }
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
    {
        return Err("may contain only letters, digits and - _ . :");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread() {
        assert_eq!(bucket_of("anon:abc"), bucket_of("anon:abc"));
        let distinct: std::collections::HashSet<u16> =
            (0..5000).map(|i| bucket_of(&format!("anon:{i}"))).collect();
        assert!(distinct.len() > 900, "{}", distinct.len());
    }

    #[test]
    fn anonymous_ids_are_checked() {
        assert!(check_anonymous_id("a1b2-c3").is_ok());
        assert!(check_anonymous_id("").is_err());
        assert!(check_anonymous_id("has space").is_err());
        assert!(check_anonymous_id(&"x".repeat(129)).is_err());
    }
}
