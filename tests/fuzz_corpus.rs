//! The fuzz corpora as ordinary tests, on stable: every file of `fuzz/corpus/<target>/`
//! (the seeds) and of `fuzz/regressions/<target>/` (every crash the fuzzers found, and
//! inputs that once brought Tailor down) goes through the target's body in
//! `tailor::fuzzing`, which must not panic. A missing or empty directory fails the test,
//! so a renamed target cannot quietly test nothing. See `fuzz/README.md`.
//!
//! `FUZZ_CORPUS_VERBOSE=1 cargo test --test fuzz_corpus -- --nocapture` names each file
//! before running it (for an input that aborts the process, e.g. a stack overflow).

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// The corpus and regression inputs of `target`, in name order.
fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = fuzz.join(kind).join(target);
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (every target needs one)", dir.display()));
        let mut found: Vec<PathBuf> = entries
            .map(|entry| entry.expect("a directory entry").path())
            .filter(|path| path.is_file())
            .collect();
        assert!(
            !found.is_empty(),
            "{} has no input: a target must never test nothing",
            dir.display()
        );
        found.sort();
        files.extend(found);
    }
    files
}

/// Runs every input of `target` through `body`; fails naming each input that panicked.
fn replay(target: &str, body: fn(&[u8])) {
    let verbose = std::env::var_os("FUZZ_CORPUS_VERBOSE").is_some();
    let mut failed = Vec::new();
    let files = inputs(target);
    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if verbose {
            // Straight to stderr, past the test harness's capture: the last name shown
            // is the input that aborted the process, if one does.
            let _ = writeln!(std::io::stderr(), "{target}: {}", path.display());
        }
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(&data))) {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            failed.push(format!("{}: {message}", path.display()));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {} {target} inputs panicked:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
}

#[test]
fn rule() {
    replay("rule", tailor::fuzzing::rule);
}

#[test]
fn content_file() {
    replay("content_file", tailor::fuzzing::content_file);
}

#[test]
fn fluent() {
    replay("fluent", tailor::fuzzing::fluent);
}

#[test]
fn events() {
    replay("events", tailor::fuzzing::events);
}

#[test]
fn identify() {
    replay("identify", tailor::fuzzing::identify);
}

#[test]
fn tracking_token() {
    replay("tracking_token", tailor::fuzzing::tracking_token);
}

#[test]
fn accept_language() {
    replay("accept_language", tailor::fuzzing::accept_language);
}
