//! LaTeX's answer to a missing file is a prompt for another name; with no
//! terminal (`-interaction=nonstopmode`, stdin from `/dev/null`) that
//! prompt is an emergency stop, and the run ends with no page. Real
//! uploads miss files all the time: a `version.tex` their Makefile
//! generates, a package TeX Live does not have (`quiver.sty`, copied from
//! a web page), a chapter left out of the zip. Measured on the corpus:
//! 4 of 23 projects lost their make4ht page this way (pipeline 10).
//!
//! Every LaTeX run of the jail therefore gets `GO_ON` first: the missing
//! file is still a LaTeX error (same message, so diagnostics name it and
//! the page's status says `errors`), and TeX goes on as if the user had
//! pressed Return at the prompt, reading LaTeX's empty `.tex` instead.

use super::shell::quote;

/// The redefinition of the kernel's `\@missingfileerror`: its message,
/// without the `\read` from the terminal, then the "proceed" branch.
pub const GO_ON: &str = r"\makeatletter\gdef\@missingfileerror#1#2{\@latex@error{File `#1.#2' not found}{The upload has no such file; the conversion goes on without it.}\let\@missingfile@area\@empty\let\@missingfile@base\@empty\def\@missingfile@ext{tex}}\makeatother";

/// `sh` that puts `GO_ON`, then `more` (fixed TeX of the converter's),
/// at the start of the first line of `main` (the job's copy), on that
/// same line so the document's line numbers hold. For converters whose
/// LaTeX command line is not ours (make4ht).
pub fn prefix_script(main: &str, more: &'static str) -> String {
    let main = super::shell::quote_path(main);
    format!(
        "{{ printf '%s' {go_on}; cat {main}; }} >.texjail-main.tmp && mv -f .texjail-main.tmp {main}\n",
        go_on = quote(&format!("{GO_ON}{more}")),
    )
}

/// The TeX command-line argument that defines `GO_ON`, then reads `main`
/// (the form htlatex uses, so a name with spaces or TeX specials reads as
/// a name). Run with `-jobname`, as TeX would otherwise name the job after
/// the first file it opens.
pub fn command_line(main: &str) -> String {
    quote(&format!("{GO_ON}\\input \"\\detokenize{{{main}}}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_keeps_the_first_line_where_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("m.tex");
        std::fs::write(&main, "\\documentclass{article}\n\\begin{document}\n").unwrap();
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(prefix_script("m.tex", ""))
            .current_dir(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let text = std::fs::read_to_string(&main).unwrap();
        assert_eq!(
            text,
            format!("{GO_ON}\\documentclass{{article}}\n\\begin{{document}}\n")
        );
        assert!(!dir.path().join(".texjail-main.tmp").exists());
    }

    #[test]
    fn command_line_is_one_shell_word() {
        let arg = command_line("it's.tex");
        assert!(arg.starts_with('\'') && arg.ends_with('\''));
        assert!(arg.ends_with("\\input \"\\detokenize{it'\\''s.tex}\"'"));
    }
}
