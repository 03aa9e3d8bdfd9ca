//! The `sh` driver of one converter attempt: everything one jail run does,
//! in order (reset the private work dir, figure pre-pass, bibliography
//! pre-pass, for pandoc the picture pre-pass, the source edits and the
//! chapter aliases, the converter). One jail run per attempt keeps start-up and
//! copy costs to one.
//!
//! Paths inside the jail: the project is at `/job`; the driver's own files
//! live under `/job/.texjail/` (reset first, so an upload cannot plant
//! them); the page is `/job/.texjail/out/index.html`.

use std::time::Duration;

use super::scan::ProjectScan;
use super::shell::quote;
use super::{
    bibliography, figures, latexml, macros, make4ht, notebook, notebook_exec, pandoc, pictures,
    source_edits, Converter, Settings,
};

/// The driver's private directory, relative to `/job`.
pub const WORK_DIR: &str = ".texjail";
/// Where the converter writes the page and its own assets.
pub const OUT_DIR: &str = ".texjail/out";
/// Output of the bibliography and figure pre-passes.
pub const PREPASS_LOG: &str = ".texjail/prepass.log";
/// The converter's log (LaTeXML's `--log`, make4ht's and pandoc's output).
pub const CONVERTER_LOG: &str = ".texjail/converter.log";
/// LaTeXML's console output (mostly a copy of its log).
pub const STDOUT_LOG: &str = ".texjail/stdout.log";
/// The converter's exit status, written last (a record for people
/// reading the job directory; the host takes the status from the jail's
/// outcome, which the document cannot write).
pub const EXIT_FILE: &str = ".texjail/exit";
/// make4ht's TeX log, copied out of the main file's directory.
pub const TEX_LOG: &str = ".texjail/tex.log";
/// The picture pre-pass's warnings (`[WARNING] ...`, read like pandoc's).
pub const PICTURES_LOG: &str = ".texjail/pictures.log";
/// What pandoc's fallbacks left out (`[ERROR] ...`, read like pandoc's).
pub const FALLBACK_LOG: &str = ".texjail/fallback.log";
/// Every log the driver may write, in the order they go into `log.txt`.
pub const LOGS: [&str; 7] = [
    notebook_exec::EXECUTE_LOG,
    PREPASS_LOG,
    CONVERTER_LOG,
    TEX_LOG,
    STDOUT_LOG,
    PICTURES_LOG,
    FALLBACK_LOG,
];

/// Where a project's main file is, split for the driver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MainFile {
    /// Directory relative to the project root ("" for the root).
    pub dir: String,
    /// File name inside `dir`.
    pub name: String,
}

impl MainFile {
    /// The path relative to the project root.
    pub fn path(&self) -> String {
        if self.dir.is_empty() {
            self.name.clone()
        } else {
            format!("{}/{}", self.dir, self.name)
        }
    }

    /// Splits a relative path as given by detection or `--main`.
    pub fn from_relative(path: &str) -> MainFile {
        match path.rsplit_once('/') {
            Some((dir, name)) => MainFile {
                dir: dir.to_string(),
                name: name.to_string(),
            },
            None => MainFile {
                dir: String::new(),
                name: path.to_string(),
            },
        }
    }
}

/// The argv of the jail run for `converter` (a concrete one, not `Auto`):
/// `sh` evaluating each part of the driver script in turn. Linux refuses
/// a single argument over 128 KiB (`MAX_ARG_STRLEN`); the parts (each a
/// whole step: the figure pre-pass, the source edits, the prelude, ...)
/// are arguments of their own, so only the sum has to fit under the
/// 2 MiB of all arguments, not each step under one argument's limit.
pub fn argv(
    converter: Converter,
    main: &MainFile,
    scan: &ProjectScan,
    timeout: Duration,
    settings: &Settings,
    execute: Option<&notebook_exec::Plan>,
) -> Vec<String> {
    let mut argv: Vec<String> = vec![
        "/bin/sh".into(),
        "-c".into(),
        "for texjail_part; do eval \"$texjail_part\"; done".into(),
        "texjail-driver".into(),
    ];
    argv.extend(parts(converter, main, scan, timeout, settings, execute));
    argv
}

/// The driver script itself, whole (its parts joined).
pub fn script(
    converter: Converter,
    main: &MainFile,
    scan: &ProjectScan,
    timeout: Duration,
    settings: &Settings,
    execute: Option<&notebook_exec::Plan>,
) -> String {
    parts(converter, main, scan, timeout, settings, execute).concat()
}

/// The driver script's steps, each a whole `sh` command list.
fn parts(
    converter: Converter,
    main: &MainFile,
    scan: &ProjectScan,
    timeout: Duration,
    settings: &Settings,
    execute: Option<&notebook_exec::Plan>,
) -> Vec<String> {
    let mut s = Parts::default();
    s.push_str("cd /job || exit 90\n");
    s.push_str(&format!(
        "rm -rf {WORK_DIR}; mkdir -p {OUT_DIR} /tmp || exit 91\n"
    ));
    if converter != Converter::Latexml && !scan.vector_figures.is_empty() {
        s.push_str(&figures::prepass_script(
            &scan.vector_figures,
            &format!("/job/{PREPASS_LOG}"),
        ));
    }
    if !main.dir.is_empty() {
        s.push_str(&format!("cd {} || exit 92\n", quote(&main.dir)));
    }
    if converter != Converter::Latexml && !scan.texlive_figures.is_empty() {
        s.push_str(&figures::texlive_script(
            &scan.texlive_figures,
            &format!("/job/{OUT_DIR}"),
            &format!("/job/{PREPASS_LOG}"),
        ));
    }
    if converter == Converter::Latexml {
        s.push_str(&format!(
            "cat >{dir}/{file} <<'TEXJAIL_BINDING_END'\n{body}TEXJAIL_BINDING_END\n",
            dir = latexml::BINDING_DIR,
            file = latexml::BINDING,
            body = latexml::BINDING_BODY
        ));
    }
    if converter == Converter::Make4ht {
        s.push_str(&format!(
            "cat >{cfg} <<'TEXJAIL_CFG_END'\n{body}TEXJAIL_CFG_END\n",
            cfg = make4ht::CFG,
            body = make4ht::CFG_BODY
        ));
    }
    // pandoc reads the `.bib` files itself (`--citeproc`) and never a
    // `.bbl`: the pre-pass's LaTeX run (up to half a minute on a thesis)
    // would change nothing on its page.
    if converter != Converter::Pandoc && bibliography::needs_prepass(scan) {
        s.push_str(&bibliography::prepass_script(
            scan.engine,
            &main.name,
            &format!("/job/{PREPASS_LOG}"),
        ));
    }
    if converter == Converter::Make4ht && !scan.make4ht_edits.is_empty() {
        s.push_str(&format!(
            "(\n{})\n",
            source_edits::script(&scan.make4ht_edits)
        ));
    }
    if converter == Converter::Pandoc {
        // Before the aliases, which copy the rewritten chapters.
        let mut edits = scan.unwraps.clone();
        if let Some(preamble) = scan.preamble_bytes {
            let pictures = pictures::prepass_script(
                &scan.pictures,
                &main.dir,
                &main.path(),
                preamble,
                scan.engine,
                timeout,
            );
            if !pictures.script.is_empty() {
                s.push_str(&format!("(\n{})\n", pictures.script));
            }
            edits.extend(pictures.edits);
        }
        let rewrite = source_edits::script(&edits);
        if !rewrite.is_empty() {
            s.push_str(&format!("(\n{rewrite})\n"));
        }
        s.push_str(&macros::prelude_script(
            &scan.stand_ins,
            &scan.macro_prelude,
        ));
        s.push_str(&macros::hide_script(&scan.local_packages));
        let aliases = pandoc::include_aliases_script(&scan.dotted_tex);
        if !aliases.is_empty() {
            s.push_str(&format!("(cd /job || exit\n{aliases})\n"));
        }
    }
    let has_prelude = !scan.macro_prelude.is_empty() || !scan.stand_ins.is_empty();
    let command = match converter {
        Converter::Latexml | Converter::Auto => latexml::command(&main.name, timeout),
        // A notebook's scan is empty (`ProjectScan::default`): none of the
        // TeX steps above wrote anything.
        Converter::Notebook => notebook::script(&main.name, settings, execute),
        Converter::Make4ht => make4ht::command(&main.name, scan.engine),
        Converter::Pandoc => pandoc::script(
            &pandoc::Run {
                main: &main.name,
                has_bib: scan.has_bib,
                prelude: has_prelude.then_some(macros::PRELUDE),
            },
            scan.preamble_bytes,
            &scan.preamble_definitions,
        ),
    };
    // The converter's status is also the driver's: the jail reports it in
    // the outcome, out of the document's reach (see
    // `latexml::OWN_TIMEOUT_EXIT`), where the file is not.
    s.push_str(&format!(
        "{command}\ntexjail_status=$?\necho $texjail_status >/job/{EXIT_FILE}\nexit $texjail_status\n"
    ));
    s.0
}

/// The parts of a driver script: each `push_str` is one whole step.
#[derive(Default)]
struct Parts(Vec<String>);

impl Parts {
    fn push_str(&mut self, step: &str) {
        if !step.is_empty() {
            self.0.push(step.to_owned());
        }
    }
}

/// What every driver run needs on top of the jail's clean environment
/// (`jail::spec::environment`: `PATH`, `HOME` and `TMPDIR` in `/tmp`,
/// which lives inside `/job`, a UTF-8 locale, nothing from the host):
/// TeX's caches in `/tmp`.
pub fn env() -> Vec<(String, String)> {
    vec![("TEXMFVAR".into(), "/tmp/texmf-var".into())]
}

#[cfg(test)]
mod tests {
    use super::super::scan::Engine;
    use super::*;

    fn scan() -> ProjectScan {
        ProjectScan {
            engine: Engine::Pdflatex,
            has_bbl: false,
            has_bib: true,
            vector_figures: vec!["fig.pdf".into()],
            uses_biblatex: false,
            dotted_tex: vec!["ch.1.tex".into()],
            expl3_package: None,
            tikz_pictures: 0,
            graphics_paths: Vec::new(),
            pictures: vec![super::super::pictures::Picture {
                file: "main.tex".into(),
                start: 40,
                end: 80,
                line: 3,
            }],
            preamble_bytes: Some(20),
            unwraps: Vec::new(),
            texlive_figures: Vec::new(),
            math_formulas: 0,
            stand_ins: Vec::new(),
            make4ht_edits: Vec::new(),
            macro_prelude: Vec::new(),
            local_packages: Vec::new(),
            preamble_definitions: Vec::new(),
        }
    }

    #[test]
    fn main_in_a_subdirectory_is_entered_quoted() {
        let m = MainFile::from_relative("src/it's main.tex");
        assert_eq!(m.dir, "src");
        assert_eq!(m.name, "it's main.tex");
        let s = script(
            Converter::Pandoc,
            &m,
            &scan(),
            Duration::from_secs(60),
            &Settings::default(),
            None,
        );
        assert!(s.contains("cd 'src' || exit 92"));
        assert!(s.contains("'it'\\''s main.tex'"));
    }

    #[test]
    fn latexml_skips_the_figure_prepass_others_run_it() {
        let m = MainFile::from_relative("main.tex");
        let t = Duration::from_secs(60);
        let d = Settings::default();
        assert!(!script(Converter::Latexml, &m, &scan(), t, &d, None).contains("gs -dSAFER"));
        assert!(script(Converter::Make4ht, &m, &scan(), t, &d, None).contains("gs -dSAFER"));
        assert!(script(Converter::Pandoc, &m, &scan(), t, &d, None).contains("gs -dSAFER"));
        assert!(script(Converter::Make4ht, &m, &scan(), t, &d, None).contains("\\EndPreamble"));
        let alias = "cp 'ch.1.tex' 'ch.1'";
        assert!(script(Converter::Pandoc, &m, &scan(), t, &d, None).contains(alias));
        assert!(!script(Converter::Make4ht, &m, &scan(), t, &d, None).contains(alias));
        let pandoc = script(Converter::Pandoc, &m, &scan(), t, &d, None);
        for other in [Converter::Latexml, Converter::Make4ht] {
            assert!(!script(other, &m, &scan(), t, &d, None).contains("texjail-pictures"));
        }
        // pandoc reads the .bib itself: no bibliography pre-pass; the
        // pictures, then aliases, then pandoc.
        assert!(!pandoc.contains("bibtex"));
        assert!(script(Converter::Make4ht, &m, &scan(), t, &d, None).contains("bibtex"));
        assert!(script(Converter::Latexml, &m, &scan(), t, &d, None).contains("bibtex"));
        let at = |needle: &str| pandoc.find(needle).unwrap_or_else(|| panic!("{needle}"));
        assert!(at("texjail-pictures.tex") < at(alias));
        assert!(at(alias) < at("pandoc --from"));
    }

    #[test]
    fn work_dir_is_reset_before_anything_runs() {
        let s = script(
            Converter::Latexml,
            &MainFile::from_relative("main.tex"),
            &scan(),
            Duration::from_secs(60),
            &Settings::default(),
            None,
        );
        let reset = s.find("rm -rf .texjail").unwrap();
        let bib = s.find("pdflatex").unwrap();
        assert!(reset < bib);
        assert!(s.trim_end().ends_with(
            "texjail_status=$?\necho $texjail_status >/job/.texjail/exit\nexit $texjail_status"
        ));
    }

    #[test]
    fn driver_is_valid_sh() {
        for c in [
            Converter::Latexml,
            Converter::Make4ht,
            Converter::Pandoc,
            Converter::Notebook,
        ] {
            let s = script(
                c,
                &MainFile::from_relative("a b/m.tex"),
                &scan(),
                Duration::from_secs(60),
                &Settings::default(),
                None,
            );
            assert!(super::super::shell::parses_as_sh(&s), "{s}");
        }
    }
}
