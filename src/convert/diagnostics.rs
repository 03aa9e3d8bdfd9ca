//! Converter logs turned into structured diagnostics and a quality class.
//!
//! Three parsers, one per log dialect: LaTeXML (`Warning:cat:thing msg at
//! FILE; line N col M` and its final status line), TeX (`pdflatex` and
//! make4ht `.log` files: `! ...` errors with `l.N`, `LaTeX Warning: ...`,
//! `Package X Warning: ...`) and pandoc (`[WARNING] ...` on stderr).
//!
//! All of them return a [`Report`]: at most [`MAX_DIAGNOSTICS`] entries (a
//! runaway document can log millions of lines; the first ones are the
//! useful ones), the list of missing packages/files, and a
//! [`StatusClass`] computed by [`status_from`] from *all* entries seen,
//! not just the kept ones.
//!
//! Logs mention host paths (the rootfs, the job directory); [`scrub_paths`]
//! removes those prefixes before a log is shown to anyone.

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
    /// Jail-relative source file, when the log names one.
    pub file: Option<String>,
    pub line: Option<u32>,
    pub message: String,
}

/// The quality class of a conversion, as ar5iv reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusClass {
    /// No warning, no error.
    Ok,
    Warnings,
    Errors,
    /// The converter gave up; output is missing or partial.
    Fatal,
    /// The converter was killed at the wall-clock limit.
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The first [`MAX_DIAGNOSTICS`] entries, in log order.
    pub diagnostics: Vec<Diagnostic>,
    /// Missing packages and files (`foo.sty`, `fig.pdf`), deduplicated.
    pub missing: Vec<String>,
    pub status: StatusClass,
}

impl Report {
    /// How many kept diagnostics have this severity.
    pub fn count(&self, severity: Severity) -> usize {
        self.diagnostics
            .iter()
            .filter(|d| d.severity == severity)
            .count()
    }

    /// Marks the run as timed out: the class becomes `timeout` whatever
    /// the log said, since the log of a killed run is incomplete.
    pub fn timed_out(mut self) -> Self {
        self.status = StatusClass::Timeout;
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

/// Collects diagnostics with the cap applied, remembering the worst
/// severity of everything seen.
#[derive(Default)]
struct Collector {
    diagnostics: Vec<Diagnostic>,
    missing: Vec<String>,
    worst: Option<Severity>,
}

impl Collector {
    fn push(&mut self, severity: Severity, file: Option<String>, line: Option<u32>, message: &str) {
        self.raise(severity);
        if self.diagnostics.len() < MAX_DIAGNOSTICS {
            let message: String = message.trim().chars().take(MAX_MESSAGE_CHARS).collect();
            self.diagnostics.push(Diagnostic {
                severity,
                file,
                line,
                message,
            });
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
    for (i, raw) in lines.iter().enumerate() {
        let line = raw.trim_end();
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
    let file = file.trim();
    let file = (file != "String" && !file.is_empty()).then(|| file.to_owned());
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
/// Overfull/underfull box reports are layout noise for HTML output and
/// are ignored.
pub fn parse_tex_log(log: &str) -> Report {
    let lines: Vec<&str> = log.lines().collect();
    let mut out = Collector::default();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end();
        if let Some(message) = line.strip_prefix("! ") {
            let (file, line_no) = tex_error_line(&lines[i + 1..]);
            tex_error(&mut out, message, file, line_no);
        } else if let Some((file, line_no, message)) = file_line_error(line) {
            tex_error(&mut out, message, Some(file), Some(line_no));
        } else if let Some(kind_end) = tex_warning_start(line) {
            // Continuation lines of package warnings start with `(pkg)`.
            let mut message = line.to_owned();
            let mut j = i + 1;
            while let Some(next) = lines.get(j) {
                let next = next.trim_end();
                let continues =
                    next.starts_with('(') && next[1..].contains(')') && next.len() > 2 && {
                        let pkg = &next[1..next.find(')').unwrap_or(1)];
                        line.contains(pkg) && !pkg.is_empty()
                    };
                if !continues || next.is_empty() {
                    break;
                }
                message.push(' ');
                message.push_str(next[next.find(')').unwrap_or(0) + 1..].trim());
                j += 1;
            }
            let _ = kind_end;
            let line_no = input_line(&message);
            let severity = if message.starts_with("LaTeX Font Warning") {
                Severity::Info
            } else {
                Severity::Warning
            };
            out.push(severity, None, line_no, &message);
            i = j;
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
        }
        i += 1;
    }
    out.finish()
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

/// After a `! ...` line, TeX shows context ending in `l.N <text>` within
/// a few lines.
fn tex_error_line(following: &[&str]) -> (Option<String>, Option<u32>) {
    for line in following.iter().take(12) {
        if line.starts_with("! ") {
            break;
        }
        if let Some(rest) = line.strip_prefix("l.") {
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            if let Ok(n) = digits.parse() {
                return (None, Some(n));
            }
        }
    }
    (None, None)
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
    looks_like_file.then(|| (file.trim_start_matches("./").to_owned(), n, message))
}

fn tex_error(out: &mut Collector, message: &str, file: Option<String>, line: Option<u32>) {
    let severity = if message.starts_with("Emergency stop") || message.starts_with(" ==> Fatal") {
        Severity::Fatal
    } else {
        Severity::Error
    };
    if let Some(name) = missing_name(message) {
        out.missing(&name);
    }
    out.push(severity, file, line, message);
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
    out.finish()
}

/// `"main.tex" (line 11, column 2):` → (main.tex, 11).
fn pandoc_location(rest: &str) -> (Option<String>, Option<u32>) {
    let file = rest
        .strip_prefix('"')
        .and_then(|r| r.split_once('"'))
        .map(|(f, _)| f.to_owned());
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
        let d = |severity| Diagnostic {
            severity,
            file: None,
            line: None,
            message: String::new(),
        };
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
