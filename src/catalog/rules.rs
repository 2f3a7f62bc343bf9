//! The targeting rule language: parsed and type-checked once when content loads into a
//! [`Rule`] tree whose attributes are resolved to [`Attr`] slots, then evaluated per
//! request against a [`RuleInput`] without any string parsing.
//!
//! Grammar (documented for authors in `docs/content-format.md`):
//! ```text
//! expr      := and ("or" and)*
//! and       := unary ("and" unary)*
//! unary     := "not" unary | primary
//! primary   := "(" expr ")" | "true" | "false" | ("all" | "any") "(" expr ("," expr)* ")"
//!            | IDENT cmp LITERAL | IDENT ["not"] "in" (list | LITERAL ".." LITERAL)
//!            | IDENT "contains" STRING | IDENT "contains_any" list
//! ```

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Timelike, Utc};

use super::model::{TraitDef, TraitType};

/// A context attribute a rule can read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attr {
    Channel,
    Device,
    Locale,
    Language,
    Country,
    Segments,
    Now,
    Date,
    Time,
    Weekday,
    Bucket,
    /// A declared trait, by its index in the catalog's trait list.
    Trait(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AttrType {
    Text,
    Number,
    Bool,
    Set,
    Instant,
    Day,
    TimeOfDay,
}

impl Attr {
    fn resolve(name: &str, traits: &[TraitDef]) -> Option<(Attr, AttrType)> {
        Some(match name {
            "channel" => (Attr::Channel, AttrType::Text),
            "device" => (Attr::Device, AttrType::Text),
            "locale" => (Attr::Locale, AttrType::Text),
            "language" => (Attr::Language, AttrType::Text),
            "country" => (Attr::Country, AttrType::Text),
            "segments" => (Attr::Segments, AttrType::Set),
            "now" => (Attr::Now, AttrType::Instant),
            "date" => (Attr::Date, AttrType::Day),
            "time" => (Attr::Time, AttrType::TimeOfDay),
            "weekday" => (Attr::Weekday, AttrType::Text),
            "bucket" => (Attr::Bucket, AttrType::Number),
            _ => {
                let index = traits.iter().position(|t| t.id == name)?;
                let kind = match traits[index].kind {
                    TraitType::String => AttrType::Text,
                    TraitType::Number => AttrType::Number,
                    TraitType::Bool => AttrType::Bool,
                };
                (Attr::Trait(index), kind)
            }
        })
    }

    pub fn is_temporal(self) -> bool {
        matches!(self, Attr::Now | Attr::Date | Attr::Time | Attr::Weekday)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Text(Box<str>),
    Number(f64),
    Bool(bool),
    Instant(DateTime<Utc>),
    Day(NaiveDate),
    TimeOfDay(NaiveTime),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A compiled rule.
#[derive(Clone, Debug, PartialEq)]
pub enum Rule {
    Const(bool),
    Not(Box<Rule>),
    All(Vec<Rule>),
    Any(Vec<Rule>),
    Compare(Attr, CmpOp, Value),
    In(Attr, Vec<Value>),
    /// Half-open `[start, end)`.
    Range(Attr, Value, Value),
    Contains(Attr, Box<str>),
    ContainsAny(Attr, Vec<Box<str>>),
}

/// What a rule reads, found once at compile time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// A person's trait: the decision is about that person.
    pub traits: bool,
    /// The sticky bucket: personal unless it came from a cohort key.
    pub bucket: bool,
    /// Segments: personal unless they came from a cohort key.
    pub segments: bool,
    /// The clock.
    pub temporal: bool,
}

impl Rule {
    /// Number of leaf conditions: the variant's specificity.
    pub fn specificity(&self) -> u32 {
        match self {
            Rule::Const(_) => 0,
            Rule::Not(inner) => inner.specificity(),
            Rule::All(items) => items.iter().map(Rule::specificity).sum(),
            // `a or b` is no narrower than its broadest branch.
            Rule::Any(items) => items.iter().map(Rule::specificity).min().unwrap_or(0),
            _ => 1,
        }
    }

    /// Every attribute the rule reads is a trait (what segment rules are limited to).
    pub fn reads_only_traits(&self) -> bool {
        match self {
            Rule::Const(_) => true,
            Rule::Not(inner) => inner.reads_only_traits(),
            Rule::All(items) | Rule::Any(items) => items.iter().all(Rule::reads_only_traits),
            Rule::Compare(a, ..) | Rule::In(a, _) | Rule::Range(a, ..) => {
                matches!(a, Attr::Trait(_))
            }
            Rule::Contains(..) | Rule::ContainsAny(..) => false,
        }
    }

    /// The segment names the rule tests (to check they are defined).
    pub fn segment_names(&self) -> Vec<&str> {
        match self {
            Rule::Not(inner) => inner.segment_names(),
            Rule::All(items) | Rule::Any(items) => {
                items.iter().flat_map(Rule::segment_names).collect()
            }
            Rule::Contains(_, name) => vec![name.as_ref()],
            Rule::ContainsAny(_, names) => names.iter().map(AsRef::as_ref).collect(),
            _ => Vec::new(),
        }
    }

    pub fn reads(&self) -> Reads {
        let mut reads = Reads::default();
        self.collect_reads(&mut reads);
        reads
    }

    fn collect_reads(&self, reads: &mut Reads) {
        let attr = match self {
            Rule::Const(_) => return,
            Rule::Not(inner) => return inner.collect_reads(reads),
            Rule::All(items) | Rule::Any(items) => {
                items.iter().for_each(|r| r.collect_reads(reads));
                return;
            }
            Rule::Compare(a, ..) | Rule::In(a, _) | Rule::Range(a, ..) => *a,
            Rule::Contains(a, _) | Rule::ContainsAny(a, _) => *a,
        };
        reads.traits |= matches!(attr, Attr::Trait(_));
        reads.bucket |= attr == Attr::Bucket;
        reads.temporal |= attr.is_temporal();
        reads.segments |= attr == Attr::Segments;
    }

    pub fn eval(&self, input: &dyn RuleInput) -> bool {
        match self {
            Rule::Const(b) => *b,
            Rule::Not(inner) => !inner.eval(input),
            Rule::All(items) => items.iter().all(|r| r.eval(input)),
            Rule::Any(items) => items.iter().any(|r| r.eval(input)),
            Rule::Compare(attr, op, expected) => match input.value(*attr) {
                Some(actual) => compare(&actual, *op, expected),
                None => false,
            },
            Rule::In(attr, set) => match input.value(*attr) {
                Some(actual) => set.iter().any(|v| compare(&actual, CmpOp::Eq, v)),
                None => false,
            },
            Rule::Range(attr, start, end) => match input.value(*attr) {
                Some(actual) => {
                    compare(&actual, CmpOp::Ge, start) && compare(&actual, CmpOp::Lt, end)
                }
                None => false,
            },
            Rule::Contains(_, segment) => input.segments().iter().any(|s| s == segment),
            Rule::ContainsAny(_, wanted) => {
                let have = input.segments();
                wanted.iter().any(|w| have.iter().any(|s| s == w))
            }
        }
    }
}

fn compare(actual: &Value, op: CmpOp, expected: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering = match (actual, expected) {
        (Value::Text(a), Value::Text(b)) => a.cmp(b),
        (Value::Number(a), Value::Number(b)) => match a.partial_cmp(b) {
            Some(o) => o,
            None => return false,
        },
        (Value::Bool(a), Value::Bool(b)) => a.cmp(b),
        (Value::Instant(a), Value::Instant(b)) => a.cmp(b),
        (Value::Day(a), Value::Day(b)) => a.cmp(b),
        (Value::TimeOfDay(a), Value::TimeOfDay(b)) => a.cmp(b),
        _ => return false,
    };
    match op {
        CmpOp::Eq => ordering == Ordering::Equal,
        CmpOp::Ne => ordering != Ordering::Equal,
        CmpOp::Lt => ordering == Ordering::Less,
        CmpOp::Le => ordering != Ordering::Greater,
        CmpOp::Gt => ordering == Ordering::Greater,
        CmpOp::Ge => ordering != Ordering::Less,
    }
}

/// The request's view of the attributes (implemented by the decision context).
pub trait RuleInput {
    fn value(&self, attr: Attr) -> Option<Value>;
    fn segments(&self) -> &[Box<str>];
}

/// Derived time attributes, shared by every implementation of [`RuleInput`].
pub fn temporal_value(attr: Attr, now: DateTime<Utc>) -> Option<Value> {
    Some(match attr {
        Attr::Now => Value::Instant(now),
        Attr::Date => Value::Day(now.date_naive()),
        Attr::Time => Value::TimeOfDay(NaiveTime::from_hms_opt(now.hour(), now.minute(), 0)?),
        Attr::Weekday => Value::Text(weekday_name(now.weekday()).into()),
        _ => return None,
    })
}

fn weekday_name(day: chrono::Weekday) -> &'static str {
    use chrono::Weekday::*;
    match day {
        Mon => "mon",
        Tue => "tue",
        Wed => "wed",
        Thu => "thu",
        Fri => "fri",
        Sat => "sat",
        Sun => "sun",
    }
}

const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A compile error, with the 1-based column inside the rule text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct RuleError {
    pub column: usize,
    pub message: String,
}

/// How deep a rule may nest (`not`, parentheses, `all(…)`/`any(…)`). Parsing, checking
/// and evaluating a rule recurse once per level: a bound keeps a pasted rule from
/// exhausting a thread's stack (which aborts the process), and no real rule comes near.
pub const MAX_RULE_DEPTH: usize = 32;

/// Parses and type-checks a rule against the built-in attributes and declared traits.
pub fn compile(source: &str, traits: &[TraitDef]) -> Result<Rule, RuleError> {
    compile_bytes(source, traits).map_err(|e| in_characters(source, e))
}

fn compile_bytes(source: &str, traits: &[TraitDef]) -> Result<Rule, RuleError> {
    let tokens = lex(source)?;
    let mut parser = Parser {
        tokens,
        position: 0,
        traits,
        end: source.len(),
        depth: 0,
    };
    let rule = parser.expr()?;
    if let Some((token, at)) = parser.tokens.get(parser.position) {
        return Err(error(*at, format!("unexpected {}", token.describe())));
    }
    Ok(rule)
}

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Literal(String),
    Op(CmpOp),
    DotDot,
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
}

impl Token {
    fn describe(&self) -> String {
        match self {
            Token::Ident(s) => format!("`{s}`"),
            Token::Str(s) => format!("\"{s}\""),
            Token::Literal(s) => format!("`{s}`"),
            Token::Op(_) => "comparison operator".into(),
            Token::DotDot => "`..`".into(),
            Token::LBracket => "`[`".into(),
            Token::RBracket => "`]`".into(),
            Token::LParen => "`(`".into(),
            Token::RParen => "`)`".into(),
            Token::Comma => "`,`".into(),
        }
    }
}

fn error(at: usize, message: impl Into<String>) -> RuleError {
    RuleError {
        column: at + 1,
        message: message.into(),
    }
}

/// Byte offsets become character columns once, at the edge.
fn in_characters(source: &str, mut error: RuleError) -> RuleError {
    let byte = (error.column - 1).min(source.len());
    let prefix = source.get(..byte).unwrap_or(source);
    error.column = prefix.chars().count() + 1;
    error
}

fn lex(source: &str) -> Result<Vec<(Token, usize)>, RuleError> {
    let bytes = source.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'[' => tokens.push((Token::LBracket, start)),
            b']' => tokens.push((Token::RBracket, start)),
            b'(' => tokens.push((Token::LParen, start)),
            b')' => tokens.push((Token::RParen, start)),
            b',' => tokens.push((Token::Comma, start)),
            b'.' if bytes.get(i + 1) == Some(&b'.') => {
                tokens.push((Token::DotDot, start));
                i += 1;
            }
            b'=' | b'!' | b'<' | b'>' => {
                let next_eq = bytes.get(i + 1) == Some(&b'=');
                let op = match (c, next_eq) {
                    (b'=', true) => CmpOp::Eq,
                    (b'!', true) => CmpOp::Ne,
                    (b'<', true) => CmpOp::Le,
                    (b'>', true) => CmpOp::Ge,
                    (b'<', false) => CmpOp::Lt,
                    (b'>', false) => CmpOp::Gt,
                    _ => return Err(error(start, "expected `==` or `!=`")),
                };
                if next_eq {
                    i += 1;
                }
                tokens.push((Token::Op(op), start));
            }
            b'"' => {
                let mut value = String::new();
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return Err(error(start, "unterminated string")),
                        Some(b'"') => break,
                        Some(b'\\') if matches!(bytes.get(i + 1), Some(b'"') | Some(b'\\')) => {
                            value.push(bytes[i + 1] as char);
                            i += 2;
                        }
                        Some(_) => {
                            // Advance by one whole UTF-8 character.
                            let ch = source[i..].chars().next().unwrap_or('\u{FFFD}');
                            value.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                tokens.push((Token::Str(value), start));
            }
            b'0'..=b'9' | b'-' => {
                i += 1;
                while i < bytes.len() {
                    let b = bytes[i];
                    let part_of_literal = b.is_ascii_alphanumeric()
                        || matches!(b, b':' | b'-' | b'+')
                        || (b == b'.' && bytes.get(i + 1) != Some(&b'.'));
                    if !part_of_literal {
                        break;
                    }
                    i += 1;
                }
                tokens.push((Token::Literal(source[start..i].to_string()), start));
                continue;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                tokens.push((Token::Ident(source[start..i].to_string()), start));
                continue;
            }
            _ => {
                let ch = source[i..].chars().next().unwrap_or('?');
                return Err(error(start, format!("unexpected character `{ch}`")));
            }
        }
        i += 1;
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: Vec<(Token, usize)>,
    position: usize,
    traits: &'a [TraitDef],
    end: usize,
    /// Levels of `not`, parentheses and `all`/`any` open at the current token.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.position).map(|(t, _)| t)
    }
    fn at(&self) -> usize {
        self.tokens
            .get(self.position)
            .map_or(self.end, |(_, at)| *at)
    }
    fn next(&mut self) -> Option<(Token, usize)> {
        let token = self.tokens.get(self.position).cloned();
        self.position += 1;
        token
    }
    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Ident(w)) if w == word) {
            self.position += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, expected: Token) -> Result<(), RuleError> {
        let at = self.at();
        match self.next() {
            Some((token, _)) if token == expected => Ok(()),
            Some((token, at)) => Err(error(
                at,
                format!(
                    "expected {}, found {}",
                    expected.describe(),
                    token.describe()
                ),
            )),
            None => Err(error(
                at,
                format!(
                    "expected {}, found the end of the rule",
                    expected.describe()
                ),
            )),
        }
    }

    fn expr(&mut self) -> Result<Rule, RuleError> {
        let mut items = vec![self.and()?];
        while self.keyword("or") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Rule::Any(items)
        })
    }

    fn and(&mut self) -> Result<Rule, RuleError> {
        let mut items = vec![self.unary()?];
        while self.keyword("and") {
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Rule::All(items)
        })
    }

    /// Runs `parse` one level deeper, refusing past [`MAX_RULE_DEPTH`] (at `at`).
    fn nested<T>(
        &mut self,
        at: usize,
        parse: impl FnOnce(&mut Self) -> Result<T, RuleError>,
    ) -> Result<T, RuleError> {
        if self.depth >= MAX_RULE_DEPTH {
            return Err(error(
                at,
                format!("the rule nests deeper than {MAX_RULE_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        let parsed = parse(self);
        self.depth -= 1;
        parsed
    }

    fn unary(&mut self) -> Result<Rule, RuleError> {
        let at = self.at();
        if self.keyword("not") {
            return self.nested(at, |p| Ok(Rule::Not(Box::new(p.unary()?))));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Rule, RuleError> {
        let at = self.at();
        match self.next() {
            Some((Token::LParen, _)) => self.nested(at, |p| {
                let inner = p.expr()?;
                p.expect(Token::RParen)?;
                Ok(inner)
            }),
            Some((Token::Ident(word), _)) => match word.as_str() {
                "true" => Ok(Rule::Const(true)),
                "false" => Ok(Rule::Const(false)),
                "all" | "any" if self.peek() == Some(&Token::LParen) => self.nested(at, |p| {
                    p.position += 1;
                    let mut items = vec![p.expr()?];
                    while p.peek() == Some(&Token::Comma) {
                        p.position += 1;
                        items.push(p.expr()?);
                    }
                    p.expect(Token::RParen)?;
                    Ok(if word == "all" {
                        Rule::All(items)
                    } else {
                        Rule::Any(items)
                    })
                }),
                _ => self.condition(&word, at),
            },
            Some((token, at)) => Err(error(
                at,
                format!("expected a condition, found {}", token.describe()),
            )),
            None => Err(error(at, "expected a condition, found the end of the rule")),
        }
    }

    fn condition(&mut self, name: &str, name_at: usize) -> Result<Rule, RuleError> {
        let (attr, kind) = Attr::resolve(name, self.traits).ok_or_else(|| {
            error(
                name_at,
                format!("unknown attribute `{name}` (declare traits in traits.toml)"),
            )
        })?;
        let at = self.at();
        if kind == AttrType::Set {
            return if self.keyword("contains") {
                Ok(Rule::Contains(attr, self.string()?.into()))
            } else if self.keyword("contains_any") {
                let items = self.list(AttrType::Text, name)?;
                Ok(Rule::ContainsAny(
                    attr,
                    items
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::Text(s) => Some(s),
                            _ => None,
                        })
                        .collect(),
                ))
            } else {
                Err(error(
                    at,
                    format!("`{name}` is a set: use `contains` or `contains_any`"),
                ))
            };
        }
        if let Some(Token::Op(op)) = self.peek().cloned() {
            self.position += 1;
            if kind == AttrType::Bool && !matches!(op, CmpOp::Eq | CmpOp::Ne) {
                return Err(error(
                    at,
                    format!("`{name}` is true/false: use `==` or `!=`"),
                ));
            }
            let value = self.value(kind, name)?;
            return Ok(Rule::Compare(attr, op, value));
        }
        let negated = self.keyword("not");
        if !self.keyword("in") {
            return Err(error(
                self.at(),
                format!("expected a comparison, `in` or `not in` after `{name}`"),
            ));
        }
        let rule = if self.peek() == Some(&Token::LBracket) {
            Rule::In(attr, self.list(kind, name)?)
        } else {
            if !matches!(
                kind,
                AttrType::Number | AttrType::Instant | AttrType::Day | AttrType::TimeOfDay
            ) {
                return Err(error(
                    self.at(),
                    format!("`{name}` takes a list: `in [...]`"),
                ));
            }
            let start = self.value(kind, name)?;
            self.expect(Token::DotDot)?;
            let end = self.value(kind, name)?;
            Rule::Range(attr, start, end)
        };
        Ok(if negated {
            Rule::Not(Box::new(rule))
        } else {
            rule
        })
    }

    fn string(&mut self) -> Result<String, RuleError> {
        let at = self.at();
        match self.next() {
            Some((Token::Str(s), _)) => Ok(s),
            _ => Err(error(at, "expected a quoted string")),
        }
    }

    fn list(&mut self, kind: AttrType, name: &str) -> Result<Vec<Value>, RuleError> {
        self.expect(Token::LBracket)?;
        let mut items = Vec::new();
        if self.peek() != Some(&Token::RBracket) {
            loop {
                items.push(self.value(kind, name)?);
                if self.peek() == Some(&Token::Comma) {
                    self.position += 1;
                    continue;
                }
                break;
            }
        }
        self.expect(Token::RBracket)?;
        if items.is_empty() {
            return Err(error(self.at(), "a list needs at least one item"));
        }
        Ok(items)
    }

    fn value(&mut self, kind: AttrType, name: &str) -> Result<Value, RuleError> {
        let at = self.at();
        let token = self.next().map(|(t, _)| t);
        let wrong = |what: &str| Err(error(at, format!("`{name}` expects {what}")));
        match (kind, token) {
            (AttrType::Text, Some(Token::Str(s))) => {
                if name == "weekday" && !WEEKDAYS.contains(&s.as_str()) {
                    return Err(error(
                        at,
                        format!("weekday must be one of {}", WEEKDAYS.join(", ")),
                    ));
                }
                Ok(Value::Text(s.into()))
            }
            (AttrType::Text, _) => wrong("a quoted string"),
            (AttrType::Bool, Some(Token::Ident(w))) if w == "true" || w == "false" => {
                Ok(Value::Bool(w == "true"))
            }
            (AttrType::Bool, _) => wrong("true or false"),
            (AttrType::Number, Some(Token::Literal(l))) => match l.parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(Value::Number(n)),
                _ => wrong("a number"),
            },
            (AttrType::Number, _) => wrong("a number"),
            (AttrType::TimeOfDay, Some(Token::Literal(l))) => {
                NaiveTime::parse_from_str(&l, "%H:%M")
                    .map(Value::TimeOfDay)
                    .or_else(|_| wrong("a time of day like 09:30"))
            }
            (AttrType::TimeOfDay, _) => wrong("a time of day like 09:30"),
            (AttrType::Day, Some(Token::Literal(l))) => NaiveDate::parse_from_str(&l, "%Y-%m-%d")
                .map(Value::Day)
                .or_else(|_| wrong("a date like 2026-12-24")),
            (AttrType::Day, _) => wrong("a date like 2026-12-24"),
            (AttrType::Instant, Some(Token::Literal(l))) => DateTime::parse_from_rfc3339(&l)
                .map(|t| Value::Instant(t.with_timezone(&Utc)))
                .or_else(|_| wrong("an RFC 3339 time like 2026-12-01T08:00:00Z")),
            (AttrType::Instant, _) => wrong("an RFC 3339 time like 2026-12-01T08:00:00Z"),
            (AttrType::Set, _) => wrong("a quoted string"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn traits() -> Vec<TraitDef> {
        vec![
            TraitDef {
                id: "points".into(),
                kind: TraitType::Number,
                description: String::new(),
                sample: None,
            },
            TraitDef {
                id: "tier".into(),
                kind: TraitType::String,
                description: String::new(),
                sample: None,
            },
        ]
    }

    struct Input {
        country: Option<&'static str>,
        points: Option<f64>,
        segments: Vec<Box<str>>,
        now: DateTime<Utc>,
    }

    impl RuleInput for Input {
        fn value(&self, attr: Attr) -> Option<Value> {
            match attr {
                Attr::Country => self.country.map(|c| Value::Text(c.into())),
                Attr::Trait(0) => self.points.map(Value::Number),
                Attr::Channel => Some(Value::Text("web".into())),
                _ => temporal_value(attr, self.now),
            }
        }
        fn segments(&self) -> &[Box<str>] {
            &self.segments
        }
    }

    fn input() -> Input {
        Input {
            country: Some("FR"),
            points: Some(250.0),
            segments: vec!["vip".into()],
            // A Saturday, 10:15 UTC.
            now: Utc.with_ymd_and_hms(2026, 11, 21, 10, 15, 0).unwrap(),
        }
    }

    fn eval(source: &str) -> bool {
        compile(source, &traits()).expect(source).eval(&input())
    }

    #[test]
    fn comparisons_sets_ranges_and_logic() {
        assert!(eval(r#"country == "FR""#));
        assert!(!eval(r#"country != "FR""#));
        assert!(eval(r#"country in ["BE", "FR"]"#));
        assert!(eval(r#"country not in ["DE"]"#));
        assert!(eval("points >= 100 and points < 300"));
        assert!(eval("points in 100..251"));
        assert!(!eval("points in 100..250"));
        assert!(eval(r#"segments contains "vip""#));
        assert!(eval(r#"segments contains_any ["x", "vip"]"#));
        assert!(!eval(r#"not segments contains "vip""#));
        assert!(eval(
            r#"all(channel == "web", any(points > 1000, country == "FR"))"#
        ));
        assert!(eval(
            r#"(country == "DE" or country == "FR") and not false"#
        ));
    }

    #[test]
    fn time_windows() {
        assert!(eval("time in 09:00..17:30"));
        assert!(!eval("time in 11:00..17:30"));
        assert!(eval(r#"weekday in ["sat", "sun"]"#));
        assert!(eval("date in 2026-11-01..2026-12-01"));
        assert!(eval("now >= 2026-11-21T10:00:00Z"));
    }

    #[test]
    fn missing_attribute_is_false() {
        let rule = compile("tier == \"gold\"", &traits()).unwrap();
        assert!(!rule.eval(&input()));
        let negated = compile("not tier == \"gold\"", &traits()).unwrap();
        assert!(negated.eval(&input()));
    }

    #[test]
    fn nesting_is_bounded_at_the_limit() {
        let nested = |levels: usize| {
            format!(
                "{}country == \"FR\"{}",
                "(".repeat(levels),
                ")".repeat(levels)
            )
        };
        assert!(compile(&nested(MAX_RULE_DEPTH), &traits()).is_ok());
        let too_deep = compile(&nested(MAX_RULE_DEPTH + 1), &traits()).unwrap_err();
        assert_eq!(too_deep.column, MAX_RULE_DEPTH + 1, "{too_deep:?}");
        assert!(too_deep.message.contains("nests deeper"), "{too_deep:?}");
        // What used to abort the process: thousands of levels.
        assert!(compile(&nested(2_000), &traits()).is_err());
        let nots = format!("{}true", "not ".repeat(20_000));
        assert!(compile(&nots, &traits()).is_err());
        let calls = format!("{}true{}", "all(".repeat(5_000), ")".repeat(5_000));
        assert!(compile(&calls, &traits()).is_err());
        let not_limit = format!("{}true", "not ".repeat(MAX_RULE_DEPTH));
        assert!(compile(&not_limit, &traits()).is_ok());
    }

    #[test]
    fn errors_name_the_column() {
        let err = compile(r#"country == "FR" and loyalty > 3"#, &traits()).unwrap_err();
        assert_eq!(err.column, 21);
        assert!(err.message.contains("unknown attribute `loyalty`"), "{err}");
        let err = compile("points >= \"many\"", &traits()).unwrap_err();
        assert!(err.message.contains("expects a number"), "{err}");
        let err = compile("country ==", &traits()).unwrap_err();
        assert!(err.message.contains("quoted string"), "{err}");
        assert!(compile("segments == \"x\"", &traits()).is_err());
        assert!(compile(r#"weekday == "someday""#, &traits()).is_err());
        assert!(compile(r#"weekday in ["sat", "saturday"]"#, &traits()).is_err());
        let err = compile(r#"country == "Ελλάδα" and nope == 1"#, &traits()).unwrap_err();
        assert_eq!(err.column, 25, "columns count characters, not bytes");
        assert!(compile("country == \"FR\" )", &traits()).is_err());
    }

    #[test]
    fn reads_and_specificity() {
        let rule = compile(
            r#"country == "FR" and points > 3 and time in 09:00..10:00"#,
            &traits(),
        )
        .unwrap();
        assert_eq!(rule.specificity(), 3);
        let broad = compile(
            r#"country == "FR" or country == "BE" or points > 3"#,
            &traits(),
        )
        .unwrap();
        assert_eq!(
            broad.specificity(),
            1,
            "an `or` is as specific as its broadest branch"
        );
        let reads = rule.reads();
        assert!(reads.traits && reads.temporal && !reads.segments && !reads.bucket);
    }
}
