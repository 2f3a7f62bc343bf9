//! Channel shaping: what a channel's constraints do to rendered text. SMS encoding and
//! segment arithmetic (GSM 03.38 / UCS-2), length limits, HTML escaping for email.
//! Pure functions, shared by the renderer (at request time) and `tailor validate`.

use serde::Serialize;

const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// Characters that need the escape code, so count as two septets.
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{000C}";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum SmsEncoding {
    #[serde(rename = "GSM-7")]
    Gsm7,
    #[serde(rename = "UCS-2")]
    Ucs2,
}

/// How an SMS body will travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SmsInfo {
    pub encoding: SmsEncoding,
    /// Septets (GSM-7) or UTF-16 code units (UCS-2).
    pub units: usize,
    pub segments: usize,
}

fn gsm7_units(c: char) -> Option<usize> {
    if GSM7_BASIC.contains(c) {
        Some(1)
    } else if GSM7_EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

pub fn sms_info(text: &str) -> SmsInfo {
    let gsm: Option<usize> = text.chars().map(gsm7_units).sum();
    let (encoding, units) = match gsm {
        Some(units) => (SmsEncoding::Gsm7, units),
        None => (SmsEncoding::Ucs2, text.encode_utf16().count()),
    };
    SmsInfo {
        encoding,
        units,
        segments: segments(encoding, units),
    }
}

fn segments(encoding: SmsEncoding, units: usize) -> usize {
    // A concatenated message loses room to its user data header.
    let (single, part) = match encoding {
        SmsEncoding::Gsm7 => (160, 153),
        SmsEncoding::Ucs2 => (70, 67),
    };
    match units {
        0 => 1,
        u if u <= single => 1,
        u => u.div_ceil(part),
    }
}

/// Capacity in units of `max_segments` segments.
fn capacity(encoding: SmsEncoding, max_segments: usize) -> usize {
    let (single, part) = match encoding {
        SmsEncoding::Gsm7 => (160, 153),
        SmsEncoding::Ucs2 => (70, 67),
    };
    if max_segments <= 1 {
        single
    } else {
        part * max_segments
    }
}

/// Cuts `text` to fit `max_segments`, keeping its encoding; `None` when it already fits.
pub fn fit_sms(text: &str, max_segments: usize) -> Option<String> {
    let info = sms_info(text);
    if info.segments <= max_segments {
        return None;
    }
    let room = capacity(info.encoding, max_segments).saturating_sub(3);
    let mut used = 0;
    let mut out = String::new();
    for c in text.chars() {
        let units = match info.encoding {
            SmsEncoding::Gsm7 => gsm7_units(c).unwrap_or(1),
            SmsEncoding::Ucs2 => c.len_utf16(),
        };
        if used + units > room {
            break;
        }
        used += units;
        out.push(c);
    }
    out.truncate(out.trim_end().len());
    out.push_str("...");
    Some(out)
}

/// Cuts `text` to `max` characters ending in `ellipsis` (`"..."` where `…` would cost
/// an SMS its GSM-7 encoding); `None` when it already fits.
pub fn fit_chars(text: &str, max: usize, ellipsis: &str) -> Option<String> {
    if text.chars().count() <= max {
        return None;
    }
    let room = max.saturating_sub(ellipsis.chars().count());
    let mut out: String = text.chars().take(room).collect();
    out.truncate(out.trim_end().len());
    out.push_str(ellipsis);
    Some(out)
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Fluent's bidi isolation marks.
pub fn has_isolation_marks(text: &str) -> bool {
    text.contains(['\u{2068}', '\u{2069}'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_and_segments() {
        let info = sms_info("Your order has shipped! Track it at https://t.example.com/x");
        assert_eq!(info.encoding, SmsEncoding::Gsm7);
        assert_eq!(info.segments, 1);
        assert_eq!(sms_info(&"a".repeat(160)).segments, 1);
        assert_eq!(sms_info(&"a".repeat(161)).segments, 2);
        assert_eq!(sms_info(&"a".repeat(306)).segments, 2);
        assert_eq!(sms_info(&"a".repeat(307)).segments, 3);
        // Extension characters count twice.
        assert_eq!(sms_info("€").units, 2);
        assert_eq!(sms_info("Price: 10€ {promo}").encoding, SmsEncoding::Gsm7);
    }

    #[test]
    fn ucs2_when_any_character_is_outside_gsm() {
        let info = sms_info("Zamówienie wysłane");
        assert_eq!(info.encoding, SmsEncoding::Ucs2);
        assert_eq!(sms_info(&"ł".repeat(70)).segments, 1);
        assert_eq!(sms_info(&"ł".repeat(71)).segments, 2);
        // Isolation marks alone force UCS-2: why SMS bundles never emit them.
        assert_eq!(
            sms_info("Hi \u{2068}Ann\u{2069}").encoding,
            SmsEncoding::Ucs2
        );
        assert_eq!(sms_info("こんにちは").units, 5);
    }

    #[test]
    fn fitting() {
        let long = "word ".repeat(100);
        let cut = fit_sms(&long, 2).unwrap();
        assert!(sms_info(&cut).segments <= 2);
        assert!(cut.ends_with("..."));
        assert!(fit_sms("short", 1).is_none());
        assert_eq!(fit_chars("abcdef", 4, "…").unwrap(), "abc…");
        assert!(fit_chars("abc", 3, "…").is_none());
        let gsm = fit_chars(&"a".repeat(400), 306, "...").unwrap();
        assert_eq!(gsm.chars().count(), 306);
        assert_eq!(
            sms_info(&gsm).encoding,
            SmsEncoding::Gsm7,
            "the cut keeps GSM-7"
        );
    }

    #[test]
    fn html_escaping() {
        assert_eq!(
            escape_html("<b>Tom & \"Jerry\"</b>"),
            "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;"
        );
    }
}
