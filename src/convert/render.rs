//! Page and fragment shells around sanitized HTML.
//!
//! The templates live in `templates/` and are compiled in with
//! `include_str!`. Substitution is one left-to-right pass over the
//! template, so a `{{title}}` that appears *inside* the body is left alone;
//! every value except the (already sanitized) body is HTML-escaped.

use super::diagnostics::{Report, Severity, StatusClass};
use super::mainfile::MainChoice;
use super::notebook_exec::Execution;
use super::quality::Quality;
use crate::sanitize::escape;

const PAGE: &str = include_str!("../../templates/page.html");
const FRAGMENT: &str = include_str!("../../templates/fragment.html");
const ARTICLE_CSS: &str = include_str!("../../templates/article.css");

/// At most this many missing files are named in the summary box.
const MAX_MISSING_SHOWN: usize = 10;

/// What the diagnostics box on a page says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PageSummary {
    pub status: StatusClass,
    /// Converter name as shown to the reader (`latexml`, `make4ht`, ...).
    pub converter: String,
    pub warnings: usize,
    pub errors: usize,
    /// Missing packages or files, shown by name.
    pub missing: Vec<String>,
    /// What a reader meets on the page; the job fills in what the sources
    /// say (`math_in_sources`, `converter_errors`), the page assembly what
    /// the page shows.
    pub quality: Quality,
    /// The main file and how it was chosen (none in unit tests).
    pub main: Option<MainChoice>,
    /// What executing a notebook did, when it was asked for.
    #[serde(default)]
    pub execution: Option<Execution>,
}

impl PageSummary {
    /// The summary of a parsed log; errors include fatal entries.
    pub fn from_report(converter: &str, report: &Report) -> PageSummary {
        PageSummary {
            status: report.status,
            converter: converter.to_owned(),
            warnings: report.count(Severity::Warning),
            errors: report.count(Severity::Error) + report.count(Severity::Fatal),
            missing: report.missing.clone(),
            quality: Quality {
                converter_errors: report.count(Severity::Error) + report.count(Severity::Fatal),
                ..Quality::default()
            },
            main: None,
            execution: None,
        }
    }
}

/// A standalone HTML5 page: charset, inline article CSS, the diagnostics
/// box with a link to `log.txt`, then the body. `body_html` must already
/// be sanitized; it is inserted as is.
pub fn page(title: &str, body_html: &str, summary: &PageSummary) -> String {
    let missing = missing_html(&summary.missing);
    fill(
        PAGE,
        &[
            ("title", &escape(title)),
            ("css", ARTICLE_CSS),
            ("status", status_name(summary.status)),
            ("converter", &escape(&summary.converter)),
            ("warnings", &summary.warnings.to_string()),
            ("errors", &summary.errors.to_string()),
            ("missing", &missing),
            ("quality", &quality_html(&summary.quality)),
            ("main", &main_html(summary.main.as_ref())),
            ("execution", &execution_html(summary.execution.as_ref())),
            ("body", body_html),
        ],
    )
}

/// The body alone, for an editor to embed; asset URLs stay relative.
pub fn fragment(body_html: &str) -> String {
    fill(FRAGMENT, &[("body", body_html)])
}

fn status_name(status: StatusClass) -> &'static str {
    match status {
        StatusClass::Ok => "ok",
        StatusClass::Warnings => "warnings",
        StatusClass::Errors => "errors",
        StatusClass::Fatal => "fatal",
        StatusClass::Timeout => "timeout",
    }
}

fn quality_html(quality: &Quality) -> String {
    let (class, text) = if quality.clean {
        ("texjail-quality clean", "clean page".to_owned())
    } else {
        ("texjail-quality", quality.describe())
    };
    format!(r#"<span class="{class}">{}</span>"#, escape(&text))
}

/// One line on what executing a notebook did: the cells run and those
/// that raised, timed out or were not run, or why it was not executed.
fn execution_html(execution: Option<&Execution>) -> String {
    let Some(execution) = execution else {
        return String::new();
    };
    let text = if execution.executed {
        let mut parts = vec![format!("executed: {} cells run", execution.cells_run)];
        for (cells, what) in [
            (&execution.cells_failed, "raised"),
            (&execution.cells_timed_out, "timed out"),
            (&execution.cells_not_run, "not run"),
            (&execution.outputs_cut, "output cut"),
        ] {
            if !cells.is_empty() {
                parts.push(format!("{} {what}", cells.len()));
            }
        }
        parts.join(", ")
    } else {
        execution
            .note
            .clone()
            .unwrap_or_else(|| "not executed".to_owned())
    };
    format!(
        r#"<span class="texjail-execution">{}</span>"#,
        escape(&text)
    )
}

fn main_html(main: Option<&MainChoice>) -> String {
    let Some(main) = main else {
        return String::new();
    };
    let how = if !main.automatic {
        String::new()
    } else if main.others.is_empty() {
        " (found automatically)".to_owned()
    } else {
        format!(
            " (chosen automatically; other candidates: {})",
            main.others
                .iter()
                .map(|o| format!("<code>{}</code>", escape(o)))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    format!(
        r#"<span class="texjail-main">main file <code>{}</code>{how}</span>"#,
        escape(&main.file)
    )
}

fn missing_html(missing: &[String]) -> String {
    if missing.is_empty() {
        return String::new();
    }
    let mut out = String::from(r#"<span class="texjail-missing">missing: "#);
    let shown: Vec<String> = missing
        .iter()
        .take(MAX_MISSING_SHOWN)
        .map(|m| format!("<code>{}</code>", escape(m)))
        .collect();
    out.push_str(&shown.join(", "));
    if missing.len() > MAX_MISSING_SHOWN {
        out.push_str(&format!(" and {} more", missing.len() - MAX_MISSING_SHOWN));
    }
    out.push_str("</span>\n");
    out
}

/// Replaces each `{{name}}` of `template` in one pass; unknown names are
/// kept verbatim so a template typo shows up in the output.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|(_, v)| v.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after
            .find("}}")
            .map(|end| (&after[..end], &after[end + 2..]))
        {
            Some((name, tail)) => {
                match values.iter().find(|(key, _)| *key == name) {
                    Some((_, value)) => out.push_str(value),
                    None => {
                        out.push_str("{{");
                        out.push_str(name);
                        out.push_str("}}");
                    }
                }
                rest = tail;
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> PageSummary {
        PageSummary {
            status: StatusClass::Warnings,
            converter: "latexml".into(),
            warnings: 3,
            errors: 0,
            missing: vec!["foo<x>.sty".into()],
            quality: Quality {
                raw_tex_commands: 7,
                raw_tex_samples: vec!["\\ell ×7".into()],
                ..Quality::default()
            },
            main: Some(MainChoice {
                file: "paper.tex".into(),
                automatic: true,
                others: vec!["reply<1>.tex".into()],
                reason: "at the project root".into(),
            }),
            execution: None,
        }
    }

    #[test]
    fn page_is_standalone_and_escaped() {
        let html = page("A <b>&</b> {{body}}", "<p>{{title}}</p>", &summary());
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains(r#"<meta charset="utf-8">"#));
        assert!(
            html.contains("<title>A &lt;b&gt;&amp;&lt;/b&gt; {{body}}</title>"),
            "{html}"
        );
        // The body is inserted once and not substituted again.
        assert!(html.contains("<p>{{title}}</p>"));
        assert!(html.contains(r#"class="texjail-summary status-warnings""#));
        assert!(html.contains("3 warnings, 0 errors"));
        assert!(html.contains(r#"href="log.txt""#));
        assert!(html.contains("<code>foo&lt;x&gt;.sty</code>"));
        assert!(html.contains("7 raw TeX commands (\\ell ×7)"), "{html}");
        assert!(html.contains("main file <code>paper.tex</code> (chosen automatically; other candidates: <code>reply&lt;1&gt;.tex</code>)"));
        assert!(html.contains("math[display=\"block\"]"), "CSS inlined");
        assert!(!html.contains("texjail-execution"));
        let executed = PageSummary {
            execution: Some(Execution {
                executed: true,
                cells_run: 4,
                cells_failed: vec![2],
                cells_timed_out: vec![3, 4],
                ..Execution::default()
            }),
            ..summary()
        };
        let html = page("t", "", &executed);
        assert!(
            html.contains("executed: 4 cells run, 1 raised, 2 timed out"),
            "{html}"
        );
        let refused = PageSummary {
            execution: Some(Execution {
                note: Some("not executed: the kernel is <ir>".into()),
                ..Execution::default()
            }),
            ..summary()
        };
        let html = page("t", "", &refused);
        assert!(
            html.contains("not executed: the kernel is &lt;ir&gt;"),
            "{html}"
        );
        // No external resources anywhere in the shell.
        for needle in ["http://", "https://", "@import", "<link", "<script"] {
            assert!(!html.contains(needle), "{needle} in page");
        }
    }

    #[test]
    fn fragment_is_body_only() {
        let html = fragment(r#"<p><img src="assets/x.png"></p>"#);
        assert!(!html.contains("<html") && !html.contains("<head") && !html.contains("<style"));
        assert!(html.contains(r#"<img src="assets/x.png">"#));
    }

    #[test]
    fn summary_from_report_counts() {
        let report = crate::convert::diagnostics::parse_latexml(
            "Warning:a:b one\nError:c:d two\nFatal:e:f three\nWarning:missing_file:zz x\n",
        );
        let s = PageSummary::from_report("latexml", &report);
        assert_eq!((s.warnings, s.errors, s.status), (2, 2, StatusClass::Fatal));
        assert_eq!(s.missing, vec!["zz"]);
    }

    #[test]
    fn fill_keeps_unknown_and_unclosed_placeholders() {
        assert_eq!(fill("a{{x}}b{{y}}c{{", &[("x", "1")]), "a1b{{y}}c{{");
    }
}
