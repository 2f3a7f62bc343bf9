//! Who is calling: identity tokens (a customer, from the site's identity provider),
//! staff tokens (roles, scopes) and server API keys. Every JWT is checked for its
//! signature with a configured key, a pinned algorithm, `exp`, `iss` and `aud`; a token
//! that fails any check is refused, never treated as absent.

use std::collections::HashSet;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::{Secret, Settings, TokenSettings};
use crate::problem::{Problem, ProblemType};

/// Issuer and audiences of development tokens (`dev_token_secret`, `tailor token`).
pub const DEV_ISSUER: &str = "tailor-dev";
pub const DEV_IDENTITY_AUDIENCE: &str = "tailor";
pub const DEV_STAFF_AUDIENCE: &str = "tailor-staff";

/// Staff roles (DESIGN.md); a token with another role is not refused, the role is
/// simply never granted anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Marketer,
    Reviewer,
    Publisher,
    Governance,
    GovernanceApprover,
    Analyst,
    Privacy,
    Admin,
}

impl Role {
    pub const ALL: [Role; 8] = [
        Role::Marketer,
        Role::Reviewer,
        Role::Publisher,
        Role::Governance,
        Role::GovernanceApprover,
        Role::Analyst,
        Role::Privacy,
        Role::Admin,
    ];

    /// The role's name in tokens.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Marketer => "marketer",
            Role::Reviewer => "reviewer",
            Role::Publisher => "publisher",
            Role::Governance => "governance",
            Role::GovernanceApprover => "governance_approver",
            Role::Analyst => "analyst",
            Role::Privacy => "privacy",
            Role::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The role names, for messages.
pub const ROLES: [&str; 8] = {
    let mut names = [""; 8];
    let mut i = 0;
    while i < 8 {
        names[i] = Role::ALL[i].as_str();
        i += 1;
    }
    names
};

/// A set of roles a route accepts (any one of them), named so the requirement reads
/// in the handler's signature: `StaffUser<Authors>`. Declare sets with [`role_set!`].
pub trait Roles {
    /// Accepted roles, in the order the 403 message names them.
    const ACCEPTED: &'static [Role];
}

/// Declares a named [`Roles`] set: `role_set!(pub Authors = Marketer, Admin);`.
#[macro_export]
macro_rules! role_set {
    ($(#[$meta:meta])* $vis:vis $name:ident = $($role:ident),+ $(,)?) => {
        $(#[$meta])*
        $vis struct $name;
        impl $crate::auth::Roles for $name {
            const ACCEPTED: &'static [$crate::auth::Role] = &[$($crate::auth::Role::$role),+];
        }
    };
}

role_set!(
    /// A staff token holding any one of the roles.
    pub AnyStaff = Marketer, Reviewer, Publisher, Governance, GovernanceApprover, Analyst, Privacy, Admin
);

/// Any verified staff token, whatever its roles: for routes whose roles depend on the
/// request (a workflow step's verb), which then check them with [`StaffUser::require`]
/// so the `403` names exactly the roles that step needs.
pub struct RolesCheckedByHandler;

impl Roles for RolesCheckedByHandler {
    const ACCEPTED: &'static [Role] = &[];
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("{0}")]
    Missing(&'static str),
    #[error("the token was refused: {0}")]
    Invalid(String),
    #[error("the token has expired")]
    Expired,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} tokens are not configured on this server")]
    NotConfigured(&'static str),
}

impl From<AuthError> for Problem {
    fn from(error: AuthError) -> Problem {
        let kind = match error {
            AuthError::Forbidden(_) => ProblemType::Forbidden,
            _ => ProblemType::Unauthorized,
        };
        Problem::new(kind, error.to_string()).with_field("Authorization")
    }
}

/// Checks one kind of JWT.
pub struct JwtVerifier {
    issuer: String,
    audience: String,
    algorithms: Vec<Algorithm>,
    keys: Vec<VerifyKey>,
    leeway: u64,
    /// How long after its `iat` a token is still accepted, whatever its `exp` says.
    max_age: u64,
}

/// The longest clock skew a verifier may allow (`leeway_secs`).
pub const MAX_LEEWAY_SECS: u64 = 300;
/// Bounds of `max_token_age_secs`: a minute to thirty days.
pub const TOKEN_AGE_RANGE: std::ops::RangeInclusive<u64> = 60..=30 * 86_400;
/// The shortest HMAC secret accepted (RFC 7518 §3.2: a key as long as the hash, 256 bits).
pub const MIN_HMAC_SECRET_BYTES: usize = 32;
/// How old a development token may be.
const DEV_MAX_TOKEN_AGE_SECS: u64 = 86_400;

/// A token's issue time, read beside its own claims.
#[derive(Deserialize)]
struct Issued<T> {
    iat: Option<u64>,
    #[serde(flatten)]
    claims: T,
}

struct VerifyKey {
    kid: Option<String>,
    /// Algorithms this key may verify (by its family).
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
}

fn family(alg: Algorithm) -> &'static str {
    use Algorithm::*;
    match alg {
        HS256 | HS384 | HS512 => "hmac",
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => "rsa",
        ES256 | ES384 => "ec",
        EdDSA => "ed",
        _ => "other",
    }
}

impl JwtVerifier {
    pub fn from_settings(settings: &TokenSettings) -> Result<JwtVerifier, String> {
        if settings.issuer.is_empty() || settings.audience.is_empty() {
            return Err("needs an issuer and an audience".into());
        }
        let mut algorithms = Vec::new();
        for name in &settings.algorithms {
            let alg: Algorithm = name
                .parse()
                .map_err(|_| format!("unknown algorithm `{name}`"))?;
            algorithms.push(alg);
        }
        if algorithms.is_empty() {
            return Err("needs at least one algorithm".into());
        }
        if settings.leeway_secs > MAX_LEEWAY_SECS {
            return Err(format!("leeway_secs must be at most {MAX_LEEWAY_SECS}"));
        }
        if !TOKEN_AGE_RANGE.contains(&settings.max_token_age_secs) {
            return Err(format!(
                "max_token_age_secs must be between {} and {}",
                TOKEN_AGE_RANGE.start(),
                TOKEN_AGE_RANGE.end()
            ));
        }
        let sources = [
            settings.key_file.is_some(),
            settings.jwks_file.is_some(),
            settings.hs256_secret.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if sources != 1 {
            return Err("needs exactly one of key_file, jwks_file, hs256_secret".into());
        }
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        let keys = if let Some(secret) = &settings.hs256_secret {
            if secret.expose().len() < MIN_HMAC_SECRET_BYTES {
                return Err(format!(
                    "hs256_secret must be at least {MIN_HMAC_SECRET_BYTES} bytes"
                ));
            }
            vec![VerifyKey {
                kid: None,
                algorithms: vec![Algorithm::HS256],
                key: DecodingKey::from_secret(secret.expose().as_bytes()),
            }]
        } else if let Some(path) = &settings.key_file {
            let pem = read(path)?;
            let mut found = None;
            for alg in &algorithms {
                let key = match family(*alg) {
                    "rsa" => DecodingKey::from_rsa_pem(&pem),
                    "ec" => DecodingKey::from_ec_pem(&pem),
                    "ed" => DecodingKey::from_ed_pem(&pem),
                    _ => continue,
                };
                if let Ok(key) = key {
                    found = Some(VerifyKey {
                        kid: None,
                        algorithms: algorithms
                            .iter()
                            .copied()
                            .filter(|a| family(*a) == family(*alg))
                            .collect(),
                        key,
                    });
                    break;
                }
            }
            vec![found.ok_or_else(|| {
                format!(
                    "{} is not a PEM public key for {:?}",
                    path.display(),
                    settings.algorithms
                )
            })?]
        } else if let Some(path) = &settings.jwks_file {
            jwks_keys(&read(path)?, path, &algorithms, &settings.algorithms)?
        } else {
            Vec::new()
        };
        Ok(JwtVerifier {
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            algorithms,
            keys,
            leeway: settings.leeway_secs,
            max_age: settings.max_token_age_secs,
        })
    }

    /// HS256 with the development secret.
    pub fn development(secret: &Secret, audience: &str) -> JwtVerifier {
        JwtVerifier {
            issuer: DEV_ISSUER.into(),
            audience: audience.into(),
            algorithms: vec![Algorithm::HS256],
            keys: vec![VerifyKey {
                kid: None,
                algorithms: vec![Algorithm::HS256],
                key: DecodingKey::from_secret(secret.expose().as_bytes()),
            }],
            leeway: 30,
            max_age: DEV_MAX_TOKEN_AGE_SECS,
        }
    }

    pub fn verify<T: DeserializeOwned>(&self, token: &str) -> Result<T, AuthError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| AuthError::Invalid("it is not a JWT".into()))?;
        if !self.algorithms.contains(&header.alg) {
            return Err(AuthError::Invalid(format!(
                "algorithm {:?} is not accepted",
                header.alg
            )));
        }
        // With a `kid`, only that key; without one, every key of the algorithm's family
        // (a JWKS mid-rotation holds two).
        let candidates: Vec<&VerifyKey> = self
            .keys
            .iter()
            .filter(|k| k.algorithms.contains(&header.alg))
            .filter(|k| match (&header.kid, &k.kid) {
                (Some(wanted), Some(have)) => wanted == have,
                (Some(_), None) | (None, _) => true,
            })
            .collect();
        if candidates.is_empty() {
            return Err(AuthError::Invalid("no configured key matches it".into()));
        }
        let mut validation = Validation::new(header.alg);
        validation.algorithms = vec![header.alg];
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = self.leeway;
        let mut outcome = Err(AuthError::Invalid("the signature does not verify".into()));
        for key in candidates {
            outcome = jsonwebtoken::decode::<Issued<T>>(token, &key.key, &validation)
                .map(|data| data.claims)
                .map_err(Self::refusal);
            if outcome.is_ok()
                || !matches!(&outcome, Err(AuthError::Invalid(r)) if r == "the signature does not verify")
            {
                break;
            }
        }
        let issued = outcome?;
        self.check_age(issued.iat, chrono::Utc::now().timestamp().max(0) as u64)?;
        Ok(issued.claims)
    }

    /// A token must say when it was issued, not in the future, and not longer ago than
    /// the verifier's maximum age: a leaked long-lived token stops working.
    fn check_age(&self, iat: Option<u64>, now: u64) -> Result<(), AuthError> {
        let iat = iat.ok_or_else(|| AuthError::Invalid("the `iat` claim is missing".into()))?;
        if iat > now.saturating_add(self.leeway) {
            return Err(AuthError::Invalid(
                "it was issued in the future (iat)".into(),
            ));
        }
        if now.saturating_sub(iat) > self.max_age.saturating_add(self.leeway) {
            return Err(AuthError::Invalid(format!(
                "it is older than the {} s a token may be (iat)",
                self.max_age
            )));
        }
        Ok(())
    }

    fn refusal(e: jsonwebtoken::errors::Error) -> AuthError {
        match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => AuthError::Expired,
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                AuthError::Invalid("the signature does not verify".into())
            }
            jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                AuthError::Invalid("wrong issuer".into())
            }
            jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                AuthError::Invalid("wrong audience".into())
            }
            jsonwebtoken::errors::ErrorKind::MissingRequiredClaim(claim) => {
                AuthError::Invalid(format!("the `{claim}` claim is missing"))
            }
            jsonwebtoken::errors::ErrorKind::ImmatureSignature => {
                AuthError::Invalid("it is not valid yet (nbf)".into())
            }
            _ => AuthError::Invalid("it is malformed".into()),
        }
    }
}

/// The signature-verifying keys of a JWKS document usable with `algorithms` (keys for
/// encryption, or of another family than their declared algorithm, are skipped).
fn jwks_keys(
    document: &[u8],
    path: &std::path::Path,
    algorithms: &[Algorithm],
    named: &[String],
) -> Result<Vec<VerifyKey>, String> {
    let set: JwkSet = serde_json::from_slice(document)
        .map_err(|e| format!("{} is not a JWKS document: {e}", path.display()))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        // Keys published for encryption never verify signatures.
        if jwk.common.public_key_use == Some(jsonwebtoken::jwk::PublicKeyUse::Encryption) {
            continue;
        }
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| format!("a key in {} is unusable: {e}", path.display()))?;
        let declared = jwk
            .common
            .key_algorithm
            .and_then(|a| a.to_string().parse::<Algorithm>().ok());
        let usable: Vec<Algorithm> = algorithms
            .iter()
            .copied()
            .filter(|a| declared.is_none_or(|d| d == *a))
            .filter(|a| match &jwk.algorithm {
                jsonwebtoken::jwk::AlgorithmParameters::RSA(_) => family(*a) == "rsa",
                jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => family(*a) == "ec",
                jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => family(*a) == "ed",
                jsonwebtoken::jwk::AlgorithmParameters::OctetKey(_) => family(*a) == "hmac",
                _ => false,
            })
            .collect();
        if !usable.is_empty() {
            keys.push(VerifyKey {
                kid: jwk.common.key_id.clone(),
                algorithms: usable,
                key,
            });
        }
    }
    if keys.is_empty() {
        return Err(format!("{} has no key for {named:?}", path.display()));
    }
    Ok(keys)
}

/// `aud` is one audience or a list (RFC 7519 §4.1.3); verification already checked it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

/// An identity token's claims: `sub` is the customer id.
#[derive(Debug, Deserialize, Serialize)]
pub struct IdentityClaims {
    pub sub: String,
    pub iss: String,
    pub aud: Audience,
    pub exp: u64,
}

/// What a development token carries besides its claims.
#[derive(Serialize)]
struct Minted<'a, T> {
    iat: u64,
    #[serde(flatten)]
    claims: &'a T,
}

/// A staff token's claims.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct StaffClaims {
    pub sub: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// Space-separated scopes (OAuth style), e.g. `identify`.
    #[serde(default)]
    pub scope: String,
    pub iss: String,
    pub aud: Audience,
    pub exp: u64,
}

impl StaffClaims {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
    pub fn has(&self, role: Role) -> bool {
        self.has_role(role.as_str())
    }
    /// How records name this member of staff (see [`StaffUser::actor`]).
    pub fn actor(&self) -> String {
        staff_actor(&self.sub)
    }
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope.split_whitespace().any(|s| s == scope)
    }
}

/// A caller allowed to act for servers: a server key or a staff token.
#[derive(Clone, Debug)]
pub enum Caller {
    /// The index of the server key used (never the key).
    ServerKey(usize),
    Staff(StaffClaims),
}

impl Caller {
    /// How records name the caller.
    pub fn actor(&self) -> String {
        match self {
            Caller::ServerKey(index) => format!("server-key:{index}"),
            Caller::Staff(claims) => staff_actor(&claims.sub),
        }
    }
}

/// Everything a request can authenticate with.
pub struct Auth {
    identity: Option<JwtVerifier>,
    staff: Option<JwtVerifier>,
    server_keys: Vec<Secret>,
}

/// The token of an `Authorization: Bearer` value.
pub fn bearer(authorization: Option<&str>) -> Result<Option<&str>, AuthError> {
    match authorization {
        None => Ok(None),
        Some(value) => {
            let (scheme, token) = value.split_once(' ').ok_or(AuthError::Invalid(
                "use `Authorization: Bearer <token>`".into(),
            ))?;
            if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
                return Err(AuthError::Invalid(
                    "use `Authorization: Bearer <token>`".into(),
                ));
            }
            Ok(Some(token.trim()))
        }
    }
}

impl Auth {
    pub fn from_settings(settings: &Settings) -> Result<Auth, String> {
        // The development secret counts only in development mode (configuration refuses
        // it otherwise), and only for a kind of token with no real verifier configured:
        // a configured staff verifier is never bypassed by it.
        let dev = settings
            .dev_token_secret
            .as_ref()
            .filter(|_| settings.dev_mode);
        let identity = match (&settings.identity_tokens, dev) {
            (Some(tokens), _) => Some(JwtVerifier::from_settings(tokens)?),
            (None, Some(secret)) => Some(JwtVerifier::development(secret, DEV_IDENTITY_AUDIENCE)),
            (None, None) => None,
        };
        let staff = match (&settings.staff_tokens, dev) {
            (Some(tokens), _) => Some(JwtVerifier::from_settings(tokens)?),
            (None, Some(secret)) => Some(JwtVerifier::development(secret, DEV_STAFF_AUDIENCE)),
            (None, None) => None,
        };
        Ok(Auth {
            identity,
            staff,
            server_keys: settings.server_api_keys.clone(),
        })
    }

    /// The customer id a bearer identity token vouches for.
    pub fn customer(&self, token: &str) -> Result<String, AuthError> {
        let verifier = self
            .identity
            .as_ref()
            .ok_or(AuthError::NotConfigured("identity"))?;
        let claims: IdentityClaims = verifier.verify(token)?;
        Ok(claims.sub)
    }

    /// The server key's index, if `key` is one of ours (compared in constant time).
    pub fn server_key(&self, key: &str) -> Option<usize> {
        self.server_keys
            .iter()
            .position(|k| constant_time_eq::constant_time_eq(k.expose().as_bytes(), key.as_bytes()))
    }

    /// A staff token from the `Authorization` header.
    pub fn staff(&self, authorization: Option<&str>) -> Result<StaffClaims, AuthError> {
        let token = bearer(authorization)?.ok_or(AuthError::Missing(
            "this endpoint needs a staff token: Authorization: Bearer <token>",
        ))?;
        let verifier = self
            .staff
            .as_ref()
            .ok_or(AuthError::NotConfigured("staff"))?;
        verifier.verify(token)
    }

    /// A staff token holding one of `roles`.
    pub fn staff_with_role(
        &self,
        authorization: Option<&str>,
        roles: &[&str],
    ) -> Result<StaffClaims, AuthError> {
        let claims = self.staff(authorization)?;
        if roles.iter().any(|r| claims.has_role(r)) {
            Ok(claims)
        } else {
            Err(AuthError::Forbidden(format!(
                "this needs the role {}",
                roles.join(" or ")
            )))
        }
    }

    /// A server key (`X-Api-Key`) or a staff token with `scope` or one of `roles`.
    pub fn server_or_staff(
        &self,
        api_key: Option<&str>,
        authorization: Option<&str>,
        scope: &str,
        roles: &[&str],
    ) -> Result<Caller, AuthError> {
        if let Some(key) = api_key {
            return self
                .server_key(key)
                .map(Caller::ServerKey)
                .ok_or(AuthError::Invalid(
                    "the X-Api-Key is not one of ours".into(),
                ));
        }
        if authorization.is_none() {
            return Err(AuthError::Missing(
                "this endpoint needs a server key (X-Api-Key) or a staff token",
            ));
        }
        let claims = self.staff(authorization)?;
        if claims.has_scope(scope) || roles.iter().any(|r| claims.has_role(r)) {
            Ok(Caller::Staff(claims))
        } else {
            Err(AuthError::Forbidden(format!(
                "this needs the `{scope}` scope or a server key"
            )))
        }
    }
}

/// Mints a development token (`tailor token`): HS256 with the development secret.
pub fn mint_development(
    secret: &Secret,
    subject: &str,
    staff: Option<(&[String], &str)>,
    ttl_secs: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let iat = chrono::Utc::now().timestamp().max(0) as u64;
    let exp = iat.saturating_add(ttl_secs);
    let key = EncodingKey::from_secret(secret.expose().as_bytes());
    let header = Header::new(Algorithm::HS256);
    match staff {
        Some((roles, scope)) => jsonwebtoken::encode(
            &header,
            &Minted {
                iat,
                claims: &StaffClaims {
                    sub: subject.into(),
                    roles: roles.to_vec(),
                    scope: scope.into(),
                    iss: DEV_ISSUER.into(),
                    aud: Audience::One(DEV_STAFF_AUDIENCE.into()),
                    exp,
                },
            },
            &key,
        ),
        None => jsonwebtoken::encode(
            &header,
            &Minted {
                iat,
                claims: &IdentityClaims {
                    sub: subject.into(),
                    iss: DEV_ISSUER.into(),
                    aud: Audience::One(DEV_IDENTITY_AUDIENCE.into()),
                    exp,
                },
            },
            &key,
        ),
    }
}

/// Unknown roles named on the command line (a typo would mint a useless token).
pub fn unknown_roles(roles: &[String]) -> Vec<&str> {
    let known: HashSet<&str> = ROLES.into_iter().collect();
    roles
        .iter()
        .map(String::as_str)
        .filter(|r| !known.contains(r))
        .collect()
}

/// How records (versions, audit, decisions, erasures) name a member of staff: the
/// subject, bounded to fit the columns that hold it.
fn staff_actor(subject: &str) -> String {
    let subject: String = subject.chars().take(160).collect();
    format!("staff:{subject}")
}

/// A verified staff token holding one of `R`'s roles: the extractor every staff route
/// takes, so the roles a route needs are in its handler's signature. `401` without a
/// valid token, `403` without the role (both problem+json).
pub struct StaffUser<R: Roles = AnyStaff> {
    claims: StaffClaims,
    accepted: std::marker::PhantomData<R>,
}

impl<R: Roles> StaffUser<R> {
    /// Checks `authorization` against `auth` (what the extractor does).
    pub fn verify(auth: &Auth, authorization: Option<&str>) -> Result<StaffUser<R>, AuthError> {
        let claims = if R::ACCEPTED.is_empty() {
            auth.staff(authorization)?
        } else {
            let names: Vec<&str> = R::ACCEPTED.iter().map(|r| r.as_str()).collect();
            auth.staff_with_role(authorization, &names)?
        };
        Ok(StaffUser {
            claims,
            accepted: std::marker::PhantomData,
        })
    }

    /// The request's staff token, checked as the extractor checks it: for handlers that
    /// must answer something else (an unknown verb) before the token is looked at.
    pub fn of(req: &actix_web::HttpRequest) -> Result<StaffUser<R>, crate::problem::Problem> {
        let authorization = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        match req.app_data::<actix_web::web::Data<Auth>>() {
            Some(auth) => StaffUser::verify(auth, authorization).map_err(Into::into),
            None => Err(crate::problem::Problem::internal(&std::io::Error::other(
                "the staff extractor has no Auth registered",
            ))),
        }
    }

    /// How records (audit, decisions, erasures) name this caller: `staff:<sub>`.
    pub fn actor(&self) -> String {
        staff_actor(&self.claims.sub)
    }

    /// The token's subject.
    pub fn subject(&self) -> &str {
        &self.claims.sub
    }

    /// Whether the token also holds `role` (for checks that depend on the request).
    pub fn has(&self, role: Role) -> bool {
        self.claims.has(role)
    }

    /// A further check for routes whose roles depend on the request (a workflow step's
    /// verb): `403` naming the roles unless the token holds one of `accepted`.
    pub fn require(&self, accepted: &[Role]) -> Result<(), AuthError> {
        if accepted.iter().any(|r| self.claims.has(*r)) {
            return Ok(());
        }
        let names: Vec<&str> = accepted.iter().map(|r| r.as_str()).collect();
        Err(AuthError::Forbidden(format!(
            "this needs the role {}",
            names.join(" or ")
        )))
    }

    pub fn claims(&self) -> &StaffClaims {
        &self.claims
    }
}

impl<R: Roles> std::ops::Deref for StaffUser<R> {
    type Target = StaffClaims;
    fn deref(&self) -> &StaffClaims {
        &self.claims
    }
}

impl<R: Roles> actix_web::FromRequest for StaffUser<R> {
    type Error = crate::problem::Problem;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        std::future::ready(StaffUser::of(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> (Secret, Auth) {
        let secret = Secret::new("development-secret-0123456789abcdef");
        let settings = Settings {
            dev_token_secret: Some(secret.clone()),
            dev_mode: true,
            server_api_keys: vec![Secret::new("server-key-aaaaaaaaaaaaaaaaaaaa")],
            ..Settings::default()
        };
        let auth = Auth::from_settings(&settings).expect("auth");
        (secret, auth)
    }

    role_set!(Editors = Publisher, Admin);

    #[test]
    fn a_staff_user_holds_one_of_the_routes_roles_and_is_named_one_way() {
        let (secret, auth) = dev();
        let bearer = |subject: &str, roles: &[&str]| {
            let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
            let token = mint_development(&secret, subject, Some((&roles, "")), 60).expect("mint");
            format!("Bearer {token}")
        };
        let admin = StaffUser::<Editors>::verify(&auth, Some(&bearer("ana", &["admin"])))
            .expect("admin is an editor");
        assert_eq!(admin.actor(), "staff:ana");
        assert!(admin.has(Role::Admin) && !admin.has(Role::Publisher));
        assert_eq!(
            admin.require(&[Role::Privacy, Role::Marketer]),
            Err(AuthError::Forbidden(
                "this needs the role privacy or marketer".into()
            ))
        );
        assert_eq!(
            StaffUser::<Editors>::verify(&auth, Some(&bearer("bo", &["marketer"]))).err(),
            Some(AuthError::Forbidden(
                "this needs the role publisher or admin".into()
            ))
        );
        assert!(matches!(
            StaffUser::<Editors>::verify(&auth, None),
            Err(AuthError::Missing(_))
        ));
        // Records bound the subject; every area names staff the same way.
        let long = "x".repeat(500);
        let user = StaffUser::<AnyStaff>::verify(&auth, Some(&bearer(&long, &["analyst"])))
            .expect("any role");
        assert_eq!(user.actor().len(), "staff:".len() + 160);
        assert_eq!(user.actor(), user.claims().actor());
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(ROLES.len(), Role::ALL.len());
    }

    #[test]
    fn development_tokens_verify_and_carry_roles() {
        let (secret, auth) = dev();
        let roles = vec!["privacy".to_string()];
        let token = mint_development(&secret, "ana", Some((&roles, "identify")), 60).expect("mint");
        let claims = auth.staff(Some(&format!("Bearer {token}"))).expect("valid");
        assert!(claims.has_role("privacy") && claims.has_scope("identify"));
        assert!(matches!(
            auth.staff_with_role(Some(&format!("Bearer {token}")), &["admin"]),
            Err(AuthError::Forbidden(_))
        ));
        // A staff token is not an identity token (audiences differ) and vice versa.
        assert!(auth.customer(&token).is_err());
        let identity = mint_development(&secret, "C-1", None, 60).expect("mint");
        assert_eq!(auth.customer(&identity), Ok("C-1".to_string()));
        assert!(auth.staff(Some(&format!("Bearer {identity}"))).is_err());
    }

    #[test]
    fn bad_tokens_are_refused_with_a_reason() {
        let (_, auth) = dev();
        let other = Secret::new("some-other-secret-0123456789abcdef");
        let forged = mint_development(&other, "C-1", None, 60).expect("mint");
        assert!(matches!(auth.customer(&forged), Err(AuthError::Invalid(_))));
        assert!(matches!(
            auth.customer("not-a-jwt"),
            Err(AuthError::Invalid(_))
        ));
        let (secret, _) = dev();
        let expired = {
            let key = EncodingKey::from_secret(secret.expose().as_bytes());
            let claims = IdentityClaims {
                sub: "C-1".into(),
                iss: DEV_ISSUER.into(),
                aud: Audience::One(DEV_IDENTITY_AUDIENCE.into()),
                exp: 1_000_000,
            };
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).expect("mint")
        };
        assert_eq!(auth.customer(&expired), Err(AuthError::Expired));
        // `alg: none` and algorithms not configured are refused before any key is tried.
        let none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJDLTEifQ.";
        assert!(auth.customer(none).is_err());
        assert_eq!(auth.server_key("server-key-aaaaaaaaaaaaaaaaaaaa"), Some(0));
        assert_eq!(auth.server_key("server-key-aaaaaaaaaaaaaaaaaaab"), None);
        assert!(bearer(Some("Basic abc")).is_err());
    }

    fn fixture(name: &str) -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
    }

    fn settings(algorithms: &[&str]) -> TokenSettings {
        TokenSettings {
            issuer: "https://idp.example".into(),
            audience: "tailor".into(),
            algorithms: algorithms.iter().map(|a| a.to_string()).collect(),
            key_file: None,
            jwks_file: None,
            hs256_secret: None,
            leeway_secs: 0,
            max_token_age_secs: 3600,
        }
    }

    fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey) -> String {
        sign_issued(alg, kid, key, Some(0))
    }

    /// A token issued `ago` seconds ago (`None`: without `iat`), expiring in a minute.
    fn sign_issued(
        alg: Algorithm,
        kid: Option<&str>,
        key: &EncodingKey,
        ago: Option<i64>,
    ) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_string);
        let now = chrono::Utc::now().timestamp();
        let claims = IdentityClaims {
            sub: "C-1".into(),
            iss: "https://idp.example".into(),
            aud: Audience::Many(vec!["other-api".into(), "tailor".into()]),
            exp: now as u64 + 60,
        };
        match ago {
            Some(ago) => jsonwebtoken::encode(
                &header,
                &Minted {
                    iat: (now - ago) as u64,
                    claims: &claims,
                },
                key,
            ),
            None => jsonwebtoken::encode(&header, &claims, key),
        }
        .expect("sign")
    }

    #[test]
    fn a_token_needs_an_issue_time_within_its_maximum_age() {
        let secret = "hmac-secret-0123456789abcdef-0123456789";
        let verifier = JwtVerifier::from_settings(&TokenSettings {
            hs256_secret: Some(Secret::new(secret)),
            leeway_secs: 10,
            ..settings(&["HS256"])
        })
        .expect("verifier");
        let key = EncodingKey::from_secret(secret.as_bytes());
        let verify = |ago| {
            verifier
                .verify::<IdentityClaims>(&sign_issued(Algorithm::HS256, None, &key, ago))
                .map(|c| c.sub)
        };
        assert!(verify(Some(0)).is_ok());
        assert!(verify(Some(3600)).is_ok(), "at the maximum age");
        assert!(verify(Some(3600 + 10)).is_ok(), "within the leeway");
        assert_eq!(
            verify(Some(3600 + 11)),
            Err(AuthError::Invalid(
                "it is older than the 3600 s a token may be (iat)".into()
            ))
        );
        assert_eq!(
            verify(None),
            Err(AuthError::Invalid("the `iat` claim is missing".into()))
        );
        assert_eq!(
            verify(Some(-11)),
            Err(AuthError::Invalid(
                "it was issued in the future (iat)".into()
            ))
        );
    }

    #[test]
    fn development_tokens_count_only_in_development_mode() {
        let secret = Secret::new("development-secret-0123456789abcdef");
        let production = Settings {
            dev_token_secret: Some(secret.clone()),
            ..Settings::default()
        };
        let staff =
            mint_development(&secret, "ana", Some((&["admin".to_string()], "")), 60).expect("mint");
        let header = format!("Bearer {staff}");
        let auth = Auth::from_settings(&production).expect("auth");
        assert_eq!(
            auth.staff(Some(&header)).map(|_| ()),
            Err(AuthError::NotConfigured("staff"))
        );
        assert!(production.validate().is_err(), "refused at start-up");

        // With a real staff verifier, development mode leaves staff tokens to it.
        let real = Settings {
            dev_mode: true,
            staff_tokens: Some(TokenSettings {
                hs256_secret: Some(Secret::new("the-real-staff-secret-0123456789abcdef")),
                ..settings(&["HS256"])
            }),
            ..production.clone()
        };
        let auth = Auth::from_settings(&real).expect("auth");
        assert!(auth.staff(Some(&header)).is_err());
        assert!(auth
            .customer(&mint_development(&secret, "C-1", None, 60).expect("mint"))
            .is_ok());
    }

    #[test]
    fn jwks_and_pem_keys_verify_only_their_own_algorithms() {
        let rsa_private = std::fs::read(fixture("idp-rs256.key.pem")).expect("fixture");
        let rsa = EncodingKey::from_rsa_pem(&rsa_private).expect("rsa key");
        let ec_private = std::fs::read(fixture("idp-es256.pk8.pem")).expect("fixture");
        let ec = EncodingKey::from_ec_pem(&ec_private).expect("ec key");

        // HS256 is accepted in principle, but the JWKS has no HMAC key: the algorithm's
        // family must match a key's, so an RSA public key is never used as an HMAC secret.
        let jwks = JwtVerifier::from_settings(&TokenSettings {
            jwks_file: Some(fixture("idp-jwks.json")),
            ..settings(&["RS256", "ES256", "HS256"])
        })
        .expect("jwks verifier");
        let ok = |token: &str| jwks.verify::<IdentityClaims>(token).map(|c| c.sub);
        assert_eq!(
            ok(&sign(Algorithm::RS256, Some("rsa-1"), &rsa)),
            Ok("C-1".into())
        );
        assert_eq!(
            ok(&sign(Algorithm::ES256, Some("ec-1"), &ec)),
            Ok("C-1".into())
        );
        assert!(ok(&sign(Algorithm::RS256, Some("unknown-kid"), &rsa)).is_err());
        assert_eq!(
            ok(&sign(Algorithm::RS256, None, &rsa)),
            Ok("C-1".into()),
            "no kid"
        );
        // Algorithm confusion: an HS256 token keyed with the public key is refused.
        let public = std::fs::read(fixture("idp-rs256.pub.pem")).expect("fixture");
        let confused = sign(Algorithm::HS256, None, &EncodingKey::from_secret(&public));
        assert!(matches!(ok(&confused), Err(AuthError::Invalid(_))));

        let pem = JwtVerifier::from_settings(&TokenSettings {
            key_file: Some(fixture("idp-rs256.pub.pem")),
            ..settings(&["RS256"])
        })
        .expect("pem verifier");
        assert!(pem
            .verify::<IdentityClaims>(&sign(Algorithm::RS256, None, &rsa))
            .is_ok());
        assert!(pem
            .verify::<IdentityClaims>(&sign(Algorithm::ES256, None, &ec))
            .is_err());
    }

    #[test]
    fn token_settings_are_validated() {
        let hs = |secret: &str, leeway: u64, age: u64| {
            JwtVerifier::from_settings(&TokenSettings {
                hs256_secret: Some(Secret::new(secret)),
                leeway_secs: leeway,
                max_token_age_secs: age,
                ..settings(&["HS256"])
            })
            .map(|_| ())
        };
        let long = "0123456789abcdef0123456789abcdef";
        assert_eq!(hs(long, 300, 60), Ok(()));
        assert_eq!(
            hs(&long[1..], 0, 3600),
            Err("hs256_secret must be at least 32 bytes".into())
        );
        assert_eq!(
            hs(long, 301, 3600),
            Err("leeway_secs must be at most 300".into())
        );
        assert!(hs(long, 0, 59).is_err());
        assert!(hs(long, 0, 30 * 86_400 + 1).is_err());
        assert!(
            JwtVerifier::from_settings(&settings(&["RS256"])).is_err(),
            "no key"
        );
        assert!(JwtVerifier::from_settings(&TokenSettings {
            key_file: Some(fixture("idp-rs256.pub.pem")),
            hs256_secret: Some(Secret::new("another-secret-0123456789abcdef-01")),
            ..settings(&["RS256"])
        })
        .is_err());
        assert!(JwtVerifier::from_settings(&TokenSettings {
            key_file: Some(fixture("idp-rs256.pub.pem")),
            ..settings(&["XX999"])
        })
        .is_err());
        assert!(JwtVerifier::from_settings(&TokenSettings {
            key_file: Some(fixture("missing.pem")),
            ..settings(&["RS256"])
        })
        .is_err());
    }
}
