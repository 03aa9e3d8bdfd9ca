//! Jupyter notebooks: one jail run of a Python pre-pass
//! (`notebook_prepass.py`) and pandoc.
//!
//! The notebook is hostile JSON, so the host never parses it: the jail's
//! `python3 -I -S` does (its recursion limit refuses deep nesting, the
//! jail's rlimits and cgroup bound the rest), checks it is nbformat 3 or 4
//! (3 upgraded), and writes a CommonMark document of its cells: tags and
//! `jupyter.source_hidden`/`outputs_hidden` honoured, one representation
//! per output chosen by MIME priority, active outputs (JavaScript,
//! widgets, HTML with scripts) replaced by their `text/plain` or a note,
//! stream and error text escaped with ANSI colours as classes, images and
//! attachments decoded and checked (type by header, pixel count) into
//! `nb-media/`. pandoc (`commonmark_x`, `--mathml`) makes the page: math
//! as MathML, code highlighted by the kernel's language, a table of
//! contents. Everything it writes then goes through the same sanitizer as
//! a TeX page, in the budgeted child.
//!
//! Why pandoc and Python rather than rendering in Rust: pandoc is already
//! in the jail and turns `$…$` and `\begin{align}` into MathML and code
//! into highlighted HTML, which a Rust renderer would have to send to the
//! jail anyway; the measured cost of the whole run is under a second per
//! corpus notebook (`benches/notebooks.rs`).

use super::assemble::RunOutput;
use super::diagnostics::{self, Report};
use super::driver::{CONVERTER_LOG, EXIT_FILE, OUT_DIR, PREPASS_LOG};
use super::shell::{quote, quote_path};
use super::{notebook_exec, Settings};

/// The pre-pass, run in the jail as `python3 -I -S -c`.
pub const PREPASS: &str = include_str!("notebook_prepass.py");

/// The pre-pass's exit status for a file that is not a notebook it
/// converts; its first line on stderr says why. Neither python3 (1 for an
/// uncaught error) nor pandoc (3 to 99, 65 among them) nor the driver's
/// own steps (90 to 92) exit with it.
pub const NOT_A_NOTEBOOK_EXIT: i32 = 79;

/// The markdown the pre-pass writes, relative to `/job`.
pub const MARKDOWN: &str = ".texjail/notebook.md";
/// The page metadata (its title) the pre-pass writes, relative to `/job`.
pub const METADATA: &str = ".texjail/notebook-meta.json";
/// Where output images and attachments go, beside the page.
pub const MEDIA_DIR: &str = "nb-media";

/// pandoc's reader: CommonMark with GFM's tables, strikeout and task
/// lists, `$` math, fenced divs and raw HTML blocks (the pre-pass writes
/// cells and outputs with them). Off: smart quotes and the `~`/`^`
/// sub/superscripts Jupyter does not have, YAML blocks (a cell must not
/// set the page's metadata), and the list and header-reference forms
/// CommonMark lacks.
pub const READER: &str = "commonmark_x-smart-subscript-superscript-yaml_metadata_block\
-implicit_header_references-definition_lists-fancy_lists-emoji";

/// Whether a project-relative path names a notebook.
pub fn is_notebook_path(path: &str) -> bool {
    path.to_ascii_lowercase().ends_with(".ipynb")
}

/// The driver's steps after the work directory's reset, run in the
/// notebook's directory: with `execute`, the execution step
/// ([`notebook_exec::script`]) and the pre-pass on the notebook it wrote
/// (the notebook as uploaded when it wrote none), with its report to mark
/// cells; then the pre-pass (its status ends the run when it refuses the
/// notebook), then pandoc.
pub fn script(main: &str, settings: &Settings, execute: Option<&notebook_exec::Plan>) -> String {
    let uploaded = quote_path(main);
    let (step, notebook, report) = match execute {
        Some(plan) => (
            notebook_exec::script(&uploaded, plan),
            format!(
                "\"$(if [ -s /job/{executed} ]; then echo /job/{executed}; else echo {uploaded}; fi)\"",
                executed = notebook_exec::EXECUTED,
            ),
            format!("/job/{}", notebook_exec::REPORT),
        ),
        None => (String::new(), uploaded, "-".to_string()),
    };
    format!(
        "mkdir -p /job/{OUT_DIR}/{MEDIA_DIR} || exit 91\n\
         {step}\
         python3 -I -S -c {prepass} {notebook} /job/{MARKDOWN} /job/{METADATA} \
         /job/{OUT_DIR}/{MEDIA_DIR} {cells} {output} {pixels} {report} </dev/null >/job/{PREPASS_LOG} 2>&1\n\
         texjail_status=$?\n\
         if [ $texjail_status -ne 0 ]; then echo $texjail_status >/job/{EXIT_FILE}; exit $texjail_status; fi\n\
         pandoc --from={READER} --to=html5 --standalone --mathml --toc --toc-depth=3 \
         --metadata-file=/job/{METADATA} --output=/job/{OUT_DIR}/index.html /job/{MARKDOWN} \
         </dev/null >/job/{CONVERTER_LOG} 2>&1",
        prepass = quote(PREPASS),
        cells = settings.notebook_max_cells,
        output = settings.notebook_max_output_bytes,
        pixels = settings.max_image_pixels,
    )
}

/// The reason the pre-pass gave for refusing a notebook: the first line
/// of its log, without the tag.
pub fn refusal(output: &RunOutput) -> String {
    let line = output
        .log(PREPASS_LOG)
        .lines()
        .find(|l| l.starts_with("not a notebook"))
        .unwrap_or("not a notebook texjail converts");
    line.chars().take(300).collect()
}

/// The diagnostics of a run: the pre-pass's warnings (images and outputs
/// left out) and pandoc's (math it could not read).
pub fn diagnose(output: &RunOutput) -> Report {
    diagnostics::parse_pandoc(output.log(CONVERTER_LOG))
        .merge(diagnostics::parse_pandoc(output.log(PREPASS_LOG)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn script_is_valid_sh_and_quotes_the_name() {
        let settings = Settings::default();
        let plan = notebook_exec::Plan::new(
            &notebook_exec::Execute::default(),
            &settings,
            std::time::Duration::from_secs(60),
        );
        for execute in [None, Some(&plan)] {
            let s = script("it's a.ipynb", &settings, execute);
            assert!(s.contains("'it'\\''s a.ipynb'"));
            assert_eq!(s.contains("nbclient"), execute.is_some());
            assert!(super::super::shell::parses_as_sh(&s), "{s}");
        }
    }

    #[test]
    fn notebooks_are_told_by_extension_in_any_case() {
        assert!(is_notebook_path("a/B.IPYNB"));
        assert!(!is_notebook_path("a.ipynb.tex"));
    }
}
