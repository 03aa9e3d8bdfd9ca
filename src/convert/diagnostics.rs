//! Converter logs turned into structured diagnostics and a quality class.
//!
//! Three parsers, one per log dialect: LaTeXML (`Warning:cat:thing msg at
//! FILE; line N col M` and its final status line), TeX (`pdflatex` and
//! make4ht `.log` files: `! ...` errors with `l.N`, `LaTeX Warning: ...`,
//! `Package X Warning: ...`) and pandoc (`[WARNING] ...` on stderr, and
//! make4ht's console, tagged the same way); [`parse_make4ht`] reads
//! make4ht's two logs together.
//!
//! Every entry carries the file and line its log gives: LaTeXML's
//! location (its base names resolved to paths), the file TeX had open
//! (followed through the log's `(file ... )` brackets) with the `l.N` of
//! an error or the "input line" of a warning, make4ht's error table,
//! pandoc's `Error at "file" (line N ...)`. Paths are relative to the
//! directory the converter ran in; [`Report::relative_to_project`] makes
//! them relative to the project.
//!
//! All of them return a [`Report`]: at most [`MAX_DIAGNOSTICS`] distinct
//! entries (a runaway document can log millions of lines; the first ones
//! are the useful ones), an entry repeated with the same severity, file,
//! line and message kept once with its [`Diagnostic::count`], the list of
//! missing packages/files, and a [`StatusClass`] computed by
//! [`status_from`] from *all* entries seen, not just the kept ones.
//!
//! Logs mention host paths (the rootfs, the job directory); [`scrub_paths`]
//! removes those prefixes before a log is shown to anyone.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// At most this many diagnostics are kept per report.
pub const MAX_DIAGNOSTICS: usize = 500;

/// At most this many characters of one message are kept.
const MAX_MESSAGE_CHARS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
    Fatal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The source file, when the log names one: relative to the
    /// directory the converter ran in (the main file's; see
    /// [`Report::relative_to_project`]) with any `./` removed, or a path in
    /// the jail (`/usr/share/...`) for a file outside the project.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub message: String,
    /// How many times the log reported this entry (same severity, file,
    /// line and message); reports stored before the field existed read
    /// as 1.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

impl Diagnostic {
    /// One occurrence of an entry.
    pub fn new(
        severity: Severity,
        file: Option<String>,
        line: Option<u32>,
        message: impl Into<String>,
    ) -> Self {
        Diagnostic {
            severity,
            file,
            line,
            message: message.into(),
            count: 1,
        }
    }

    /// What makes two entries the same entry.
    fn key(&self) -> Key {
        (
            self.severity,
            self.file.clone(),
            self.line,
            self.message.clone(),
        )
    }
}

/// Severity, file, line and message: entries equal in all four are merged.
type Key = (Severity, Option<String>, Option<u32>, String);

/// The quality class of a conversion, as ar5iv reports it.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum StatusClass {
    /// No warning, no error.
    #[default]
    Ok,
    Warnings,
    Errors,
    /// The converter gave up; output is missing or partial.
    Fatal,
    /// The converter was killed at the wall-clock limit.
    Timeout,
}

impl StatusClass {
    /// The name it is serialized and reported by.
    pub fn name(self) -> &'static str {
        match self {
            StatusClass::Ok => "ok",
            StatusClass::Warnings => "warnings",
            StatusClass::Errors => "errors",
            StatusClass::Fatal => "fatal",
            StatusClass::Timeout => "timeout",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The first [`MAX_DIAGNOSTICS`] distinct entries, in the order of
    /// their first occurrence; repeats are counted in
    /// [`Diagnostic::count`].
    pub diagnostics: Vec<Diagnostic>,
    /// Missing packages and files (`foo.sty`, `fig.pdf`), deduplicated.
    pub missing: Vec<String>,
    pub status: StatusClass,
}

impl Report {
    /// How many times the kept diagnostics report this severity (repeats
    /// included).
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .map(|d| d.count as usize)
            .sum()
    }

    /// Marks the run as timed out: the class becomes `timeout` whatever
    /// the log said, since the log of a killed run is incomplete.
    pub fn timed_out(mut self) -> Self {
        self.status = StatusClass::Timeout;
        self
    }

    /// One report from two logs of the same run (make4ht: TeX's log and
    /// its own console output, which repeats TeX's errors). An entry both
    /// logs report is the same event, so its count is the larger of the
    /// two, not their sum; the other's new entries follow this one's, up
    /// to [`MAX_DIAGNOSTICS`].
    pub fn merge(mut self, other: Report) -> Report {
        self.status = self.status.max(other.status);
        self.diagnostics = combine(self.diagnostics, other.diagnostics, u32::max);
        for m in other.missing {
            if !self.missing.contains(&m) && self.missing.len() < MAX_DIAGNOSTICS {
                self.missing.push(m);
            }
        }
        self
    }

    /// Entries of file `from` (as the converter named it) moved to file
    /// `to`: the main file a converter ran under another name.
    pub fn renamed(mut self, from: &str, to: &str) -> Report {
        for d in &mut self.diagnostics {
            if d.file.as_deref().and_then(source_path).as_deref() == Some(from) {
                d.file = Some(to.to_owned());
            }
        }
        self
    }

    /// Makes every file project-relative. The parsers give paths as the
    /// converter printed them, relative to the directory it ran in:
    /// `main_dir` (the main file's directory relative to the project
    /// root, `""` at the root) is prepended, `..` and `.` are resolved,
    /// and the project's own absolute paths (`/job/sec/a.tex`) lose the
    /// jail prefix. Files outside the project keep their jail path.
    /// Entries that become equal are merged.
    pub fn relative_to_project(mut self, main_dir: &str) -> Report {
        let mut moved = std::mem::take(&mut self.diagnostics);
        for d in &mut moved {
            if let Some(file) = d.file.take() {
                d.file = project_path(&file, main_dir);
            }
        }
        self.diagnostics = combine(Vec::new(), moved, u32::saturating_add);
        self
    }
}

/// The class rule: a timeout wins; otherwise the worst severity present
/// decides (`fatal` > `errors` > `warnings` > `ok`); `info` entries never
/// lower the class.
pub fn status_from(diagnostics: &[Diagnostic], timed_out: bool) -> StatusClass {
    let worst = diagnostics.iter().map(|d| d.severity).max();
    class_of(worst, timed_out)
}

fn class_of(worst: Option<Severity>, timed_out: bool) -> StatusClass {
    if timed_out {
        return StatusClass::Timeout;
    }
    match worst {
        Some(Severity::Fatal) => StatusClass::Fatal,
        Some(Severity::Error) => StatusClass::Errors,
        Some(Severity::Warning) => StatusClass::Warnings,
        Some(Severity::Info) | None => StatusClass::Ok,
    }
}

/// `a` followed by the entries of `b` not in it (at most
/// [`MAX_DIAGNOSTICS`] in all); entries of `b` already present have their
/// count joined with `join`.
fn combine(a: Vec<Diagnostic>, b: Vec<Diagnostic>, join: fn(u32, u32) -> u32) -> Vec<Diagnostic> {
    let mut index: HashMap<Key, usize> = HashMap::new();
    let mut out: Vec<Diagnostic> = Vec::with_capacity(a.len() + b.len());
    for d in a.into_iter().chain(b) {
        match index.get(&d.key()) {
            Some(&i) => out[i].count = join(out[i].count, d.count),
            None if out.len() < MAX_DIAGNOSTICS => {
                index.insert(d.key(), out.len());
                out.push(d);
            }
            None => {}
        }
    }
    out
}

/// A file name as a log prints it, for [`Diagnostic::file`]: quotes and
/// leading `./` removed; `?` (make4ht's "unknown") and empty names are
/// no file.
fn source_path(raw: &str) -> Option<String> {
    let mut name = raw.trim();
    if name.len() >= 2 && name.starts_with('"') && name.ends_with('"') {
        name = &name[1..name.len() - 1];
    }
    while let Some(rest) = name.strip_prefix("./") {
        name = rest.trim_start_matches('/');
    }
    (!name.is_empty() && name != "?" && name != ".").then(|| name.to_owned())
}

/// The directory the project is in, inside the jail.
const JAIL_PROJECT: &str = "/job";

/// `file` (as [`source_path`] left it) relative to the project root, given
/// the directory the converter ran in. See [`Report::relative_to_project`].
fn project_path(file: &str, main_dir: &str) -> Option<String> {
    let (base, rest) = match file.strip_prefix(JAIL_PROJECT) {
        Some(rest) if rest.starts_with('/') => ("", rest),
        Some("") => return None,
        _ if file.starts_with('/') => return Some(file.to_owned()),
        _ => (main_dir, file),
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in base.split('/').chain(rest.split('/')) {
        match part {
            "" | "." => {}
            ".." => {
                // Above the project root (TeX's `openin_any = p` refuses
                // such names): keep what the log said.
                if parts.pop().is_none() {
                    return Some(file.to_owned());
                }
            }
            part => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Collects diagnostics with the cap applied, merging repeats and
/// remembering the worst severity of everything seen.
#[derive(Default)]
struct Collector {
    diagnostics: Vec<Diagnostic>,
    index: HashMap<Key, usize>,
    /// How often each entry was seen in the current run of a log that
    /// repeats itself once per run (make4ht's error summary after each
    /// LaTeX run): see [`Collector::push_in_run`].
    run_counts: HashMap<usize, u32>,
    /// The entries [`Collector::push_in_run`] made.
    table_rows: HashSet<usize>,
    missing: Vec<String>,
    worst: Option<Severity>,
}

impl Collector {
    fn push(&mut self, severity: Severity, file: Option<String>, line: Option<u32>, message: &str) {
        self.add(severity, file, line, message, false);
    }

    /// An entry of a summary that is printed again for every run: its
    /// count is the most times one run reported it.
    fn push_in_run(
        &mut self,
        severity: Severity,
        file: Option<String>,
        line: Option<u32>,
        message: &str,
    ) {
        self.add(severity, file, line, message, true);
    }

    /// Starts the next run for [`Collector::push_in_run`].
    fn next_run(&mut self) {
        self.run_counts.clear();
    }

    fn add(
        &mut self,
        severity: Severity,
        file: Option<String>,
        line: Option<u32>,
        message: &str,
        in_run: bool,
    ) {
        self.raise(severity);
        let message: String = message.trim().chars().take(MAX_MESSAGE_CHARS).collect();
        let key = (severity, file, line, message);
        if let Some(&i) = self.index.get(&key) {
            let d = &mut self.diagnostics[i];
            if in_run {
                let seen = self.run_counts.entry(i).or_insert(0);
                *seen = seen.saturating_add(1);
                d.count = d.count.max(*seen);
            } else {
                d.count = d.count.saturating_add(1);
            }
        } else if self.diagnostics.len() < MAX_DIAGNOSTICS {
            let i = self.diagnostics.len();
            let (severity, file, line, message) = key.clone();
            self.diagnostics
                .push(Diagnostic::new(severity, file, line, message));
            self.index.insert(key, i);
            if in_run {
                self.run_counts.insert(i, 1);
                self.table_rows.insert(i);
            }
        }
    }

    fn raise(&mut self, severity: Severity) {
        self.worst = self.worst.max(Some(severity));
    }

    fn missing(&mut self, name: &str) {
        let name = name.trim();
        if !name.is_empty()
            && !self.missing.iter().any(|m| m == name)
            && self.missing.len() < MAX_DIAGNOSTICS
        {
            self.missing.push(name.to_owned());
        }
    }

    fn finish(self) -> Report {
        Report {
            status: class_of(self.worst, false),
            diagnostics: self.diagnostics,
            missing: self.missing,
        }
    }
}

/// Removes ANSI colour sequences (LaTeXML colours its output on a TTY).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Parses LaTeXML's stderr or its `.latexml.log`.
pub fn parse_latexml(log: &str) -> Report {
    let log = strip_ansi(log);
    let lines: Vec<&str> = log.lines().collect();
    let mut out = Collector::default();
    let mut files = LatexmlFiles::default();
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim_end();
        files.see(line);
        if let Some((severity, rest)) = latexml_entry(line) {
            // `rest` is `category:thing message [at FILE; line N col M]`;
            // the log file puts the location on the next, indented line.
            let (message, location) = match rest.rfind(" at ") {
                Some(at) if parse_location(&rest[at + 4..]).is_some() => {
                    (&rest[..at], parse_location(&rest[at + 4..]))
                }
                _ => {
                    let next = lines.get(i + 1).map(|l| l.trim()).unwrap_or_default();
                    (rest, next.strip_prefix("at ").and_then(parse_location))
                }
            };
            let (file, line_no) = location.unwrap_or((None, None));
            let file = file.map(|f| files.resolve(f));
            if let Some(thing) = rest.strip_prefix("missing_file:") {
                let name = thing.split_whitespace().next().unwrap_or_default();
                out.missing(name);
            }
            out.push(severity, file, line_no, message);
        } else if let Some(summary) = status_line(line) {
            apply_latexml_summary(&mut out, summary);
        } else if let Some(code) = line.strip_prefix("Status:conversion:") {
            match code.trim() {
                "1" => out.raise(Severity::Warning),
                "2" => out.raise(Severity::Error),
                "3" => out.raise(Severity::Fatal),
                _ => {}
            }
        }
    }
    out.finish()
}

/// The files LaTeXML read. A location names a file by its base name
/// (`at intro.tex; line 4` for `sections/intro.tex`), but LaTeXML
/// announces each file in full as it starts reading it: `(Processing
/// content /job/sections/intro.tex...`. The first is the main file, in
/// the directory LaTeXML runs in.
#[derive(Default)]
struct LatexmlFiles {
    /// The main file's directory (`/job`, `/job/paper`).
    main_dir: Option<String>,
    /// Every file announced, the most recent last.
    seen: Vec<String>,
}

/// At most this many files are remembered.
const MAX_LATEXML_FILES: usize = 10_000;

impl LatexmlFiles {
    fn see(&mut self, line: &str) {
        for part in line.split("(Processing content ").skip(1) {
            let path = part.split("...").next().unwrap_or_default().trim();
            if !path.starts_with('/') {
                continue;
            }
            if self.main_dir.is_none() {
                self.main_dir = path.rsplit_once('/').map(|(dir, _)| dir.to_owned());
            }
            self.seen.retain(|p| p != path);
            if self.seen.len() < MAX_LATEXML_FILES {
                self.seen.push(path.to_owned());
            }
        }
    }

    /// The file a location's base name stands for, relative to the main
    /// file's directory like every other parser's paths (or its jail
    /// path, when outside it); names not announced stay as they are.
    fn resolve(&self, file: String) -> String {
        if file.contains('/') {
            return file;
        }
        let Some(path) = self
            .seen
            .iter()
            .rev()
            .find(|p| p.rsplit('/').next() == Some(file.as_str()))
        else {
            return file;
        };
        self.main_dir
            .as_deref()
            .and_then(|dir| path.strip_prefix(dir)?.strip_prefix('/'))
            .map_or_else(|| path.clone(), str::to_owned)
    }
}

fn latexml_entry(line: &str) -> Option<(Severity, &str)> {
    let (severity, rest) = if let Some(rest) = line.strip_prefix("Warning:") {
        (Severity::Warning, rest)
    } else if let Some(rest) = line.strip_prefix("Error:") {
        (Severity::Error, rest)
    } else if let Some(rest) = line.strip_prefix("Fatal:") {
        (Severity::Fatal, rest)
    } else if let Some(rest) = line.strip_prefix("Info:") {
        (Severity::Info, rest)
    } else {
        return None;
    };
    // A real entry has a `category:` next; prose that merely starts with
    // "Warning:" does not.
    let category = rest.split(':').next()?;
    let plausible = !category.is_empty()
        && category.len() < 40
        && category
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    (plausible && rest.contains(':')).then_some((severity, rest))
}

/// `FILE; line N col M ...` → (file, line). `String; line 0` (macro
/// expansion from a string, not a file) gives no file.
fn parse_location(text: &str) -> Option<(Option<String>, Option<u32>)> {
    let (file, rest) = text.split_once("; line ")?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let line = digits.parse::<u32>().ok()?;
    let file = source_path(file).filter(|f| f != "String");
    // A line number means nothing without its file.
    let line = (line > 0 && file.is_some()).then_some(line);
    Some((file, line))
}

/// The text after `Conversion complete:` / `Post-processing complete:` /
/// `Initialization complete:`.
fn status_line(line: &str) -> Option<&str> {
    let line = line.trim_start().trim_start_matches("recursive ");
    [
        "Conversion complete:",
        "Post-processing complete:",
        "Initialization complete:",
    ]
    .iter()
    .find_map(|prefix| line.strip_prefix(prefix))
}

/// Folds the counts of a status line in: if the entries we parsed were
/// capped or lost, the summary still sets the class, and its
/// `missing file[a.sty, b.cls]` list names files with their extension.
fn apply_latexml_summary(out: &mut Collector, summary: &str) {
    for part in summary.split(';') {
        let part = part.trim();
        let count: u32 = part
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if count > 0 && part.contains("fatal error") {
            out.raise(Severity::Fatal);
        } else if count > 0 && part.contains(" error") {
            out.raise(Severity::Error);
        } else if count > 0 && part.contains(" warning") {
            out.raise(Severity::Warning);
        } else if part.contains("missing file") {
            if let Some(list) = part.split_once('[').and_then(|(_, l)| l.rsplit_once(']')) {
                // Replace bare names from warnings with the full names.
                for name in list.0.split(',') {
                    let name = name.trim();
                    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
                    out.missing.retain(|m| m != stem);
                    out.missing(name);
                }
            }
        }
    }
    if summary.contains("Fatal") || summary.contains("Aborting") {
        out.raise(Severity::Fatal);
    }
}

/// Parses a TeX `.log` (pdflatex, xelatex, lualatex, make4ht's runs).
///
/// An error's file is the innermost file open at that point of the log
/// ([`OpenFiles`]), its line the `l.N` of TeX's context; a warning that
/// names an input line gets the file too. Overfull/underfull box reports
/// are layout noise for HTML output and are ignored.
pub fn parse_tex_log(log: &str) -> Report {
    let lines: Vec<&str> = log.lines().collect();
    let mut out = Collector::default();
    let mut files = OpenFiles::default();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if line.starts_with("! ") {
            // The message and its context quote the document: their
            // parentheses are not TeX's file brackets.
            let (message, taken) = unwrapped(&lines[i..], "! ".len());
            let (line_no, context) = tex_error_context(&lines[i + taken..]);
            tex_error(&mut out, &message, files.current(), line_no);
            i += taken + context;
            continue;
        } else if let Some((file, line_no, message)) = file_line_error(line) {
            let (_, context) = tex_error_context(&lines[i + 1..]);
            tex_error(&mut out, message, Some(file), Some(line_no));
            i += 1 + context;
            continue;
        } else if tex_warning_start(line).is_some() {
            // Continuation lines of package warnings start with `(pkg)`,
            // LaTeX's own are indented.
            let mut message = lines[i].trim_end_matches('\r').to_owned();
            let mut j = i + 1;
            while let Some(next) = lines.get(j) {
                if is_broken(lines[j - 1]) && j - i <= MAX_BROKEN_LINES {
                    // TeX broke the line at its length, maybe in a word.
                    message.push_str(next.trim_end_matches('\r'));
                    j += 1;
                    continue;
                }
                let next = next.trim_end();
                let continues = if line.ends_with("Warning:") {
                    // The message starts on the next line (xr's `No file
                    // x.aux`, over three lines without its `(xr)` prefix).
                    j - i <= 3 && input_line(&message).is_none()
                } else if line.starts_with("LaTeX Warning:") {
                    next.starts_with(' ')
                        && !next.trim().is_empty()
                        && !message.trim_end().ends_with('.')
                } else {
                    next.starts_with('(') && next[1..].contains(')') && next.len() > 2 && {
                        let pkg = &next[1..next.find(')').unwrap_or(1)];
                        line.contains(pkg) && !pkg.is_empty()
                    }
                };
                if !continues || next.is_empty() {
                    break;
                }
                message.truncate(message.trim_end().len());
                message.push(' ');
                let text = if next.starts_with('(') {
                    &next[next.find(')').unwrap_or(0) + 1..]
                } else {
                    next
                };
                message.push_str(text.trim());
                j += 1;
            }
            let line_no = input_line(&message);
            // "on input line N" counts lines of the file being read.
            let file = line_no.and_then(|_| files.current());
            let severity = if message.starts_with("LaTeX Font Warning") {
                Severity::Info
            } else {
                Severity::Warning
            };
            out.push(severity, file, line_no, &message);
            // Quoted names (`label') are the document's text.
            for text in &lines[i..j] {
                files.read(&without_quoted(text), None);
            }
            i = j;
            continue;
        } else if line.starts_with("Overfull \\") || line.starts_with("Underfull \\") {
            // The box's contents follow, up to an empty line: typeset
            // text of the document, whose parentheses need not pair.
            let contents = lines[i + 1..]
                .iter()
                .take(MAX_BOX_LINES)
                .take_while(|l| !l.trim().is_empty() && !log_entry_start(l))
                .count();
            i += 1 + contents;
            continue;
        } else if line.starts_with("Missing character:") {
            out.push(Severity::Warning, None, None, line);
        } else if line.starts_with("No file ") && line.ends_with('.') {
            // `No file main.bbl.`: a normal first-run notice, not a failure.
            out.push(Severity::Info, None, None, line);
        } else if line.contains("==> Fatal error occurred") {
            out.push(
                Severity::Fatal,
                None,
                None,
                line.trim_start_matches('!').trim(),
            );
        } else {
            files.read(line, lines.get(i + 1).copied());
        }
        i += 1;
    }
    out.finish()
}

/// Lines that start a new entry of TeX's log, which end a box's
/// contents even without the empty line that normally does.
fn log_entry_start(line: &str) -> bool {
    line.starts_with("! ")
        || line.starts_with("Overfull \\")
        || line.starts_with("Underfull \\")
        || line.starts_with("Missing character:")
        || line.starts_with("No file ")
        || tex_warning_start(line).is_some()
}

/// Whether TeX broke this log line at [`MAX_PRINT_LINE`]: its text goes
/// on at the start of the next line.
fn is_broken(line: &str) -> bool {
    let line = line.trim_end_matches(['\r', '\n']);
    line.len() == MAX_PRINT_LINE || line.chars().count() == MAX_PRINT_LINE
}

/// The message that starts `lines[0]` after `skip` bytes and goes on in
/// the next lines as long as TeX broke them ([`is_broken`]), and how many
/// lines it takes (at least 1).
fn unwrapped(lines: &[&str], skip: usize) -> (String, usize) {
    let mut message = lines[0].get(skip..).unwrap_or_default().to_owned();
    let mut taken = 1;
    while taken < lines.len() && taken <= MAX_BROKEN_LINES && is_broken(lines[taken - 1]) {
        message.push_str(lines[taken].trim_end_matches('\r'));
        taken += 1;
    }
    (message, taken)
}

/// At most this many continuation lines are joined to a message.
const MAX_BROKEN_LINES: usize = 10;

/// At most this many lines of a box's contents are skipped after an
/// overfull/underfull report.
const MAX_BOX_LINES: usize = 40;

/// TeX breaks log lines at `max_print_line` characters (79 unless
/// texmf.cnf says otherwise; the rootfs's does not).
const MAX_PRINT_LINE: usize = 79;

/// The files TeX has open at a point of its log. TeX prints `(` and the
/// name when it opens a file and `)` when it closes it; other text has
/// parentheses too, which are tracked as non-files so every `)` closes
/// what it should. Lines that quote the document (error context, box
/// contents) are not read ([`parse_tex_log`] skips them), so what is left
/// to mislead is text the document writes to the log (`\typeout`).
///
/// A log cut to its tail starts inside files it never saw open: their
/// `)` find an empty stack and are ignored, and what is reported inside
/// them has no file rather than a wrong one.
#[derive(Default)]
struct OpenFiles {
    stack: Vec<Option<String>>,
}

/// Deeper nesting than this is not tracked (a log of a million `(`).
const MAX_OPEN: usize = 10_000;

impl OpenFiles {
    /// The innermost open file.
    fn current(&self) -> Option<String> {
        self.stack.iter().rev().find_map(|f| f.clone())
    }

    /// Follows the brackets of one log line; `next` is the line after it,
    /// where a name TeX broke at the line length goes on.
    fn read(&mut self, line: &str, next: Option<&str>) {
        let mut rest = line;
        while let Some(at) = rest.find(['(', ')']) {
            if rest[at..].starts_with(')') {
                self.stack.pop();
                rest = &rest[at + 1..];
                continue;
            }
            let after = &rest[at + 1..];
            let (name, used) = file_token(after);
            let mut name = name.to_owned();
            let broken = used == after.len() && !name.is_empty() && is_broken(line);
            if let Some(next) = next.filter(|_| broken) {
                name.push_str(file_token(next).0);
            }
            let file = (name.starts_with("./") || name.starts_with("../") || name.starts_with('/'))
                .then(|| source_path(&name))
                .flatten();
            if self.stack.len() < MAX_OPEN {
                self.stack.push(file);
            }
            rest = &after[used..];
        }
    }
}

/// The file name at the start of `text` (after a `(`) and the bytes it
/// takes: up to a space or bracket, or a quoted name (`"./my file.tex"`).
fn file_token(text: &str) -> (&str, usize) {
    if let Some(quoted) = text.strip_prefix('"') {
        if let Some(end) = quoted.find('"') {
            return (&quoted[..end], end + 2);
        }
    }
    let end = text
        .find(|c: char| c.is_whitespace() || "()[]{}<>\"".contains(c))
        .unwrap_or(text.len());
    (&text[..end], end)
}

/// `text` without the parts LaTeX quotes as `name'.
fn without_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('`') {
        out.push_str(&rest[..open]);
        match rest[open..].find('\'') {
            Some(close) => rest = &rest[open + close + 1..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

fn tex_warning_start(line: &str) -> Option<usize> {
    if line.starts_with("LaTeX Warning:") || line.starts_with("LaTeX Font Warning:") {
        return line.find(':');
    }
    // `Package natbib Warning:` / `Class article Warning:`.
    for prefix in ["Package ", "Class "] {
        if let Some(rest) = line.strip_prefix(prefix) {
            let mut words = rest.splitn(3, ' ');
            let _name = words.next()?;
            if words.next() == Some("Warning:") {
                return line.find("Warning:");
            }
        }
    }
    None
}

/// `... on input line 12.` → 12.
fn input_line(message: &str) -> Option<u32> {
    let at = message.rfind("input line ")?;
    message[at + 11..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .ok()
}

/// After an error line, TeX shows context ending in `l.N <text before>`
/// and a line of `<text after>` within a few lines. Returns N and how
/// many lines the context takes (none when there is no `l.N`).
fn tex_error_context(following: &[&str]) -> (Option<u32>, usize) {
    for (k, line) in following.iter().take(12).enumerate() {
        if line.starts_with("! ") {
            break;
        }
        if let Some(rest) = line.strip_prefix("l.") {
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            if let Ok(n) = digits.parse() {
                // The second context line is indented (or blank).
                let after = following
                    .get(k + 1)
                    .is_some_and(|l| l.is_empty() || l.starts_with(' '));
                return (Some(n), k + 1 + usize::from(after));
            }
        }
    }
    (None, 0)
}

/// `-file-line-error` style: `./main.tex:6: Undefined control sequence.`
fn file_line_error(line: &str) -> Option<(String, u32, &str)> {
    let (file, rest) = line.split_once(':')?;
    let (number, message) = rest.split_once(": ")?;
    let n = number.parse().ok()?;
    let looks_like_file = [".tex", ".ltx", ".sty", ".cls", ".bbl", ".aux", ".def"]
        .iter()
        .any(|ext| file.ends_with(ext))
        && !file.contains(' ');
    if !looks_like_file {
        return None;
    }
    Some((source_path(file)?, n, message))
}

/// The severity of a TeX error message (`Emergency stop` and the final
/// "no output" line end the run).
fn tex_error_severity(message: &str) -> Severity {
    let message = message.trim_start();
    if message.starts_with("Emergency stop") || message.starts_with("==> Fatal") {
        Severity::Fatal
    } else {
        Severity::Error
    }
}

fn tex_error(out: &mut Collector, message: &str, file: Option<String>, line: Option<u32>) {
    if let Some(name) = missing_name(message) {
        out.missing(&name);
    }
    out.push(tex_error_severity(message), file, line, message);
}

/// The file a "not found" error names: ``File `x.sty' not found``,
/// ``I can't find file `x'``, ``File `fig.pdf' not found: using draft``.
fn missing_name(message: &str) -> Option<String> {
    let lower = message.to_ascii_lowercase();
    if !(lower.contains("not found") || lower.contains("can't find file")) {
        return None;
    }
    let start = message.find('`')? + 1;
    let end = start + message[start..].find('\'')?;
    Some(message[start..end].to_owned())
}

/// Parses pandoc's stderr (`--verbose` or default): `[WARNING] ...`,
/// `[INFO] ...`, and the hard failures `Error at "file" (line N, column
/// M):` / `pandoc: ...`, which leave no output and so are fatal.
///
/// make4ht's console output uses the same tags (coloured, padded:
/// `[ERROR]   mkutils: File x doesn't exist`), so it is read here too.
pub fn parse_pandoc(stderr: &str) -> Report {
    parse_tagged(stderr).finish()
}

/// make4ht's two logs of one run: TeX's `.log` of the last LaTeX run and
/// make4ht's console. The console repeats TeX's errors in its `htlatex`
/// table ([`htlatex_summary`]) after every run, with line numbers make4ht
/// takes from the wrong `l.N` when tex4ht has logged warnings of the form
/// `l.433 --- TeX4ht warning ---` before the error (as it does for every
/// figure it cannot size): TeX's own log is the one to believe. A table
/// row is kept only when TeX's log does not report that error (its tail
/// was cut, or the error was in an earlier run).
pub fn parse_make4ht(tex_log: &str, console: &str) -> Report {
    let tex = parse_tex_log(tex_log);
    let mut console = parse_tagged(console);
    let rows = std::mem::take(&mut console.table_rows);
    let mut console = console.finish();
    let mut i = 0;
    console.diagnostics.retain(|d| {
        let row = rows.contains(&i);
        i += 1;
        !(row
            && tex
                .diagnostics
                .iter()
                .any(|t| t.severity == d.severity && t.message.starts_with(&d.message)))
    });
    tex.merge(console)
}

/// The parser of [`parse_pandoc`], whose collector also says which
/// entries are rows of make4ht's `htlatex` error table.
fn parse_tagged(stderr: &str) -> Collector {
    let stderr = strip_ansi(stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    let mut out = Collector::default();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        let tagged = [
            ("[WARNING]", Severity::Warning),
            ("[INFO]", Severity::Info),
            ("[ERROR]", Severity::Error),
            ("[FATAL]", Severity::Fatal),
        ]
        .into_iter()
        .find_map(|(tag, severity)| line.strip_prefix(tag).map(|m| (severity, m.trim_start())));
        if let Some((severity, first)) = tagged {
            if let Some(summary) = first.strip_prefix("htlatex: ") {
                htlatex_summary(&mut out, severity, summary);
                i += 1;
                continue;
            }
            // Continuation lines are indented or plain text up to the next tag.
            let mut message = first.to_owned();
            let mut j = i + 1;
            while let Some(next) = lines.get(j) {
                if next.starts_with('[')
                    || next.starts_with("Error at ")
                    || next.starts_with("pandoc: ")
                {
                    break;
                }
                message.push(' ');
                message.push_str(next.trim());
                j += 1;
            }
            if let Some(name) = pandoc_missing(&message) {
                out.missing(&name);
            }
            // make4ht's section-id filter warns on every document that the
            // rootfs lacks ConTeXt's `char-def` module (tex4ht's own ids
            // stay): a note on the toolchain, not on the document.
            let severity = if severity == Severity::Warning && message.starts_with("tocid: ") {
                Severity::Info
            } else {
                severity
            };
            out.push(severity, None, None, &message);
            i = j;
            continue;
        }
        if let Some(rest) = line.strip_prefix("Error at ") {
            let (file, line_no) = pandoc_location(rest);
            let detail: Vec<&str> = lines[i + 1..]
                .iter()
                .take_while(|l| !l.starts_with('['))
                .map(|l| l.trim())
                .filter(|l| !l.is_empty() && *l != "^")
                .collect();
            out.push(
                Severity::Fatal,
                file,
                line_no,
                &format!("{line} {}", detail.join(" ")),
            );
        } else if line.starts_with("pandoc: ") {
            out.push(Severity::Fatal, None, None, line);
        }
        i += 1;
    }
    out
}

/// make4ht's `htlatex` module reads TeX's log after every LaTeX run (it
/// runs three) and prints its errors as a table:
///
/// ```text
/// [ERROR]   htlatex: Compilation errors in the htlatex run
/// [ERROR]   htlatex: Filename\tLine\tMessage
/// [ERROR]   htlatex: ./sections/intro.tex\t12\t Undefined control sequence.
/// [ERROR]   htlatex: ?\t?\t  ==> Fatal error occurred, no output DVI file produced!
/// ```
///
/// (`?` where it found no file or line). A row is the TeX error itself,
/// with its file and line, counted once per run rather than once per
/// table; the heading rows are not entries. Other `htlatex:` messages
/// are kept as they are.
fn htlatex_summary(out: &mut Collector, severity: Severity, summary: &str) {
    if summary.trim() == "Compilation errors in the htlatex run" {
        out.next_run();
        return;
    }
    let mut columns = summary.splitn(3, '\t');
    match (columns.next(), columns.next(), columns.next()) {
        (Some("Filename"), Some("Line"), Some("Message")) => {}
        (Some(file), Some(line), Some(message)) if severity >= Severity::Error => {
            if let Some(name) = missing_name(message) {
                out.missing(&name);
            }
            let line = line.trim().parse().ok();
            let severity = severity.max(tex_error_severity(message));
            // make4ht's file column runs to the next `(` of the log
            // (`./main.tex ` or `./main.tex [1] [2] `): the name is its
            // first word, or a quoted name.
            let file = source_path(file_token(file.trim_start()).0);
            out.push_in_run(severity, file, line, message);
        }
        _ => out.push(severity, None, None, &format!("htlatex: {summary}")),
    }
}

/// `"main.tex" (line 11, column 2):` → (main.tex, 11).
fn pandoc_location(rest: &str) -> (Option<String>, Option<u32>) {
    let file = rest
        .strip_prefix('"')
        .and_then(|r| r.split_once('"'))
        .and_then(|(f, _)| source_path(f));
    let line = rest.find("(line ").and_then(|at| {
        rest[at + 6..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .ok()
    });
    (file, line)
}

/// pandoc names files it could not read: ``Could not find image `x'``,
/// ``Could not fetch resource 'x'``, ``Could not load include file x``.
fn pandoc_missing(message: &str) -> Option<String> {
    for marker in [
        "Could not find image",
        "Could not fetch resource",
        "Could not load include file",
        "mkutils: File",
    ] {
        if let Some(rest) = message.split_once(marker).map(|(_, r)| r.trim()) {
            let name = rest
                .trim_start_matches(['`', '\'', '"'])
                .split(['\'', '"', ',', ' '])
                .next()
                .unwrap_or_default();
            return (!name.is_empty()).then(|| name.trim_end_matches('.').to_owned());
        }
    }
    None
}

/// Replaces every host path under one of `prefixes` by its jail-relative
/// form: `<prefix>/usr/share/x` becomes `/usr/share/x`, and the prefix
/// alone becomes `/`. A prefix only matches at a path boundary, so
/// `/var/lib/texjail` does not eat into `/var/lib/texjail2`. Longer
/// prefixes are tried first.
pub fn scrub_paths(log: &str, prefixes: &[&str]) -> String {
    let mut prefixes: Vec<&str> = prefixes
        .iter()
        .map(|p| p.trim_end_matches('/'))
        .filter(|p| !p.is_empty())
        .collect();
    prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
    let mut out = String::with_capacity(log.len());
    let mut rest = log;
    'scan: while !rest.is_empty() {
        for prefix in &prefixes {
            if let Some(after) = rest.strip_prefix(prefix) {
                let boundary = after.chars().next().map_or(true, |c| {
                    !(c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
                });
                if boundary {
                    if !after.starts_with('/') {
                        out.push('/');
                    }
                    rest = after;
                    continue 'scan;
                }
            }
        }
        let c = rest.chars().next().expect("rest is not empty");
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latexml_stderr_entries_locations_and_missing() {
        let log = "Warning:missing_file:nonexistentpkg Can't find binding for package nonexistentpkg at main.tex; line 3 col 11\n\
                   Error:undefined:\\foo The token T_CS[\\foo] is not defined. at sec/a.tex; line 6 col 21\n\
                   Error:unexpected:<closed> Mouth is unexpectedly already closed at String; line 0 col 0\n\
                   Conversion complete: 1 warning; 2 errors; 1 undefined macro[\\foo]; 1 missing file[nonexistentpkg.sty]\n";
        let report = parse_latexml(log);
        assert_eq!(report.status, StatusClass::Errors);
        assert_eq!(report.missing, vec!["nonexistentpkg.sty"]);
        assert_eq!(report.diagnostics.len(), 3);
        let d = &report.diagnostics[1];
        assert_eq!(d.severity, Severity::Error);
        assert_eq!(d.file.as_deref(), Some("sec/a.tex"));
        assert_eq!(d.line, Some(6));
        assert_eq!(
            d.message,
            "undefined:\\foo The token T_CS[\\foo] is not defined."
        );
        assert_eq!(report.diagnostics[2].file, None);
    }

    /// LaTeXML's log of /tmp/x (sections/intro.tex and
    /// sections/deeper.tex `\\input` from main.tex): locations name base
    /// names, the `Processing content` lines full paths.
    #[test]
    fn latexml_base_names_become_paths() {
        let log = "(Digesting TeX main...\n\
            (Processing content /job/paper/main.tex...\n\
            (Loading /usr/share/perl5/LaTeXML/Package/graphics.sty.ltxml... 0.01 sec) 0.04 sec)\n\
            (Processing content /job/paper/sections/intro.tex...\n\
            Error:undefined:\\undefinedmacro The token T_CS[\\undefinedmacro] is not defined.\n\
            \tat intro.tex; line 4 col 25 - line 4 col 25\n\
            (Processing content /job/shared/intro.tex...\n\
            Error:undefined:\\x The token T_CS[\\x] is not defined. at intro.tex; line 2 col 1\n\
            \x20 0.00 sec) 0.05 sec)\n\
            Error:undefined:\\undefinedmain The token T_CS[\\undefinedmain] is not defined. at main.tex; line 10 col 30\n\
            Error:undefined:\\y The token T_CS[\\y] is not defined. at other.tex; line 1 col 1\n";
        let report = parse_latexml(log);
        let files: Vec<Option<&str>> = report
            .diagnostics
            .iter()
            .map(|d| d.file.as_deref())
            .collect();
        assert_eq!(
            files,
            vec![
                Some("sections/intro.tex"),
                Some("/job/shared/intro.tex"),
                Some("main.tex"),
                Some("other.tex"),
            ]
        );
        let files: Vec<Option<String>> = report
            .relative_to_project("paper")
            .diagnostics
            .into_iter()
            .map(|d| d.file)
            .collect();
        assert_eq!(
            files,
            [
                "paper/sections/intro.tex",
                "shared/intro.tex",
                "paper/main.tex",
                "paper/other.tex"
            ]
            .map(|f| Some(f.to_owned()))
        );
    }

    #[test]
    fn latexml_log_file_location_on_next_line() {
        let log = "Warning:missing_file:foo Can't find binding for package foo\n\tat main.tex; line 3 col 11 - line 3 col 11\n\tAnticipate undefined macros\n";
        let report = parse_latexml(log);
        assert_eq!(report.diagnostics[0].line, Some(3));
        assert_eq!(report.diagnostics[0].file.as_deref(), Some("main.tex"));
        assert_eq!(report.missing, vec!["foo"]);
        assert_eq!(report.status, StatusClass::Warnings);
    }

    #[test]
    fn latexml_status_lines_set_class() {
        assert_eq!(
            parse_latexml("Conversion complete: No obvious problems\n").status,
            StatusClass::Ok
        );
        assert_eq!(
            parse_latexml("Conversion complete: 3 warnings\n").status,
            StatusClass::Warnings
        );
        assert_eq!(
            parse_latexml("Conversion complete: 2 warnings; 1 error\n").status,
            StatusClass::Errors
        );
        assert_eq!(
            parse_latexml("Conversion complete: 1 fatal error\n").status,
            StatusClass::Fatal
        );
        assert_eq!(
            parse_latexml("Fatal:perl:die Perl died\n").status,
            StatusClass::Fatal
        );
        assert_eq!(
            parse_latexml("Status:conversion:3\n").status,
            StatusClass::Fatal
        );
        assert_eq!(
            parse_latexml("\u{1b}[31mError:undefined:\\x\u{1b}[0m bad\n").status,
            StatusClass::Errors
        );
        // Prose that merely begins with "Warning:" is not an entry.
        assert_eq!(
            parse_latexml("Warning: this is prose\n").status,
            StatusClass::Ok
        );
        assert_eq!(parse_latexml("").timed_out().status, StatusClass::Timeout);
    }

    #[test]
    fn cap_keeps_first_entries_but_class_sees_all() {
        let mut log = String::new();
        for i in 0..(MAX_DIAGNOSTICS + 100) {
            log.push_str(&format!("Warning:w:x warning {i}\n"));
        }
        log.push_str("Error:e:x the error after the cap\n");
        let report = parse_latexml(&log);
        assert_eq!(report.diagnostics.len(), MAX_DIAGNOSTICS);
        assert_eq!(report.status, StatusClass::Errors);
    }

    #[test]
    fn tex_log_errors_warnings_and_missing() {
        let log = "(./main.tex\n\
                   ! LaTeX Error: File `nonexistentpkg.sty' not found.\n\nType X to quit.\n\
                   ! Undefined control sequence.\nl.6 Hello \\undefinedmacro\n                        {x}\n\
                   LaTeX Warning: Reference `sec:missing' on page 1 undefined on input line 6.\n\
                   Package natbib Warning: Citation `nokey' on page 1 undefined on input line 8.\n\
                   Package hyperref Warning: Token not allowed in a PDF string\n(hyperref)                removing `math shift' on input line 9.\n\
                   Overfull \\hbox (15.0pt too wide) in paragraph at lines 3--4\n\
                   No file main.bbl.\n";
        let report = parse_tex_log(log);
        assert_eq!(report.missing, vec!["nonexistentpkg.sty"]);
        assert_eq!(report.status, StatusClass::Errors);
        let undefined = &report.diagnostics[1];
        assert_eq!(undefined.message, "Undefined control sequence.");
        assert_eq!(undefined.line, Some(6));
        assert_eq!(report.diagnostics[2].line, Some(6));
        assert!(report.diagnostics[4]
            .message
            .ends_with("removing `math shift' on input line 9."));
        assert_eq!(report.diagnostics[4].line, Some(9));
        assert_eq!(report.count(Severity::Warning), 3);
        assert!(!report
            .diagnostics
            .iter()
            .any(|d| d.message.contains("Overfull")));
        assert_eq!(report.count(Severity::Info), 1);
    }

    #[test]
    fn tex_log_fatal_and_file_line_error() {
        let report = parse_tex_log("./sec/a.tex:12: Undefined control sequence.\n! Emergency stop.\n!  ==> Fatal error occurred, no output PDF file produced!\n");
        assert_eq!(report.status, StatusClass::Fatal);
        assert_eq!(report.diagnostics[0].file.as_deref(), Some("sec/a.tex"));
        assert_eq!(report.diagnostics[0].line, Some(12));
    }

    #[test]
    fn pandoc_warnings_and_errors() {
        let report = parse_pandoc("[WARNING] Could not convert TeX math \\frac{1}{, rendering as TeX:\n  \\frac{1}{\n[WARNING] Could not fetch resource 'missing-figure': replacing image with description\n");
        assert_eq!(report.status, StatusClass::Warnings);
        assert_eq!(report.diagnostics.len(), 2);
        assert!(report.diagnostics[0]
            .message
            .ends_with("rendering as TeX: \\frac{1}{"));
        assert_eq!(report.missing, vec!["missing-figure"]);
        let make4ht = parse_pandoc("\u{1b}[33m[WARNING] \u{1b}[0mtocid: cannot fix section id's\n\u{1b}[31m[ERROR]   \u{1b}[0mmkutils: File figures/square-.png doesn't exist\n[STATUS]  make4ht: Conversion finished\n");
        assert_eq!(make4ht.status, StatusClass::Errors);
        assert_eq!(make4ht.diagnostics[0].severity, Severity::Info);
        let tocid_only = parse_pandoc("[WARNING] tocid: char-def module not found\n");
        assert_eq!(tocid_only.status, StatusClass::Ok);
        assert_eq!(
            make4ht.diagnostics[1].message,
            "mkutils: File figures/square-.png doesn't exist"
        );
        assert_eq!(make4ht.missing, vec!["figures/square-.png"]);
        let fatal = parse_pandoc(
            "Error at \"main.tex\" (line 11, column 2):\nunexpected end of input\n\n ^\n",
        );
        assert_eq!(fatal.status, StatusClass::Fatal);
        assert_eq!(fatal.diagnostics[0].file.as_deref(), Some("main.tex"));
        assert_eq!(fatal.diagnostics[0].line, Some(11));
        assert!(fatal.diagnostics[0]
            .message
            .contains("unexpected end of input"));
        assert_eq!(parse_pandoc("").status, StatusClass::Ok);
    }

    #[test]
    fn status_from_rule() {
        let d = |severity| Diagnostic::new(severity, None, None, "");
        assert_eq!(status_from(&[], false), StatusClass::Ok);
        assert_eq!(status_from(&[d(Severity::Info)], false), StatusClass::Ok);
        assert_eq!(
            status_from(&[d(Severity::Warning), d(Severity::Info)], false),
            StatusClass::Warnings
        );
        assert_eq!(
            status_from(&[d(Severity::Error), d(Severity::Warning)], false),
            StatusClass::Errors
        );
        assert_eq!(
            status_from(&[d(Severity::Fatal)], false),
            StatusClass::Fatal
        );
        assert_eq!(
            status_from(&[d(Severity::Fatal)], true),
            StatusClass::Timeout
        );
        assert_eq!(
            serde_json::to_string(&StatusClass::Warnings).unwrap(),
            "\"warnings\""
        );
        assert_eq!(
            serde_json::to_string(&Severity::Fatal).unwrap(),
            "\"fatal\""
        );
    }

    /// make4ht's console after three LaTeX runs (as the rootfs's make4ht
    /// prints it: coloured tags, tab-separated columns, the file column
    /// running to the next `(` of TeX's log, `?` for unknown).
    const MAKE4HT_CONSOLE: &str = "\u{1b}[37m[STATUS]  \u{1b}[0mmake4ht: Conversion started\n\
        \u{1b}[31m[ERROR]   \u{1b}[0mhtlatex: Compilation errors in the htlatex run\n\
        \u{1b}[31m[ERROR]   \u{1b}[0mhtlatex: Filename\tLine\tMessage\n\
        \u{1b}[31m[ERROR]   \u{1b}[0mhtlatex: ./main.tex \t10\t Undefined control sequence.\n\
        \u{1b}[31m[ERROR]   \u{1b}[0mhtlatex: ./sections/intro.tex\t4\t Undefined control sequence.\n\
        \u{1b}[31m[ERROR]   \u{1b}[0mhtlatex: ./sections/intro.tex\t4\t Undefined control sequence.\n\
        \u{1b}[31m[ERROR]   \u{1b}[0mhtlatex: ?\t?\t  ==> Fatal error occurred, no output DVI file produced!\n\
        \u{1b}[31m[ERROR]   \u{1b}[0mhtlatex: Compilation errors in the htlatex run\n\
        \u{1b}[31m[ERROR]   \u{1b}[0mhtlatex: Filename\tLine\tMessage\n\
        \u{1b}[31m[ERROR]   \u{1b}[0mhtlatex: ./main.tex \t10\t Undefined control sequence.\n\
        \u{1b}[31m[ERROR]   \u{1b}[0mhtlatex: ./sections/intro.tex\t4\t Undefined control sequence.\n\
        \u{1b}[31m[ERROR]   \u{1b}[0mhtlatex: ./sections/intro.tex\t4\t Undefined control sequence.\n\
        \u{1b}[31m[ERROR]   \u{1b}[0mhtlatex: ?\t?\t  ==> Fatal error occurred, no output DVI file produced!\n\
        \u{1b}[37m[STATUS]  \u{1b}[0mmake4ht: Conversion finished\n";

    #[test]
    fn make4ht_error_table_rows_carry_file_and_line() {
        let report = parse_pandoc(MAKE4HT_CONSOLE);
        type Row<'r> = (Severity, Option<&'r str>, Option<u32>, &'r str, u32);
        let seen: Vec<Row> = report
            .diagnostics
            .iter()
            .map(|d| {
                (
                    d.severity,
                    d.file.as_deref(),
                    d.line,
                    d.message.as_str(),
                    d.count,
                )
            })
            .collect();
        // The headings are not entries; a row is counted once per run,
        // not once per table.
        assert_eq!(
            seen,
            vec![
                (
                    Severity::Error,
                    Some("main.tex"),
                    Some(10),
                    "Undefined control sequence.",
                    1
                ),
                (
                    Severity::Error,
                    Some("sections/intro.tex"),
                    Some(4),
                    "Undefined control sequence.",
                    2
                ),
                (
                    Severity::Fatal,
                    None,
                    None,
                    "==> Fatal error occurred, no output DVI file produced!",
                    1
                ),
            ]
        );
        assert_eq!(report.status, StatusClass::Fatal);
        assert_eq!(
            parse_pandoc("[ERROR]   htlatex: \"./my file.tex\" [1] \t7\t Missing $ inserted.\n")
                .diagnostics[0]
                .file
                .as_deref(),
            Some("my file.tex")
        );
    }

    /// TeX's log of the same make4ht run (excerpts of a real one): files
    /// open and close with `(`/`)`, a name broken at 79 characters goes
    /// on on the next line, and quoted document text (error context, box
    /// contents, label names) has parentheses that do not pair.
    const TEX_LOG: &str = "**\\makeatletter\\def\\HCode{\\futurelet\\HCode\\HChar}\\def\\HChar{\\ifx\"\\HCode\\def\\HCo\n\
        tf-8,html5.a.b.c.\\input \"\\detokenize{main.tex}\"\n\
        (./main.tex (/usr/share/texlive/texmf-dist/tex/generic/tex4ht/tex4ht.sty\n\
        version 2023-01-01-18:19\n\
        ) (./texjail-make4ht.cfg (/usr/share/texlive/texmf-dist/tex/generic/tex4ht/tex4\n\
        ht.4ht\n\
        version 2022-07-05-14:37\n\
        )\n\
        l.864 --- TeX4ht warning --- nonprimitive \\everypar ---\n\
        (./main.tmp)\n\
        ! Undefined control sequence.\n\
        l.3 \\Configure{x} (oops\n\
        \x20                    more.\n\
        )\n\
        Overfull \\hbox (15.0pt too wide) in paragraph at lines 8--9\n\
        []\\OT1/cmr/m/n/10 Text (with an un-bal-anced paren\n\
        \n\
        (./sections/intro.tex\n\
        ! Undefined control sequence.\n\
        l.4 More text \\undefinedmacro\n\
        \x20                            {x} (here.\n\
        The control sequence at the end of the top line\n\
        of your error message was never \\def'ed.\n\
        \n\
        LaTeX Warning: Reference `sec:(' on page 1 undefined on input line 5.\n\
        \n\
        (./sections/deeper.tex\n\
        ! Undefined control sequence.\n\
        l.1 Deep text \\alsoundefined\n\
        \x20                           .\n\
        ))\n\
        Package xr Warning: \n\
        No file intro.aux\n\
        LABELS NOT IMPORTED.\n\
        \x20on input line 8.\n\
        Package todonotes Warning: The length marginparwidth is less than 2cm and will \n\
        most likely cause issues with the appearance of inserted todonotes. The issue c\n\
        an be solved by adding a line on input line 9.\n\
        \n\
        ! Undefined control sequence.\n\
        l.10 After the input \\undefinedmain\n\
        \x20                                  {} and \\ref{sec:nope}.\n\
        [3] (./main.aux) )\n\
        ! Emergency stop.\n";

    #[test]
    fn tex_log_entries_take_the_file_open_at_that_point() {
        let report = parse_tex_log(TEX_LOG);
        let seen: Vec<(Option<&str>, Option<u32>, &str)> = report
            .diagnostics
            .iter()
            .map(|d| {
                (
                    d.file.as_deref(),
                    d.line,
                    &d.message[..d.message.len().min(30)],
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (
                    Some("texjail-make4ht.cfg"),
                    Some(3),
                    "Undefined control sequence."
                ),
                (
                    Some("sections/intro.tex"),
                    Some(4),
                    "Undefined control sequence."
                ),
                (
                    Some("sections/intro.tex"),
                    Some(5),
                    "LaTeX Warning: Reference `sec:"
                ),
                (
                    Some("sections/deeper.tex"),
                    Some(1),
                    "Undefined control sequence."
                ),
                (Some("main.tex"), Some(8), "Package xr Warning: No file in"),
                (Some("main.tex"), Some(9), "Package todonotes Warning: The"),
                (Some("main.tex"), Some(10), "Undefined control sequence."),
                // After the last `)`: no file is open.
                (None, None, "Emergency stop."),
            ]
        );
        // A name TeX broke at 79 characters.
        let broken =
            "[1] [2] [3] [4] [5] [6] [7] [8] [9] [10] [11] (./chapters/chapter-with-a-long-n";
        assert_eq!(broken.len(), MAX_PRINT_LINE);
        let report = parse_tex_log(&format!(
            "(./main.tex\n{broken}\name.tex\n! Undefined control sequence.\nl.7 \\x\n\n))\n"
        ));
        assert_eq!(
            report.diagnostics[0].file.as_deref(),
            Some("chapters/chapter-with-a-long-name.tex")
        );
        let report = parse_tex_log(TEX_LOG);
        // A message TeX broke at 79 characters is joined back.
        assert!(report.diagnostics[5]
            .message
            .contains("will most likely cause issues with the appearance of inserted todonotes. The issue can be solved"));
    }

    /// make4ht's table takes its line numbers from the last `l.N` it saw,
    /// which may be one of tex4ht's `l.433 --- TeX4ht warning` lines (the
    /// real run of corpus project 06: TeX says 475, make4ht 433 and 424).
    #[test]
    fn make4ht_tex_log_wins_over_its_table() {
        let tex_log = "(./main.tex\n\
            l.433 --- TeX4ht warning --- Cannot determine size of graphic in \"figures//post\n\
            ! Limit controls must follow a math operator.\n\
            \\n:limits: ->\\o:limits: \n\
            \x20                       \\:l:mits \n\
            l.475     \\Pr\n\
            \x20            \\left(\\vrv{x} \\in A\\right)\n\
            I'm ignoring this misplaced \\limits or \\nolimits command.\n\
            \n\
            [23] (./main.aux) )\n";
        let console = "[WARNING] tocid: char-def module not found\n\
            [ERROR]   htlatex: Compilation errors in the htlatex run\n\
            [ERROR]   htlatex: Filename\tLine\tMessage\n\
            [ERROR]   htlatex: ./main.tex \t433\t Limit controls must follow a math operator.\n\
            [ERROR]   htlatex: Compilation errors in the htlatex run\n\
            [ERROR]   htlatex: Filename\tLine\tMessage\n\
            [ERROR]   htlatex: ./main.tex \t424\t Limit controls must follow a math operator.\n\
            [ERROR]   htlatex: Compilation errors in the htlatex run\n\
            [ERROR]   htlatex: ./other.tex \t3\t Missing $ inserted.\n\
            [ERROR]   mkutils: File figures/x.png doesn't exist\n";
        let report = parse_make4ht(tex_log, console);
        let seen: Vec<(Option<&str>, Option<u32>, &str)> = report
            .diagnostics
            .iter()
            .map(|d| (d.file.as_deref(), d.line, d.message.as_str()))
            .collect();
        assert_eq!(
            seen,
            vec![
                (
                    Some("main.tex"),
                    Some(475),
                    "Limit controls must follow a math operator."
                ),
                (None, None, "tocid: char-def module not found"),
                // Not in TeX's log (an earlier run's): kept from the table.
                (Some("other.tex"), Some(3), "Missing $ inserted."),
                (None, None, "mkutils: File figures/x.png doesn't exist"),
            ]
        );
        assert_eq!(report.status, StatusClass::Errors);
        assert_eq!(report.missing, vec!["figures/x.png"]);
        // Without TeX's log the table is all there is.
        let alone = parse_make4ht("", console);
        assert_eq!(alone.diagnostics.len(), 5);
        assert_eq!(alone.diagnostics[1].line, Some(433));
    }

    #[test]
    fn identical_entries_merge_with_a_count() {
        let log = "Error:undefined:\\foo The token T_CS[\\foo] is not defined. at main.tex; line 6 col 21\n\
                   Warning:w:x other at main.tex; line 1 col 1\n\
                   Error:undefined:\\foo The token T_CS[\\foo] is not defined. at main.tex; line 6 col 30\n\
                   Error:undefined:\\foo The token T_CS[\\foo] is not defined. at main.tex; line 7 col 1\n\
                   Error:undefined:\\foo The token T_CS[\\foo] is not defined. at main.tex; line 6 col 2\n";
        let report = parse_latexml(log);
        let seen: Vec<(Option<u32>, u32)> = report
            .diagnostics
            .iter()
            .map(|d| (d.line, d.count))
            .collect();
        // First-occurrence order; the same line is the same entry.
        assert_eq!(seen, vec![(Some(6), 3), (Some(1), 1), (Some(7), 1)]);
        assert_eq!(report.count(Severity::Error), 4);
        // The cap counts distinct entries: repeats never push others out.
        let mut log = String::new();
        for _ in 0..(MAX_DIAGNOSTICS + 10) {
            log.push_str("Warning:w:x the same warning\n");
        }
        log.push_str("Warning:w:y another warning\n");
        let report = parse_latexml(&log);
        assert_eq!(report.diagnostics.len(), 2);
        assert_eq!(report.diagnostics[0].count as usize, MAX_DIAGNOSTICS + 10);
        // Serialized as `count`; results stored before it read as 1.
        let json = serde_json::to_value(&report.diagnostics[1]).unwrap();
        assert_eq!(json["count"], 1);
        let old: Diagnostic =
            serde_json::from_str(r#"{"severity":"error","file":"a.tex","line":3,"message":"m"}"#)
                .unwrap();
        assert_eq!(
            old,
            Diagnostic::new(Severity::Error, Some("a.tex".into()), Some(3), "m")
        );
    }

    #[test]
    fn merging_two_logs_of_one_run_keeps_the_larger_count() {
        let a = parse_pandoc("[WARNING] w\n[WARNING] w\n[ERROR] e\n");
        let b = parse_pandoc("[WARNING] w\n[WARNING] x\n");
        let merged = a.merge(b);
        let seen: Vec<(&str, u32)> = merged
            .diagnostics
            .iter()
            .map(|d| (d.message.as_str(), d.count))
            .collect();
        assert_eq!(seen, vec![("w", 2), ("e", 1), ("x", 1)]);
        assert_eq!(merged.status, StatusClass::Errors);
    }

    #[test]
    fn file_paths_are_project_relative() {
        // `./` goes in every dialect.
        assert_eq!(
            parse_latexml("Error:e:x bad at ./sec/a.tex; line 3 col 1\n").diagnostics[0]
                .file
                .as_deref(),
            Some("sec/a.tex")
        );
        assert_eq!(
            parse_pandoc("Error at \"./main.tex\" (line 2, column 1):\nbad\n").diagnostics[0]
                .file
                .as_deref(),
            Some("main.tex")
        );
        assert_eq!(
            parse_tex_log("././sec/b.tex:4: Missing $ inserted.\n").diagnostics[0]
                .file
                .as_deref(),
            Some("sec/b.tex")
        );
        // Relative to the main file's directory until told where it is.
        let report = parse_tex_log(
            "(./main.tex (../shared/macros.tex\n! Undefined control sequence.\nl.2 \\x\n\n)\
             (/usr/share/texlive/texmf-dist/tex/latex/base/article.cls\n\
             ! Undefined control sequence.\nl.9 \\y\n\n)\
             (./sec/a.tex\n! Undefined control sequence.\nl.4 \\z\n\n))\n",
        )
        .merge(parse_latexml(
            "Error:e:x bad at /job/paper/c.tex; line 1 col 1\n",
        ));
        let files = |r: &Report| -> Vec<Option<String>> {
            r.diagnostics.iter().map(|d| d.file.clone()).collect()
        };
        assert_eq!(
            files(&report),
            [
                Some("../shared/macros.tex"),
                Some("/usr/share/texlive/texmf-dist/tex/latex/base/article.cls"),
                Some("sec/a.tex"),
                Some("/job/paper/c.tex"),
            ]
            .map(|f| f.map(String::from))
        );
        let relative = report.clone().relative_to_project("paper");
        assert_eq!(
            files(&relative),
            [
                Some("shared/macros.tex"),
                Some("/usr/share/texlive/texmf-dist/tex/latex/base/article.cls"),
                Some("paper/sec/a.tex"),
                Some("paper/c.tex"),
            ]
            .map(|f| f.map(String::from))
        );
        assert_eq!(
            files(&report.relative_to_project(""))[0].as_deref(),
            Some("../shared/macros.tex"),
            "above the project: left as the log said"
        );
    }

    #[test]
    fn a_main_file_run_under_another_name_gets_its_own_back() {
        let report = parse_tex_log(
            "(./texjail-main.tex\n! Undefined control sequence.\nl.2 \\x\n\n\
             (./sec/texjail-main.tex\n! Undefined control sequence.\nl.4 \\z\n\n))\n",
        )
        .renamed("texjail-main.tex", "my paper.tex")
        .relative_to_project("paper");
        let files: Vec<_> = report.diagnostics.iter().map(|d| d.file.clone()).collect();
        assert_eq!(
            files,
            [
                Some("paper/my paper.tex".to_string()),
                Some("paper/sec/texjail-main.tex".to_string())
            ]
        );
    }

    #[test]
    fn scrub_paths_keeps_jail_relative_paths() {
        let root = "/var/cache/texjail/rootfs-423bbbe75306c508";
        let log = format!("(Loading {root}/usr/share/perl5/x.ltxml)\n/var/lib/texjail/jobs/7/job/main.tex; {root} /var/lib/texjail2/x");
        let scrubbed = scrub_paths(&log, &[root, "/var/lib/texjail/jobs/7/", ""]);
        assert_eq!(
            scrubbed,
            "(Loading /usr/share/perl5/x.ltxml)\n/job/main.tex; / /var/lib/texjail2/x"
        );
        assert_eq!(
            scrub_paths("/var/lib/texjail2", &["/var/lib/texjail"]),
            "/var/lib/texjail2"
        );
    }
}
