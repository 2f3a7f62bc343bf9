//! Localisation with Project Fluent: parsing resources, negotiating the request's
//! locales against the ones we have, and formatting messages along a fallback chain
//! (`fr-CA → fr → en`).
//!
//! Unicode isolation marks (U+2068/U+2069 around each placeable) are a per-channel
//! choice: each locale has two bundles, one with the marks (web and app, where a Latin
//! name inside Arabic text must not reorder the sentence) and one without (SMS, push,
//! where the marks would count as characters, force UCS-2 and sometimes show as boxes).
//!
//! A message that uses a person variable the request does not carry is rendered from its
//! `.anonymous` attribute instead, so a customer never sees `{$first_name}`.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource};
use fluent_langneg::{negotiate_languages, NegotiationStrategy};
use fluent_syntax::ast;
use hashbrown::HashTable;
use unic_langid::LanguageIdentifier;

use crate::catalog::model::FluentFile;

/// A Fluent syntax or structure error, positioned in its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FtlError {
    pub locale: String,
    pub path: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A name (message or term id, variable) in a file's name pool.
#[derive(Clone, Copy, Debug)]
struct Name {
    at: u32,
    len: u32,
}

/// What the catalog's checks and compilation read about one message. The message itself
/// is not kept: formatting parses its file again, on demand ([`parsed_cache`]).
#[derive(Clone, Debug)]
struct IndexedMessage {
    id: Name,
    line: u32,
    /// The variables its value references: `variables[start..start + count]` of its file,
    /// sorted and without repeats.
    variables: (u32, u32),
    /// Those of its `.anonymous` attribute, when it has one.
    anonymous_variables: Option<(u32, u32)>,
    /// A digest of the above and of its file's path (see [`L10n::messages_digest`]).
    digest: u64,
}

/// A message or term another entry of the file references: formatting needs the file
/// that defines it in the same bundle.
#[derive(Clone, Copy, Debug)]
struct Reference {
    term: bool,
    name: Name,
}

/// One resource parsed once and indexed: what every build with the same file reuses.
/// About 60 bytes per message besides the source, where the parsed resource took ten
/// times its source (a 10,000-variant catalog in 20 locales held 1.4 GB of syntax trees).
struct IndexedFile {
    path: Arc<str>,
    source: Arc<str>,
    /// Digest of (locale, path, source): the memo's key, and a part of bundle keys.
    key: u128,
    /// Ids and variable names, one after the other; [`Name`]s point into it.
    names: Box<str>,
    variables: Box<[Name]>,
    /// Its messages in order, duplicates included (the locale's assembly reports them).
    messages: Box<[IndexedMessage]>,
    terms: Box<[Name]>,
    references: Box<[Reference]>,
    /// Parse errors (or the reason it was refused before parsing: then no messages).
    errors: Vec<FtlError>,
    refused: bool,
}

impl IndexedFile {
    fn name(&self, name: Name) -> &str {
        &self.names[name.at as usize..(name.at + name.len) as usize]
    }

    fn variable_names(&self, (start, count): (u32, u32)) -> impl Iterator<Item = &str> + '_ {
        self.variables[start as usize..(start + count) as usize]
            .iter()
            .map(|name| self.name(*name))
    }
}

/// What the catalog's checks and compilation know about a message: its variables, its
/// `.anonymous` form's and where it is defined.
#[derive(Clone, Copy)]
pub struct MessageInfo<'a> {
    file: &'a IndexedFile,
    message: &'a IndexedMessage,
}

impl<'a> MessageInfo<'a> {
    /// The variables its value references, sorted, each once.
    pub fn variables(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.file.variable_names(self.message.variables)
    }

    /// The variables of its `.anonymous` form; `None` when it has none.
    pub fn anonymous_variables(&self) -> Option<impl Iterator<Item = &'a str> + 'a> {
        let file = self.file;
        self.message
            .anonymous_variables
            .map(move |range| file.variable_names(range))
    }

    pub fn path(&self) -> &'a str {
        &self.file.path
    }

    pub fn line(&self) -> usize {
        self.message.line as usize
    }
}

/// A locale's files, indexed: where each message and term is first defined. Bundles to
/// format with are made per file, on demand, from the file and the files defining what
/// it references ([`LocaleIndex::parsed`]).
struct LocaleIndex {
    name: Arc<str>,
    langid: LanguageIdentifier,
    files: Vec<Arc<IndexedFile>>,
    /// `(file, message)` of each message id's first definition.
    messages: HashTable<(u32, u32)>,
    /// `(file, term)` of each term id's first definition.
    terms: HashTable<(u32, u32)>,
    /// Per file, made when first formatted from: its bundle's files and key.
    bundle_plans: Box<[OnceLock<BundlePlan>]>,
    /// The locale's file errors (parse errors, duplicate messages).
    errors: Vec<FtlError>,
}

/// The files a file's bundle holds (itself and, transitively, the files defining the
/// messages and terms it references; in the locale's order, so the first definition of
/// an id wins as it does in the index) and the bundle's cache key.
struct BundlePlan {
    files: Box<[u32]>,
    key: u128,
    source_bytes: usize,
}

/// A file's bundles, with isolation marks and without (see the module's comment).
pub struct ParsedBundles {
    isolating: FluentBundle<Arc<FluentResource>>,
    plain: FluentBundle<Arc<FluentResource>>,
    /// The bytes of source parsed: its weight in [`parsed_cache`].
    source_bytes: u32,
}

fn name_hash(name: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(name.as_bytes())
}

impl LocaleIndex {
    fn find(&self, id: &str) -> Option<(u32, u32)> {
        self.messages
            .find(name_hash(id), |(file, message)| {
                let file = &self.files[*file as usize];
                file.name(file.messages[*message as usize].id) == id
            })
            .copied()
    }

    fn find_term(&self, id: &str) -> Option<u32> {
        self.terms
            .find(name_hash(id), |(file, term)| {
                let file = &self.files[*file as usize];
                file.name(file.terms[*term as usize]) == id
            })
            .map(|(file, _)| *file)
    }

    fn info(&self, (file, message): (u32, u32)) -> MessageInfo<'_> {
        let file = &self.files[file as usize];
        MessageInfo {
            file,
            message: &file.messages[message as usize],
        }
    }

    fn plan(&self, file: u32) -> &BundlePlan {
        self.bundle_plans[file as usize].get_or_init(|| {
            let mut files = vec![file];
            let mut queue = vec![file];
            while let Some(next) = queue.pop() {
                let indexed = &self.files[next as usize];
                for reference in indexed.references.iter() {
                    let name = indexed.name(reference.name);
                    let defining = if reference.term {
                        self.find_term(name)
                    } else {
                        self.find(name).map(|(file, _)| file)
                    };
                    if let Some(defining) = defining {
                        if !files.contains(&defining) {
                            files.push(defining);
                            queue.push(defining);
                        }
                    }
                }
            }
            files.sort_unstable();
            let keys: Vec<u8> = files
                .iter()
                .flat_map(|f| self.files[*f as usize].key.to_le_bytes())
                .collect();
            BundlePlan {
                key: crate::memo::digest(&[self.name.as_bytes(), &keys]),
                source_bytes: files
                    .iter()
                    .map(|f| self.files[*f as usize].source.len())
                    .sum(),
                files: files.into_boxed_slice(),
            }
        })
    }

    /// The bundles to format `file`'s messages with: from the process's cache of parsed
    /// resources, or parsed now (a few tens of microseconds for a typical file).
    fn parsed(&self, file: u32) -> Arc<ParsedBundles> {
        let plan = self.plan(file);
        parsed_cache().get_with(plan.key, || {
            let mut isolating = FluentBundle::new_concurrent(vec![self.langid.clone()]);
            let mut plain = FluentBundle::new_concurrent(vec![self.langid.clone()]);
            isolating.set_use_isolating(true);
            plain.set_use_isolating(false);
            for file in plan.files.iter() {
                let indexed = &self.files[*file as usize];
                if indexed.refused {
                    continue;
                }
                let resource = Arc::new(
                    FluentResource::try_new(indexed.source.to_string()).unwrap_or_else(|(r, _)| r),
                );
                // Duplicates were reported when the locale was indexed; the first
                // definition is kept, as the index has it.
                let _ = isolating.add_resource(resource.clone());
                let _ = plain.add_resource(resource);
            }
            Arc::new(ParsedBundles {
                isolating,
                plain,
                source_bytes: u32::try_from(plan.source_bytes).unwrap_or(u32::MAX),
            })
        })
    }
}

/// Parsed resources are kept up to this many bytes of their source (parsed, a resource
/// takes about ten times its source). [`configure_parsed_cache`] sets it from
/// `l10n_parsed_cache_mb`.
pub const DEFAULT_PARSED_CACHE_BYTES: u64 = 8 << 20;

static PARSED_CACHE_BYTES: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(DEFAULT_PARSED_CACHE_BYTES);

/// Sets the parsed-resource cache's size; takes effect if called before anything is
/// formatted (the server calls it first thing).
pub fn configure_parsed_cache(bytes: u64) {
    PARSED_CACHE_BYTES.store(bytes.max(1), std::sync::atomic::Ordering::Relaxed);
}

/// Parsed resources by bundle key, shared by every build in the process, weighed by their
/// source's size; the least used are dropped first. A bundle larger than the whole cache
/// (a file referencing most of a large locale) is not kept: it is parsed on every use.
fn parsed_cache() -> &'static moka::sync::Cache<u128, Arc<ParsedBundles>> {
    static CACHE: OnceLock<moka::sync::Cache<u128, Arc<ParsedBundles>>> = OnceLock::new();
    CACHE.get_or_init(|| {
        moka::sync::Cache::builder()
            .max_capacity(PARSED_CACHE_BYTES.load(std::sync::atomic::Ordering::Relaxed))
            .weigher(|_, bundles: &Arc<ParsedBundles>| bundles.source_bytes)
            .build()
    })
}

/// The Fluent resources of every locale, indexed (cheap to clone: indexes are shared).
#[derive(Clone)]
pub struct L10n {
    locales: Vec<LanguageIdentifier>,
    names: Vec<Arc<str>>,
    default_index: usize,
    indexes: Vec<Arc<LocaleIndex>>,
}

/// An ordered list of locale indices to try; the first is the locale answered.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Chain(pub Vec<u16>);

impl Chain {
    pub fn primary(&self) -> usize {
        self.0.first().copied().unwrap_or(0) as usize
    }
}

/// A formatted message and how it was obtained.
#[derive(Clone, Debug, PartialEq)]
pub struct Formatted {
    pub text: String,
    /// Index of the locale the text came from.
    pub locale: usize,
    /// The message was missing in the first locale(s) of the chain.
    pub fell_back: bool,
    /// A person variable made it into the text.
    pub personal: bool,
    /// The `.anonymous` form was used because a person variable was unknown.
    pub anonymous: bool,
    /// Non-fatal formatting errors (already reflected in the text).
    pub errors: Vec<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("message `{0}` exists in no locale of the chain")]
    Missing(String),
}

/// How deep placeables and call arguments may nest in a Fluent resource
/// (`{ … { … } … }`, `{ F(G(…)) }`). The Fluent parser recurses once per level: a bound
/// keeps a pasted resource from exhausting a thread's stack (which aborts the process);
/// real messages nest two or three deep.
pub const MAX_PLACEABLE_DEPTH: usize = 16;

/// Where the scanner is inside a placeable: what a `"` or a `(` means there.
#[derive(Clone, Copy, PartialEq)]
enum Nest {
    /// An expression (`{ $x }`, a call's arguments): `"` opens a string literal.
    Expression,
    /// A select expression's variants (after `->`): text, where `"` is a character.
    Variants,
}

/// The byte offset of the first `{` or `(` that nests deeper than
/// [`MAX_PLACEABLE_DEPTH`], found without parsing (so before the parser could recurse).
/// Braces in comments, in string literals and in a select's variant text are told
/// apart the way the grammar does; a `(` counts inside expressions only; a stray `}`
/// never takes the count below zero, so it cannot hide a deep nest.
pub fn too_deeply_nested(source: &str) -> Option<usize> {
    let mut stack: Vec<Nest> = Vec::new();
    let (mut line_start, mut in_comment, mut in_string, mut escaped) = (true, false, false, false);
    let mut previous = '\0';
    // Braces and parentheses inside string literals on the current line.
    let mut hidden_on_line = 0usize;
    for (at, ch) in source.char_indices() {
        let before = std::mem::replace(&mut previous, ch);
        if ch == '\n' {
            // Comments and string literals end with their line.
            (line_start, in_comment, in_string, escaped) = (true, false, false, false);
            hidden_on_line = 0;
            continue;
        }
        if std::mem::take(&mut line_start) && ch == '#' && stack.is_empty() {
            in_comment = true;
        }
        if in_comment {
            continue;
        }
        if in_string {
            match (escaped, ch) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                // Counted anyway: if the scan took text for a string (after a placeable
                // the parser gave up on), these would be real nesting on this line.
                (false, '{' | '(') => {
                    hidden_on_line += 1;
                    if stack.len() + hidden_on_line > MAX_PLACEABLE_DEPTH {
                        return Some(at);
                    }
                }
                _ => {}
            }
            continue;
        }
        let top = stack.last().copied();
        match ch {
            '"' if top == Some(Nest::Expression) => in_string = true,
            '{' | '(' if ch == '{' || top == Some(Nest::Expression) => {
                stack.push(Nest::Expression);
                if stack.len() > MAX_PLACEABLE_DEPTH {
                    return Some(at);
                }
            }
            '}' | ')' if top.is_some() && (ch == '}' || top == Some(Nest::Expression)) => {
                stack.pop();
            }
            '>' if before == '-' && top == Some(Nest::Expression) => {
                if let Some(last) = stack.last_mut() {
                    *last = Nest::Variants;
                }
            }
            _ => {}
        }
    }
    None
}

/// The byte offset of a `\u`/`\U` escape followed by a non-ASCII character within its
/// six digits: fluent-syntax 0.12 slices such an escape mid-character and panics.
pub fn bad_unicode_escape(source: &str) -> Option<usize> {
    let bytes = source.as_bytes();
    bytes.windows(2).enumerate().find_map(|(at, pair)| {
        let escape = pair[0] == b'\\' && matches!(pair[1], b'u' | b'U');
        let digits = &bytes[at + 2..bytes.len().min(at + 8)];
        (escape && digits.iter().any(|b| !b.is_ascii())).then_some(at)
    })
}

/// Why a Fluent source is refused before it reaches the parser, and where: nesting the
/// parser would recurse through until the stack ran out, or an escape it would panic on.
pub fn refused_before_parsing(source: &str) -> Option<(usize, String)> {
    if let Some(at) = too_deeply_nested(source) {
        return Some((
            at,
            format!("placeables nest deeper than {MAX_PLACEABLE_DEPTH} levels"),
        ));
    }
    bad_unicode_escape(source).map(|at| {
        (
            at,
            "a \\u escape takes 4 hex digits (\\U takes 6)".to_string(),
        )
    })
}

/// An error in `file` (of `locale`) at byte `at`, positioned by line and column.
fn error_at(locale: &str, file: &FluentFile, at: usize, message: String) -> FtlError {
    let (line, column) = line_col(&file.source, at);
    FtlError {
        locale: locale.to_string(),
        path: file.path.clone(),
        line,
        column,
        message,
    }
}

pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

impl L10n {
    /// Indexes every locale present in `files`. Errors are positioned; a file
    /// with errors still contributes the messages that parsed.
    ///
    /// Memoised process-wide by content ([`memo`]): a file parsed before is not parsed
    /// again, and a locale whose files are all as before reuses its bundles. So a change
    /// to one resource of a large catalog rebuilds one locale from parsed resources, and
    /// the checks authoring runs against the live content cost next to nothing.
    pub fn build(files: &[FluentFile], default_locale: &str) -> (L10n, Vec<FtlError>) {
        let mut errors = Vec::new();
        let mut by_locale: Vec<(String, Vec<&FluentFile>)> = Vec::new();
        for file in files {
            match by_locale.iter_mut().find(|(l, _)| *l == file.locale) {
                Some((_, list)) => list.push(file),
                None => by_locale.push((file.locale.clone(), vec![file])),
            }
        }
        if !by_locale.iter().any(|(l, _)| l == default_locale) {
            by_locale.push((default_locale.to_string(), Vec::new()));
        }
        by_locale.sort_by(|a, b| a.0.cmp(&b.0));

        let memo = memo();
        let build = memo.begin();
        let mut valid: Vec<(String, LanguageIdentifier, Vec<&FluentFile>)> = Vec::new();
        for (name, files) in by_locale {
            match name.parse::<LanguageIdentifier>() {
                Ok(langid) => valid.push((name, langid, files)),
                Err(_) => errors.push(FtlError {
                    locale: name.clone(),
                    path: String::new(),
                    line: 0,
                    column: 0,
                    message: format!("`{name}` is not a BCP 47 locale"),
                }),
            }
        }
        let built = in_parallel(&valid, |(name, langid, files)| {
            memo.locale(build, name, langid, files)
        });
        let mut locales = Vec::new();
        let mut names = Vec::new();
        let mut indexes = Vec::new();
        for ((name, langid, _), built) in valid.into_iter().zip(built) {
            errors.extend(built.errors.iter().cloned());
            locales.push(langid);
            names.push(Arc::from(name.as_str()));
            indexes.push(built);
        }
        memo.finish(build);
        let default_index = names
            .iter()
            .position(|n| &**n == default_locale)
            .unwrap_or(0);
        (
            L10n {
                locales,
                names,
                default_index,
                indexes,
            },
            errors,
        )
    }

    /// A digest of what the catalog's checks and compilation read about these messages:
    /// the locales, and in each whether the message exists, its variables, its
    /// `.anonymous` form's and where it is defined. Equal digests, a placement using
    /// these messages compiles and checks the same (its text may differ: rendering reads
    /// the bundles, not the compiled placement).
    pub fn messages_digest<'m>(&self, ids: impl Iterator<Item = &'m str>) -> u128 {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut part = |bytes: &[u8]| {
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        part(&(self.default_index as u64).to_le_bytes());
        for name in &self.names {
            part(name.as_bytes());
        }
        for id in ids {
            part(id.as_bytes());
            for index in &self.indexes {
                match index.find(id) {
                    None => part(b"-"),
                    Some(found) => part(&index.info(found).message.digest.to_le_bytes()),
                }
            }
        }
        hasher.digest128()
    }

    pub fn locale_names(&self) -> &[Arc<str>] {
        &self.names
    }

    pub fn locale_name(&self, index: usize) -> &Arc<str> {
        &self.names[index.min(self.names.len() - 1)]
    }

    pub fn default_index(&self) -> usize {
        self.default_index
    }

    pub fn message_info(&self, locale: usize, id: &str) -> Option<MessageInfo<'_>> {
        let index = self.indexes.get(locale)?;
        index.find(id).map(|found| index.info(found))
    }

    /// Negotiates requested locales (most preferred first) into a fallback chain that
    /// always ends with the default locale.
    pub fn negotiate(&self, requested: &[LanguageIdentifier]) -> Chain {
        let default = &self.locales[self.default_index];
        let chosen = negotiate_languages(
            requested,
            &self.locales,
            Some(default),
            NegotiationStrategy::Filtering,
        );
        let mut chain: Vec<u16> = Vec::with_capacity(chosen.len() + 1);
        for locale in chosen {
            if let Some(index) = self.locales.iter().position(|l| l == locale) {
                if !chain.contains(&(index as u16)) {
                    chain.push(index as u16);
                }
            }
        }
        // Requested `fr-CA`: make sure plain `fr` comes before the default.
        let mut with_parents = Vec::with_capacity(chain.len() + 2);
        for index in chain {
            if !with_parents.contains(&index) {
                with_parents.push(index);
            }
            let locale = &self.locales[index as usize];
            if locale.region.is_some() || locale.script.is_some() {
                let parent = LanguageIdentifier::from_parts(locale.language, None, None, &[]);
                if let Some(p) = self.locales.iter().position(|l| *l == parent) {
                    if !with_parents.contains(&(p as u16)) {
                        with_parents.push(p as u16);
                    }
                }
            }
        }
        let default_index = self.default_index as u16;
        if !with_parents.contains(&default_index) {
            with_parents.push(default_index);
        }
        Chain(with_parents)
    }

    /// Formats message `id` along `chain`. `person_variables` names the variables that
    /// are personal (traits): using one makes the result personal, lacking one selects the
    /// `.anonymous` form.
    pub fn format(
        &self,
        chain: &Chain,
        id: &str,
        args: &FluentArgs,
        isolating: bool,
        is_person_variable: &dyn Fn(&str) -> bool,
    ) -> Result<Formatted, FormatError> {
        for (position, &index) in chain.0.iter().enumerate() {
            let Some(locale) = self.indexes.get(index as usize) else {
                continue;
            };
            let Some(found) = locale.find(id) else {
                continue;
            };
            let parsed = locale.parsed(found.0);
            let bundle = if isolating {
                &parsed.isolating
            } else {
                &parsed.plain
            };
            let Some(message) = bundle.get_message(id) else {
                continue;
            };
            let Some(value) = message.value() else {
                continue;
            };
            let info = locale.info(found);
            let uses_person = info.variables().any(is_person_variable);
            let lacks_person = info
                .variables()
                .any(|v| is_person_variable(v) && args.get(v).is_none());
            let (pattern, anonymous) = match (lacks_person, message.get_attribute("anonymous")) {
                (true, Some(attribute)) => (attribute.value(), true),
                _ => (value, false),
            };
            let mut errors = Vec::new();
            let text = bundle
                .format_pattern(pattern, Some(args), &mut errors)
                .into_owned();
            return Ok(Formatted {
                text,
                locale: index as usize,
                fell_back: position > 0,
                personal: uses_person && !anonymous,
                anonymous,
                errors: errors.iter().map(|e| e.to_string()).collect(),
            });
        }
        Err(FormatError::Missing(id.to_string()))
    }
}

/// Lines of the entries of one resource, counted once, forward. The AST has no
/// positions, but its identifiers are slices of the resource's source: an id's offset
/// is its address less the source's. (Searching each id's text was quadratic in a
/// file's size, and put a duplicate at its first definition.)
struct LineCounter<'s> {
    source: &'s str,
    offset: usize,
    line: usize,
}

impl<'s> LineCounter<'s> {
    fn new(source: &'s str) -> LineCounter<'s> {
        LineCounter {
            source,
            offset: 0,
            line: 1,
        }
    }

    /// The line `slice` (a slice of the source) starts on; 1 if it is not one.
    fn line_of(&mut self, slice: &str) -> usize {
        let start = self.source.as_ptr() as usize;
        let Some(offset) = (slice.as_ptr() as usize)
            .checked_sub(start)
            .filter(|offset| *offset <= self.source.len())
        else {
            return 1;
        };
        if offset < self.offset {
            // Entries come in order; should one not, count from the start again.
            (self.offset, self.line) = (0, 1);
        }
        self.line += self.source.as_bytes()[self.offset..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.offset = offset;
        self.line
    }
}

/// Parses `file` and indexes it; the syntax tree is dropped here.
fn index_file(locale: &str, file: &FluentFile, key: u128) -> IndexedFile {
    let mut indexed = IndexedFile {
        path: Arc::from(file.path.as_str()),
        source: file.source.clone(),
        key,
        names: Box::from(""),
        variables: Box::new([]),
        messages: Box::new([]),
        terms: Box::new([]),
        references: Box::new([]),
        errors: Vec::new(),
        refused: false,
    };
    let refused = refused_before_parsing(&file.source).or_else(|| {
        // Offsets are kept as u32: a resource that large is not a resource.
        (file.source.len() > u32::MAX as usize / 2)
            .then(|| (0, "a Fluent resource is limited to 2 GiB".to_string()))
    });
    if let Some((at, why)) = refused {
        indexed.errors.push(error_at(locale, file, at, why));
        indexed.refused = true;
        return indexed;
    }
    let resource = match FluentResource::try_new(file.source.to_string()) {
        Ok(resource) => resource,
        Err((resource, parse_errors)) => {
            for e in parse_errors {
                // The error's own position when it lies inside the broken (junk) entry.
                // The parser often reports the start of what follows instead: then the
                // end of the entry's text is where the missing token belongs.
                let at = match &e.slice {
                    Some(junk) if junk.contains(&e.pos.start) => e.pos.start,
                    Some(junk) if e.pos.start >= junk.end => file
                        .source
                        .get(junk.clone())
                        .map_or(junk.start, |text| junk.start + text.trim_end().len()),
                    Some(junk) => junk.start,
                    None => e.pos.start,
                };
                indexed.errors.push(error_at(
                    locale,
                    file,
                    at,
                    format!("Fluent syntax error: {}", e.kind),
                ));
            }
            resource
        }
    };
    let mut index = FileIndexer::default();
    let mut lines = LineCounter::new(resource.source());
    for entry in resource.entries() {
        match entry {
            ast::Entry::Message(message) => {
                let id = index.name(message.id.name);
                let line = lines.line_of(message.id.name) as u32;
                let mut variables = BTreeSet::new();
                let mut references = BTreeSet::new();
                if let Some(value) = &message.value {
                    pattern_variables(value, &mut variables, &mut references);
                }
                let mut anonymous = None;
                for attribute in &message.attributes {
                    let mut attribute_variables = BTreeSet::new();
                    pattern_variables(&attribute.value, &mut attribute_variables, &mut references);
                    if attribute.id.name == "anonymous" && anonymous.is_none() {
                        anonymous = Some(attribute_variables);
                    }
                }
                index.references.extend(references);
                let variables = index.variable_list(&variables);
                let anonymous_variables = anonymous.map(|vars| index.variable_list(&vars));
                let mut message = IndexedMessage {
                    id,
                    line,
                    variables,
                    anonymous_variables,
                    digest: 0,
                };
                message.digest = index.digest(&file.path, &message);
                index.messages.push(message);
            }
            ast::Entry::Term(term) => {
                let id = index.name(term.id.name);
                index.terms.push(id);
                let mut references = BTreeSet::new();
                let mut unused = BTreeSet::new();
                pattern_variables(&term.value, &mut unused, &mut references);
                for attribute in &term.attributes {
                    pattern_variables(&attribute.value, &mut unused, &mut references);
                }
                index.references.extend(references);
            }
            _ => {}
        }
    }
    let references: BTreeSet<(bool, &str)> = std::mem::take(&mut index.references);
    let references: Vec<Reference> = references
        .into_iter()
        .map(|(term, name)| Reference {
            term,
            name: index.name(name),
        })
        .collect();
    indexed.references = references.into_boxed_slice();
    indexed.names = index.names.into_boxed_str();
    indexed.variables = index.variables.into_boxed_slice();
    indexed.messages = index.messages.into_boxed_slice();
    indexed.terms = index.terms.into_boxed_slice();
    indexed
}

/// A file's index while it is made.
#[derive(Default)]
struct FileIndexer<'s> {
    names: String,
    variables: Vec<Name>,
    messages: Vec<IndexedMessage>,
    terms: Vec<Name>,
    /// `(is a term, id)` of what the file's entries reference.
    references: BTreeSet<(bool, &'s str)>,
}

impl<'s> FileIndexer<'s> {
    fn name(&mut self, name: &str) -> Name {
        let at = self.names.len() as u32;
        self.names.push_str(name);
        Name {
            at,
            len: name.len() as u32,
        }
    }

    fn text(&self, name: Name) -> &str {
        &self.names[name.at as usize..(name.at + name.len) as usize]
    }

    fn variable_list(&mut self, variables: &BTreeSet<&str>) -> (u32, u32) {
        let start = self.variables.len() as u32;
        for variable in variables {
            let name = self.name(variable);
            self.variables.push(name);
        }
        (start, variables.len() as u32)
    }

    /// What the catalog reads about the message, digested once here.
    fn digest(&self, path: &str, message: &IndexedMessage) -> u64 {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        let mut part = |bytes: &[u8]| {
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        part(path.as_bytes());
        part(&u64::from(message.line).to_le_bytes());
        let (start, count) = message.variables;
        for name in &self.variables[start as usize..(start + count) as usize] {
            part(self.text(*name).as_bytes());
        }
        match message.anonymous_variables {
            None => part(b"no anonymous form"),
            Some((start, count)) => {
                part(b"anonymous form");
                for name in &self.variables[start as usize..(start + count) as usize] {
                    part(self.text(*name).as_bytes());
                }
            }
        }
        hasher.digest()
    }
}

/// Assembles a locale's index from its indexed files, in order; a message defined again
/// (in the same file or a later one) is reported where it is defined again.
fn assemble(name: &str, langid: &LanguageIdentifier, files: Vec<Arc<IndexedFile>>) -> LocaleIndex {
    let mut messages: HashTable<(u32, u32)> = HashTable::new();
    let mut terms: HashTable<(u32, u32)> = HashTable::new();
    let mut errors = Vec::new();
    for (f, file) in files.iter().enumerate() {
        errors.extend(file.errors.iter().cloned());
        for (m, message) in file.messages.iter().enumerate() {
            let id = file.name(message.id);
            let existing = messages.find(name_hash(id), |(ef, em)| {
                let other = &files[*ef as usize];
                other.name(other.messages[*em as usize].id) == id
            });
            if let Some((ef, em)) = existing {
                let other = &files[*ef as usize];
                errors.push(FtlError {
                    locale: name.to_string(),
                    path: file.path.to_string(),
                    line: message.line as usize,
                    column: 1,
                    message: format!(
                        "message `{id}` is already defined in {}:{}",
                        other.path, other.messages[*em as usize].line
                    ),
                });
                continue;
            }
            messages.insert_unique(name_hash(id), (f as u32, m as u32), |(ef, em)| {
                let other = &files[*ef as usize];
                name_hash(other.name(other.messages[*em as usize].id))
            });
        }
        for (t, term) in file.terms.iter().enumerate() {
            let id = file.name(*term);
            let hash = name_hash(id);
            let defined = terms
                .find(hash, |(ef, et)| {
                    let other = &files[*ef as usize];
                    other.name(other.terms[*et as usize]) == id
                })
                .is_some();
            if !defined {
                terms.insert_unique(hash, (f as u32, t as u32), |(ef, et)| {
                    let other = &files[*ef as usize];
                    name_hash(other.name(other.terms[*et as usize]))
                });
            }
        }
    }
    LocaleIndex {
        name: Arc::from(name),
        langid: langid.clone(),
        bundle_plans: (0..files.len()).map(|_| OnceLock::new()).collect(),
        files,
        messages,
        terms,
        errors,
    }
}

/// The variables `pattern` uses, and the messages and terms it references.
fn pattern_variables<'s>(
    pattern: &ast::Pattern<&'s str>,
    out: &mut BTreeSet<&'s str>,
    references: &mut BTreeSet<(bool, &'s str)>,
) {
    for element in &pattern.elements {
        if let ast::PatternElement::Placeable { expression } = element {
            expression_variables(expression, out, references);
        }
    }
}

fn expression_variables<'s>(
    expression: &ast::Expression<&'s str>,
    out: &mut BTreeSet<&'s str>,
    references: &mut BTreeSet<(bool, &'s str)>,
) {
    match expression {
        ast::Expression::Select { selector, variants } => {
            inline_variables(selector, out, references);
            for variant in variants {
                pattern_variables(&variant.value, out, references);
            }
        }
        ast::Expression::Inline(inline) => inline_variables(inline, out, references),
    }
}

fn inline_variables<'s>(
    inline: &ast::InlineExpression<&'s str>,
    out: &mut BTreeSet<&'s str>,
    references: &mut BTreeSet<(bool, &'s str)>,
) {
    match inline {
        ast::InlineExpression::VariableReference { id } => {
            out.insert(id.name);
        }
        ast::InlineExpression::FunctionReference { arguments, .. } => {
            for argument in &arguments.positional {
                inline_variables(argument, out, references);
            }
            for named in &arguments.named {
                inline_variables(&named.value, out, references);
            }
        }
        ast::InlineExpression::MessageReference { id, .. } => {
            references.insert((false, id.name));
        }
        ast::InlineExpression::TermReference { id, arguments, .. } => {
            references.insert((true, id.name));
            // A term's own variables are its arguments, not the caller's; the
            // arguments' values are the caller's.
            if let Some(arguments) = arguments {
                for argument in &arguments.positional {
                    inline_variables(argument, out, references);
                }
                for named in &arguments.named {
                    inline_variables(&named.value, out, references);
                }
            }
        }
        ast::InlineExpression::Placeable { expression } => {
            expression_variables(expression, out, references)
        }
        _ => {}
    }
}

/// `work` over `items` on up to one thread per core (locales parse independently; a
/// large catalog's first build is mostly parsing), results in `items`' order.
fn in_parallel<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(items.len());
    if threads <= 1 {
        return items.iter().map(work).collect();
    }
    let work = &work;
    let mut results: Vec<Option<R>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    items
                        .iter()
                        .enumerate()
                        .skip(t)
                        .step_by(threads)
                        .map(|(i, item)| (i, work(item)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut results: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
        for worker in workers {
            // A panic in one worker is a panic of the build, as it would have been
            // without the threads.
            for (i, result) in worker
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e))
            {
                results[i] = Some(result);
            }
        }
        results
    });
    results
        .iter_mut()
        .map(|r| r.take().expect("every item worked"))
        .collect()
}

/// Parsed files and assembled locales, keyed by content, shared by every build in the
/// process (the live catalog, authoring's checks, previews, `tailor validate`): two
/// [`crate::memo::Memo`]s, so an entry no build has used for [`MEMO_KEEP_BUILDS`]
/// builds is dropped and the memo holds the live content and what the last few checks
/// looked at, not every version ever seen.
pub struct FluentMemo {
    files: crate::memo::Memo<Arc<IndexedFile>>,
    locales: crate::memo::Memo<Arc<LocaleIndex>>,
}

/// One build's rounds of the two memos.
#[derive(Clone, Copy)]
struct Build {
    files: u64,
    locales: u64,
}

/// How many builds an unused entry survives. A Fluent publish makes a new version of
/// its locale (tens of MB on a large catalog); with 16, twenty publishes held 1 GB more.
/// Four covers a check and the reloads around it.
const MEMO_KEEP_BUILDS: u64 = 4;

/// The process's memo of parsed Fluent.
pub fn memo() -> &'static FluentMemo {
    static MEMO: std::sync::OnceLock<FluentMemo> = std::sync::OnceLock::new();
    MEMO.get_or_init(|| FluentMemo {
        files: crate::memo::Memo::new(MEMO_KEEP_BUILDS),
        locales: crate::memo::Memo::new(MEMO_KEEP_BUILDS),
    })
}

impl FluentMemo {
    fn begin(&self) -> Build {
        Build {
            files: self.files.begin(),
            locales: self.locales.begin(),
        }
    }

    /// A locale's index: as assembled before when its files are the same, else from its
    /// files (each parsed and indexed only if it was not before).
    fn locale(
        &self,
        build: Build,
        name: &str,
        langid: &LanguageIdentifier,
        files: &[&FluentFile],
    ) -> Arc<LocaleIndex> {
        let keys: Vec<u128> = files
            .iter()
            .map(|f| {
                crate::memo::digest(&[name.as_bytes(), f.path.as_bytes(), f.source.as_bytes()])
            })
            .collect();
        let key_bytes: Vec<u8> = keys.iter().flat_map(|k| k.to_le_bytes()).collect();
        let locale_key = crate::memo::digest(&[name.as_bytes(), &key_bytes]);
        if let Some(built) = self.locales.get(build.locales, locale_key) {
            // Its files stay in use too: when one of them changes, the others are reused.
            for key in &keys {
                self.files.get(build.files, *key);
            }
            return built;
        }
        let indexed: Vec<Arc<IndexedFile>> = files
            .iter()
            .zip(&keys)
            .map(|(file, key)| {
                self.files
                    .get_or(build.files, *key, || Arc::new(index_file(name, file, *key)))
            })
            .collect();
        self.locales.get_or(build.locales, locale_key, || {
            Arc::new(assemble(name, langid, indexed))
        })
    }

    /// Drops what the last [`MEMO_KEEP_BUILDS`] builds did not use.
    fn finish(&self, build: Build) {
        self.files.finish(build.files);
        self.locales.finish(build.locales);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fluent_bundle::FluentValue;

    fn file(locale: &str, source: &str) -> FluentFile {
        FluentFile {
            locale: locale.into(),
            path: "test.ftl".into(),
            source: source.into(),
        }
    }

    fn l10n() -> L10n {
        let files = vec![
            file(
                "en",
                "hello = Hello, { $first_name }!\n    .anonymous = Hello!\npoints = { $points ->\n    [one] one point\n   *[other] { $points } points\n}\nonly-en = English only\n",
            ),
            file("fr", "hello = Bonjour, { $first_name } !\n    .anonymous = Bonjour !\n"),
            file("fr-CA", "hello = Allô, { $first_name }!\n    .anonymous = Allô!\n"),
            file(
                "pl",
                "points = { $points ->\n    [one] { $points } punkt\n    [few] { $points } punkty\n    [many] { $points } punktów\n   *[other] { $points } punktu\n}\n",
            ),
            file(
                "ar",
                "points = { $points ->\n    [zero] لا نقاط\n    [one] نقطة واحدة\n    [two] نقطتان\n    [few] { $points } نقاط\n    [many] { $points } نقطة\n   *[other] { $points } نقطة\n}\n",
            ),
        ];
        let (l10n, errors) = L10n::build(&files, "en");
        assert!(errors.is_empty(), "{errors:?}");
        l10n
    }

    /// `msg = ` then `levels` placeables nested inside each other.
    fn nested(levels: usize) -> String {
        format!(
            "msg = {}\"deep\"{}\n",
            "{ ".repeat(levels),
            " }".repeat(levels)
        )
    }

    #[test]
    fn placeables_nest_at_most_the_limit() {
        let (_, errors) = L10n::build(&[file("en", &nested(MAX_PLACEABLE_DEPTH))], "en");
        assert!(errors.is_empty(), "{errors:?}");
        let (_, errors) = L10n::build(&[file("en", &nested(MAX_PLACEABLE_DEPTH + 1))], "en");
        assert_eq!(errors.len(), 1, "{errors:?}");
        // `msg = ` is 6 characters; each level adds `{ `.
        let column = 7 + 2 * MAX_PLACEABLE_DEPTH;
        assert_eq!(
            (errors[0].line, errors[0].column),
            (1, column),
            "{errors:?}"
        );
        assert!(errors[0].message.contains("nest deeper"));
        // What used to abort the process.
        let (_, errors) = L10n::build(&[file("en", &nested(3_000))], "en");
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn a_duplicate_message_is_reported_where_it_is_defined_again() {
        let source = "a = A\n\n# b\nb = B\nmsg = first\nc = C\nmsg = second\n";
        let (_, errors) = L10n::build(&[file("en", source)], "en");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!((errors[0].line, errors[0].column), (7, 1), "{errors:?}");
        assert!(errors[0].message.contains("already defined in test.ftl:5"));
    }

    #[test]
    fn an_unclosed_placeable_then_a_quote_cannot_hide_a_deep_nest_nor_an_escape_panic() {
        // Found by the `fluent` fuzz target: the first aborted the process (the parser
        // recovers at `b`, the scan took the rest of that line for a string), the
        // second panicked inside fluent-syntax.
        let hidden = format!(
            "a = {{ $x\nb = text \" {}$y{}\n",
            "{ ".repeat(3_000),
            " }".repeat(3_000)
        );
        assert!(too_deeply_nested(&hidden).is_some());
        let escape = "x = { \"\\uaaa\u{e9}\" }\n";
        assert_eq!(bad_unicode_escape(escape), Some(7));
        let (_, errors) = L10n::build(&[file("en", escape)], "en");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains("escape"), "{errors:?}");
        assert_eq!(
            bad_unicode_escape("x = { \"\\u00E9 and \\U01F600\" } é\n"),
            None
        );
    }

    #[test]
    fn call_arguments_and_quotes_in_variant_text_cannot_hide_a_deep_nest() {
        // Found by the `fluent` fuzz target: each aborted the process.
        let calls = format!(
            "msg = {{ {}$x{} }}\n",
            "F(".repeat(5_000),
            ")".repeat(5_000)
        );
        assert!(too_deeply_nested(&calls).is_some());
        let quoted = format!(
            "msg = {{ $x ->\n   *[a] \" {}x{}\n}}\n",
            "{ ".repeat(5_000),
            " }".repeat(5_000)
        );
        assert!(too_deeply_nested(&quoted).is_some());
        // What real messages do stays well inside the limit.
        let real = "msg = { $n ->\n    [one] One (1) \"item\"\n   *[other] { NUMBER($n, minimumFractionDigits: 0) } items :(\n}\n";
        assert_eq!(too_deeply_nested(real), None);
        let (_, errors) = L10n::build(&[file("en", &calls)], "en");
        assert_eq!(errors.len(), 1, "{errors:?}");
    }

    #[test]
    fn braces_in_comments_and_strings_do_not_count_as_nesting() {
        // In comments any number; in a string literal up to the limit less the depth
        // (a line's string braces are counted as possible nesting: see the next test).
        let braces = "{".repeat(10);
        let source = format!(
            "# {braces}\nmsg = {{ \"{braces}\" }} and {{ \"\\\"{{\" }}\nother = }}}}}} {{ $x }}\n"
        );
        assert_eq!(too_deeply_nested(&source), None);
        let stray = format!("a = }}}}}}\nb = {}x{}\n", "{ ".repeat(17), " }".repeat(17));
        assert!(
            too_deeply_nested(&stray).is_some(),
            "a stray `}}` hides nothing"
        );
    }

    fn chain_names(l10n: &L10n, requested: &[&str]) -> Vec<String> {
        let requested: Vec<LanguageIdentifier> =
            requested.iter().map(|r| r.parse().unwrap()).collect();
        l10n.negotiate(&requested)
            .0
            .iter()
            .map(|i| l10n.locale_name(*i as usize).to_string())
            .collect()
    }

    fn is_trait(name: &str) -> bool {
        name == "first_name" || name == "points"
    }

    #[test]
    fn negotiation_falls_back_along_the_chain() {
        let l10n = l10n();
        assert_eq!(chain_names(&l10n, &["fr-CA"]), ["fr-CA", "fr", "en"]);
        // A Belgian gets French first, other French before English, English last.
        assert_eq!(chain_names(&l10n, &["fr-BE"]), ["fr", "fr-CA", "en"]);
        assert_eq!(chain_names(&l10n, &["de"]), ["en"]);
        assert_eq!(
            chain_names(&l10n, &["pl", "fr"]),
            ["pl", "fr", "fr-CA", "en"]
        );
    }

    fn named(locale: &str, path: &str, source: &str) -> FluentFile {
        FluentFile {
            locale: locale.into(),
            path: path.into(),
            source: source.into(),
        }
    }

    fn text(l10n: &L10n, id: &str) -> String {
        let chain = l10n.negotiate(&["en".parse().unwrap()]);
        let args = FluentArgs::new();
        let formatted = l10n.format(&chain, id, &args, false, &is_trait).unwrap();
        assert!(formatted.errors.is_empty(), "{:?}", formatted.errors);
        formatted.text
    }

    #[test]
    fn messages_and_terms_referenced_from_other_files_resolve() {
        // Each file is parsed apart when formatted: its bundle must bring in the files
        // defining what it references, transitively.
        let files = [
            named("en", "a.ftl", "greeting = { welcome }, from { -brand }\n"),
            named("en", "b.ftl", "welcome = Welcome to { -shop }\n"),
            named("en", "c.ftl", "-brand = Tailor\n-shop = { -brand } Shop\n"),
        ];
        let (l10n, errors) = L10n::build(&files, "en");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            text(&l10n, "greeting"),
            "Welcome to Tailor Shop, from Tailor"
        );
        assert_eq!(text(&l10n, "welcome"), "Welcome to Tailor Shop");
    }

    #[test]
    fn a_message_defined_in_two_files_formats_from_the_first_everywhere() {
        let files = [
            named("en", "a.ftl", "twice = first\n"),
            named("en", "b.ftl", "twice = second\nuses = said { twice }\n"),
        ];
        let (l10n, errors) = L10n::build(&files, "en");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(text(&l10n, "twice"), "first");
        assert_eq!(text(&l10n, "uses"), "said first");
        let info = l10n.message_info(0, "twice").unwrap();
        assert_eq!((info.path(), info.line()), ("a.ftl", 1));
    }

    #[test]
    fn the_index_keeps_variables_sorted_once_and_the_anonymous_form() {
        let source =
            "m = { $b } { $a } { $b ->\n   *[x] { $c }\n}\n    .anonymous = { $z }\nn = plain\n";
        let (l10n, _) = L10n::build(&[file("en", source)], "en");
        let m = l10n.message_info(0, "m").unwrap();
        assert_eq!(m.variables().collect::<Vec<_>>(), ["a", "b", "c"]);
        let anonymous: Vec<&str> = m.anonymous_variables().unwrap().collect();
        assert_eq!(anonymous, ["z"]);
        let n = l10n.message_info(0, "n").unwrap();
        assert_eq!(n.variables().count(), 0);
        assert!(n.anonymous_variables().is_none());
        assert_eq!(n.line(), 5);
    }

    #[test]
    fn parsed_resources_stay_within_the_cache_and_are_parsed_again_when_dropped() {
        // 16 files of about 1 MiB: twice the default cache.
        let filler = "# padding to make a large resource\n".repeat(30_000);
        let files: Vec<FluentFile> = (0..16)
            .map(|i| {
                named(
                    "en",
                    &format!("f{i}.ftl"),
                    &format!("{filler}m{i} = file {i} of a large catalog\n"),
                )
            })
            .collect();
        let (l10n, errors) = L10n::build(&files, "en");
        assert!(errors.is_empty(), "{errors:?}");
        for round in 0..2 {
            for i in 0..16 {
                assert_eq!(
                    text(&l10n, &format!("m{i}")),
                    format!("file {i} of a large catalog"),
                    "round {round}"
                );
            }
        }
        parsed_cache().run_pending_tasks();
        assert!(parsed_cache().weighted_size() > 0, "nothing kept parsed");
        let capacity = PARSED_CACHE_BYTES.load(std::sync::atomic::Ordering::Relaxed);
        assert!(
            parsed_cache().weighted_size() <= capacity,
            "{} bytes of source kept parsed, over {capacity}",
            parsed_cache().weighted_size()
        );
    }

    #[test]
    fn missing_message_falls_back_and_says_so() {
        let l10n = l10n();
        let chain = l10n.negotiate(&["fr-CA".parse().unwrap()]);
        let out = l10n
            .format(&chain, "only-en", &FluentArgs::new(), true, &is_trait)
            .unwrap();
        assert_eq!(out.text, "English only");
        assert!(out.fell_back);
        assert_eq!(&**l10n.locale_name(out.locale), "en");
        assert!(matches!(
            l10n.format(&chain, "nope", &FluentArgs::new(), true, &is_trait),
            Err(FormatError::Missing(_))
        ));
    }

    #[test]
    fn person_variables_and_anonymous_form() {
        let l10n = l10n();
        let chain = l10n.negotiate(&["fr".parse().unwrap()]);
        let mut args = FluentArgs::new();
        args.set("first_name", FluentValue::from("Zoé"));
        let out = l10n
            .format(&chain, "hello", &args, false, &is_trait)
            .unwrap();
        assert_eq!(out.text, "Bonjour, Zoé !");
        assert!(out.personal);
        let isolated = l10n
            .format(&chain, "hello", &args, true, &is_trait)
            .unwrap();
        assert_eq!(isolated.text, "Bonjour, \u{2068}Zoé\u{2069} !");
        let anonymous = l10n
            .format(&chain, "hello", &FluentArgs::new(), true, &is_trait)
            .unwrap();
        assert_eq!(anonymous.text, "Bonjour !");
        assert!(anonymous.anonymous && !anonymous.personal);
    }

    fn plural(l10n: &L10n, locale: &str, n: i64) -> String {
        let chain = l10n.negotiate(&[locale.parse().unwrap()]);
        let mut args = FluentArgs::new();
        args.set("points", FluentValue::from(n));
        l10n.format(&chain, "points", &args, false, &is_trait)
            .unwrap()
            .text
    }

    #[test]
    fn polish_and_arabic_plurals() {
        let l10n = l10n();
        assert_eq!(plural(&l10n, "pl", 1), "1 punkt");
        assert_eq!(plural(&l10n, "pl", 3), "3 punkty");
        assert_eq!(plural(&l10n, "pl", 22), "22 punkty");
        assert_eq!(plural(&l10n, "pl", 5), "5 punktów");
        assert_eq!(plural(&l10n, "pl", 12), "12 punktów");
        assert_eq!(plural(&l10n, "ar", 0), "لا نقاط");
        assert_eq!(plural(&l10n, "ar", 1), "نقطة واحدة");
        assert_eq!(plural(&l10n, "ar", 2), "نقطتان");
        assert_eq!(plural(&l10n, "ar", 7), "7 نقاط");
        assert_eq!(plural(&l10n, "ar", 11), "11 نقطة");
        assert_eq!(plural(&l10n, "en", 1), "one point");
        assert_eq!(plural(&l10n, "ar", 100), "100 نقطة");
        // CLDR puts 1003 in `few` (n % 100 = 3..10), but intl_pluralrules 7.0.2 compares
        // the whole integer, so Arabic numbers >= 100 land in `other`; see README.
    }

    #[test]
    fn syntax_errors_are_positioned() {
        let files = vec![file("en", "ok = fine\nbroken = { $x\n")];
        let (_, errors) = L10n::build(&files, "en");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 2);
    }
}
