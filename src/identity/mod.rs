//! Who the request is about. A person is a connected component of the identity graph
//! ([`graph`] holds its rules, [`directory`] resolves identifiers through the caches,
//! [`http`] serves identify and the people endpoints). A request names its person with
//! an identity token (verified: traits and segments are used), a server key plus an
//! identifier or person id (verified), or an anonymous id (claimed: it picks the sticky
//! bucket and applies the person's consents, but never reveals their traits).
//! The only form of the person that may appear in logs is a keyed hash.
//! [`model`] holds the values storage keeps for the graph, [`wire`] the identify body.

pub mod batch;
pub mod directory;
pub mod graph;
pub mod http;
pub mod known;
pub mod model;
pub mod queue;
mod service;
pub mod wire;

pub use service::{Identity, Resolved, Resolver};

use std::borrow::Cow;
use std::sync::Arc;

use crate::auth::{bearer, Auth};
use crate::catalog::{stable_hash, BUCKETS};
use crate::problem::{Problem, ProblemType};
use directory::PersonDirectory;
use graph::{Identifier, IdentifierError, IdentifierTypes};
pub use model::{IdentifyCommand, PersonRecord};

/// A resolved person, as much as delivery needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Person {
    /// Stable key for the bucket, frequency caps and events: the graph person's sticky
    /// key, or the naming identifier's own (`anon:<id>`) when the graph does not know it.
    pub key: String,
    /// The naming identifier's own key (`anon:<id>` for a cookie): what an unverified
    /// request may see of itself, e.g. in tracked links, instead of the person's key.
    pub own_key: String,
    /// The graph's person, when the identifier is known.
    pub record: Option<Arc<PersonRecord>>,
    /// Named by a verified token or a server key: traits and segments may be used.
    pub verified: bool,
    /// The request header that named the person (for `Vary`).
    pub via_header: Option<&'static str>,
}

impl Person {
    pub fn anonymous(id: &str) -> Person {
        Person {
            key: format!("anon:{id}"),
            own_key: format!("anon:{id}"),
            record: None,
            verified: false,
            via_header: None,
        }
    }

    fn from_graph(named: &Identifier, record: Option<Arc<PersonRecord>>, verified: bool) -> Person {
        Person {
            key: record
                .as_ref()
                .map(|r| r.sticky_key.clone())
                .unwrap_or_else(|| named.sticky_key()),
            own_key: named.sticky_key(),
            record,
            verified,
            via_header: None,
        }
    }

    pub fn bucket(&self) -> u16 {
        bucket_of(&self.key)
    }

    /// The key a response may reveal to the caller: the person's own key when verified,
    /// else only the identifier the caller named.
    pub fn visible_key(&self) -> &str {
        if self.verified {
            &self.key
        } else {
            &self.own_key
        }
    }

    /// For logs and traces: never the raw identifier, and keyed by the signing secret
    /// (see [`set_keys`]) so a log reader cannot test guesses against it.
    pub fn log_id(&self) -> String {
        let seed = LOG_KEY.get().copied().unwrap_or_default();
        format!(
            "{:016x}",
            xxhash_rust::xxh3::xxh3_64_with_seed(self.key.as_bytes(), seed)
        )
    }

    /// The person's traits, only when they may be used (a verified person).
    pub fn traits(&self) -> Option<&std::collections::BTreeMap<String, graph::TraitValue>> {
        match (&self.record, self.verified) {
            (Some(record), true) => Some(&record.traits),
            _ => None,
        }
    }

    /// The person's recorded consent for a channel, if any (applies to claimed people
    /// too: withholding content can only protect them).
    pub fn consent(&self, channel: &str) -> Option<bool> {
        self.record.as_ref()?.consents.get(channel).copied()
    }
}

static LOG_KEY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// HMAC-SHA256 keyed by the deployment's pseudonym key, ready to clone.
type PseudonymMac = hmac::Hmac<sha2::Sha256>;
static PSEUDONYM_KEY: std::sync::OnceLock<PseudonymMac> = std::sync::OnceLock::new();

/// Keys what names people without holding their identifiers, with the deployment's
/// signing secret (once per process, before anything is named): [`Person::log_id`] and
/// [`pseudonym`], which digests identifiers for sticky keys, events and Redis keys.
/// Keyed, an enumerable identifier (a customer number) cannot be recovered by hashing
/// every candidate; every node shares the secret, so every node names people alike.
pub fn set_keys(secret: &[u8]) {
    let _ = LOG_KEY.set(stable_hash(&[b"log-key", secret]));
    let _ = PSEUDONYM_KEY.set(pseudonym_mac(secret));
}

fn pseudonym_mac(secret: &[u8]) -> PseudonymMac {
    use hmac::Mac;
    let derived = PseudonymMac::new_from_slice(secret)
        .expect("HMAC takes any key length")
        .chain_update(b"tailor:pseudonym:v1")
        .finalize()
        .into_bytes();
    PseudonymMac::new_from_slice(&derived).expect("HMAC takes any key length")
}

/// A 128-bit keyed digest (HMAC-SHA256, truncated) of `parts`, each length-prefixed so
/// no two different lists collide by concatenation. Without [`set_keys`] (unit tests,
/// benchmarks) the key is empty: the server always sets it before serving.
pub fn pseudonym(parts: &[&[u8]]) -> u128 {
    pseudonym_with(PSEUDONYM_KEY.get_or_init(|| pseudonym_mac(b"")), parts)
}

fn pseudonym_with(key: &PseudonymMac, parts: &[&[u8]]) -> u128 {
    use hmac::Mac;
    let mut mac = key.clone();
    for part in parts {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part);
    }
    let digest = mac.finalize().into_bytes();
    u128::from_le_bytes(digest[..16].try_into().expect("16 of 32 bytes"))
}

/// How a request names its person (headers and parameters, unchecked).
#[derive(Default)]
pub struct Naming<'a> {
    pub authorization: Option<&'a str>,
    pub api_key: Option<&'a str>,
    /// The anonymous id and where it came from (`anonymous_id` or `X-Anonymous-Id`).
    pub anonymous_id: Option<(&'a str, &'static str)>,
    pub person_id: Option<&'a str>,
    /// `id.<type>=<value>` parameters.
    pub identifiers: &'a [(Cow<'a, str>, Cow<'a, str>)],
}

/// Who a request names, checked: a bad token or key is refused, never ignored.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    Nobody,
    /// An identifier vouched for by a token or a server key.
    Verified(Identifier, &'static str),
    /// An anonymous id, which anyone could send.
    Anonymous(Identifier, &'static str),
}

impl Claim {
    pub fn is_verified(&self) -> bool {
        matches!(self, Claim::Verified(..))
    }
}

/// The pseudo identifier type under which a person id is looked up.
pub const PERSON_ID: &str = "person_id";

pub fn claim(naming: &Naming, auth: &Auth, types: &IdentifierTypes) -> Result<Claim, Problem> {
    if let Some(token) = bearer(naming.authorization)? {
        let customer = auth.customer(token)?;
        let id = types.normalize("customer_id", &customer).map_err(|e| {
            Problem::from(crate::auth::AuthError::Invalid(format!("its subject {e}")))
        })?;
        return Ok(Claim::Verified(id, "Authorization"));
    }
    let names_someone = naming.person_id.is_some() || !naming.identifiers.is_empty();
    if let Some(key) = naming.api_key {
        if auth.server_key(key).is_none() {
            return Err(Problem::new(
                ProblemType::Unauthorized,
                "the X-Api-Key is not one of ours",
            )
            .with_field("X-Api-Key"));
        }
    } else if names_someone {
        return Err(Problem::new(
            ProblemType::Unauthorized,
            "naming a person by person_id or id.<type> needs a server key (X-Api-Key)",
        )
        .with_field("X-Api-Key"));
    }
    if names_someone {
        if naming.person_id.is_some() as usize + naming.identifiers.len() > 1 {
            return Err(Problem::invalid(
                "person_id",
                "name the person once: person_id or a single id.<type> parameter",
            ));
        }
        if let Some(id) = naming.person_id {
            if id.is_empty() || id.len() > 36 {
                return Err(Problem::invalid("person_id", "is not a person id"));
            }
            return Ok(Claim::Verified(Identifier::new(PERSON_ID, id), "X-Api-Key"));
        }
        if let Some((kind, value)) = naming.identifiers.first() {
            let id = types
                .normalize(kind, value)
                .map_err(|e| identifier_problem(&format!("id.{kind}"), &e))?;
            return Ok(Claim::Verified(id, "X-Api-Key"));
        }
    }
    match naming.anonymous_id {
        Some((id, field)) => {
            check_anonymous_id(id).map_err(|reason| Problem::invalid(field, reason))?;
            Ok(Claim::Anonymous(Identifier::new("anonymous_id", id), field))
        }
        None => Ok(Claim::Nobody),
    }
}

pub fn identifier_problem(field: &str, error: &IdentifierError) -> Problem {
    Problem::invalid(field, error.to_string())
}

/// The person a claim names, through the caches.
pub async fn resolve(
    claim: &Claim,
    directory: &PersonDirectory,
) -> Result<Option<Person>, Problem> {
    resolve_claim(claim, directory).await.map_err(|e| match e {
        Unresolved::Unreachable(e) => Problem::from(e),
        Unresolved::Refused(problem) => problem,
    })
}

/// Why a claim named no person.
pub enum Unresolved {
    /// The database (and Redis) could not be asked.
    Unreachable(crate::storage::StorageError),
    /// The claim is wrong (e.g. an unknown person id).
    Refused(Problem),
}

pub async fn resolve_claim(
    claim: &Claim,
    directory: &PersonDirectory,
) -> Result<Option<Person>, Unresolved> {
    let (id, verified, header) = match claim {
        Claim::Nobody => return Ok(None),
        Claim::Verified(id, header) => (id, true, *header),
        Claim::Anonymous(id, field) => (id, false, *field),
    };
    let record = match directory.resolve(id).await {
        Ok(record) => record,
        Err(e) if e.is_outage() => return Err(Unresolved::Unreachable(e)),
        Err(e) => return Err(Unresolved::Refused(Problem::from(e))),
    };
    if id.kind == PERSON_ID && record.is_none() {
        return Err(Unresolved::Refused(
            Problem::new(ProblemType::NotFound, "no such person").with_field("person_id"),
        ));
    }
    let mut person = Person::from_graph(id, record, verified);
    person.via_header = match header {
        "Authorization" | "X-Api-Key" | "X-Anonymous-Id" => Some(header),
        _ => None,
    };
    Ok(Some(person))
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

    #[test]
    fn pseudonyms_depend_on_the_deployment_key_and_on_where_parts_split() {
        let ours = pseudonym_mac(b"our-signing-secret-0123456789abcdef");
        let theirs = pseudonym_mac(b"another-signing-secret-0123456789ab");
        let customer: [&[u8]; 2] = [b"customer_id", b"C-1001"];
        assert_eq!(
            pseudonym_with(&ours, &customer),
            pseudonym_with(&ours, &customer)
        );
        // Without the secret, hashing every candidate customer id finds nothing.
        assert_ne!(
            pseudonym_with(&ours, &customer),
            pseudonym_with(&theirs, &customer)
        );
        assert_ne!(
            pseudonym_with(&ours, &[b"customer_id", b"C-1"]),
            pseudonym_with(&ours, &[b"customer_id", b"C-2"])
        );
        // Length-prefixed: ("ab", "c") and ("a", "bc") are different identifiers.
        assert_ne!(
            pseudonym_with(&ours, &[b"ab", b"c"]),
            pseudonym_with(&ours, &[b"a", b"bc"])
        );
    }
}
