//! Content as files: reading `content/` and `locales/` into a [`ContentSet`], and mapping
//! validation findings back to `file:line`.
//!
//! TOML syntax and type errors carry their own spans. For semantic findings the
//! [`SourceMap`] keeps, per file, the line of every table header and key, found by a
//! small line scan (the format is simple enough that this is exact for hand-written
//! files, and falls back to the table's header line otherwise).

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::model::{
    ChannelDef, ContentSet, FluentFile, PlacementDef, SegmentDef, TraitDef, VariantDef,
};
use super::{Issue, Loc};

/// A finding positioned in a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

#[derive(Default)]
struct KeyLines {
    /// (table name, array index, key; "" for the header) -> 1-based line
    entries: HashMap<(String, Option<usize>, String), usize>,
}

impl KeyLines {
    fn scan(source: &str) -> KeyLines {
        let mut lines = KeyLines::default();
        let mut counters: HashMap<String, usize> = HashMap::new();
        let mut section: (String, Option<usize>) = (String::new(), None);
        for (n, raw) in source.lines().enumerate() {
            let line = raw.trim();
            if let Some(name) = line.strip_prefix("[[").and_then(|l| l.split("]]").next()) {
                let name = name.trim().to_string();
                let counter = counters.entry(name.clone()).or_insert(0);
                section = (name, Some(*counter));
                *counter += 1;
            } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.split(']').next()) {
                let name = name.trim().to_string();
                // `[variant.fields]` belongs to the latest `[[variant]]`.
                let parent = name.split('.').next().unwrap_or_default();
                let index = counters.get(parent).map(|c| c - 1);
                section = (name, index);
            } else if let Some((key, _)) = line.split_once('=') {
                let key = key.trim().trim_matches('"');
                if !key.is_empty() && !line.starts_with('#') {
                    lines
                        .entries
                        .entry((section.0.clone(), section.1, key.to_string()))
                        .or_insert(n + 1);
                }
                continue;
            } else {
                continue;
            }
            lines
                .entries
                .entry((section.0.clone(), section.1, String::new()))
                .or_insert(n + 1);
        }
        lines
    }

    fn find(&self, table: &str, index: Option<usize>, key: &str) -> Option<usize> {
        self.entries
            .get(&(table.to_string(), index, key.to_string()))
            .copied()
    }
}

/// Where each definition came from.
#[derive(Default)]
pub struct SourceMap {
    channels: (PathBuf, KeyLines),
    traits: (PathBuf, KeyLines),
    segments: (PathBuf, KeyLines),
    policies: (PathBuf, KeyLines),
    /// Every placement and variants file.
    files: Vec<(PathBuf, KeyLines)>,
    /// Per placement: its file, and per variant its (file, index in that file).
    placements: Vec<PlacementSource>,
    locales_dir: PathBuf,
}

struct PlacementSource {
    file: usize,
    variants: Vec<(usize, usize)>,
}

impl SourceMap {
    fn placement_file(&self, placement: usize) -> Option<&(PathBuf, KeyLines)> {
        self.files.get(self.placements.get(placement)?.file)
    }

    fn variant_file(
        &self,
        placement: usize,
        variant: usize,
    ) -> Option<(&(PathBuf, KeyLines), usize)> {
        let (file, local) = *self.placements.get(placement)?.variants.get(variant)?;
        Some((self.files.get(file)?, local))
    }
}

impl SourceMap {
    pub fn locate(&self, issue: &Issue) -> FileError {
        let (path, line, column) = match &issue.at {
            Loc::Channels { channel, key } => {
                let (path, lines) = &self.channels;
                let line = channel.and_then(|i| {
                    key.and_then(|k| lines.find("channel", Some(i), k))
                        .or_else(|| lines.find("channel", Some(i), ""))
                });
                (path.clone(), line.unwrap_or(1), 1)
            }
            Loc::Traits { index } => {
                let (path, lines) = &self.traits;
                let line = index.and_then(|i| {
                    lines
                        .find("trait", Some(i), "id")
                        .or_else(|| lines.find("trait", Some(i), ""))
                });
                (path.clone(), line.unwrap_or(1), 1)
            }
            Loc::Segments { index } => {
                let (path, lines) = &self.segments;
                let line = index.and_then(|i| {
                    lines
                        .find("segment", Some(i), "rule")
                        .or_else(|| lines.find("segment", Some(i), ""))
                });
                (path.clone(), line.unwrap_or(1), 1)
            }
            Loc::Policies { index, key } => {
                let (path, lines) = &self.policies;
                let line = index.and_then(|i| {
                    key.and_then(|k| lines.find("policy", Some(i), k))
                        .or_else(|| lines.find("policy", Some(i), ""))
                });
                (path.clone(), line.unwrap_or(1), 1)
            }
            Loc::Placement { placement, key } => match self.placement_file(*placement) {
                Some((path, lines)) => (
                    path.clone(),
                    key.and_then(|k| lines.find("", None, k)).unwrap_or(1),
                    1,
                ),
                None => (PathBuf::from("<placement>"), 0, 0),
            },
            Loc::Variant {
                placement,
                variant,
                key,
            } => match self.variant_file(*placement, *variant) {
                Some(((path, lines), local)) => {
                    let line = key
                        .and_then(|k| lines.find("variant", Some(local), k))
                        .or_else(|| lines.find("variant", Some(local), ""))
                        .unwrap_or(1);
                    (path.clone(), line, 1)
                }
                None => (PathBuf::from("<placement>"), 0, 0),
            },
            Loc::VariantField {
                placement,
                variant,
                field,
            } => match self.variant_file(*placement, *variant) {
                Some(((path, lines), local)) => {
                    let line = lines
                        .find("variant.fields", Some(local), field)
                        .or_else(|| lines.find("variant", Some(local), "fields"))
                        .or_else(|| lines.find("variant", Some(local), ""))
                        .unwrap_or(1);
                    (path.clone(), line, 1)
                }
                None => (PathBuf::from("<placement>"), 0, 0),
            },
            Loc::Fluent {
                locale,
                path,
                line,
                column,
            } => (self.locales_dir.join(locale).join(path), *line, *column),
        };
        FileError {
            path,
            line,
            column,
            message: issue.message.clone(),
        }
    }
}

/// The content read from disk, with what could not be read.
pub struct Loaded {
    pub content: ContentSet,
    pub sources: SourceMap,
    /// Syntax and shape errors (the files they are in contribute nothing).
    pub errors: Vec<FileError>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelsFile {
    #[serde(default)]
    channel: Vec<ChannelDef>,
}

/// Variants kept apart from their placement (a campaign's file).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantsFile {
    placement: String,
    #[serde(default)]
    variant: Vec<VariantDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoliciesFile {
    #[serde(default, rename = "policy")]
    policies: Vec<crate::governance::policy::PolicyDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SegmentsFile {
    #[serde(default, rename = "segment")]
    segments: Vec<SegmentDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TraitsFile {
    #[serde(default, rename = "trait")]
    traits: Vec<TraitDef>,
}

fn read(path: &Path, errors: &mut Vec<FileError>) -> Option<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) => {
            errors.push(FileError {
                path: path.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read: {e}"),
            });
            None
        }
    }
}

fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    source: &str,
    errors: &mut Vec<FileError>,
) -> Option<T> {
    match toml::from_str::<T>(source) {
        Ok(value) => Some(value),
        Err(e) => {
            let (line, column) = e
                .span()
                .map_or((1, 1), |span| crate::l10n::line_col(source, span.start));
            errors.push(FileError {
                path: path.to_path_buf(),
                line,
                column,
                message: e.message().to_string(),
            });
            None
        }
    }
}

fn sorted_entries(dir: &Path, errors: &mut Vec<FileError>) -> Vec<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            let mut paths: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            paths
        }
        Err(e) => {
            errors.push(FileError {
                path: dir.to_path_buf(),
                line: 0,
                column: 0,
                message: format!("cannot read directory: {e}"),
            });
            Vec::new()
        }
    }
}

/// The content in a canonical order (every list by id, Fluent files by locale and
/// path), so two loads of the same files compare equal whatever the directory order.
pub fn normalised(mut content: ContentSet) -> ContentSet {
    content.channels.sort_by(|a, b| a.id.cmp(&b.id));
    content.traits.sort_by(|a, b| a.id.cmp(&b.id));
    content.segments.sort_by(|a, b| a.id.cmp(&b.id));
    content.policies.sort_by(|a, b| a.id.cmp(&b.id));
    content.placements.sort_by(|a, b| a.id.cmp(&b.id));
    for placement in &mut content.placements {
        placement.variants.sort_by(|a, b| a.id.cmp(&b.id));
    }
    content
        .fluent
        .sort_by(|a, b| (&a.locale, &a.path).cmp(&(&b.locale, &b.path)));
    content
}

/// Reads `content_dir` and `locales_dir`.
pub fn load(content_dir: &Path, locales_dir: &Path) -> Loaded {
    let mut errors = Vec::new();
    let mut content = ContentSet::default();
    let mut sources = SourceMap {
        locales_dir: locales_dir.to_path_buf(),
        ..SourceMap::default()
    };

    let channels_path = content_dir.join("channels.toml");
    if let Some(source) = read(&channels_path, &mut errors) {
        if let Some(file) = parse_toml::<ChannelsFile>(&channels_path, &source, &mut errors) {
            content.channels = file.channel;
        }
        sources.channels = (channels_path.clone(), KeyLines::scan(&source));
    }
    let traits_path = content_dir.join("traits.toml");
    if traits_path.exists() {
        if let Some(source) = read(&traits_path, &mut errors) {
            if let Some(file) = parse_toml::<TraitsFile>(&traits_path, &source, &mut errors) {
                content.traits = file.traits;
            }
            sources.traits = (traits_path.clone(), KeyLines::scan(&source));
        }
    }
    let segments_path = content_dir.join("segments.toml");
    if segments_path.exists() {
        if let Some(source) = read(&segments_path, &mut errors) {
            if let Some(file) = parse_toml::<SegmentsFile>(&segments_path, &source, &mut errors) {
                content.segments = file.segments;
            }
            sources.segments = (segments_path.clone(), KeyLines::scan(&source));
        }
    }
    let policies_path = content_dir.join("governance.toml");
    if policies_path.exists() {
        if let Some(source) = read(&policies_path, &mut errors) {
            if let Some(file) = parse_toml::<PoliciesFile>(&policies_path, &source, &mut errors) {
                content.policies = file.policies;
            }
            sources.policies = (policies_path.clone(), KeyLines::scan(&source));
        }
    }
    for path in sorted_entries(&content_dir.join("placements"), &mut errors) {
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let Some(source) = read(&path, &mut errors) else {
            continue;
        };
        if let Some(placement) = parse_toml::<PlacementDef>(&path, &source, &mut errors) {
            sources.placements.push(PlacementSource {
                file: sources.files.len(),
                variants: (0..placement.variants.len())
                    .map(|i| (sources.files.len(), i))
                    .collect(),
            });
            content.placements.push(placement);
            sources.files.push((path.clone(), KeyLines::scan(&source)));
        }
    }
    let variants_dir = content_dir.join("variants");
    let variant_files = if variants_dir.is_dir() {
        sorted_entries(&variants_dir, &mut errors)
    } else {
        Vec::new()
    };
    for path in variant_files {
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let Some(source) = read(&path, &mut errors) else {
            continue;
        };
        let Some(file) = parse_toml::<VariantsFile>(&path, &source, &mut errors) else {
            continue;
        };
        let lines = KeyLines::scan(&source);
        let Some(p) = content
            .placements
            .iter()
            .position(|p| p.id == file.placement)
        else {
            errors.push(FileError {
                path: path.clone(),
                line: lines.find("", None, "placement").unwrap_or(1),
                column: 1,
                message: format!("unknown placement `{}`", file.placement),
            });
            continue;
        };
        let file_index = sources.files.len();
        for (local, variant) in file.variant.into_iter().enumerate() {
            content.placements[p].variants.push(variant);
            sources.placements[p].variants.push((file_index, local));
        }
        sources.files.push((path.clone(), lines));
    }
    content.fluent = load_fluent(locales_dir, &mut errors);
    Loaded {
        content,
        sources,
        errors,
    }
}

/// Every `locales/<locale>/*.ftl` file, in name order.
fn load_fluent(locales_dir: &Path, errors: &mut Vec<FileError>) -> Vec<FluentFile> {
    let mut fluent = Vec::new();
    for locale_dir in sorted_entries(locales_dir, errors) {
        if !locale_dir.is_dir() {
            continue;
        }
        let locale = locale_dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        for path in sorted_entries(&locale_dir, errors) {
            if path.extension().and_then(|e| e.to_str()) != Some("ftl") {
                continue;
            }
            let Some(source) = read(&path, errors) else {
                continue;
            };
            fluent.push(FluentFile {
                locale: locale.clone(),
                path: path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_string(),
                source: source.into(),
            });
        }
    }
    fluent
}

#[derive(serde::Serialize)]
struct ChannelsOut<'a> {
    channel: &'a [ChannelDef],
}

#[derive(serde::Serialize)]
struct PoliciesOut<'a> {
    #[serde(rename = "policy")]
    policies: &'a [crate::governance::policy::PolicyDef],
}

#[derive(serde::Serialize)]
struct SegmentsOut<'a> {
    #[serde(rename = "segment")]
    segments: &'a [SegmentDef],
}

#[derive(serde::Serialize)]
struct TraitsOut<'a> {
    #[serde(rename = "trait")]
    traits: &'a [TraitDef],
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Encode {
        what: String,
        #[source]
        source: toml::ser::Error,
    },
}

/// Writes a content set as files: `channels.toml`, `traits.toml`, one file per
/// placement with all its variants (campaign files fold into their placement), and the
/// Fluent resources. Returns the files written. `load` of the result gives the same
/// content back.
pub fn write(
    content: &ContentSet,
    content_dir: &Path,
    locales_dir: &Path,
) -> Result<Vec<PathBuf>, ExportError> {
    let mut written = Vec::new();
    let mut put = |path: PathBuf, text: &str| -> Result<(), ExportError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ExportError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        std::fs::write(&path, text).map_err(|source| ExportError::Write {
            path: path.clone(),
            source,
        })?;
        written.push(path);
        Ok(())
    };
    put(
        content_dir.join("channels.toml"),
        &encode(
            "channels",
            &ChannelsOut {
                channel: &content.channels,
            },
        )?,
    )?;
    put(
        content_dir.join("traits.toml"),
        &encode(
            "traits",
            &TraitsOut {
                traits: &content.traits,
            },
        )?,
    )?;
    if !content.policies.is_empty() {
        put(
            content_dir.join("governance.toml"),
            &encode(
                "governance",
                &PoliciesOut {
                    policies: &content.policies,
                },
            )?,
        )?;
    }
    if !content.segments.is_empty() {
        put(
            content_dir.join("segments.toml"),
            &encode(
                "segments",
                &SegmentsOut {
                    segments: &content.segments,
                },
            )?,
        )?;
    }
    for placement in &content.placements {
        let text = encode(&placement.id, placement)?;
        put(
            content_dir
                .join("placements")
                .join(format!("{}.toml", placement.id)),
            &text,
        )?;
    }
    for file in &content.fluent {
        put(
            locales_dir.join(&file.locale).join(&file.path),
            &file.source,
        )?;
    }
    Ok(written)
}

fn encode<T: serde::Serialize>(what: &str, value: &T) -> Result<String, ExportError> {
    toml::to_string(value).map_err(|source| ExportError::Encode {
        what: what.to_string(),
        source,
    })
}

/// Everything `tailor validate` checks, as `file:line` findings (empty when valid).
pub fn check(
    content_dir: &Path,
    locales_dir: &Path,
    default_locale: &str,
) -> (Loaded, Vec<FileError>) {
    let loaded = load(content_dir, locales_dir);
    let findings = check_loaded(&loaded, default_locale);
    (loaded, findings)
}

/// A digest of loaded content (and of this version of Tailor, which decides how files
/// become stored documents): equal digests, nothing for an import to do. Recorded by
/// every import, so a restart with unchanged files skips checking and importing them.
pub fn digest(content: &ContentSet) -> String {
    use xxhash_rust::xxh3::Xxh3;
    let mut hasher = Xxh3::new();
    let mut part = |bytes: &[u8]| {
        hasher.update(&(bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    part(env!("CARGO_PKG_VERSION").as_bytes());
    for document in [
        serde_json::to_vec(&content.channels),
        serde_json::to_vec(&content.traits),
        serde_json::to_vec(&content.segments),
        serde_json::to_vec(&content.policies),
        serde_json::to_vec(&content.placements),
    ] {
        part(&document.unwrap_or_default());
    }
    for file in &content.fluent {
        part(file.locale.as_bytes());
        part(file.path.as_bytes());
        part(file.source.as_bytes());
    }
    format!("{:032x}", hasher.digest128())
}

/// Every finding of [`check`] on content already loaded.
pub fn check_loaded(loaded: &Loaded, default_locale: &str) -> Vec<FileError> {
    let mut findings = loaded.errors.clone();
    let (catalog, issues) = super::Catalog::compile(&loaded.content, default_locale, 0);
    findings.extend(issues.iter().map(|i| loaded.sources.locate(i)));
    findings.extend(
        super::check_channel_constraints(&catalog)
            .iter()
            .map(|i| loaded.sources.locate(i)),
    );
    findings.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
    findings.dedup();
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A content file nested far past any real one (arrays, inline tables) is a file
    /// error with its position, never a stack overflow: run in a small stack, so a
    /// parser that recursed per level would abort this test.
    #[test]
    fn deeply_nested_toml_is_an_error_not_a_crash() {
        let handle = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let depth = 100_000;
                let arrays = format!("x = {}{}", "[".repeat(depth), "]".repeat(depth));
                let tables = format!("x = {}{}", "{ a = ".repeat(depth), "}".repeat(depth));
                [arrays, tables].map(|source| {
                    let mut errors = Vec::new();
                    let parsed: Option<toml::Value> =
                        parse_toml(Path::new("content/deep.toml"), &source, &mut errors);
                    (parsed.is_none(), errors.len())
                })
            })
            .expect("thread");
        for (refused, errors) in handle.join().expect("no stack overflow") {
            assert!(refused && errors == 1);
        }
    }

    #[test]
    fn the_demo_content_round_trips_through_write_and_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let original = load(&root.join("content"), &root.join("locales"));
        assert!(original.errors.is_empty());
        let out = tempfile::tempdir().unwrap();
        write(
            &original.content,
            &out.path().join("content"),
            &out.path().join("locales"),
        )
        .unwrap();
        let again = load(&out.path().join("content"), &out.path().join("locales"));
        assert!(again.errors.is_empty(), "{:?}", again.errors);
        assert_eq!(normalised(again.content), normalised(original.content));
    }

    #[test]
    fn key_lines_follow_array_tables() {
        let source = "id = \"p\"\nchannels = [\"web\"]\n\n[[variant]]\nid = \"a\"\n\n[[variant]]\nid = \"b\"\nrule = 'x'\n[variant.fields]\ntitle = { message = \"m\" }\n";
        let lines = KeyLines::scan(source);
        assert_eq!(lines.find("", None, "channels"), Some(2));
        assert_eq!(lines.find("variant", Some(1), "rule"), Some(9));
        assert_eq!(lines.find("variant", Some(0), ""), Some(4));
        assert_eq!(lines.find("variant.fields", Some(1), "title"), Some(11));
    }
}
