//! Signed tokens Tailor issues: the tracking token in every content answer and the
//! cohort key from `GET /v1/context`. Both are compact HS256 JWTs with their own
//! audience, so one can never be passed off as the other.
//!
//! Both are deterministic: the tracking token names only the decision (placement,
//! variant, version, channel, device, locale), never the person, so a shared cache can
//! hold it; the cohort key's expiry is rounded to the cohort period, so everyone in the
//! same bucket and segment set during a period gets byte-identical keys (and URLs).

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const TRACKING_AUDIENCE: &str = "tailor:tracking";
const COHORT_AUDIENCE: &str = "tailor:cohort";
const LINK_AUDIENCE: &str = "tailor:link";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingClaims {
    pub aud: String,
    /// placement
    pub pl: String,
    /// variant id and version
    pub va: String,
    pub ve: u32,
    /// channel, device, locale
    pub ch: String,
    pub dv: String,
    pub lo: String,
    /// catalog generation the decision was made on
    pub gen: u64,
    /// the segment set the decision was made for (comma-separated, sorted), if any:
    /// the cohort's, so a shared answer still names nobody
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sg: String,
}

/// A tracked link (`lk` names the link field) or an email open pixel (no `lk`), with the
/// person when the content request named one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkClaims {
    pub aud: String,
    pub pl: String,
    pub va: String,
    pub ve: u32,
    pub ch: String,
    pub dv: String,
    pub lo: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lk: Option<String>,
    /// The person's key (pseudonymous), so opens and clicks count for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub an: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sg: String,
}

impl From<LinkClaims> for crate::engagement::DecisionRef {
    fn from(c: LinkClaims) -> Self {
        crate::engagement::DecisionRef {
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

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohortClaims {
    pub aud: String,
    /// sticky bucket
    pub b: u16,
    /// segment ids, sorted
    pub s: Vec<String>,
    /// Channels the person opted out of, sorted: a cohort shares its opt-outs too, so a
    /// shareable answer never reaches someone who withdrew consent for its channel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub o: Vec<String>,
    pub exp: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid: {0}")]
    Invalid(String),
}

pub struct Signer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    tracking: Validation,
    cohort: Validation,
    link: Validation,
}

impl Signer {
    pub fn new(secret: &[u8]) -> Signer {
        let mut tracking = Validation::new(Algorithm::HS256);
        tracking.set_audience(&[TRACKING_AUDIENCE]);
        tracking.validate_exp = false;
        tracking.required_spec_claims.clear();
        tracking.required_spec_claims.insert("aud".into());
        let mut cohort = Validation::new(Algorithm::HS256);
        cohort.set_audience(&[COHORT_AUDIENCE]);
        cohort.leeway = 0;
        cohort.required_spec_claims.clear();
        cohort.required_spec_claims.insert("aud".into());
        cohort.required_spec_claims.insert("exp".into());
        let mut link = tracking.clone();
        link.set_audience(&[LINK_AUDIENCE]);
        Signer {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            tracking,
            cohort,
            link,
        }
    }

    fn sign<T: Serialize>(&self, claims: &T) -> String {
        // HS256 with an in-memory key over our own claims cannot fail.
        encode(&Header::new(Algorithm::HS256), claims, &self.encoding).unwrap_or_default()
    }

    #[allow(clippy::too_many_arguments)]
    pub fn tracking_token(
        &self,
        placement: &str,
        variant: &str,
        version: u32,
        channel: &str,
        device: &str,
        locale: &str,
        generation: u64,
    ) -> String {
        self.sign(&Signer::tracking_claims(
            placement, variant, version, channel, device, locale, generation,
        ))
    }

    /// The claims of a tracking token, for building link tokens beside it.
    #[allow(clippy::too_many_arguments)]
    pub fn tracking_claims(
        placement: &str,
        variant: &str,
        version: u32,
        channel: &str,
        device: &str,
        locale: &str,
        generation: u64,
    ) -> TrackingClaims {
        TrackingClaims {
            aud: TRACKING_AUDIENCE.into(),
            pl: placement.into(),
            va: variant.into(),
            ve: version,
            ch: channel.into(),
            dv: device.into(),
            lo: locale.into(),
            gen: generation,
            sg: String::new(),
        }
    }

    pub fn sign_tracking(&self, claims: &TrackingClaims) -> String {
        self.sign(claims)
    }

    pub fn verify_tracking(&self, token: &str) -> Result<TrackingClaims, TokenError> {
        decode::<TrackingClaims>(token, &self.decoding, &self.tracking)
            .map(|d| d.claims)
            .map_err(classify)
    }

    /// A link (`field` given) or open-pixel token for a decision.
    pub fn link_token(
        &self,
        decision: &TrackingClaims,
        field: Option<&str>,
        person: Option<&str>,
    ) -> String {
        self.sign(&LinkClaims {
            aud: LINK_AUDIENCE.into(),
            pl: decision.pl.clone(),
            va: decision.va.clone(),
            ve: decision.ve,
            ch: decision.ch.clone(),
            dv: decision.dv.clone(),
            lo: decision.lo.clone(),
            lk: field.map(str::to_string),
            an: person.map(str::to_string),
            sg: decision.sg.clone(),
        })
    }

    pub fn verify_link(&self, token: &str) -> Result<LinkClaims, TokenError> {
        decode::<LinkClaims>(token, &self.decoding, &self.link)
            .map(|d| d.claims)
            .map_err(classify)
    }

    /// A cohort key valid for at least `ttl_secs`, identical for everyone with the same
    /// bucket and segments within the same period.
    pub fn cohort_key(
        &self,
        bucket: u16,
        segments: &[String],
        now_unix: u64,
        ttl_secs: u64,
    ) -> (String, u64) {
        self.cohort_key_with_opt_outs(bucket, segments, &[], now_unix, ttl_secs)
    }

    pub fn cohort_key_with_opt_outs(
        &self,
        bucket: u16,
        segments: &[String],
        opted_out: &[String],
        now_unix: u64,
        ttl_secs: u64,
    ) -> (String, u64) {
        let exp = (now_unix / ttl_secs + 2) * ttl_secs;
        let sorted = |items: &[String]| {
            let mut items = items.to_vec();
            items.sort();
            items.dedup();
            items
        };
        let token = self.sign(&CohortClaims {
            aud: COHORT_AUDIENCE.into(),
            b: bucket,
            s: sorted(segments),
            o: sorted(opted_out),
            exp,
        });
        (token, exp)
    }

    pub fn verify_cohort(&self, token: &str) -> Result<CohortClaims, TokenError> {
        decode::<CohortClaims>(token, &self.decoding, &self.cohort)
            .map(|d| d.claims)
            .map_err(classify)
    }
}

fn classify(error: jsonwebtoken::errors::Error) -> TokenError {
    match error.kind() {
        jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
        other => TokenError::Invalid(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> Signer {
        Signer::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn tracking_tokens_round_trip_and_resist_tampering() {
        let s = signer();
        let token = s.tracking_token("home.hero", "v1", 2, "web", "mobile", "fr", 7);
        let claims = s.verify_tracking(&token).unwrap();
        assert_eq!((claims.pl.as_str(), claims.ve), ("home.hero", 2));
        // Deterministic: the same decision gives the same bytes.
        assert_eq!(
            token,
            s.tracking_token("home.hero", "v1", 2, "web", "mobile", "fr", 7)
        );
        // Forged with another key, or with the payload edited: both rejected.
        let forged = Signer::new(b"another-secret-another-secret-xx").tracking_token(
            "home.hero",
            "v2",
            2,
            "web",
            "mobile",
            "fr",
            7,
        );
        assert!(s.verify_tracking(&forged).is_err());
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = forged.split('.').nth(1).unwrap_or_default().to_string();
        assert!(s.verify_tracking(&parts.join(".")).is_err());
        assert!(Signer::new(b"another-secret-another-secret-xx")
            .verify_tracking(&token)
            .is_err());
    }

    #[test]
    fn cohort_keys_are_shared_within_a_period_and_expire() {
        let s = signer();
        let now = 1_800_000_000;
        let (a, exp) = s.cohort_key(42, &["vip".into()], now, 3600);
        let (b, _) = s.cohort_key(42, &["vip".into()], now + 10, 3600);
        assert_eq!(a, b);
        assert!(exp >= now + 3600);
        assert_eq!(s.verify_cohort(&a).unwrap().b, 42);
        let (old, _) = s.cohort_key(42, &[], 1_000, 3600);
        assert_eq!(s.verify_cohort(&old), Err(TokenError::Expired));
        // A tracking token is not a cohort key.
        let tracking = s.tracking_token("p", "v", 1, "web", "desktop", "en", 1);
        assert!(s.verify_cohort(&tracking).is_err());
        assert!(
            s.verify_link(&tracking).is_err(),
            "a tracking token is not a link token"
        );
        let claims = s.verify_tracking(&tracking).unwrap();
        let link = s.link_token(&claims, Some("cta"), Some("anon:x"));
        assert_eq!(s.verify_link(&link).unwrap().lk.as_deref(), Some("cta"));
        assert!(
            s.verify_tracking(&link).is_err(),
            "a link token is not a tracking token"
        );
    }
}
