//! make4ht (tex4ht): runs real LaTeX, so package coverage is the broadest;
//! math as MathML. XeLaTeX mode (`-x`) when the project needs a Unicode
//! engine (ctex, fontspec, ...). PDF/EPS figures are referenced through the
//! PNGs of the figure pre-pass (`CFG_BODY`).

use super::assemble::RunOutput;
use super::diagnostics::{self, Report};
use super::driver::{CONVERTER_LOG, OUT_DIR, TEX_LOG, WORK_DIR};
use super::scan::Engine;
use super::shell::quote_path;

/// The tex4ht configuration file the driver writes next to the main file.
/// TeX runs with `openin_any=p`, which refuses dot directories and
/// absolute paths, so it cannot live under `/job/.texjail`; a project file
/// of the same name is overwritten.
pub const CFG: &str = "texjail-make4ht.cfg";

/// The tex4ht configuration (written to `CFG`):
/// - MathML;
/// - PDF/EPS graphics referenced through the `.png` the figure pre-pass
///   wrote (tex4ht would otherwise ask for a `name-.png` nobody produces),
///   configured only when the document loads graphics: without
///   graphics.4ht `\Configure{graphics*}` is unknown and its arguments are
///   typeset in the preamble ("Missing \begin{document}", an error class
///   on every document without graphicx);
/// - babel-spanish's accented math operators (`\es@operators`, run on
///   every switch into Spanish) switched off: under tex4ht's MathML their
///   redefinition of `\lim`, `\max`, ... recurses until TeX's parameter
///   stack overflows ("TeX capacity exceeded", corpus project 28, any
///   document with `otherlanguage{spanish}`); the plain operators remain.
pub const CFG_BODY: &str = r"\Preamble{xhtml,mathml}
\makeatletter
\@ifpackageloaded{graphics}{%
\Configure{graphics*}{pdf}{\Picture[\csname a:GraphicsAlt\endcsname]{\csname Gin@base\endcsname.png \csname a:Gin-dim\endcsname}}%
\Configure{graphics*}{PDF}{\Picture[\csname a:GraphicsAlt\endcsname]{\csname Gin@base\endcsname.png \csname a:Gin-dim\endcsname}}%
\Configure{graphics*}{eps}{\Picture[\csname a:GraphicsAlt\endcsname]{\csname Gin@base\endcsname.png \csname a:Gin-dim\endcsname}}%
}{}
\ifdefined\es@operators\let\es@operators\relax\fi
\makeatother
\begin{document}
\EndPreamble
";

/// The command, run in the main file's directory. make4ht names its page
/// after the main file; the driver renames it to `index.html`.
///
/// arXiv sources often start with `\pdfoutput=1`, which makes the DVI run
/// tex4ht needs write a PDF instead (and make4ht then fails with no DVI);
/// the job's own copy of the main file gets `\pdfoutput=0` instead, and
/// `missing_files::GO_ON` on its first line (make4ht builds the LaTeX
/// command line itself).
pub fn command(main: &str, engine: Engine) -> String {
    let stem = tex_job_name(main);
    let engine_flag = match engine {
        Engine::Pdflatex => "",
        Engine::Xelatex => " -x",
    };
    format!(
        "sed -i -e 's/\\\\pdfoutput *= *1/\\\\pdfoutput=0/' {main} 2>/dev/null\n\
         {go_on}\
         make4ht -u{engine_flag} -c {CFG} -d /job/{OUT_DIR} {main} mathml \
         </dev/null >/job/{CONVERTER_LOG} 2>&1; status=$?\n\
         cat {texlog} >/job/{WORK_DIR}/tex.log 2>/dev/null\n\
         mv -f /job/{OUT_DIR}/{html} /job/{OUT_DIR}/index.html 2>/dev/null\n\
         (exit $status)",
        main = quote_path(main),
        go_on = super::missing_files::prefix_script(main),
        texlog = quote_path(&format!("{stem}.log")),
        html = shell_rel(&format!("{stem}.html")),
    )
}

/// The name TeX gives the job, and make4ht its page and log: the main
/// file's name without its extension, whatever its case (`paper.ltx` and
/// `Paper.TEX` run as `paper` and `Paper`).
pub(super) fn tex_job_name(main: &str) -> &str {
    let lower = main.to_ascii_lowercase();
    if lower.ends_with(".tex") || lower.ends_with(".ltx") {
        &main[..main.len() - 4]
    } else {
        main
    }
}

/// A file name appended to an absolute directory: quoted, and never read
/// as an option because it follows `/`.
fn shell_rel(name: &str) -> String {
    super::shell::quote(name)
}

/// The run's diagnostics: LaTeX's log and make4ht's own output.
pub fn diagnose(output: &RunOutput) -> Report {
    diagnostics::parse_make4ht(output.log(TEX_LOG), output.log(CONVERTER_LOG))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_named_after_the_tex_job_name() {
        for (main, job) in [
            ("book.tex", "book"),
            ("paper.ltx", "paper"),
            ("Paper.TEX", "Paper"),
            ("a.b.Ltx", "a.b"),
        ] {
            let c = command(main, Engine::Pdflatex);
            assert!(
                c.contains(&format!(
                    "/job/.texjail/out/'{job}.html' /job/.texjail/out/index.html"
                )),
                "{main}: {c}"
            );
        }
    }

    #[test]
    fn xelatex_mode_follows_the_engine() {
        assert!(command("book.tex", Engine::Xelatex).contains("\nmake4ht -u -x "));
        let c = command("book.tex", Engine::Pdflatex);
        assert!(c.contains("\nmake4ht -u -c texjail-make4ht.cfg "));
        assert!(c.contains("'book.tex' mathml"));
        assert!(c.contains("/job/.texjail/out/'book.html' /job/.texjail/out/index.html"));
    }
}

#[cfg(test)]
mod pdfoutput_tests {
    use super::*;

    /// The rewrite, run by a real `sed` on a real file.
    #[test]
    fn pdfoutput_one_becomes_zero() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("m.tex"),
            "\\pdfoutput=1 % arXiv\n\\pdfoutput = 1\n\\documentclass{article}\n",
        )
        .unwrap();
        let command = command("m.tex", Engine::Pdflatex);
        let sed = command.lines().next().unwrap();
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(sed)
            .current_dir(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let text = std::fs::read_to_string(dir.path().join("m.tex")).unwrap();
        assert_eq!(
            text,
            "\\pdfoutput=0 % arXiv\n\\pdfoutput=0\n\\documentclass{article}\n"
        );
    }
}
