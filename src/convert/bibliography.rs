//! The bibliography pre-pass. A shipped `<main>.bbl` is used as is (LaTeXML
//! is preloaded with `nobibtex`, so it reads the `.bbl` like arXiv does).
//! Otherwise, when the project has `.bib` files, one LaTeX run writes the
//! `.aux`/`.bcf`, then biber (biblatex, recognised by the `.bcf` the run
//! wrote) or bibtex (`\bibdata` in the `.aux`) produces the `.bbl` the
//! converter then reads. All of it runs inside the same jail run as the
//! converter.

use super::scan::{Engine, ProjectScan};
use super::shell::{quote, quote_path};

/// Whether a pre-pass is needed for this project.
pub fn needs_prepass(scan: &ProjectScan) -> bool {
    !scan.has_bbl && scan.has_bib
}

/// The `sh` snippet of the pre-pass, run in the main file's directory.
/// `main` is the main file's name there, `log` the file collecting output.
/// A missing file does not stop the run (`missing_files`): the `.aux`
/// still gets the citations that follow it.
pub fn prepass_script(engine: Engine, main: &str, log: &str) -> String {
    let stem = super::make4ht::tex_job_name(main);
    // -draftmode / -no-pdf: only the .aux and .bcf matter here, skip the PDF.
    let draft = match engine {
        Engine::Pdflatex => "-draftmode",
        Engine::Xelatex => "-no-pdf",
    };
    let log = quote(log);
    format!(
        "{engine} -interaction=nonstopmode -no-shell-escape {draft} -jobname={stem_arg} {main} </dev/null >>{log} 2>&1\n\
         if [ -f {bcf} ]; then biber {stem_arg} >>{log} 2>&1\n\
         elif grep -qs '\\\\bibdata' {aux}; then bibtex {stem_arg} >>{log} 2>&1\n\
         fi\n",
        engine = engine.command(),
        main = super::missing_files::command_line(main),
        bcf = quote_path(&format!("{stem}.bcf")),
        aux = quote_path(&format!("{stem}.aux")),
        stem_arg = quote_path(stem),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(has_bbl: bool, has_bib: bool) -> ProjectScan {
        ProjectScan {
            has_bbl,
            has_bib,
            ..ProjectScan::default()
        }
    }

    #[test]
    fn shipped_bbl_wins_and_no_bib_needs_nothing() {
        assert!(needs_prepass(&scan(false, true)));
        assert!(!needs_prepass(&scan(true, true)));
        assert!(!needs_prepass(&scan(false, false)));
    }

    #[test]
    fn prepass_picks_biber_or_bibtex_by_what_latex_wrote() {
        let s = prepass_script(Engine::Xelatex, "thesis.tex", "/job/.texjail/prepass.log");
        assert!(s.starts_with(
            "xelatex -interaction=nonstopmode -no-shell-escape -no-pdf -jobname='thesis' '\\makeatletter"
        ));
        assert!(s.contains("\\input \"\\detokenize{thesis.tex}\"' </dev/null"));
        assert!(s.contains("if [ -f 'thesis.bcf' ]; then biber 'thesis'"));
        assert!(s.contains("grep -qs '\\\\bibdata' 'thesis.aux'; then bibtex 'thesis'"));
    }

    /// Runs the pre-pass against fake `pdflatex`/`bibtex`/`biber` scripts
    /// in a real `sh` to check which tool the branch picks.
    #[test]
    fn prepass_branches_run_in_sh() {
        for (aux, bcf, expect) in [
            ("\\bibdata{refs}", false, "bibtex main"),
            ("\\bibdata{refs}", true, "biber main"),
            ("\\relax", false, ""),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let bin = dir.path().join("bin");
            std::fs::create_dir(&bin).unwrap();
            let calls = dir.path().join("calls");
            for tool in ["bibtex", "biber"] {
                let path = bin.join(tool);
                std::fs::write(
                    &path,
                    format!("#!/bin/sh\necho {tool} \"$@\" >>{}\n", calls.display()),
                )
                .unwrap();
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            }
            let latex = bin.join("pdflatex");
            let mut body = format!("#!/bin/sh\nprintf '%s' '{aux}' > main.aux\n");
            if bcf {
                body.push_str("touch main.bcf\n");
            }
            std::fs::write(&latex, body).unwrap();
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&latex, std::fs::Permissions::from_mode(0o755)).unwrap();
            let script = prepass_script(Engine::Pdflatex, "main.tex", "log");
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(script)
                .current_dir(dir.path())
                .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
                .status()
                .unwrap();
            assert!(status.success());
            let got = std::fs::read_to_string(&calls).unwrap_or_default();
            assert_eq!(got.trim(), expect, "aux {aux:?} bcf {bcf}");
        }
    }
}
