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
///   document with `otherlanguage{spanish}`); the plain operators remain;
/// - the `\limits` tex4ht's MathML appends to `\lim`, `\max`, `\Pr`, ...
///   kept only where the document left them operators: a document that
///   redefines one as something else (`\renewcommand{\Pr}{\mathbb{P}}`, a
///   common idiom of probability papers) would otherwise stop at every
///   use with "Limit controls must follow a math operator" (corpus project
///   06). The document's definitions are saved before `\Preamble` loads
///   mathml.4ht; one whose meaning shows no operator (`\mathop`,
///   `\qopname`, `\operatorname`) is put back as it was;
/// - hyperref's link colouring hooks (`\Hy@colorlink`,
///   `\Hy@endcolorlink`) provided empty when the document's hyperref
///   driver did not define them: beamer loads hyperref before tex4ht can
///   choose its driver, and every anchor mathml.4ht makes then stops at
///   an undefined command (212 errors on a one-frame talk, corpus project
///   29, every beamer talk);
/// - mathtools' `multlined` read as `gathered` (its optional position and
///   width dropped): tex4ht 2022's MathML alignment breaks on it, and one
///   `multlined` in an equation cascades into "TeX capacity exceeded"
///   (corpus project 27). Each line stays a row of the formula;
/// - page decorations switched off before tex4ht ships its first page:
///   draftwatermark's stamp, background's material, eso-pic's pictures.
///   A web page has no sheet to decorate, and the stamp came out as a
///   broken picture over the title (corpus project 43). Only these: the
///   shipout hooks as a whole also carry pgf's PostScript header, without
///   which no TikZ picture renders.
pub const CFG_BODY: &str = r"\makeatletter
\providecommand\Hy@colorlink[1]{}\providecommand\Hy@endcolorlink{}
\@ifpackageloaded{draftwatermark}{\DraftwatermarkOptions{stamp=false}}{}%
\@ifpackageloaded{background}{\renewcommand\bg@material{}}{}%
\@ifpackageloaded{eso-pic}{\ClearShipoutPicture}{}%
\def\texjail@ops{lim,limsup,liminf,max,min,sup,inf,det,Pr,gcd}
\@for\texjail@n:=\texjail@ops\do{\expandafter\let\csname texjail@saved@\texjail@n\expandafter\endcsname\csname\texjail@n\endcsname}
\def\texjail@has#1{\edef\texjail@test{\noexpand\in@{\detokenize{#1}}{\texjail@meaning}}\texjail@test}
\makeatother
\Preamble{xhtml,mathml}
\makeatletter
\@for\texjail@n:=\texjail@ops\do{%
\edef\texjail@meaning{\expandafter\expandafter\expandafter\meaning\csname texjail@saved@\texjail@n\endcsname}%
\texjail@has{mathop}%
\ifin@\else\texjail@has{qopname}\fi
\ifin@\else\texjail@has{operatorname}\fi
\ifin@\else\expandafter\let\csname\texjail@n\expandafter\endcsname\csname texjail@saved@\texjail@n\endcsname\fi}%
\@ifpackageloaded{graphics}{%
\Configure{graphics*}{pdf}{\Picture[\csname a:GraphicsAlt\endcsname]{\csname Gin@base\endcsname.png \csname a:Gin-dim\endcsname}}%
\Configure{graphics*}{PDF}{\Picture[\csname a:GraphicsAlt\endcsname]{\csname Gin@base\endcsname.png \csname a:Gin-dim\endcsname}}%
\Configure{graphics*}{eps}{\Picture[\csname a:GraphicsAlt\endcsname]{\csname Gin@base\endcsname.png \csname a:Gin-dim\endcsname}}%
}{}
\ifdefined\es@operators\let\es@operators\relax\fi
\@ifpackageloaded{mathtools}{%
\def\texjail@ml@begin{\@ifnextchar[\texjail@ml@option\gathered}%
\def\texjail@ml@option[#1]{\texjail@ml@begin}%
\renewenvironment{multlined}{\texjail@ml@begin}{\endgathered}%
}{}
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
///
/// tex4ht and dvisvgm name pictures and pages after the job name, and
/// lose their way when it has a dot or a space (`paper.lncs.tex`: every
/// picture is written under one name and looked for under another); such
/// a main file runs as a copy named [`SAFE_MAIN`], with the `.bbl` the
/// bibliography pre-pass (or the upload) made for it.
pub fn command(main: &str, engine: Engine) -> String {
    let engine_flag = match engine {
        Engine::Pdflatex => "",
        Engine::Xelatex => " -x",
    };
    let (run, copy) = if is_safe_job_name(tex_job_name(main)) {
        (main, String::new())
    } else {
        (
            SAFE_MAIN,
            format!(
                "cp -f {main} {safe} || exit 93\n\
                 cp -f {bbl} {safe_bbl} 2>/dev/null\n",
                safe = quote_path(SAFE_MAIN),
                main = quote_path(main),
                bbl = quote_path(&format!("{}.bbl", tex_job_name(main))),
                safe_bbl = quote_path(&format!("{}.bbl", tex_job_name(SAFE_MAIN))),
            ),
        )
    };
    let stem = tex_job_name(run);
    format!(
        "{copy}\
         sed -i -e 's/\\\\pdfoutput *= *1/\\\\pdfoutput=0/' {main} 2>/dev/null\n\
         {go_on}\
         make4ht -u{engine_flag} -c {CFG} -d /job/{OUT_DIR} {main} mathml \
         </dev/null >/job/{CONVERTER_LOG} 2>&1; status=$?\n\
         cat {texlog} >/job/{WORK_DIR}/tex.log 2>/dev/null\n\
         mv -f /job/{OUT_DIR}/{html} /job/{OUT_DIR}/index.html 2>/dev/null\n\
         (exit $status)",
        main = quote_path(run),
        go_on = super::missing_files::prefix_script(run, PDF_SIZES),
        texlog = quote_path(&format!("{stem}.log")),
        html = shell_rel(&format!("{stem}.html")),
    )
}

/// What a PDF figure measures, for graphicx in the DVI mode tex4ht runs
/// LaTeX in: read from the `.xbb` file the figure pre-pass writes
/// (`figures::prepass_script`). tex4ht's own graphics configuration takes
/// over at `\begin{document}`; a PDF placed before it (an ORCID logo
/// saved in a box in the preamble, corpus project 34) stopped with
/// "Cannot determine size of graphic (no BoundingBox)". Set on the main
/// file's first line, before any package loads.
pub const PDF_SIZES: &str =
    r"\AddToHook{package/graphics/after}{\DeclareGraphicsRule{.pdf}{eps}{.xbb}{}}";

/// The name a main file whose job name tex4ht cannot take runs under.
pub const SAFE_MAIN: &str = "texjail-main.tex";

/// A job name tex4ht and dvisvgm keep as it is: ASCII letters, digits,
/// `-` and `_`.
fn is_safe_job_name(stem: &str) -> bool {
    !stem.is_empty()
        && stem
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
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
/// A main file run as [`SAFE_MAIN`] gets its entries back under its own
/// name (`main`, in its directory).
pub fn diagnose(output: &RunOutput, main: &str) -> Report {
    diagnostics::parse_make4ht(output.log(TEX_LOG), output.log(CONVERTER_LOG))
        .renamed(SAFE_MAIN, main)
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
    fn job_names_with_dots_or_spaces_run_as_a_safe_copy() {
        for main in ["paper.lncs.tex", "my paper.tex", "été.tex", "a.b.Ltx"] {
            let c = command(main, Engine::Pdflatex);
            assert!(
                c.contains(&format!("cp -f {} 'texjail-main.tex'", quote_path(main))),
                "{main}: {c}"
            );
            assert!(c.contains("'texjail-main.tex' mathml"), "{main}: {c}");
            assert!(
                c.contains("/job/.texjail/out/'texjail-main.html' /job/.texjail/out/index.html"),
                "{main}: {c}"
            );
        }
        for main in ["paper.tex", "main_v2-final.tex"] {
            let c = command(main, Engine::Pdflatex);
            assert!(!c.contains(SAFE_MAIN), "{main}: {c}");
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
