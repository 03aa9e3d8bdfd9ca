//! Which `.tex` file of a project is the one to compile.
//!
//! Rules, in order (after arXiv's):
//! 1. An explicit choice wins; it must name a `.tex`/`.ltx` file of the
//!    project, otherwise the error lists the candidates (best first).
//! 2. A project with a single `.tex`/`.ltx` file uses it.
//! 3. Otherwise the candidates are files that reach both `\documentclass`
//!    and `\begin{document}`, either themselves or through files they
//!    `\input`/`\include` (the Stacks project keeps its `\documentclass`
//!    in `preamble.tex`). Comments and verbatim environments are ignored,
//!    `standalone` and `subfiles` documents are skipped, and a candidate
//!    that another candidate inputs is a chapter, not a main file.
//! 4. Several candidates are ranked, never refused; the best one is the
//!    main file and the others are reported, best first. The sort key,
//!    weightiest first (each step only orders what the steps before left
//!    equal):
//!    1. Not a side document. A side document is named, by a word of its
//!       file name or of a folder above it, like a reply to reviewers or a
//!       cover letter (`response`, `rebuttal`, `reviewer`, `letter`,
//!       `cover`, ...), an old, discarded or marked-up copy (`old`, `orig`,
//!       `backup`, `copy`, `clean`, `diff`, `draft`, `markup`,
//!       `trackedchanges`, `latexdiff`, `archive`, `unused`, ...), an
//!       example or template (`example`, `sample`, `template`, `test`,
//!       `demo`), a companion (`handout`, `script`, `supplement`,
//!       `supplementary`, `appendix`, `abstract`, `errata`, `solutions`),
//!       or it uses a letter class (`letter`, `*letter`, `scrlttr2`, ...).
//!       Names are compared word by word (see [`name_tokens`]), so
//!       `contrastive.tex` is no `test` and `letterpaper` no `letter`.
//!    2. The shallowest folder: the project root first.
//!    3. The version a name marks (beside the other candidates of its
//!       folder):
//!       - first a name qualified as the final or on-screen version
//!         (`paper_final`, `x_accepted`, `camera-ready`, `published`,
//!         `revised`; `book-online`, `-web`, `-screen`, `-html`), the
//!         qualifier being a later word of the name, not its first one;
//!       - then plain names;
//!       - last a variant of a sibling's name: the sibling's words plus
//!         more (`realanal2` and `realanal12` beside `realanal`,
//!         `paper.lncs` and `paper-v2` beside `paper`), or the same name
//!         carrying a LuaLaTeX/XeLaTeX engine word (`template-lualatex`
//!         beside `template` or `template-pdflatex`).
//!    4. Inputs the most of the project's other `.tex` files (followed
//!       transitively, [`MAX_COUNT_DEPTH`] levels deep).
//!    5. A `.bbl` or `.bcf` with the same stem beside it.
//!    6. A bibliography (`\bibliography`, `\addbibresource`,
//!       `\printbibliography`, `thebibliography`, amsrefs' `biblist`) in
//!       the file or a file it inputs.
//!    7. A conventional name: `main`, `paper`, `ms`, `article`,
//!       `manuscript`, `thesis`, `dissertation`, or the archive's stem.
//!    8. The bigger file.
//!    9. Path order (byte order of the project-relative path), so a true
//!       tie is still decided the same way every time.

use std::cmp::{Ordering, Reverse};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Read;
use std::path::Path;

use super::tex_source::VERBATIM_ENVIRONMENTS;

/// Only the head of each file is read: a preamble never needs more.
const MAX_READ_BYTES: u64 = 4 << 20;

/// At most this much is read over all files of one project, so a project
/// of thousands of large `.tex` files costs a bounded amount of I/O.
const MAX_TOTAL_READ_BYTES: u64 = 64 << 20;

/// How deep `\input` chains are followed looking for `\documentclass`.
const MAX_INPUT_DEPTH: usize = 4;

/// How deep `\input` chains are followed counting a candidate's inputs
/// and looking for its bibliography: deeper than [`MAX_INPUT_DEPTH`], as
/// theses nest `content/<part>/<section>.tex` under a driver that may
/// itself be reached through another file.
const MAX_COUNT_DEPTH: usize = 8;

/// The chosen main file and how it was chosen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct MainChoice {
    /// Project-relative path of the main file.
    pub file: String,
    /// True when detection chose it (no explicit choice).
    pub automatic: bool,
    /// The other candidates, best first (empty when the choice was
    /// explicit or there was one candidate).
    pub others: Vec<String>,
    /// One short sentence a user reads saying why.
    pub reason: String,
}

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
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        return "(none)".to_owned();
    }
    names.join(", ")
}

/// Picks the main file. `files` are the project's relative paths (as the
/// unpacker wrote them under `root`); the answer is one of them.
/// `archive_stem` is the uploaded archive's name without its extension.
pub fn detect(
    root: &Path,
    files: &[String],
    explicit: Option<&str>,
    archive_stem: Option<&str>,
) -> Result<MainChoice, MainFileError> {
    let mut tex_files: Vec<&String> = files.iter().filter(|f| is_tex(f)).collect();
    tex_files.sort();

    if let Some(name) = explicit {
        let file = explicit_choice(root, files, &tex_files, name, archive_stem)?;
        return Ok(MainChoice {
            file,
            automatic: false,
            others: Vec::new(),
            reason: "named explicitly".to_owned(),
        });
    }
    match tex_files.as_slice() {
        [] => return Err(MainFileError::NoTexFile),
        [only] => {
            return Ok(MainChoice {
                file: (*only).clone(),
                automatic: true,
                others: Vec::new(),
                reason: "the only .tex file".to_owned(),
            })
        }
        _ => {}
    }

    let project = Project::read(root, &tex_files);
    let candidates = project.candidates();
    if let [only] = candidates.as_slice() {
        return Ok(MainChoice {
            file: only.clone(),
            automatic: true,
            others: Vec::new(),
            reason: "the only .tex file with \\documentclass and \\begin{document}".to_owned(),
        });
    }
    let ranked = project.rank(&candidates, files, archive_stem);
    let Some(best) = ranked.first() else {
        return Err(MainFileError::NoDocument {
            tex_files: tex_files.into_iter().cloned().collect(),
        });
    };
    Ok(MainChoice {
        file: best.file.clone(),
        automatic: true,
        others: ranked[1..].iter().map(|r| r.file.clone()).collect(),
        reason: reason(&ranked),
    })
}

fn explicit_choice(
    root: &Path,
    files: &[String],
    tex_files: &[&String],
    name: &str,
    archive_stem: Option<&str>,
) -> Result<String, MainFileError> {
    let candidates = || {
        let project = Project::read(root, tex_files);
        let found = project.candidates();
        if found.is_empty() {
            tex_files.iter().map(|f| (*f).clone()).collect()
        } else {
            project
                .rank(&found, files, archive_stem)
                .into_iter()
                .map(|r| r.file)
                .collect()
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

fn is_tex(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    lower.ends_with(".tex") || lower.ends_with(".ltx")
}

/// File name without directory and extension.
fn stem(path: &str) -> &str {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').map_or(name, |(s, _)| s)
}

/// The folder of a project path, `""` at the root.
fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

// ---------------------------------------------------------------------
// Names
// ---------------------------------------------------------------------

/// Words that make a file a side document rather than the main one: a
/// reply or letter that goes with the paper, an earlier or marked-up
/// copy of it, an example or template (often a vendored package's), or a
/// companion document (handout, supplement, abstract, errata, ...).
const SIDE_WORDS: &[&str] = &[
    // replies and letters
    "response",
    "reply",
    "rebuttal",
    "reviewer",
    "referee",
    "letter",
    "coverletter",
    "cover",
    // earlier, backup and marked-up copies
    "old",
    "orig",
    "original",
    "backup",
    "bak",
    "copy",
    "clean",
    "diff",
    "draft",
    "markup",
    "tracked",
    "trackedchanges",
    "changes",
    "latexdiff",
    "previous",
    "archive",
    "legacy",
    "obsolete",
    "deprecated",
    "unused",
    "trash",
    "scratch",
    // examples and templates
    "example",
    "sample",
    "template",
    "test",
    "demo",
    // companions
    "handout",
    "script",
    "supplement",
    "supplementary",
    "supplemental",
    "supp",
    "appendix",
    "appendices",
    "abstract",
    "errata",
    "erratum",
    "solutions",
];

/// Words that, qualifying a name, mark the version that counts: the
/// final one, or the one made for reading on screen (which suits HTML
/// better than a print edition).
const PREFERRED_WORDS: &[&str] = &[
    "final",
    "accepted",
    "cameraready",
    "published",
    "revised",
    "online",
    "web",
    "screen",
    "html",
];

/// Engine words that mark a LuaLaTeX/XeLaTeX variant of a document.
/// `pdflatex` is dropped when names are compared, but marks no variant:
/// pdfLaTeX is the default engine.
const VARIANT_ENGINES: &[&str] = &["lualatex", "xelatex", "luatex", "xetex", "lua", "xe"];
const ENGINES: &[&str] = &[
    "lualatex", "xelatex", "luatex", "xetex", "lua", "xe", "pdflatex", "pdftex",
];

/// Conventional main-file names (whole stems, case-insensitive).
const CONVENTIONAL_NAMES: &[&str] = &[
    "main",
    "paper",
    "ms",
    "article",
    "manuscript",
    "thesis",
    "dissertation",
];

/// Document classes of letters (`letter`, `*letter`, KOMA's `scrlttr2`,
/// French `lettre`, German `dinbrief`).
fn is_letter_class(class: &str) -> bool {
    let name = class.rsplit('/').next().unwrap_or(class).to_lowercase();
    name.ends_with("letter") || ["scrlttr2", "lettre", "dinbrief"].contains(&name.as_str())
}

/// TeX logos that camelCase splitting would cut up (`LaTeX` → `La`, `Te`,
/// `X`), longest first.
const TEX_WORDS: &[&str] = &[
    "lualatex", "xelatex", "pdflatex", "luatex", "xetex", "pdftex", "latex", "tex",
];

/// `name` with mixed-case spellings of [`TEX_WORDS`] lower-cased (a
/// space before one that starts a camelCase word: `paperLuaLaTeX` →
/// `paper lualatex`). All-lower and all-upper spellings are left alone,
/// so `TEXT` and `context` keep their words.
fn normalize_tex_words(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    let mut rest = name;
    'chars: while let Some(c) = rest.chars().next() {
        for word in TEX_WORDS {
            let Some(spelled) = rest.get(..word.len()) else {
                continue;
            };
            let mixed = spelled != *word && spelled != word.to_ascii_uppercase();
            if mixed && spelled.eq_ignore_ascii_case(word) {
                if c.is_uppercase() && out.chars().last().is_some_and(char::is_lowercase) {
                    out.push(' ');
                }
                out.push_str(word);
                rest = &rest[word.len()..];
                continue 'chars;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// The words of one file or folder name, lower-cased: split on anything
/// that is not a letter or digit (`-`, `_`, `.`, space, ...), between
/// letters and digits (`realanal12` → `realanal`, `12`) and at camelCase
/// boundaries (`coverLetter` → `cover`, `letter`; `HTMLPage` → `html`,
/// `page`). Mixed-case TeX logos are read as lower-case words first (see
/// [`normalize_tex_words`]), so `LuaLaTeX`, `XeTeX` and `LaTeXdiff` stay
/// whole.
fn name_tokens(name: &str) -> Vec<String> {
    let text = normalize_tex_words(name);
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                tokens.push(std::mem::take(&mut current).to_lowercase());
            }
            continue;
        }
        if let Some(&prev) = i.checked_sub(1).and_then(|p| chars.get(p)) {
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            let boundary = prev.is_alphanumeric()
                && (prev.is_numeric() != c.is_numeric()
                    || (prev.is_lowercase() && c.is_uppercase())
                    || (prev.is_uppercase() && c.is_uppercase() && next_lower));
            if boundary && !current.is_empty() {
                tokens.push(std::mem::take(&mut current).to_lowercase());
            }
        }
        current.push(c);
    }
    if !current.is_empty() {
        tokens.push(current.to_lowercase());
    }
    tokens
}

/// The first entry of `words` that `tokens` spell: one token, one token
/// without a plural `s` (`templates`, `tests`), or two adjacent tokens
/// written together (`cover letter`, `camera-ready`, `Mark-up`).
fn find_word(tokens: &[String], words: &[&'static str]) -> Option<&'static str> {
    let matches = |spelled: &str| words.iter().copied().find(|w| *w == spelled);
    for (i, token) in tokens.iter().enumerate() {
        let found = matches(token)
            .or_else(|| token.strip_suffix('s').and_then(matches))
            .or_else(|| {
                let next = tokens.get(i + 1)?;
                matches(&format!("{token}{next}"))
            });
        if found.is_some() {
            return found;
        }
    }
    None
}

/// A side document by its name: a side word in the file's stem or in a
/// folder above it.
fn side_by_name(path: &str) -> bool {
    let mut parts: Vec<&str> = path.split('/').collect();
    if let Some(last) = parts.last_mut() {
        *last = stem(last);
    }
    parts
        .iter()
        .any(|part| find_word(&name_tokens(part), SIDE_WORDS).is_some())
}

/// A stem's words without engine words, and whether it named a
/// LuaLaTeX/XeLaTeX engine.
fn base_tokens(path: &str) -> (Vec<String>, bool) {
    let tokens = name_tokens(stem(path));
    let engine = tokens.iter().any(|t| VARIANT_ENGINES.contains(&t.as_str()));
    let base = tokens
        .into_iter()
        .filter(|t| !ENGINES.contains(&t.as_str()))
        .collect();
    (base, engine)
}

/// Step 3 of the ranking: what version of a document a name marks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    /// Qualified as the version that counts (the word is kept for the
    /// reason).
    Preferred(&'static str),
    Plain,
    /// A variant of a sibling's name.
    Variant,
}

impl Version {
    fn rank(self) -> u8 {
        match self {
            Version::Preferred(_) => 0,
            Version::Plain => 1,
            Version::Variant => 2,
        }
    }
}

/// The version `file` marks among its siblings, the candidates of its
/// folder (`names`).
///
/// A qualifier word counts only after the name's first word (`paper_final`
/// is the final paper, `final-exam` is an exam) or among the words that
/// extend a sibling's name (`final_paper` beside `paper`). A name that is
/// a sibling's name plus more words is a variant of that sibling, unless
/// the added words are a preferred qualifier (`x_accepted` beside `x`
/// supersedes it). The same name with a LuaLaTeX/XeLaTeX engine word is a
/// variant of the one without.
fn version(file: &str, names: &SiblingNames) -> Version {
    let (tokens, engine) = base_tokens(file);
    let dir = parent(file);
    let mut qualifier = tokens.get(1..).and_then(|t| find_word(t, PREFERRED_WORDS));
    let mut variant = engine && names.plain_count(dir, &tokens) > 0;
    // Every shorter run of words at either end that is a sibling's name.
    for cut in 1..tokens.len() {
        let prefix = (&tokens[..cut], &tokens[cut..]);
        let suffix = (&tokens[tokens.len() - cut..], &tokens[..tokens.len() - cut]);
        for (base, extra) in [prefix, suffix] {
            if names.contains(dir, base) {
                match find_word(extra, PREFERRED_WORDS) {
                    Some(word) => qualifier = qualifier.or(Some(word)),
                    None => variant = true,
                }
            }
        }
    }
    match qualifier {
        Some(word) => Version::Preferred(word),
        None if variant => Version::Variant,
        None => Version::Plain,
    }
}

/// The candidates' names by folder and words (see [`base_tokens`]), so
/// that finding a candidate's siblings costs lookups, not a scan of all
/// candidates per candidate.
struct SiblingNames<'a> {
    /// (folder, words) → how many of the candidates so named carry no
    /// LuaLaTeX/XeLaTeX word.
    counts: HashMap<(&'a str, Vec<String>), usize>,
}

impl<'a> SiblingNames<'a> {
    fn new(candidates: &'a [String]) -> Self {
        let mut counts: HashMap<(&str, Vec<String>), usize> = HashMap::new();
        for file in candidates {
            let (tokens, engine) = base_tokens(file);
            *counts.entry((parent(file), tokens)).or_default() += usize::from(!engine);
        }
        SiblingNames { counts }
    }

    fn contains(&self, dir: &'a str, tokens: &[String]) -> bool {
        self.counts.contains_key(&(dir, tokens.to_vec()))
    }

    fn plain_count(&self, dir: &'a str, tokens: &[String]) -> usize {
        self.counts
            .get(&(dir, tokens.to_vec()))
            .copied()
            .unwrap_or(0)
    }
}

// ---------------------------------------------------------------------
// Ranking
// ---------------------------------------------------------------------

/// What the ranking knows of one candidate.
#[derive(Debug)]
struct Ranked {
    file: String,
    side: bool,
    depth: usize,
    version: Version,
    /// How many other project `.tex` files it reaches through inputs.
    inputs: usize,
    /// `.bbl` or `.bcf` when a file of that extension and the same stem
    /// sits beside it.
    companion: Option<&'static str>,
    bibliography: bool,
    conventional: bool,
    size: u64,
}

/// The ranking's sort key, smallest first; ties beyond it are decided by
/// path order. The steps are in the order of the module documentation,
/// each a fact a person weighs before the next:
///
/// 1. `side`: a name (or folder) that says "letter", "old", "example", ...
///    is the strongest sign, since such files are complete documents too
///    and often bigger or richer than the main one (a latexdiff copy, a
///    response quoting the paper).
/// 2. `depth`: projects keep their main file at the top and vendored
///    packages, earlier submissions and figures in folders below.
/// 3. `version`: derived names (`x2`, `x-lualatex`, `x.lncs`) come after
///    the name they derive from even when they input more (`realanal12`
///    combines both volumes of `realanal`), except a final/online
///    qualifier, which supersedes the plain name.
/// 4. `inputs`: the main file of a multi-file project is the one that
///    pulls the others in.
/// 5. `companion`: a `.bbl`/`.bcf` is left by compiling that very file.
/// 6. `bibliography`: the paper cites; a figure page or a note does not.
/// 7. `conventional`: a weak hint, as such names are often reused by
///    copies, hence after the content-based facts.
/// 8. `size`: between otherwise equal files, the fuller document.
type Key = (
    bool,
    usize,
    u8,
    Reverse<usize>,
    bool,
    bool,
    bool,
    Reverse<u64>,
);

/// Names of the key's steps, for the reason.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Side,
    Depth,
    Version,
    Inputs,
    Companion,
    Bibliography,
    Conventional,
    Size,
    Path,
}

impl Ranked {
    fn key(&self) -> Key {
        (
            self.side,
            self.depth,
            self.version.rank(),
            Reverse(self.inputs),
            self.companion.is_none(),
            !self.bibliography,
            !self.conventional,
            Reverse(self.size),
        )
    }

    /// The first step that sets `self` before `other`.
    fn decided_by(&self, other: &Ranked) -> Step {
        let (a, b) = (self.key(), other.key());
        let steps = [
            (a.0.cmp(&b.0), Step::Side),
            (a.1.cmp(&b.1), Step::Depth),
            (a.2.cmp(&b.2), Step::Version),
            (a.3.cmp(&b.3), Step::Inputs),
            (a.4.cmp(&b.4), Step::Companion),
            (a.5.cmp(&b.5), Step::Bibliography),
            (a.6.cmp(&b.6), Step::Conventional),
            (a.7.cmp(&b.7), Step::Size),
        ];
        steps
            .into_iter()
            .find(|(order, _)| *order != Ordering::Equal)
            .map_or(Step::Path, |(_, step)| step)
    }
}

/// One sentence on why the first of `ranked` (at least two) won.
fn reason(ranked: &[Ranked]) -> String {
    let (best, others) = (&ranked[0], &ranked[1..]);
    let mut parts: Vec<String> = Vec::new();
    if !best.side && others.iter().any(|o| o.side) {
        parts.push("not named like a side document".to_owned());
    }
    if others.iter().any(|o| o.depth > best.depth) {
        parts.push(if best.depth == 0 {
            "at the project root".to_owned()
        } else {
            "in the shallowest folder".to_owned()
        });
    }
    match best.version {
        Version::Preferred(word) => parts.push(format!("named as the {word} version")),
        Version::Plain if others.iter().any(|o| o.version == Version::Variant) => {
            parts.push("not a variant of another candidate's name".to_owned());
        }
        _ => {}
    }
    if best.inputs > 0 {
        parts.push(format!(
            "inputs {} of the project's .tex files",
            best.inputs
        ));
    }
    if let Some(ext) = best.companion {
        parts.push(format!("has a {ext}"));
    } else if best.bibliography {
        parts.push("has a bibliography".to_owned());
    }
    if best.conventional {
        parts.push(format!("conventional name `{}`", stem(&best.file)));
    }
    match others.first().map(|o| best.decided_by(o)) {
        Some(Step::Size) => parts.push("the largest of the equally ranked files".to_owned()),
        Some(Step::Path) => {
            parts.push("first in path order among equally ranked files".to_owned());
        }
        _ => {}
    }
    format!(
        "chosen among {} candidates: {}",
        ranked.len(),
        parts.join(", ")
    )
}

/// What one file says, comments and verbatim text removed.
#[derive(Default)]
struct Facts {
    /// The first `\documentclass{...}` (or `\documentstyle`) class.
    class: Option<String>,
    begins_document: bool,
    /// Has a bibliography of its own (see [`has_bibliography`]).
    bibliography: bool,
    /// Project files it inputs, resolved to project paths.
    inputs: Vec<String>,
}

struct Project {
    tex_files: Vec<String>,
    facts: HashMap<String, Facts>,
    /// Bytes of each `.tex` file on disk (0 when not a regular file).
    sizes: HashMap<String, u64>,
}

impl Project {
    fn read(root: &Path, tex_files: &[&String]) -> Project {
        let known: HashSet<&str> = tex_files.iter().map(|f| f.as_str()).collect();
        let mut budget = MAX_TOTAL_READ_BYTES;
        let mut facts = HashMap::new();
        let mut sizes = HashMap::new();
        for file in tex_files {
            let path = root.join(file.as_str());
            let text = read_head(&path, &mut budget);
            facts.insert((*file).clone(), scan(&text, file, &known));
            let size = std::fs::symlink_metadata(&path)
                .ok()
                .filter(|m| m.file_type().is_file())
                .map_or(0, |m| m.len());
            sizes.insert((*file).clone(), size);
        }
        Project {
            tex_files: tex_files.iter().map(|f| (*f).clone()).collect(),
            facts,
            sizes,
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
        let is_document: HashSet<&String> = documents.iter().copied().collect();
        let included: HashSet<&String> = documents
            .iter()
            .flat_map(|d| self.facts[*d].inputs.iter())
            .filter(|input| is_document.contains(input))
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

    /// The files `file` reaches through inputs ([`MAX_COUNT_DEPTH`] levels
    /// deep, itself excluded) and whether any of them, or it, has a
    /// bibliography.
    fn reach(&self, file: &str) -> (usize, bool) {
        let mut seen: HashSet<&str> = HashSet::from([file]);
        let mut queue = VecDeque::from([(file, 0)]);
        let mut bibliography = false;
        while let Some((current, depth)) = queue.pop_front() {
            let Some(facts) = self.facts.get(current) else {
                continue;
            };
            bibliography |= facts.bibliography;
            if depth < MAX_COUNT_DEPTH {
                for input in &facts.inputs {
                    if seen.insert(input) {
                        queue.push_back((input, depth + 1));
                    }
                }
            }
        }
        (seen.len() - 1, bibliography)
    }

    /// The candidates, best first (see the module documentation).
    fn rank(
        &self,
        candidates: &[String],
        files: &[String],
        archive_stem: Option<&str>,
    ) -> Vec<Ranked> {
        let present: HashSet<String> = files.iter().map(|f| f.to_lowercase()).collect();
        let archive_stem = archive_stem.map(str::to_lowercase);
        let names = SiblingNames::new(candidates);
        let mut ranked: Vec<Ranked> = candidates
            .iter()
            .map(|file| {
                let class = self.class_of(file, 0, &mut HashSet::new());
                let (inputs, bibliography) = self.reach(file);
                let dir = parent(file);
                let stem_lower = stem(file).to_lowercase();
                let companion = [".bbl", ".bcf"].into_iter().find(|ext| {
                    let name = if dir.is_empty() {
                        format!("{stem_lower}{ext}")
                    } else {
                        format!("{}/{stem_lower}{ext}", dir.to_lowercase())
                    };
                    present.contains(&name)
                });
                Ranked {
                    file: file.clone(),
                    side: side_by_name(file) || class.is_some_and(|c| is_letter_class(&c)),
                    depth: file.matches('/').count(),
                    version: version(file, &names),
                    inputs,
                    companion,
                    bibliography,
                    conventional: CONVENTIONAL_NAMES.contains(&stem_lower.as_str())
                        || archive_stem.as_deref() == Some(stem_lower.as_str()),
                    size: self.sizes.get(file).copied().unwrap_or(0),
                }
            })
            .collect();
        ranked.sort_by(|a, b| a.key().cmp(&b.key()).then_with(|| a.file.cmp(&b.file)));
        ranked
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
    facts.bibliography = has_bibliography(&text);
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

/// A bibliography of the file's own: BibTeX's `\bibliography{...}`,
/// biblatex's `\addbibresource`/`\printbibliography`, a pasted
/// `thebibliography` or amsrefs' `biblist`.
fn has_bibliography(text: &str) -> bool {
    [
        "\\addbibresource",
        "\\printbibliography",
        "{thebibliography}",
        "{biblist}",
    ]
    .iter()
    .any(|marker| text.contains(marker))
        || argument_after(text, "\\bibliography").is_some()
}

/// The text TeX would read as commands: comments and the bodies of
/// verbatim-like environments removed.
fn significant_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_verbatim: Option<String> = None;
    for raw in text.lines() {
        let line = strip_comment(raw);
        if let Some(env) = &in_verbatim {
            if line.contains(&format!("\\end{{{env}}}")) {
                in_verbatim = None;
            }
            continue;
        }
        if let Some(env) = VERBATIM_ENVIRONMENTS
            .iter()
            .flat_map(|base| [base.to_string(), format!("{base}*")])
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

    /// The automatic choice for a project, with its ranking.
    fn choose(files: &[(&str, &str)], archive_stem: Option<&str>) -> MainChoice {
        let (dir, names) = project(files);
        let choice = detect(dir.path(), &names, None, archive_stem).unwrap();
        assert!(choice.automatic);
        assert!(!choice.others.contains(&choice.file), "{choice:?}");
        choice
    }

    fn main_of(files: &[(&str, &str)]) -> String {
        choose(files, None).file
    }

    const DOC: &str = "\\documentclass{article}\n\\begin{document}\nx\n\\end{document}\n";

    /// A complete document `padding` bytes bigger than [`DOC`], so that
    /// size alone would prefer it.
    fn big_doc(padding: usize) -> String {
        format!(
            "\\documentclass{{article}}\n\\begin{{document}}\n{}\n\\end{{document}}\n",
            "y".repeat(padding)
        )
    }

    /// A document with a bibliography that inputs `inputs`.
    fn doc_with(class: &str, inputs: &[&str], bibliography: bool) -> String {
        let mut text = format!("\\documentclass{{{class}}}\n\\begin{{document}}\n");
        for input in inputs {
            text.push_str(&format!("\\input{{{input}}}\n"));
        }
        if bibliography {
            text.push_str("\\bibliography{refs}\n");
        }
        text.push_str("\\end{document}\n");
        text
    }

    #[test]
    fn lone_tex_file_wins_even_without_documentclass() {
        let (dir, files) = project(&[("notes.tex", "hello"), ("fig.png", "")]);
        let choice = detect(dir.path(), &files, None, None).unwrap();
        assert_eq!(
            choice,
            MainChoice {
                file: "notes.tex".into(),
                automatic: true,
                others: vec![],
                reason: "the only .tex file".into(),
            }
        );
    }

    #[test]
    fn single_candidate_among_other_tex_files() {
        let choice = choose(&[("a.tex", DOC), ("sec.tex", "\\section{s}")], None);
        assert_eq!(choice.file, "a.tex");
        assert!(choice.others.is_empty());
        assert!(
            choice.reason.contains("the only .tex file with"),
            "{choice:?}"
        );
    }

    #[test]
    fn explicit_must_exist_and_be_tex() {
        let (dir, files) = project(&[("a.tex", DOC), ("b.tex", DOC), ("x.bib", "")]);
        assert_eq!(
            detect(dir.path(), &files, Some("./b.tex"), None).unwrap(),
            MainChoice {
                file: "b.tex".into(),
                automatic: false,
                others: vec![],
                reason: "named explicitly".into(),
            }
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
    fn explicit_choice_overrides_the_ranking_and_errors_list_it_best_first() {
        let (dir, files) = project(&[
            ("paper.tex", &doc_with("article", &[], true)),
            ("response.tex", DOC),
        ]);
        let choice = detect(dir.path(), &files, Some("response.tex"), None).unwrap();
        assert_eq!(choice.file, "response.tex");
        assert!(!choice.automatic);
        assert!(choice.others.is_empty());
        let (dir, files) = project(&[
            ("a_response.tex", DOC),
            ("b.tex", &doc_with("article", &[], true)),
        ]);
        let err = detect(dir.path(), &files, Some("nope.tex"), None).unwrap_err();
        assert_eq!(
            err,
            MainFileError::NotInProject {
                name: "nope.tex".into(),
                candidates: vec!["b.tex".into(), "a_response.tex".into()],
            }
        );
    }

    #[test]
    fn response_letters_rank_after_the_paper() {
        let choice = choose(
            &[
                ("qleet.tex", &doc_with("revtex4-2", &[], true)),
                // Bigger and cites too: only the names say what they are.
                ("_rebuttal.tex", &big_doc(5000)),
                ("response-to-reviewers.tex", &big_doc(4000)),
                ("coverLetter.tex", &big_doc(3000)),
                ("reply_2.tex", &big_doc(2000)),
                (
                    "to-editor.tex",
                    "\\documentclass{letter}\\begin{document}\\bibliography{x}\\end{document}",
                ),
                (
                    "notes-editor.tex",
                    "\\documentclass{scrlttr2}\\begin{document}\\end{document}",
                ),
            ],
            None,
        );
        assert_eq!(choice.file, "qleet.tex");
        assert_eq!(choice.others.len(), 6);
        assert!(
            choice
                .reason
                .starts_with("chosen among 7 candidates: not named like a side document"),
            "{choice:?}"
        );
    }

    #[test]
    fn old_draft_folders_rank_after_current_ones() {
        // Same depth, the old copy bigger and inputting more: the folder's
        // name decides.
        assert_eq!(
            main_of(&[
                (
                    "old_note/report.tex",
                    &doc_with("article", &["old_note/a", "old_note/b"], true)
                ),
                ("old_note/a.tex", "a"),
                ("old_note/b.tex", "b"),
                ("src/report.tex", &doc_with("article", &[], false)),
            ]),
            "src/report.tex"
        );
        // The usual layout: earlier drafts in a folder below the main one.
        assert_eq!(
            main_of(&[
                ("note.tex", DOC),
                ("old_note/note.tex", &big_doc(100)),
                ("old_note/note-v2.tex", &big_doc(200)),
                ("Backups/note.tex", &big_doc(300)),
            ]),
            "note.tex"
        );
    }

    #[test]
    fn clean_and_original_copies_rank_after_the_paper() {
        let choice = choose(
            &[
                ("paper.tex", DOC),
                ("paper_clean.tex", &big_doc(100)),
                ("paper-Original.tex", &big_doc(200)),
                ("paper_diff.tex", &big_doc(300)),
                ("paperCopy.tex", &big_doc(400)),
            ],
            None,
        );
        assert_eq!(choice.file, "paper.tex");
        assert_eq!(choice.others.len(), 4);
        // Plain names that merely extend another are variants of it, even
        // when they input more (a volume combining two).
        assert_eq!(
            main_of(&[
                ("wqo-on-words.tex", DOC),
                ("wqo-on-words.lncs.tex", &big_doc(100)),
            ]),
            "wqo-on-words.tex"
        );
        let choice = choose(
            &[
                ("realanal.tex", &doc_with("book", &["ch1"], false)),
                ("realanal2.tex", &doc_with("book", &["ch2"], false)),
                ("realanal12.tex", &doc_with("book", &["ch1", "ch2"], false)),
                ("ch1.tex", ""),
                ("ch2.tex", ""),
            ],
            None,
        );
        assert_eq!(choice.file, "realanal.tex");
        assert_eq!(choice.others, vec!["realanal12.tex", "realanal2.tex"]);
    }

    #[test]
    fn vendored_examples_rank_after_the_project() {
        assert_eq!(
            main_of(&[
                ("talk.tex", &doc_with("beamer", &[], false)),
                ("pkgs/foo/example.tex", &doc_with("article", &[], true)),
            ]),
            "talk.tex"
        );
        // Even at the same depth, and through a plural folder name.
        assert_eq!(
            main_of(&[
                ("slides/talk.tex", DOC),
                (
                    "example/foo.tex",
                    &doc_with("article", &["example/x"], true)
                ),
                ("example/x.tex", ""),
                ("templates/lncs/lncs.tex", &big_doc(1000)),
                ("samples/demo.tex", &big_doc(1000)),
            ]),
            "slides/talk.tex"
        );
    }

    #[test]
    fn engine_variants_rank_after_the_plain_template() {
        let choice = choose(
            &[
                ("template.tex", DOC),
                ("template-lualatex.tex", &big_doc(100)),
                ("template_XeLaTeX.tex", &big_doc(200)),
            ],
            None,
        );
        assert_eq!(choice.file, "template.tex");
        assert_eq!(
            choice.reason,
            "chosen among 3 candidates: not a variant of another candidate's name"
        );
        // Same name with two engines: the pdfLaTeX one (the default).
        assert_eq!(
            main_of(&[
                ("thesis-LuaLaTeX.tex", &big_doc(100)),
                ("thesis-pdflatex.tex", DOC),
            ]),
            "thesis-pdflatex.tex"
        );
        assert_eq!(
            main_of(&[("lualatex.tex", &big_doc(100)), ("pdflatex.tex", DOC)]),
            "pdflatex.tex"
        );
    }

    #[test]
    fn handout_script_ranks_after_the_slides() {
        let choice = choose(
            &[
                ("slides.tex", &doc_with("beamer", &["defs"], false)),
                (
                    "script.tex",
                    &doc_with("article", &["defs", "sections"], true),
                ),
                ("defs.tex", ""),
                ("sections.tex", ""),
            ],
            None,
        );
        assert_eq!(choice.file, "slides.tex");
        assert_eq!(choice.others, vec!["script.tex"]);
    }

    #[test]
    fn a_bbl_or_bcf_beside_the_file_counts() {
        let choice = choose(&[("a.tex", DOC), ("b.tex", DOC), ("b.bbl", "")], None);
        assert_eq!(choice.file, "b.tex");
        assert_eq!(choice.reason, "chosen among 2 candidates: has a .bbl");
        assert_eq!(
            main_of(&[("a.tex", &big_doc(10)), ("sub/b.tex", DOC), ("a.bcf", "")]),
            "a.tex"
        );
        // The stem must match, in the same folder.
        assert_eq!(
            main_of(&[
                ("a.tex", DOC),
                ("b.tex", DOC),
                ("x/b.bbl", ""),
                ("ab.bbl", "")
            ]),
            "a.tex"
        );
    }

    #[test]
    fn the_file_inputting_most_sections_wins() {
        let choice = choose(
            &[
                ("notes.tex", &doc_with("article", &["sec/intro"], true)),
                (
                    "book.tex",
                    &doc_with("book", &["sec/intro", "sec/body"], false),
                ),
                ("sec/intro.tex", "intro"),
                // Inputs are counted through nested files.
                ("sec/body.tex", "\\input{sec/one}\\input{sec/two}"),
                ("sec/one.tex", "one"),
                ("sec/two.tex", "two"),
                ("fig.tex", &big_doc(5000)),
            ],
            None,
        );
        assert_eq!(choice.file, "book.tex");
        assert_eq!(choice.others, vec!["notes.tex", "fig.tex"]);
        assert_eq!(
            choice.reason,
            "chosen among 3 candidates: inputs 4 of the project's .tex files"
        );
    }

    #[test]
    fn bibliography_then_conventional_name_then_size() {
        // A bibliography, even pasted or in an input, beats a name.
        assert_eq!(
            main_of(&[
                ("main.tex", &doc_with("article", &["intro"], false)),
                ("intro.tex", ""),
                (
                    "study.tex",
                    "\\documentclass{article}\\begin{document}\\input{refs}\\end{document}"
                ),
                (
                    "refs.tex",
                    "\\begin{thebibliography}{9}\\bibitem{a} A\\end{thebibliography}"
                ),
            ]),
            "study.tex"
        );
        let choice = choose(&[("main.tex", DOC), ("notes.tex", &big_doc(100))], None);
        assert_eq!(choice.file, "main.tex");
        assert_eq!(
            choice.reason,
            "chosen among 2 candidates: conventional name `main`"
        );
        // The archive's stem is a conventional name too.
        assert_eq!(
            choose(
                &[("report.tex", DOC), ("zz.tex", &big_doc(10))],
                Some("report")
            )
            .file,
            "report.tex"
        );
        assert_eq!(
            choose(&[("abc.tex", DOC), ("qleet.tex", DOC)], Some("qleet")).file,
            "qleet.tex"
        );
        let choice = choose(&[("a.tex", DOC), ("b.tex", &big_doc(5))], None);
        assert_eq!(choice.file, "b.tex");
        assert!(choice.reason.contains("the largest"), "{choice:?}");
    }

    #[test]
    fn a_true_tie_is_decided_by_path_order() {
        let choice = choose(
            &[("zeta.tex", DOC), ("alpha.tex", DOC), ("mid.tex", DOC)],
            None,
        );
        assert_eq!(
            choice,
            MainChoice {
                file: "alpha.tex".into(),
                automatic: true,
                others: vec!["mid.tex".into(), "zeta.tex".into()],
                reason: "chosen among 3 candidates: first in path order among equally ranked files"
                    .into(),
            }
        );
        // Never an error, whatever order the files are listed in.
        let (dir, mut files) = project(&[("b.tex", DOC), ("a.tex", DOC)]);
        files.reverse();
        assert_eq!(
            detect(dir.path(), &files, None, None).unwrap().file,
            "a.tex"
        );
    }

    #[test]
    fn final_and_online_versions_are_preferred() {
        // `_accepted` supersedes its base name and a conventional name; a
        // revision number alone is only a variant.
        let choice = choose(
            &[
                ("manuscript.tex", &doc_with("article", &[], true)),
                ("manuscript_rev1.tex", &doc_with("article", &[], true)),
                ("brainsci-2069565.tex", &doc_with("article", &[], true)),
                (
                    "brainsci-2069565_accepted.tex",
                    &doc_with("article", &[], true),
                ),
                (
                    "brainsci-2069565_accepted_trackedchanges.tex",
                    &big_doc(900),
                ),
            ],
            None,
        );
        assert_eq!(choice.file, "brainsci-2069565_accepted.tex");
        assert_eq!(
            choice.others.last().map(String::as_str),
            Some("brainsci-2069565_accepted_trackedchanges.tex")
        );
        assert!(
            choice.reason.contains("named as the accepted version"),
            "{choice:?}"
        );
        // Alternative drivers: the online edition; `-exercises` and
        // `-wide` extend other drivers' names.
        let driver = |opt: &str| format!("\\input{{{opt}}}\\input{{book}}");
        let book = "\\documentclass{book}\\begin{document}\\end{document}";
        assert_eq!(
            main_of(&[
                ("book-a4.tex", &driver("a4")),
                (
                    "book-a4-exercises.tex",
                    &format!("\\input{{ex}}{}", driver("a4"))
                ),
                ("book-ebook.tex", &driver("ebook")),
                ("book-ebook-wide.tex", &driver("ebook")),
                ("book-online.tex", &driver("color")),
                ("book.tex", book),
                ("a4.tex", ""),
                ("ex.tex", ""),
                ("ebook.tex", ""),
                ("color.tex", ""),
            ]),
            "book-online.tex"
        );
        // A leading qualifier names the subject, not the version.
        assert_eq!(
            main_of(&[("final-exam.tex", DOC), ("lectures.tex", &big_doc(10))]),
            "lectures.tex"
        );
    }

    #[test]
    fn folders_nearer_the_root_win() {
        let choice = choose(
            &[
                ("presented/manuscript.tex", &big_doc(100)),
                ("manuscript_revised.tex", DOC),
            ],
            None,
        );
        assert_eq!(choice.file, "manuscript_revised.tex");
        assert!(choice.reason.contains("at the project root"), "{choice:?}");
    }

    #[test]
    fn names_split_into_words() {
        assert_eq!(name_tokens("contrastive-opt"), vec!["contrastive", "opt"]);
        assert_eq!(name_tokens("coverLetter_2"), vec!["cover", "letter", "2"]);
        assert_eq!(name_tokens("realanal12"), vec!["realanal", "12"]);
        assert_eq!(
            name_tokens("HTMLPage v2.1"),
            vec!["html", "page", "v", "2", "1"]
        );
        assert_eq!(
            name_tokens("template-LuaLaTeX"),
            vec!["template", "lualatex"]
        );
        assert_eq!(name_tokens("paperXeLaTeX"), vec!["paper", "xelatex"]);
        assert_eq!(name_tokens("LaTeXdiff"), vec!["latexdiff"]);
        assert_eq!(name_tokens("TEXT"), vec!["text"]);
        assert_eq!(name_tokens("ÉtudeFinale"), vec!["étude", "finale"]);
        for (path, side) in [
            ("contrastive.tex", false),
            ("letterpaper.tex", false),
            ("testament.tex", false),
            ("scripture/x.tex", false),
            ("copyright.tex", false),
            ("oldenburg.tex", false),
            ("latest.tex", false),
            ("test.tex", true),
            ("unit_tests/x.tex", true),
            ("cover_letter/cover_letter.tex", true),
            ("2022-11-16_coverletter.tex", true),
            ("Markup.tex", true),
            ("Mark-Up.tex", true),
            ("paper_trackedChanges.tex", true),
            ("EcoGEnIE-old.tex", true),
            ("responseToReviewers.tex", true),
            ("templates/lncs/lncs.tex", true),
            ("paper-supplementary.tex", true),
        ] {
            assert_eq!(side_by_name(path), side, "{path}");
        }
        assert!(is_letter_class("letter"));
        assert!(is_letter_class("Definitions/coverletter"));
        assert!(!is_letter_class("article"));
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
            detect(dir.path(), &files, None, None).unwrap().file,
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
            detect(dir.path(), &files, None, None).unwrap().file,
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
        let choice = detect(dir.path(), &files, None, None).unwrap();
        assert_eq!(choice.file, "book.tex");
        assert!(choice.others.is_empty());
    }

    #[test]
    fn symlinks_are_not_followed() {
        let (dir, mut files) = project(&[("a.tex", DOC), ("b.tex", "\\section{b}")]);
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("doc.tex"), DOC).unwrap();
        std::os::unix::fs::symlink(outside.path().join("doc.tex"), dir.path().join("link.tex"))
            .unwrap();
        files.push("link.tex".into());
        let choice = detect(dir.path(), &files, None, None).unwrap();
        assert_eq!(choice.file, "a.tex");
        assert!(choice.others.is_empty());
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
            detect(dir.path(), &files, None, None).unwrap().file,
            "-main draft.tex"
        );
        assert_eq!(
            detect(dir.path(), &files, Some("-main draft.tex"), None)
                .unwrap()
                .file,
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
        assert!(has_bibliography("\\bibliography{refs}"));
        assert!(has_bibliography("\\printbibliography[heading=x]"));
        assert!(!has_bibliography("\\bibliographystyle{plain}"));
    }

    #[test]
    fn the_choice_serializes() {
        let choice = MainChoice {
            file: "a.tex".into(),
            automatic: true,
            others: vec!["b.tex".into()],
            reason: "r".into(),
        };
        let json = serde_json::to_string(&choice).unwrap();
        assert_eq!(
            json,
            r#"{"file":"a.tex","automatic":true,"others":["b.tex"],"reason":"r"}"#
        );
        assert_eq!(serde_json::from_str::<MainChoice>(&json).unwrap(), choice);
    }

    /// The real projects of the corpus, unpacked as the service does and
    /// detected without hints, must give the main file its manifest names.
    #[test]
    fn corpus_projects_get_their_manifest_main_file() {
        let folder = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/corpus/projects"
        ));
        assert!(
            folder.is_dir(),
            "corpus folder {} is missing: this test needs the real projects",
            folder.display()
        );
        let manifest_path = folder.join("MANIFEST.tsv");
        let manifest = std::fs::read_to_string(&manifest_path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", manifest_path.display()));
        let mut lines = manifest.lines();
        let header: Vec<&str> = lines.next().expect("empty manifest").split('\t').collect();
        let column = |name: &str| {
            header
                .iter()
                .position(|h| *h == name)
                .unwrap_or_else(|| panic!("MANIFEST.tsv has no `{name}` column"))
        };
        let (zip_column, main_column) = (column("zip_file"), column("main_tex_in_zip"));
        let mut listed = HashSet::new();
        let mut report = Vec::new();
        let mut failures = Vec::new();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let fields: Vec<&str> = line.split('\t').collect();
            let (zip, expected) = (fields[zip_column], fields[main_column]);
            listed.insert(zip.to_owned());
            let stem = zip.strip_suffix(".zip").unwrap_or(zip);
            let dest = tempfile::tempdir().unwrap();
            let unpacked = crate::unpack::unpack_file(
                &folder.join(zip),
                dest.path(),
                &crate::unpack::Limits::default(),
            )
            .unwrap_or_else(|e| panic!("cannot unpack {zip}: {e}"));
            let files: Vec<String> = unpacked.files.iter().map(|f| f.path.clone()).collect();
            let choice = detect(&unpacked.root, &files, None, Some(stem))
                .unwrap_or_else(|e| panic!("{zip}: {e}"));
            report.push(format!(
                "{stem}: {} (others: {}; {})",
                choice.file,
                list(&choice.others),
                choice.reason
            ));
            if choice.file != expected {
                failures.push(format!("{zip}: chose {} not {expected}", choice.file));
            }
        }
        println!("{}", report.join("\n"));
        assert!(!report.is_empty(), "MANIFEST.tsv lists no project");
        let unlisted: Vec<String> = std::fs::read_dir(folder)
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".zip") && !listed.contains(name))
            .collect();
        assert!(
            unlisted.is_empty(),
            "zips missing from MANIFEST.tsv: {unlisted:?}"
        );
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
