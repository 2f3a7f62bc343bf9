//! Signed tokens Tailor issues: the tracking token in every content answer and the
//! cohort key from `GET /v1/context`. Both are compact HS256 JWTs with their own
//! audience, so one can never be passed off as the other.
//!
//! Both are deterministic: the tracking token names only the decision (placement,
//! variant, version, channel, device, locale), never the person, so a shared cache can
//! hold it; the cohort key's expiry is rounded to the cohort period, so everyone in the
//! same bucket and segment set during a period gets byte-identical keys (and URLs).
//!
//! Tracking and link tokens expire (`tracking_token_ttl`, per channel). Their issue
//! time is rounded down to an eighth of the lifetime ([`Validity::current`]), so the
//! same decision still gives the same bytes for that long — cacheable — and a token is
//! always good for at least seven eighths of its lifetime.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const TRACKING_AUDIENCE: &str = "tailor:tracking";
const COHORT_AUDIENCE: &str = "tailor:cohort";
const LINK_AUDIENCE: &str = "tailor:link";
const SYNC_AUDIENCE: &str = "tailor:sync";

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
    /// Issued at / expires at (Unix seconds). Tokens from before expiry existed have
    /// neither and count as expired.
    #[serde(default)]
    pub iat: u64,
    #[serde(default)]
    pub exp: u64,
}

/// When a tracking or link token was issued and until when it counts engagement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Validity {
    pub issued_at: u64,
    pub expires_at: u64,
}

impl Validity {
    /// The validity of a token made `now` with lifetime `ttl_secs`: issued at the start
    /// of the current eighth of the lifetime (at least a minute), so it is the same for
    /// everyone in that stretch and good for at least 7/8 of `ttl_secs`.
    pub fn current(now: u64, ttl_secs: u64) -> Validity {
        let step = (ttl_secs / 8).max(60);
        let issued_at = now - now % step;
        Validity {
            issued_at,
            expires_at: issued_at + ttl_secs,
        }
    }
}

/// Tracking-token lifetimes per channel, parsed once from `tracking_token_ttl`.
#[derive(Clone, Debug)]
pub struct Lifetimes {
    by_channel: std::collections::HashMap<String, u64>,
    default: u64,
}

impl Lifetimes {
    pub fn from_settings(settings: &crate::config::Settings) -> Lifetimes {
        Lifetimes {
            by_channel: settings
                .tracking_token_ttl
                .keys()
                .map(|channel| (channel.clone(), settings.tracking_token_ttl_secs(channel)))
                .collect(),
            default: settings.tracking_token_ttl_secs("default"),
        }
    }

    /// The validity of a token made now for `channel`.
    pub fn current(&self, channel: &str, now: u64) -> Validity {
        Validity::current(
            now,
            self.by_channel
                .get(channel)
                .copied()
                .unwrap_or(self.default),
        )
    }
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
    /// Until when a click or open counts (Unix seconds); the link itself keeps working.
    #[serde(default)]
    pub exp: u64,
}

impl LinkClaims {
    /// Whether a click or open through this token still counts at `now`.
    pub fn counts_at(&self, now: u64) -> bool {
        now < self.exp
    }
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
    sync: Validation,
    /// Tracking tokens whose signature was checked, by their exact text. One answer's
    /// token comes back with each of its events (its impression, its clicks; everyone
    /// served the same shared answer sends the same token), and checking a signature
    /// costs more than storing the event. Only the expiry is checked again.
    verified_tracking: moka::sync::Cache<Box<str>, TrackingClaims>,
}

/// Tracking tokens remembered as verified (about 0.5 KB each).
const VERIFIED_TRACKING_TOKENS: u64 = 20_000;

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
        let mut sync = tracking.clone();
        sync.set_audience(&[SYNC_AUDIENCE]);
        Signer {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            tracking,
            cohort,
            link,
            sync,
            verified_tracking: moka::sync::Cache::new(VERIFIED_TRACKING_TOKENS),
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
        validity: Validity,
    ) -> String {
        self.sign(&Signer::tracking_claims(
            placement, variant, version, channel, device, locale, generation, validity,
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
        validity: Validity,
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
            iat: validity.issued_at,
            exp: validity.expires_at,
        }
    }

    pub fn sign_tracking(&self, claims: &TrackingClaims) -> String {
        self.sign(claims)
    }

    /// Checks the signature and that the token still counts at `now` (Unix seconds).
    pub fn verify_tracking(&self, token: &str, now: u64) -> Result<TrackingClaims, TokenError> {
        let claims = match self.verified_tracking.get(token) {
            Some(claims) => claims,
            None => {
                let claims = decode::<TrackingClaims>(token, &self.decoding, &self.tracking)
                    .map(|d| d.claims)
                    .map_err(classify)?;
                self.verified_tracking.insert(token.into(), claims.clone());
                claims
            }
        };
        if now >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
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
            exp: decision.exp,
        })
    }

    /// Checks the signature only: an expired link still leads to its page (the caller
    /// checks [`LinkClaims::counts_at`] before logging anything).
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

/// What an offline sync handed out: the manifest it stored and the request it answered,
/// so `since=` can only continue the same sync.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SyncClaims {
    aud: String,
    /// The manifest's id.
    pub m: String,
    /// A digest of the request's channel, locales, device, country and cohort.
    pub q: String,
    pub iat: u64,
}

impl Signer {
    pub fn sync_token(&self, manifest: &str, request: &str, now_unix: u64) -> String {
        self.sign(&SyncClaims {
            aud: SYNC_AUDIENCE.into(),
            m: manifest.into(),
            q: request.into(),
            iat: now_unix,
        })
    }

    pub fn verify_sync(&self, token: &str) -> Result<SyncClaims, TokenError> {
        decode::<SyncClaims>(token, &self.decoding, &self.sync)
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

    const NOW: u64 = 1_800_000_000;

    fn valid() -> Validity {
        Validity::current(NOW, 86_400)
    }

    #[test]
    fn tracking_tokens_expire_and_are_stable_within_an_eighth_of_their_life() {
        let s = signer();
        let a = Validity::current(NOW, 86_400);
        assert_eq!(a, Validity::current(NOW + 60, 86_400));
        assert_ne!(a, Validity::current(NOW + 86_400 / 8, 86_400));
        assert!(a.issued_at <= NOW && a.expires_at >= NOW + 86_400 * 7 / 8);
        let token = s.tracking_token("p", "v", 1, "web", "desktop", "en", 1, a);
        assert!(s.verify_tracking(&token, NOW).is_ok());
        // Remembered as verified, and still checked for expiry.
        assert_eq!(
            s.verify_tracking(&token, a.expires_at),
            Err(TokenError::Expired)
        );
        // Links keep leading somewhere after expiry; they just stop counting.
        let claims = s.verify_tracking(&token, NOW).unwrap();
        let link = s
            .verify_link(&s.link_token(&claims, Some("cta"), None))
            .unwrap();
        assert!(link.counts_at(NOW) && !link.counts_at(a.expires_at));
    }

    #[test]
    fn tracking_tokens_round_trip_and_resist_tampering() {
        let s = signer();
        let token = s.tracking_token("home.hero", "v1", 2, "web", "mobile", "fr", 7, valid());
        let claims = s.verify_tracking(&token, NOW).unwrap();
        assert_eq!((claims.pl.as_str(), claims.ve), ("home.hero", 2));
        // Deterministic: the same decision gives the same bytes.
        assert_eq!(
            token,
            s.tracking_token("home.hero", "v1", 2, "web", "mobile", "fr", 7, valid())
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
            valid(),
        );
        assert!(s.verify_tracking(&forged, NOW).is_err());
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = forged.split('.').nth(1).unwrap_or_default().to_string();
        assert!(s.verify_tracking(&parts.join("."), NOW).is_err());
        assert!(Signer::new(b"another-secret-another-secret-xx")
            .verify_tracking(&token, NOW)
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
        let tracking = s.tracking_token("p", "v", 1, "web", "desktop", "en", 1, valid());
        assert!(s.verify_cohort(&tracking).is_err());
        assert!(
            s.verify_link(&tracking).is_err(),
            "a tracking token is not a link token"
        );
        let claims = s.verify_tracking(&tracking, NOW).unwrap();
        let link = s.link_token(&claims, Some("cta"), Some("anon:x"));
        assert_eq!(s.verify_link(&link).unwrap().lk.as_deref(), Some("cta"));
        assert!(
            s.verify_tracking(&link, NOW).is_err(),
            "a link token is not a tracking token"
        );
    }
}
