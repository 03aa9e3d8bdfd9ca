//! Log parsers on real converter logs (tests/fixtures/*, produced by the
//! rootfs's LaTeXML, pdflatex, make4ht and pandoc on tests/fixtures/errors.tex
//! and samples/article).

use std::path::Path;

use texjail::convert::diagnostics::{
    parse_latexml, parse_pandoc, parse_tex_log, scrub_paths, Report, Severity, StatusClass,
};

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

fn find<'r>(report: &'r Report, needle: &str) -> &'r texjail::convert::diagnostics::Diagnostic {
    report
        .diagnostics
        .iter()
        .find(|d| d.message.contains(needle))
        .unwrap_or_else(|| panic!("no diagnostic with {needle:?} in {:#?}", report.diagnostics))
}

/// LaTeXML prints the same entries on stderr (location on the line) and
/// in `.latexml.log` (location on the next line); both read the same.
#[test]
fn latexml_errors_stderr_and_log_agree() {
    let stderr = parse_latexml(&fixture("latexml-errors.stderr"));
    let log = parse_latexml(&fixture("latexml-errors.log"));
    for report in [&stderr, &log] {
        assert_eq!(report.status, StatusClass::Errors);
        assert_eq!(report.missing, vec!["nonexistentpkg.sty"]);
        let missing = find(report, "missing_file:nonexistentpkg");
        assert_eq!(
            (missing.severity, missing.file.as_deref(), missing.line),
            (Severity::Warning, Some("main.tex"), Some(3))
        );
        let undefined = find(report, "undefined:\\undefinedmacro");
        assert_eq!(
            (undefined.severity, undefined.line),
            (Severity::Error, Some(6))
        );
        assert_eq!(report.count(Severity::Error), 6);
        // "at String; line 1" is a macro expansion, not a place in a file.
        assert!(report
            .diagnostics
            .iter()
            .all(|d| d.file.is_some() || d.line.is_none()));
    }
    assert_eq!(stderr.diagnostics, log.diagnostics);
}

#[test]
fn latexml_clean_run_is_ok() {
    let report = parse_latexml(&fixture("latexml-article.stderr"));
    assert_eq!(report.status, StatusClass::Ok);
    assert!(report.diagnostics.is_empty(), "{:#?}", report.diagnostics);
}

#[test]
fn pdflatex_missing_package_is_fatal() {
    let report = parse_tex_log(&fixture("pdflatex-errors.log"));
    assert_eq!(report.status, StatusClass::Fatal);
    assert_eq!(report.missing, vec!["nonexistentpkg.sty"]);
    let error = find(&report, "LaTeX Error: File `nonexistentpkg.sty' not found.");
    assert_eq!(error.severity, Severity::Error);
    assert_eq!(find(&report, "Emergency stop").line, Some(3));
}

#[test]
fn pdflatex_clean_run_is_ok() {
    // The final pass of samples/article: every reference resolved; the
    // overfull boxes in it are layout noise and not reported.
    let log = fixture("pdflatex-article.log");
    let report = parse_tex_log(&log);
    assert_eq!(report.status, StatusClass::Ok, "{:#?}", report.diagnostics);
    assert!(report.count(Severity::Error) == 0 && report.count(Severity::Warning) == 0);
}

#[test]
fn pandoc_parse_error_is_fatal_with_location() {
    let report = parse_pandoc(&fixture("pandoc-errors.stderr"));
    assert_eq!(report.status, StatusClass::Fatal);
    let fatal = &report.diagnostics[0];
    assert_eq!(
        (fatal.file.as_deref(), fatal.line),
        (Some("main.tex"), Some(11))
    );
    assert!(fatal.message.contains("unexpected end of input"));
}

#[test]
fn pandoc_math_warning_keeps_its_continuation() {
    let report = parse_pandoc(&fixture("pandoc-article.stderr"));
    assert_eq!(report.status, StatusClass::Warnings);
    assert_eq!(report.diagnostics.len(), 1);
    let message = &report.diagnostics[0].message;
    assert!(
        message.starts_with("Could not convert TeX math \\begin{aligned}"),
        "{message}"
    );
    assert!(message.contains("unexpected \"\\\\\""), "{message}");
}

/// make4ht's console output (coloured `[WARNING]`/`[ERROR]` tags) names
/// the figure it could not convert; its two `tocid` warnings, about the
/// toolchain and on every document, count as info.
#[test]
fn make4ht_console_reports_missing_figure() {
    let report = parse_pandoc(&fixture("make4ht-article.console"));
    assert_eq!(report.status, StatusClass::Errors);
    assert_eq!(report.missing, vec!["figures/square-.png"]);
    assert_eq!(report.count(Severity::Warning), 0);
    assert_eq!(report.count(Severity::Info), 2);
}

#[test]
fn scrubbed_real_log_keeps_jail_paths() {
    // As the host would see LaTeXML's log if it named files through the
    // rootfs and job directories.
    let rootfs = "/var/cache/texjail/rootfs-423bbbe75306c508";
    let job = "/var/lib/texjail/jobs/0123abcd";
    let raw = fixture("latexml-errors.log")
        .replace("/usr/share/perl5", &format!("{rootfs}/usr/share/perl5"))
        .replace("/job/", &format!("{job}/job/"));
    assert!(raw.contains(rootfs) && raw.contains(job));
    let scrubbed = scrub_paths(&raw, &[rootfs, job]);
    assert!(!scrubbed.contains("/var/"), "host path left");
    assert_eq!(scrubbed, fixture("latexml-errors.log"));
}
