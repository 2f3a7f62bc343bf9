//! Resolving a request's context: channel, device class, locale chain, country, the
//! person or their cohort, and explicit trait values. Explicit parameters win over
//! headers. The resolver records which headers it read, which becomes `Vary`.
//!
//! Plain inputs ([`RawRequest`]) so it is tested without HTTP.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use unic_langid::LanguageIdentifier;

use crate::catalog::model::{DeviceClass, TraitType};
use crate::catalog::rules::{temporal_value, Attr, RuleInput, Value};
use crate::catalog::Catalog;
use crate::decide::DecisionInput;
use crate::identity::Person;
use crate::l10n::Chain;
use crate::problem::{Problem, ProblemType};
use crate::tokens::{CohortClaims, Signer, TokenError};

/// The request as the resolver sees it.
#[derive(Default, Clone, Copy)]
pub struct RawRequest<'a> {
    pub query: &'a str,
    pub accept_language: Option<&'a str>,
    pub ch_ua_mobile: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub anonymous_id: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub api_key: Option<&'a str>,
}

/// Request headers the answer was derived from (for `Vary`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeadersRead {
    pub accept_language: bool,
    pub ch_ua_mobile: bool,
    pub user_agent: bool,
    pub anonymous_id: bool,
    pub authorization: bool,
}

/// Every `Vary` value, built once: answers pick one by index, without allocating.
static VARY_VALUES: std::sync::LazyLock<Vec<String>> = std::sync::LazyLock::new(|| {
    const NAMES: [&str; 5] = [
        "Accept-Language",
        "Sec-CH-UA-Mobile",
        "User-Agent",
        "X-Anonymous-Id",
        "Authorization",
    ];
    (0..1usize << NAMES.len())
        .map(|bits| {
            NAMES
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, name)| *name)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .collect()
});

impl HeadersRead {
    pub fn vary(self) -> &'static str {
        let index = usize::from(self.accept_language)
            | usize::from(self.ch_ua_mobile) << 1
            | usize::from(self.user_agent) << 2
            | usize::from(self.anonymous_id) << 3
            | usize::from(self.authorization) << 4;
        VARY_VALUES[index].as_str()
    }
}

/// Query parameters of the content endpoints.
#[derive(Debug, Default)]
pub struct Params<'a> {
    pub channel: Option<std::borrow::Cow<'a, str>>,
    pub device: Option<std::borrow::Cow<'a, str>>,
    pub locale: Option<std::borrow::Cow<'a, str>>,
    pub country: Option<std::borrow::Cow<'a, str>>,
    pub anonymous_id: Option<std::borrow::Cow<'a, str>>,
    pub cohort: Option<std::borrow::Cow<'a, str>>,
    pub placements: Option<std::borrow::Cow<'a, str>>,
    pub traits: Vec<(std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
    pub person_id: Option<std::borrow::Cow<'a, str>>,
    /// `id.<type>=<value>`: a person named by a server (needs `X-Api-Key`).
    pub identifiers: Vec<(std::borrow::Cow<'a, str>, std::borrow::Cow<'a, str>)>,
}

impl<'a> Params<'a> {
    /// How these parameters and the request's headers name a person.
    pub fn naming(&'a self, raw: &RawRequest<'a>) -> crate::identity::Naming<'a> {
        crate::identity::Naming {
            authorization: raw.authorization,
            api_key: raw.api_key,
            anonymous_id: match (self.anonymous_id.as_deref(), raw.anonymous_id) {
                (Some(id), _) => Some((id, "anonymous_id")),
                (None, Some(id)) => Some((id, "X-Anonymous-Id")),
                (None, None) => None,
            },
            person_id: self.person_id.as_deref(),
            identifiers: &self.identifiers,
        }
    }
}

/// The query's parameters. Each of ours may be given once: a repeated one (say
/// `placements=a&placements=b`) is refused rather than silently cut to its last value.
pub fn parse_params(query: &str) -> Result<Params<'_>, Problem> {
    fn once<'a>(
        slot: &mut Option<std::borrow::Cow<'a, str>>,
        value: std::borrow::Cow<'a, str>,
        name: &str,
    ) -> Result<(), Problem> {
        if slot.is_some() {
            let hint = if name == "placements" {
                ": list them in one, placements=a,b"
            } else {
                ""
            };
            return Err(invalid(name, format!("give this parameter once{hint}")));
        }
        *slot = Some(value);
        Ok(())
    }
    let mut params = Params::default();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "channel" => once(&mut params.channel, value, "channel")?,
            "device" => once(&mut params.device, value, "device")?,
            "locale" => once(&mut params.locale, value, "locale")?,
            "country" => once(&mut params.country, value, "country")?,
            "anonymous_id" => once(&mut params.anonymous_id, value, "anonymous_id")?,
            "cohort" => once(&mut params.cohort, value, "cohort")?,
            "placements" => once(&mut params.placements, value, "placements")?,
            "person_id" => once(&mut params.person_id, value, "person_id")?,
            _ => {
                // Other parameters (utm_*, cache busters) are not ours: ignored.
                let Some((is_trait, name_len)) =
                    prefixed(&key).map(|(prefix, name)| (prefix == "t", name.len()))
                else {
                    continue;
                };
                let name = match key {
                    std::borrow::Cow::Borrowed(k) => {
                        std::borrow::Cow::Borrowed(&k[k.len() - name_len..])
                    }
                    std::borrow::Cow::Owned(k) => {
                        std::borrow::Cow::Owned(k[k.len() - name_len..].to_string())
                    }
                };
                if is_trait {
                    params.traits.push((name, value));
                } else {
                    params.identifiers.push((name, value));
                }
            }
        }
    }
    Ok(params)
}

/// `t.<name>` and `id.<name>` parameters: the prefix and the name.
fn prefixed(key: &str) -> Option<(&str, &str)> {
    let (prefix, name) = key.split_once('.')?;
    matches!(prefix, "t" | "id").then_some((prefix, name))
}

/// Everything selection and rendering see.
pub struct RequestContext {
    pub channel: usize,
    pub device: DeviceClass,
    pub chain: Arc<Chain>,
    pub country: Option<Box<str>>,
    pub person: Option<Person>,
    pub cohort: Option<CohortClaims>,
    /// Trait values by trait index (explicit `t.<trait>` parameters for now).
    pub traits: Vec<Option<Value>>,
    pub segments: Vec<Box<str>>,
    pub headers_read: HeadersRead,
    pub now: DateTime<Utc>,
}

impl RequestContext {
    /// The sticky bucket: the cohort's, else the person's.
    pub fn bucket(&self) -> Option<u16> {
        match (&self.cohort, &self.person) {
            (Some(cohort), _) => Some(cohort.b),
            (None, Some(person)) => Some(person.bucket()),
            (None, None) => None,
        }
    }

    pub fn has_traits(&self) -> bool {
        self.traits.iter().any(Option::is_some)
    }

    /// What selection needs to know about this request.
    pub fn decision_input<'a>(&'a self, attributes: &'a Attributes<'a>) -> DecisionInput<'a> {
        DecisionInput {
            channel: self.channel,
            device: self.device,
            now: self.now,
            attributes,
            bucket: self.bucket(),
            has_traits: self.has_traits(),
            bucket_from_person: self.cohort.is_none() && self.person.is_some(),
            // Without a cohort key, segments come from the verified person's traits.
            segments_from_person: self.cohort.is_none()
                && self.person.as_ref().is_some_and(|p| p.verified),
        }
    }
}

/// Rule attributes over a resolved context.
pub struct Attributes<'a> {
    pub context: &'a RequestContext,
    pub catalog: &'a Catalog,
}

impl RuleInput for Attributes<'_> {
    fn value(&self, attr: Attr) -> Option<Value> {
        let ctx = self.context;
        let locale = || self.catalog.l10n.locale_name(ctx.chain.primary());
        match attr {
            Attr::Channel => Some(Value::Text(
                self.catalog.channels[ctx.channel].id.as_ref().into(),
            )),
            Attr::Device => Some(Value::Text(ctx.device.as_str().into())),
            Attr::Locale => Some(Value::Text(locale().as_ref().into())),
            Attr::Language => Some(Value::Text(
                locale().split('-').next().unwrap_or_default().into(),
            )),
            Attr::Country => ctx.country.clone().map(Value::Text),
            Attr::Bucket => ctx.bucket().map(|b| Value::Number(f64::from(b))),
            Attr::Trait(index) => ctx.traits.get(index).cloned().flatten(),
            Attr::Segments => None,
            _ => temporal_value(attr, ctx.now),
        }
    }

    fn segments(&self) -> &[Box<str>] {
        &self.context.segments
    }
}

/// How much of `Accept-Language` is read. Browsers list languages in preference order
/// and some send long lists: the ranges past this are ignored, not refused (and never
/// become a cache key).
pub const ACCEPT_LANGUAGE_READ: usize = 512;

/// The whole ranges within the first [`ACCEPT_LANGUAGE_READ`] bytes of the header.
pub fn first_ranges(header: &str) -> &str {
    if header.len() <= ACCEPT_LANGUAGE_READ {
        return header;
    }
    // A comma is one byte, so the cut is always on a character boundary.
    let within = &header.as_bytes()[..ACCEPT_LANGUAGE_READ];
    match within.iter().rposition(|b| *b == b',') {
        Some(comma) => &header[..comma],
        None => "",
    }
}

/// `Accept-Language` in preference order: by q-value (stable for ties), without
/// `q=0` ranges and the `*` wildcard, unparseable tags skipped.
pub fn parse_accept_language(header: &str) -> Vec<LanguageIdentifier> {
    let mut ranked: Vec<(u16, LanguageIdentifier)> = header
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let tag = parts.next()?.trim();
            let q = parts
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .map(|q| q.trim().parse::<f32>().unwrap_or(0.0))
                })
                .unwrap_or(1.0);
            if tag == "*" || tag.is_empty() || q <= 0.0 {
                return None;
            }
            let id = tag.parse::<LanguageIdentifier>().ok()?;
            Some(((q.min(1.0) * 1000.0) as u16, id))
        })
        .take(20)
        .collect();
    ranked.sort_by_key(|(q, _)| std::cmp::Reverse(*q));
    ranked.into_iter().map(|(_, id)| id).collect()
}

/// Classifies a User-Agent string. Order matters: TVs and tablets also say "Android".
pub fn device_from_user_agent(ua: &str) -> DeviceClass {
    let has = |needle: &str| ua.contains(needle);
    let tv = [
        "SmartTV",
        "SMART-TV",
        "AppleTV",
        "CrKey",
        "Roku",
        "HbbTV",
        "BRAVIA",
        "GoogleTV",
        "Android TV",
        "AFTS",
    ];
    if tv.iter().any(|marker| has(marker)) {
        DeviceClass::Tv
    } else if has("iPad") || has("Tablet") || (has("Android") && !has("Mobile")) {
        DeviceClass::Tablet
    } else if has("Watch") || has("Wear OS") {
        DeviceClass::Wearable
    } else if has("Alexa") || has("AlexaMediaPlayer") {
        DeviceClass::Voice
    } else if has("Mobi") || has("iPhone") || has("Android") {
        DeviceClass::Mobile
    } else if has("Windows NT") || has("Macintosh") || has("X11") || has("CrOS") {
        DeviceClass::Desktop
    } else {
        DeviceClass::Unknown
    }
}

fn invalid(field: &str, detail: impl Into<String>) -> Problem {
    Problem::invalid(field, detail)
}

/// Resolves the context for content and cohort requests. `person` is who the request
/// named, already resolved (see [`crate::identity::claim`]).
/// The request's context: channel, device, locale chain, country, cohort, person and
/// traits, each checked (a bad value is a `400` naming its parameter). Notes which
/// headers were read, for `Vary`.
pub fn resolve(
    raw: &RawRequest,
    params: &Params,
    catalog: &Catalog,
    signer: &Signer,
    now: DateTime<Utc>,
    person: Option<Person>,
) -> Result<RequestContext, Problem> {
    let mut headers_read = HeadersRead {
        // Whether a token came changes who the person is, present or not.
        authorization: true,
        ..HeadersRead::default()
    };
    let channel = channel_of(params, catalog)?;
    let device = device_of(raw, params, &mut headers_read)?;
    let chain = chain_of(raw, params, catalog, &mut headers_read)?;
    let country = country_of(params)?;
    let cohort = cohort_of(params, signer)?;

    // With a cohort key an anonymous person is not needed for the choice, so the
    // header is not read; a verified person still is (their traits render, their
    // consents apply).
    let person = match person {
        Some(p) if cohort.is_some() && !p.verified => None,
        other => other,
    };
    if cohort.is_none() {
        // Without the parameter the header is consulted, present or not.
        headers_read.anonymous_id = params.anonymous_id.is_none();
    }
    let mut traits = match person.as_ref().and_then(Person::traits) {
        Some(stored) => catalog.person_traits(stored),
        None => vec![None; catalog.traits.len()],
    };
    apply_trait_params(params, catalog, &mut traits)?;

    // Segments come from a cohort key or from a verified person's stored traits, never
    // from `t.*` parameters: anyone can send those.
    let segments = match (&cohort, person.as_ref().and_then(Person::traits)) {
        (Some(c), _) => c.s.iter().map(|s| s.as_str().into()).collect(),
        (None, Some(stored)) => catalog.segments_of(&catalog.person_traits(stored)),
        (None, None) => Vec::new(),
    };

    Ok(RequestContext {
        channel,
        device,
        chain,
        country,
        person,
        cohort,
        traits,
        segments,
        headers_read,
        now,
    })
}

/// The channel (default `web`); a retired channel is a `410`.
fn channel_of(params: &Params, catalog: &Catalog) -> Result<usize, Problem> {
    let channel_name = params.channel.as_deref().unwrap_or("web");
    let (channel, channel_def) = catalog.channel(channel_name).ok_or_else(|| {
        invalid(
            "channel",
            format!(
                "unknown channel `{channel_name}`; known: {}",
                catalog.channel_ids().join(", ")
            ),
        )
    })?;
    if !channel_def.serves() {
        return Err(Problem::new(
            ProblemType::ChannelRetired,
            format!("channel `{channel_name}` has been retired and no longer serves content"),
        )
        .with_field("channel"));
    }
    Ok(channel)
}

/// The device class: the parameter, else the client hint, else the User-Agent.
fn device_of(
    raw: &RawRequest,
    params: &Params,
    headers_read: &mut HeadersRead,
) -> Result<DeviceClass, Problem> {
    Ok(match params.device.as_deref() {
        Some(value) => DeviceClass::parse(value).ok_or_else(|| {
            invalid(
                "device",
                format!(
                    "unknown device class `{value}`; one of {}",
                    DeviceClass::ALL.map(DeviceClass::as_str).join(", ")
                ),
            )
        })?,
        // Absent headers count as read: the answer depends on their absence too.
        None => {
            headers_read.ch_ua_mobile = true;
            match raw.ch_ua_mobile {
                Some("?1") => DeviceClass::Mobile,
                hint => {
                    headers_read.user_agent = true;
                    match (raw.user_agent.map(device_from_user_agent), hint) {
                        // "Not mobile" from the hint beats a UA that says otherwise.
                        (Some(DeviceClass::Mobile), Some("?0")) => DeviceClass::Desktop,
                        (Some(device), _) => device,
                        (None, Some("?0")) => DeviceClass::Desktop,
                        (None, _) => DeviceClass::Unknown,
                    }
                }
            }
        }
    })
}

/// The locale chain: the `locale` parameter, else `Accept-Language`; negotiated once
/// per distinct value (the catalog keeps the answers).
fn chain_of(
    raw: &RawRequest,
    params: &Params,
    catalog: &Catalog,
    headers_read: &mut HeadersRead,
) -> Result<Arc<Chain>, Problem> {
    Ok(match params.locale.as_deref() {
        Some(list) => match catalog.negotiated_param.get(list) {
            Some(chain) => chain,
            None => {
                let mut requested = Vec::new();
                for tag in list.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    let id: LanguageIdentifier = tag.parse().map_err(|_| {
                        invalid("locale", format!("`{tag}` is not a BCP 47 language tag"))
                    })?;
                    requested.push(id);
                }
                if requested.is_empty() || requested.len() > 10 {
                    return Err(invalid(
                        "locale",
                        "give 1 to 10 comma-separated language tags",
                    ));
                }
                let chain = Arc::new(catalog.l10n.negotiate(&requested));
                catalog
                    .negotiated_param
                    .insert(list.to_string(), chain.clone());
                chain
            }
        },
        None => {
            let header = first_ranges(raw.accept_language.unwrap_or(""));
            headers_read.accept_language = true;
            match catalog.negotiated_header.get(header) {
                Some(chain) => chain,
                None => {
                    let requested = parse_accept_language(header);
                    let chain = Arc::new(catalog.l10n.negotiate(&requested));
                    catalog
                        .negotiated_header
                        .insert(header.to_string(), chain.clone());
                    chain
                }
            }
        }
    })
}

fn country_of(params: &Params) -> Result<Option<Box<str>>, Problem> {
    Ok(match params.country.as_deref() {
        Some(c) if c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Some(c.to_ascii_uppercase().into())
        }
        Some(c) => {
            return Err(invalid(
                "country",
                format!("`{c}` is not an ISO 3166-1 alpha-2 code"),
            ))
        }
        None => None,
    })
}

/// The cohort key, verified: one Tailor signed, not expired.
fn cohort_of(params: &Params, signer: &Signer) -> Result<Option<CohortClaims>, Problem> {
    Ok(match params.cohort.as_deref() {
        Some(key) => Some(signer.verify_cohort(key).map_err(|e| {
            let detail = match e {
                TokenError::Expired => {
                    "the cohort key has expired; ask GET /v1/context for a new one".to_string()
                }
                TokenError::Invalid(_) => "the cohort key is not one Tailor signed".to_string(),
            };
            Problem::new(ProblemType::InvalidCohort, detail).with_field("cohort")
        })?),
        None => None,
    })
}

/// `t.<name>=<value>` parameters over the stored traits, each checked against its type.
fn apply_trait_params(
    params: &Params,
    catalog: &Catalog,
    traits: &mut [Option<Value>],
) -> Result<(), Problem> {
    for (name, value) in &params.traits {
        let field = format!("t.{name}");
        let (index, def) = catalog
            .trait_def(name)
            .ok_or_else(|| invalid(&field, format!("unknown trait `{name}`")))?;
        if value.chars().count() > 200 {
            return Err(invalid(&field, "trait values are at most 200 characters"));
        }
        traits[index] = Some(match def.kind {
            TraitType::String => Value::Text(value.as_ref().into()),
            TraitType::Number => match value.parse::<f64>() {
                Ok(n) if n.is_finite() => Value::Number(n),
                _ => return Err(invalid(&field, format!("`{value}` is not a number"))),
            },
            TraitType::Bool => match value.as_ref() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(invalid(&field, "must be true or false")),
            },
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agents() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148";
        let ipad = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15";
        let android_tablet =
            "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 Chrome/120 Safari/537.36";
        let android_phone = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/120 Mobile Safari/537.36";
        let mac =
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 Safari/605.1.15";
        let tv = "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36";
        assert_eq!(device_from_user_agent(iphone), DeviceClass::Mobile);
        assert_eq!(device_from_user_agent(ipad), DeviceClass::Tablet);
        assert_eq!(device_from_user_agent(android_tablet), DeviceClass::Tablet);
        assert_eq!(device_from_user_agent(android_phone), DeviceClass::Mobile);
        assert_eq!(device_from_user_agent(mac), DeviceClass::Desktop);
        assert_eq!(device_from_user_agent(tv), DeviceClass::Tv);
        assert_eq!(device_from_user_agent("curl/8.0"), DeviceClass::Unknown);
        let android_tv = "Mozilla/5.0 (Linux; Android 12; BRAVIA 4K VH2 Build/STT1.211025.001) AppleWebKit/537.36";
        assert_eq!(device_from_user_agent(android_tv), DeviceClass::Tv);
    }

    #[test]
    fn a_long_accept_language_is_read_up_to_its_last_whole_range() {
        let tail = ",en-GB;q=0.1".repeat(60);
        let header = format!("fr-CA,fr;q=0.9{tail}");
        assert!(header.len() > ACCEPT_LANGUAGE_READ);
        let read = first_ranges(&header);
        assert!(read.len() <= ACCEPT_LANGUAGE_READ && read.starts_with("fr-CA,fr;q=0.9,"));
        assert!(read.ends_with("q=0.1"), "whole ranges only: {read}");
        assert_eq!(first_ranges("de"), "de");
        assert_eq!(first_ranges(&"x".repeat(600)), "");
        assert_eq!(parse_accept_language(read)[0].to_string(), "fr-CA");
    }

    #[test]
    fn accept_language_honours_q_values() {
        let names = |h: &str| {
            parse_accept_language(h)
                .iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("en;q=0.1, fr;q=0.9, de"), ["de", "fr", "en"]);
        assert_eq!(names("fr-CA,fr;q=0.8,*;q=0.5,ja;q=0"), ["fr-CA", "fr"]);
        assert_eq!(names("pl, ar"), ["pl", "ar"]);
        assert!(names("").is_empty());
    }

    #[test]
    fn params_parse_traits_and_ignore_strangers() {
        let params =
            parse_params("channel=web&t.first_name=Zo%C3%A9&utm_source=x&locale=fr-CA").unwrap();
        assert_eq!(params.channel.as_deref(), Some("web"));
        assert_eq!(params.locale.as_deref(), Some("fr-CA"));
        assert_eq!(params.traits.len(), 1);
        assert_eq!(params.traits[0].1, "Zoé");
    }

    #[test]
    fn vary_names_only_what_was_read() {
        let read = HeadersRead {
            accept_language: true,
            user_agent: true,
            ..HeadersRead::default()
        };
        assert_eq!(read.vary(), "Accept-Language, User-Agent");
        assert_eq!(HeadersRead::default().vary(), "");
        let all = HeadersRead {
            accept_language: true,
            ch_ua_mobile: true,
            user_agent: true,
            anonymous_id: true,
            authorization: true,
        };
        assert_eq!(
            all.vary(),
            "Accept-Language, Sec-CH-UA-Mobile, User-Agent, X-Anonymous-Id, Authorization"
        );
        let person_only = HeadersRead {
            anonymous_id: true,
            ..HeadersRead::default()
        };
        assert_eq!(person_only.vary(), "X-Anonymous-Id");
    }
}
