//! Rendering a chosen variant for a channel: each field formatted with Fluent along the
//! locale chain, then shaped by the channel's constraints (plain text without isolation
//! marks, HTML escaping, length limits, SMS segments, push payload size).
//!
//! The same function renders for customers and for `tailor validate`, which turns the
//! [`Violation`]s it reports into errors.

use std::sync::Arc;

use fluent_bundle::{FluentArgs, FluentValue};
use serde::Serialize;

use crate::catalog::model::{ChannelDef, FieldKind};
use crate::catalog::{Catalog, CompiledField, Field, Variant};
use crate::l10n::{Chain, FormatError};
use crate::shaping::{self, SmsInfo};

/// Something the client should know about the answer (it is still a good answer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Warning {
    /// Stable code, e.g. `message-fallback`, `message-missing`, `truncated`.
    pub code: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub field: Option<Arc<str>>,
    pub detail: String,
}

/// A channel constraint the rendered text broke (and how it was repaired).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub field: Arc<str>,
    pub message: Option<Arc<str>>,
    /// Locale the offending text came from.
    pub locale: Arc<str>,
    pub detail: String,
}

pub struct Rendered {
    pub fields: Vec<(Arc<str>, serde_json::Value)>,
    pub warnings: Vec<Warning>,
    pub violations: Vec<Violation>,
    /// A person's value made it into the output: the answer must not be shared.
    pub personal: bool,
    pub sms: Option<SmsInfo>,
}

impl Rendered {
    /// A limit was broken and the text cut to fit: a violation for validation, a
    /// warning for the client.
    fn truncated(
        &mut self,
        field: &Arc<str>,
        message: &Arc<str>,
        locale: &Arc<str>,
        detail: String,
    ) {
        self.violations.push(Violation {
            field: field.clone(),
            message: Some(message.clone()),
            locale: locale.clone(),
            detail: detail.clone(),
        });
        self.warnings.push(Warning {
            code: "truncated",
            field: Some(field.clone()),
            detail,
        });
    }
}

/// Renders a variant in the first locale of `chain` it is live in (the locale
/// completeness gate), warning `locale-incomplete` first when that is not the chain's
/// first locale. Also answers the index of the locale answered.
pub fn render_live(
    catalog: &Catalog,
    variant: &Variant,
    channel: usize,
    chain: &Chain,
    args: &FluentArgs,
) -> (Rendered, usize) {
    let live = variant.live_chain(chain);
    let mut rendered = render(catalog, variant, channel, &live, args);
    if live.primary() != chain.primary() {
        rendered.warnings.insert(
            0,
            Warning {
                code: "locale-incomplete",
                field: None,
                detail: format!(
                    "variant `{}` is not translated completely into {}; answered in {}",
                    variant.id,
                    catalog.l10n.locale_name(chain.primary()),
                    catalog.l10n.locale_name(live.primary())
                ),
            },
        );
    }
    (rendered, live.primary())
}

pub fn render(
    catalog: &Catalog,
    variant: &Variant,
    channel: usize,
    chain: &Chain,
    args: &FluentArgs,
) -> Rendered {
    let channel_def = &catalog.channels[channel].def;
    let is_person_variable = |name: &str| catalog.is_trait(name);
    // Markup in an html field is the author's; values from outside never are. Escaped
    // lazily: most variants have no html field.
    let mut escaped_args = None;
    let ellipsis = if channel_def.max_sms_segments.is_some() {
        "..."
    } else {
        "…"
    };
    let mut out = Rendered {
        fields: Vec::with_capacity(variant.fields.len()),
        warnings: Vec::new(),
        violations: Vec::new(),
        personal: false,
        sms: None,
    };
    let primary = chain.primary();
    for field in &variant.fields {
        let value = match &field.value {
            CompiledField::Url(url) => serde_json::Value::String(url.to_string()),
            CompiledField::Data(data) => data.clone(),
            CompiledField::Message { id, .. } => {
                let field_args = if field.kind == FieldKind::Html {
                    &*escaped_args.get_or_insert_with(|| escape_args(args))
                } else {
                    args
                };
                let formatted = match catalog.l10n.format(
                    chain,
                    id,
                    field_args,
                    channel_def.isolation_marks,
                    &is_person_variable,
                ) {
                    Ok(f) => f,
                    Err(FormatError::Missing(_)) => {
                        out.warnings.push(Warning {
                            code: "message-missing",
                            field: Some(field.name.clone()),
                            detail: format!(
                                "message `{id}` exists in no locale of the chain; field left out"
                            ),
                        });
                        continue;
                    }
                };
                let locale = catalog.l10n.locale_name(formatted.locale).clone();
                if formatted.fell_back && formatted.locale != primary {
                    out.warnings.push(Warning {
                        code: "message-fallback",
                        field: Some(field.name.clone()),
                        detail: format!(
                            "message `{id}` is missing in {}; used {locale}",
                            catalog.l10n.locale_name(primary)
                        ),
                    });
                }
                for error in &formatted.errors {
                    out.warnings.push(Warning {
                        code: "format-error",
                        field: Some(field.name.clone()),
                        detail: format!("message `{id}`: {error}"),
                    });
                }
                out.personal |= formatted.personal;
                let mut text = formatted.text;
                text = fit_to_channel(
                    &mut out,
                    channel_def,
                    variant,
                    field,
                    id,
                    &locale,
                    text,
                    ellipsis,
                );
                // Text fields are plain text on every channel: an email's subject and
                // preheader are headers and inbox previews, where `&amp;` would show as
                // written. HTML fields escaped every placeable's value above; their own
                // markup is the author's.
                serde_json::Value::String(text)
            }
        };
        out.fields.push((field.name.clone(), value));
    }
    if let Some(max) = channel_def.max_payload_bytes {
        let size = payload_size(&out.fields);
        if size > max {
            let detail = format!("payload of {size} bytes is over the {max}-byte limit");
            out.violations.push(Violation {
                field: Arc::from("*"),
                message: None,
                locale: catalog.l10n.locale_name(primary).clone(),
                detail: detail.clone(),
            });
            out.warnings.push(Warning {
                code: "payload-too-large",
                field: None,
                detail,
            });
        }
    }
    out
}

/// Shapes a formatted text to the channel: strips isolation marks it must not carry,
/// and cuts it to the field's character limit and the SMS segment limit (each cut is
/// recorded as a violation and a warning).
#[allow(clippy::too_many_arguments)]
fn fit_to_channel(
    out: &mut Rendered,
    channel_def: &ChannelDef,
    variant: &Variant,
    field: &Field,
    id: &Arc<str>,
    locale: &Arc<str>,
    mut text: String,
    ellipsis: &str,
) -> String {
    if !channel_def.isolation_marks && shaping::has_isolation_marks(&text) {
        // From a trait value or literal text: the channel must not carry them.
        text.retain(|c| !matches!(c, '\u{2068}' | '\u{2069}'));
    }
    if let Some(&max) = channel_def.field_max_chars.get(&*field.name) {
        let length = text.chars().count();
        if let Some(cut) = shaping::fit_chars(&text, max, ellipsis) {
            let detail = format!("{length} characters, more than {max} allowed on this channel");
            out.truncated(&field.name, id, locale, detail);
            text = cut;
        }
    }
    if let Some(max_segments) = channel_def.max_sms_segments {
        if out.sms.is_none() && (&*field.name == "body" || !has_body(variant)) {
            let info = shaping::sms_info(&text);
            if info.segments > max_segments as usize {
                let detail = format!(
                    "needs {} {:?} SMS segments, more than {max_segments} allowed",
                    info.segments, info.encoding
                );
                out.truncated(&field.name, id, locale, detail);
                if let Some(cut) = shaping::fit_sms(&text, max_segments as usize) {
                    text = cut;
                }
            }
            out.sms = Some(shaping::sms_info(&text));
        }
    }
    text
}

fn has_body(variant: &Variant) -> bool {
    variant.fields.iter().any(|f| &*f.name == "body")
}

/// Size of the fields as a JSON object: what a push provider would carry.
pub fn payload_size(fields: &[(Arc<str>, serde_json::Value)]) -> usize {
    let map: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    serde_json::to_vec(&map).map_or(0, |v| v.len())
}

fn escape_args<'a>(args: &'a FluentArgs<'a>) -> FluentArgs<'a> {
    let mut escaped = FluentArgs::new();
    for (name, value) in args.iter() {
        match value {
            FluentValue::String(s) => {
                escaped.set(name.to_string(), FluentValue::from(shaping::escape_html(s)))
            }
            other => escaped.set(name.to_string(), other.clone()),
        }
    }
    escaped
}
