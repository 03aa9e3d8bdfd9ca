//! Which `.tex` file of a project is the one to compile.
//!
//! Rules, in order (after arXiv's):
//! 1. An explicit choice wins; it must name a `.tex`/`.ltx` file of the
//!    project, otherwise the error lists the candidates.
//! 2. A project with a single `.tex`/`.ltx` file uses it.
//! 3. Otherwise the candidates are files that reach both `\documentclass`
//!    and `\begin{document}`, either themselves or through files they
//!    `\input`/`\include` (the Stacks project keeps its `\documentclass`
//!    in `preamble.tex`). Comments and verbatim environments are ignored,
//!    `standalone` and `subfiles` documents are skipped, and a candidate
//!    that another candidate inputs is a chapter, not a main file.
//! 4. Several candidates left: the first conventional name that picks
//!    exactly one wins (`main`, `paper`, `ms`, `article`, then the
//!    archive's stem). Otherwise the choice is ambiguous and the error lists
//!    the candidates, so the user can name one.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::Path;

/// Only the head of each file is read: a preamble never needs more.
const MAX_READ_BYTES: u64 = 4 << 20;

/// At most this much is read over all files of one project, so a project
/// of thousands of large `.tex` files costs a bounded amount of I/O.
const MAX_TOTAL_READ_BYTES: u64 = 64 << 20;

/// How deep `\input` chains are followed looking for `\documentclass`.
const MAX_INPUT_DEPTH: usize = 4;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MainFileError {
    #[error("the requested main file `{name}` is not in the project; candidates: {}", list(.candidates))]
    NotInProject {
        name: String,
        candidates: Vec<String>,
    },
    #[error("the requested main file `{name}` is not a .tex or .ltx file; candidates: {}", list(.candidates))]
    NotTex {
        name: String,
        candidates: Vec<String>,
    },
    #[error("the project has no .tex or .ltx file")]
    NoTexFile,
    #[error("no .tex file has both \\documentclass and \\begin{{document}}; .tex files: {}", list(.tex_files))]
    NoDocument { tex_files: Vec<String> },
    #[error("several files could be the main one: {}; name one explicitly", list(.candidates))]
    Ambiguous { candidates: Vec<String> },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "(none)".to_owned();
    }
    names.join(", ")
}

/// Picks the main file. `files` are the project's relative paths (as the
/// unpacker wrote them under `root`); the answer is one of them.
pub fn detect(
    root: &Path,
    files: &[String],
    explicit: Option<&str>,
    archive_stem: Option<&str>,
) -> Result<String, MainFileError> {
    let mut tex_files: Vec<&String> = files.iter().filter(|f| is_tex(f)).collect();
    tex_files.sort();

    if let Some(name) = explicit {
        return explicit_choice(root, files, &tex_files, name);
    }
    match tex_files.as_slice() {
        [] => return Err(MainFileError::NoTexFile),
        [only] => return Ok((*only).clone()),
        _ => {}
    }

    let project = Project::read(root, &tex_files);
    let candidates = project.candidates();
    if candidates.is_empty() {
        return Err(MainFileError::NoDocument {
            tex_files: tex_files.into_iter().cloned().collect(),
        });
    }
    pick(candidates, archive_stem)
}

fn explicit_choice(
    root: &Path,
    files: &[String],
    tex_files: &[&String],
    name: &str,
) -> Result<String, MainFileError> {
    let candidates = || {
        let project = Project::read(root, tex_files);
        let found = project.candidates();
        if found.is_empty() {
            tex_files.iter().map(|f| (*f).clone()).collect()
        } else {
            found
        }
    };
    let normalized = name.trim_start_matches("./");
    let Some(found) = files.iter().find(|f| f.as_str() == normalized) else {
        return Err(MainFileError::NotInProject {
            name: name.to_owned(),
            candidates: candidates(),
        });
    };
    if !is_tex(found) {
        return Err(MainFileError::NotTex {
            name: name.to_owned(),
            candidates: candidates(),
        });
    }
    Ok(found.clone())
}

fn pick(candidates: Vec<String>, archive_stem: Option<&str>) -> Result<String, MainFileError> {
    if let [only] = candidates.as_slice() {
        return Ok(only.clone());
    }
    let preferred = ["main", "paper", "ms", "article"]
        .into_iter()
        .chain(archive_stem)
        .map(str::to_lowercase);
    for name in preferred {
        let matching: Vec<&String> = candidates
            .iter()
            .filter(|c| stem(c).to_lowercase() == name)
            .collect();
        // Among same-named files the shallowest is the main one
        // (`main.tex` over `old/main.tex`); a tie stays ambiguous.
        let depth = |c: &String| c.matches('/').count();
        if let Some(min) = matching.iter().map(|c| depth(c)).min() {
            let shallowest: Vec<&&String> = matching.iter().filter(|c| depth(c) == min).collect();
            if let [one] = shallowest.as_slice() {
                return Ok((**one).clone());
            }
        }
    }
    Err(MainFileError::Ambiguous { candidates })
}

fn is_tex(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".tex") || lower.ends_with(".ltx")
}

/// File name without directory and extension.
fn stem(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').map_or(name, |(s, _)| s)
}

/// What one file says, comments and verbatim text removed.
#[derive(Default)]
struct Facts {
    /// The first `\documentclass{...}` (or `\documentstyle`) class.
    class: Option<String>,
    begins_document: bool,
    /// Project files it inputs, resolved to project paths.
    inputs: Vec<String>,
}

struct Project {
    tex_files: Vec<String>,
    facts: HashMap<String, Facts>,
}

impl Project {
    fn read(root: &Path, tex_files: &[&String]) -> Project {
        let known: HashSet<&str> = tex_files.iter().map(|f| f.as_str()).collect();
        let mut budget = MAX_TOTAL_READ_BYTES;
        let facts = tex_files
            .iter()
            .map(|file| {
                let text = read_head(&root.join(file.as_str()), &mut budget);
                ((*file).clone(), scan(&text, file, &known))
            })
            .collect();
        Project {
            tex_files: tex_files.iter().map(|f| (*f).clone()).collect(),
            facts,
        }
    }

    /// The class a file reaches, following inputs a few levels deep.
    fn class_of(&self, file: &str, depth: usize, seen: &mut HashSet<String>) -> Option<String> {
        if depth > MAX_INPUT_DEPTH || !seen.insert(file.to_owned()) {
            return None;
        }
        let facts = self.facts.get(file)?;
        if let Some(class) = &facts.class {
            return Some(class.clone());
        }
        facts
            .inputs
            .iter()
            .find_map(|input| self.class_of(input, depth + 1, seen))
    }

    fn begins_document(&self, file: &str, depth: usize, seen: &mut HashSet<String>) -> bool {
        if depth > MAX_INPUT_DEPTH || !seen.insert(file.to_owned()) {
            return false;
        }
        let Some(facts) = self.facts.get(file) else {
            return false;
        };
        facts.begins_document
            || facts
                .inputs
                .iter()
                .any(|input| self.begins_document(input, depth + 1, seen))
    }

    fn candidates(&self) -> Vec<String> {
        let documents: Vec<&String> = self
            .tex_files
            .iter()
            .filter(|file| {
                let class = self.class_of(file, 0, &mut HashSet::new());
                let usable = class.is_some_and(|c| c != "standalone" && c != "subfiles");
                usable && self.begins_document(file, 0, &mut HashSet::new())
            })
            .collect();
        // A document another document inputs is a chapter (lshort's
        // chapters carry their own `\documentclass` examples).
        let included: HashSet<&String> = documents
            .iter()
            .flat_map(|d| self.facts[*d].inputs.iter())
            .filter(|input| documents.contains(input))
            .collect();
        let top: Vec<String> = documents
            .iter()
            .filter(|d| !included.contains(**d))
            .map(|d| (*d).clone())
            .collect();
        if top.is_empty() {
            documents.into_iter().cloned().collect()
        } else {
            top
        }
    }
}

/// The head of a regular file, charged to `budget`. Anything else (a
/// symlink, a directory, a device) reads as empty: the unpacker should
/// never leave one, and following it could read outside the project.
fn read_head(path: &Path, budget: &mut u64) -> String {
    let mut bytes = Vec::new();
    let regular = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file());
    if regular && *budget > 0 {
        if let Ok(file) = std::fs::File::open(path) {
            let _ = file
                .take(MAX_READ_BYTES.min(*budget))
                .read_to_end(&mut bytes);
        }
        *budget -= bytes.len() as u64;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Verbatim-like environments whose content is text, not commands.
const VERBATIM_ENVIRONMENTS: &[&str] = &[
    "verbatim",
    "verbatim*",
    "Verbatim",
    "lstlisting",
    "minted",
    "comment",
    "alltt",
    "filecontents",
    "filecontents*",
    "BVerbatim",
    "LVerbatim",
];

fn scan(text: &str, file: &str, known: &HashSet<&str>) -> Facts {
    let text = significant_text(text);
    let mut facts = Facts::default();
    let dir = file.rsplit_once('/').map(|(d, _)| d);
    // Whole-text search: `\documentclass[` with its options on the
    // following lines is common (abnTeX2's example does it).
    for command in ["\\documentclass", "\\documentstyle"] {
        if let Some(class) = argument_after(&text, command) {
            facts.class = Some(class.trim().to_owned());
            break;
        }
    }
    facts.begins_document = text.contains("\\begin{document}");
    for command in ["\\input", "\\include", "\\subfile", "\\InputIfFileExists"] {
        for name in arguments_after(&text, command) {
            if let Some(path) = resolve(&name, dir, known) {
                facts.inputs.push(path);
            }
        }
    }
    for command in ["\\import", "\\subimport", "\\inputfrom", "\\includefrom"] {
        for (base, name) in two_arguments_after(&text, command) {
            let joined = format!("{}/{}", base.trim_end_matches('/'), name);
            let base_dir = if command.starts_with("\\sub") {
                dir
            } else {
                None
            };
            if let Some(path) = resolve(&joined, base_dir, known) {
                facts.inputs.push(path);
            }
        }
    }
    facts
}

/// The text TeX would read as commands: comments and the bodies of
/// verbatim-like environments removed.
fn significant_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_verbatim: Option<&str> = None;
    for raw in text.lines() {
        let line = strip_comment(raw);
        if let Some(env) = in_verbatim {
            if line.contains(&format!("\\end{{{env}}}")) {
                in_verbatim = None;
            }
            continue;
        }
        if let Some(env) = VERBATIM_ENVIRONMENTS
            .iter()
            .find(|env| line.contains(&format!("\\begin{{{env}}}")))
        {
            in_verbatim = Some(env);
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The line up to its first unescaped `%`.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%' {
            let backslashes = bytes[..i].iter().rev().take_while(|&&c| c == b'\\').count();
            if backslashes % 2 == 0 {
                return &line[..i];
            }
        }
    }
    line
}

/// The braced argument of `command` (skipping an optional `[...]`),
/// e.g. `\documentclass[a4paper]{article}` → `article`. The command must
/// not continue with letters (`\inputencoding` is not `\input`).
fn argument_after(line: &str, command: &str) -> Option<String> {
    arguments_after(line, command).into_iter().next()
}

fn arguments_after(line: &str, command: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find(command) {
        let after = &rest[at + command.len()..];
        rest = after;
        if after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '@') {
            continue;
        }
        let after = skip_optional(after.trim_start());
        if let Some(body) = after.strip_prefix('{') {
            if let Some(end) = body.find('}') {
                found.push(body[..end].trim().trim_matches('"').to_owned());
            }
        } else if command == "\\input" {
            // TeX's primitive form: `\input chapter1` ends at a space.
            let name: String = after
                .chars()
                .take_while(|c| !c.is_whitespace() && *c != '\\' && *c != '}')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

fn two_arguments_after(line: &str, command: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find(command) {
        let after = &rest[at + command.len()..];
        rest = after;
        if after.starts_with(|c: char| c.is_ascii_alphabetic()) {
            continue;
        }
        let Some(first) = after.trim_start().strip_prefix('{') else {
            continue;
        };
        let Some(end) = first.find('}') else { continue };
        let Some(second) = first[end + 1..].trim_start().strip_prefix('{') else {
            continue;
        };
        let Some(end2) = second.find('}') else {
            continue;
        };
        found.push((
            first[..end].trim().to_owned(),
            second[..end2].trim().to_owned(),
        ));
    }
    found
}

fn skip_optional(text: &str) -> &str {
    if let Some(body) = text.strip_prefix('[') {
        if let Some(end) = body.find(']') {
            return body[end + 1..].trim_start();
        }
    }
    text
}

/// A project path for an input name: as written, then with `.tex`, first
/// relative to the project root (TeX's working directory), then to the
/// including file's directory.
fn resolve(name: &str, dir: Option<&str>, known: &HashSet<&str>) -> Option<String> {
    let name = name.trim().trim_start_matches("./");
    if name.is_empty() {
        return None;
    }
    let mut bases = vec![String::new()];
    if let Some(dir) = dir {
        bases.push(format!("{dir}/"));
    }
    for base in &bases {
        for candidate in [format!("{base}{name}"), format!("{base}{name}.tex")] {
            if known.contains(candidate.as_str()) {
                return Some(candidate);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A project in a temp dir: (path, content) pairs.
    fn project(files: &[(&str, &str)]) -> (tempfile::TempDir, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        for (path, content) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, content).unwrap();
        }
        (dir, files.iter().map(|(p, _)| p.to_string()).collect())
    }

    const DOC: &str = "\\documentclass{article}\n\\begin{document}\nx\n\\end{document}\n";

    #[test]
    fn lone_tex_file_wins_even_without_documentclass() {
        let (dir, files) = project(&[("notes.tex", "hello"), ("fig.png", "")]);
        assert_eq!(detect(dir.path(), &files, None, None).unwrap(), "notes.tex");
    }

    #[test]
    fn explicit_must_exist_and_be_tex() {
        let (dir, files) = project(&[("a.tex", DOC), ("b.tex", DOC), ("x.bib", "")]);
        assert_eq!(
            detect(dir.path(), &files, Some("./b.tex"), None).unwrap(),
            "b.tex"
        );
        let err = detect(dir.path(), &files, Some("c.tex"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the requested main file `c.tex` is not in the project; candidates: a.tex, b.tex"
        );
        let err = detect(dir.path(), &files, Some("x.bib"), None).unwrap_err();
        assert!(matches!(err, MainFileError::NotTex { .. }), "{err}");
        let err = detect(dir.path(), &files, Some("../a.tex"), None).unwrap_err();
        assert!(matches!(err, MainFileError::NotInProject { .. }), "{err}");
    }

    #[test]
    fn conventional_names_break_ties() {
        let (dir, files) = project(&[
            ("draft.tex", DOC),
            ("paper.tex", DOC),
            ("old/main.tex", DOC),
        ]);
        assert_eq!(
            detect(dir.path(), &files, None, None).unwrap(),
            "old/main.tex"
        );
        let (dir, files) = project(&[("draft.tex", DOC), ("report.tex", DOC)]);
        assert_eq!(
            detect(dir.path(), &files, None, Some("report")).unwrap(),
            "report.tex"
        );
        let err = detect(dir.path(), &files, None, None).unwrap_err();
        assert_eq!(
            err,
            MainFileError::Ambiguous {
                candidates: vec!["draft.tex".into(), "report.tex".into()]
            }
        );
        assert!(err.to_string().contains("draft.tex, report.tex"));
    }

    #[test]
    fn comments_verbatim_standalone_and_subfiles_are_skipped() {
        let (dir, files) = project(&[
            (
                "commented.tex",
                "% \\documentclass{article}\n%\\begin{document}\n",
            ),
            (
                "escaped.tex",
                "50\\% \\documentclass{article} \\\\% \\begin{document}\n",
            ),
            (
                "listing.tex",
                "\\begin{verbatim}\n\\documentclass{article}\n\\begin{document}\n\\end{verbatim}\n",
            ),
            (
                "fig.tex",
                "\\documentclass[tikz]{standalone}\n\\begin{document}\n",
            ),
            (
                "ch1.tex",
                "\\documentclass[main.tex]{subfiles}\n\\begin{document}\n",
            ),
            ("thesis.tex", DOC),
        ]);
        assert_eq!(
            detect(dir.path(), &files, None, None).unwrap(),
            "thesis.tex"
        );
    }

    #[test]
    fn documentclass_reached_through_input() {
        let (dir, files) = project(&[
            (
                "preamble.tex",
                "\\IfFileExists{x.cls}{\\documentclass{x}}{\\documentclass{amsart}}\n",
            ),
            (
                "brauer.tex",
                "\\input{preamble}\n\\begin{document}\n\\input chapters\n\\end{document}\n",
            ),
            ("chapters.tex", "\\section{x}"),
        ]);
        assert_eq!(
            detect(dir.path(), &files, None, None).unwrap(),
            "brauer.tex"
        );
    }

    #[test]
    fn included_documents_are_chapters() {
        let (dir, files) = project(&[
            ("book.tex", "\\documentclass{book}\\begin{document}\\input{chap/one}\\include{chap/two}\\end{document}"),
            ("chap/one.tex", "\\begin{Verbatim}\n\\documentclass{book}\n\\end{Verbatim}\n\\documentclass{article}\\begin{document}"),
            ("chap/two.tex", DOC),
        ]);
        assert_eq!(detect(dir.path(), &files, None, None).unwrap(), "book.tex");
    }

    #[test]
    fn symlinks_are_not_followed() {
        let (dir, mut files) = project(&[("a.tex", DOC), ("b.tex", "\\section{b}")]);
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("doc.tex"), DOC).unwrap();
        std::os::unix::fs::symlink(outside.path().join("doc.tex"), dir.path().join("link.tex"))
            .unwrap();
        files.push("link.tex".into());
        assert_eq!(detect(dir.path(), &files, None, None).unwrap(), "a.tex");
    }

    #[test]
    fn reading_is_bounded() {
        let mut budget = 10;
        let (dir, _) = project(&[("big.tex", &"x".repeat(100))]);
        assert_eq!(
            read_head(&dir.path().join("big.tex"), &mut budget).len(),
            10
        );
        assert_eq!(budget, 0);
        assert_eq!(read_head(&dir.path().join("big.tex"), &mut budget), "");
    }

    #[test]
    fn odd_file_names_work() {
        let (dir, files) = project(&[("-main draft.tex", DOC), ("my sec.tex", "\\section{a}")]);
        assert_eq!(
            detect(dir.path(), &files, None, None).unwrap(),
            "-main draft.tex"
        );
        assert_eq!(
            detect(dir.path(), &files, Some("-main draft.tex"), None).unwrap(),
            "-main draft.tex"
        );
    }

    #[test]
    fn no_document_and_no_tex() {
        let (dir, files) = project(&[("a.tex", "x"), ("b.tex", "y")]);
        assert!(matches!(
            detect(dir.path(), &files, None, None),
            Err(MainFileError::NoDocument { .. })
        ));
        let (dir, files) = project(&[("a.txt", "x")]);
        assert_eq!(
            detect(dir.path(), &files, None, None),
            Err(MainFileError::NoTexFile)
        );
    }

    #[test]
    fn input_parsing_details() {
        assert_eq!(strip_comment("a \\% b % c"), "a \\% b ");
        assert_eq!(
            argument_after("\\documentclass [x,y] { amsart }", "\\documentclass").as_deref(),
            Some("amsart")
        );
        assert_eq!(
            arguments_after("\\inputencoding{x}\\input{a}\\input b", "\\input"),
            vec!["a", "b"]
        );
    }
}
