//! pandoc (3.x, installed by `toolchain-rootfs/build.sh`): fast, lighter
//! fidelity (unknown packages are dropped); math as MathML. With `.bib`
//! files, citations are resolved by `--citeproc`.

use super::assemble::RunOutput;
use super::diagnostics::{self, Report};
use super::driver::{CONVERTER_LOG, FALLBACK_LOG, OUT_DIR, PICTURES_LOG};
use super::macros::{self, Range};
use super::shell::{quote, quote_path};

/// Most lines left out, one pandoc run each, before the attempt gives up.
pub const MAX_LEFT_OUT_LINES: usize = 10;

/// The file the preamble fallback writes, in the main file's directory
/// (pandoc resolves `\input` against the directory it runs in).
pub const PLAIN_PREAMBLE_MAIN: &str = "texjail-plain-preamble.tex";

/// Most `.tex` files given an extension-less alias; a project with more is
/// unusual, and the first ones are the chapters.
pub const MAX_ALIASES: usize = 500;

/// The `sh` snippet, run at the project root, giving every dotted `.tex`
/// file (`chap/chap.01.basics.tex`) a copy under the name without `.tex`
/// unless that name exists. LaTeX reads `\input{chap/chap.01.basics}` as
/// `chap/chap.01.basics.tex`; pandoc takes `.basics` for an extension, adds
/// no `.tex` and drops the chapter (corpus project 23: 15 of 17 chapters).
pub fn include_aliases_script(dotted_tex: &[String]) -> String {
    let mut script = String::new();
    for file in dotted_tex.iter().take(MAX_ALIASES) {
        let Some(alias) = file.strip_suffix(".tex") else {
            continue;
        };
        let (file, alias) = (quote_path(file), quote_path(alias));
        script.push_str(&format!("[ -e {alias} ] || cp {file} {alias}\n"));
    }
    script
}

/// How pandoc is run on one project.
pub struct Run<'a> {
    /// The main file's name, in the directory the script runs in.
    pub main: &'a str,
    /// `.bib` files exist: citations are resolved by `--citeproc`.
    pub has_bib: bool,
    /// A file of macro definitions read before the main file
    /// (`convert::macros`).
    pub prelude: Option<&'a str>,
}

/// The pandoc step, run in the main file's directory. pandoc's LaTeX
/// reader gives up on the whole document at the first construct it cannot
/// parse (corpus: `\affil[1]{...}` in a preamble, a package's set-up
/// before `\begin{document}`, a macro in one chapter), so a paper with one
/// such line gets no page. Fallbacks, each noted in `FALLBACK_LOG`:
///
/// 0. When a run with the prelude fails, pandoc runs again without it,
///    then without expanding the document's macros.
/// 1. When that fails too and the main file has a preamble
///    (`body_start`, the byte where `\begin{document}` starts), the main
///    file is run again behind a plain `article` preamble holding the
///    definitions of its own (`definitions`, copied as byte ranges), and
///    if pandoc stops before the body again, behind the plain preamble
///    alone.
/// 2. While pandoc names the file and line it stopped at, that line is
///    commented out in the job's copy and pandoc runs again, at most
///    [`MAX_LEFT_OUT_LINES`] times, and not again when pandoc stops at the
///    same place (an unclosed group reported at the end of a file). A
///    line holding `\begin{document}` is never left out. The name comes from pandoc's log and is used only
///    as data of the fixed script, only when relative, without `..`, and
///    naming a regular file.
pub fn script(run: &Run, body_start: Option<usize>, definitions: &[Range]) -> String {
    let citeproc = if run.has_bib { " --citeproc" } else { "" };
    let main = quote_path(run.main);
    // `"$@"`: the prelude (when there is one) and the input.
    let mut s = format!(
        "texjail_from=latex\n\
         texjail_pandoc() {{ pandoc --from=$texjail_from --to=html5 --standalone --mathml{citeproc} \
         --resource-path=. --output=/job/{OUT_DIR}/index.html \"$@\" \
         </dev/null >/job/{CONVERTER_LOG} 2>&1; }}\n\
         texjail_input={main}\n"
    );
    match run.prelude {
        // A definition pandoc reads but cannot parse stops the whole
        // document; without the prelude it still reads the document.
        Some(prelude) => s.push_str(&format!(
            "texjail_pandoc {prelude} \"$texjail_input\"; status=$?\n\
             if [ $status -ne 0 ]; then\n\
             printf '[WARNING] %s\\n' {note} >>/job/{FALLBACK_LOG}\n\
             texjail_pandoc \"$texjail_input\"; status=$?\n\
             fi\n",
            prelude = quote_path(prelude),
            note = quote(
                "pandoc could not read the definitions of the project's classes and packages; \
                 it read the document without them"
            ),
        )),
        None => s.push_str("texjail_pandoc \"$texjail_input\"; status=$?\n"),
    }
    // pandoc's expansion of the document's macros is a common cause
    // of a parse it gives up on (corpus project 44: a figure left
    // unclosed); read as written, the document parses.
    s.push_str(&format!(
        "if [ $status -ne 0 ]; then\n\
         printf '[WARNING] %s\\n' {note} >>/job/{FALLBACK_LOG}\n\
         texjail_from=latex-latex_macros; texjail_pandoc \"$texjail_input\"; status=$?\n\
         fi\n",
        note = quote(
            "pandoc could not read the document with its macros expanded; it read it \
             without expanding them"
        ),
    ));
    if let Some(start) = body_start {
        let plain = quote(PLAIN_PREAMBLE_MAIN);
        s.push_str(&format!(
            "if [ $status -ne 0 ]; then\n\
             {{ printf '%s\\n' '\\documentclass{{article}}'\n{copies}tail -c +{from_byte} {main}; }} >{plain}\n\
             printf '[WARNING] %s\\n' {note} >>/job/{FALLBACK_LOG}\n\
             texjail_input={plain}; texjail_pandoc \"$texjail_input\"; status=$?\n\
             fi\n",
            copies = macros::copy_script(definitions),
            from_byte = start + 1,
            note = quote(&format!(
                "pandoc could not read the preamble of {}: the page was made with a plain \
                 article preamble and the document's own definitions (title and authors may \
                 be missing)",
                run.main
            )),
        ));
        if !definitions.is_empty() {
            // One of the document's own definitions can be what pandoc
            // cannot read (a macro ending in another's argument): when it
            // stops before the body, the plain preamble goes alone.
            s.push_str(&format!(
                "if [ $status -ne 0 ]; then\n\
                 loc=$(sed -n 's/^Error at \"\\([^\"]*\\)\" (line \\([0-9]*\\),.*$/\\2 \\1/p' /job/{CONVERTER_LOG} | head -n 1)\n\
                 body=$(grep -n 'begin{{document}}' {plain} | head -n 1 | cut -d: -f1)\n\
                 if [ \"${{loc#* }}\" = {plain} ] && [ -n \"$body\" ] && [ \"${{loc%% *}}\" -le \"$body\" ] 2>/dev/null; then\n\
                 {{ printf '%s\\n' '\\documentclass{{article}}'; tail -c +{from_byte} {main}; }} >{plain}\n\
                 printf '[WARNING] %s\\n' {note} >>/job/{FALLBACK_LOG}\n\
                 texjail_pandoc \"$texjail_input\"; status=$?\n\
                 fi\n\
                 fi\n",
                from_byte = start + 1,
                note = quote(
                    "pandoc could not read the document's own definitions either: the page \
                     was made without them"
                ),
            ));
        }
    }
    s.push_str(&format!(
        r#"tries=0; last=
while [ $status -ne 0 ] && [ $tries -lt {MAX_LEFT_OUT_LINES} ]; do
  loc=$(sed -n 's/^Error at "\([^"]*\)" (line \([0-9]*\), column [0-9]*).*$/\2 \1/p' /job/{CONVERTER_LOG} | head -n 1)
  [ -n "$loc" ] && [ "$loc" != "$last" ] || break
  last=$loc
  line=${{loc%% *}}; file=${{loc#* }}
  case "$file" in /*|*..*|'') break;; esac
  [ -f "$file" ] && [ ! -L "$file" ] || break
  if sed -n "${{line}}p" "$file" | grep -q 'begin{{document}}'; then break; fi
  sed -i "${{line}}s/^/%/" "$file" || break
  printf '[ERROR] pandoc could not parse line %s of %s; the line was left out
' "$line" "$file" >>/job/{FALLBACK_LOG}
  texjail_pandoc "$texjail_input"; status=$?
  tries=$((tries + 1))
done
(exit $status)"#
    ));
    s
}

/// The run's diagnostics: pandoc's messages on the document, on its
/// pictures and on the fallback runs.
pub fn diagnose(output: &RunOutput) -> Report {
    diagnostics::parse_pandoc(output.log(CONVERTER_LOG))
        .merge(diagnostics::parse_pandoc(output.log(PICTURES_LOG)))
        .merge(diagnostics::parse_pandoc(output.log(FALLBACK_LOG)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The aliases, made by a real `sh` in a real directory: a dotted
    /// chapter gets its alias, an existing file of the alias name is kept.
    #[test]
    fn dotted_tex_files_get_extensionless_copies() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("chap")).unwrap();
        std::fs::write(dir.path().join("chap/a.b.tex"), "chapter").unwrap();
        std::fs::write(dir.path().join("c.d.tex"), "new").unwrap();
        std::fs::write(dir.path().join("c.d"), "kept").unwrap();
        let script = include_aliases_script(&["chap/a.b.tex".into(), "c.d.tex".into()]);
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
        let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
        assert_eq!(read("chap/a.b"), "chapter");
        assert_eq!(read("c.d"), "kept");
        let many: Vec<String> = (0..1000).map(|i| format!("x.{i}.tex")).collect();
        assert_eq!(include_aliases_script(&many).lines().count(), MAX_ALIASES);
    }

    fn run(has_bib: bool, prelude: Option<&str>) -> String {
        let run = Run {
            main: "a.tex",
            has_bib,
            prelude,
        };
        script(&run, None, &[])
    }

    #[test]
    fn mathml_and_citeproc_when_bib() {
        let c = run(true, None);
        assert!(c.contains("--mathml --citeproc"));
        assert!(c.contains("texjail_from=latex\n"));
        assert!(!run(false, None).contains("citeproc"));
        assert!(run(false, Some("/job/p.tex"))
            .contains("texjail_pandoc '/job/p.tex' \"$texjail_input\""));
        assert!(c.contains("texjail_input='a.tex'"));
    }

    /// Runs `script` (its `/job/` paths moved under `root`) in `root`
    /// with a stand-in `pandoc` whose `sh` body is `fake`; true on exit 0.
    fn run_with_fake_pandoc(root: &std::path::Path, fake: &str, script: &str) -> bool {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(root.join(".texjail/out")).unwrap();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        let pandoc = root.join("bin/pandoc");
        std::fs::write(&pandoc, format!("#!/bin/sh\n{fake}")).unwrap();
        std::fs::set_permissions(&pandoc, std::fs::Permissions::from_mode(0o755)).unwrap();
        let script = script.replace("/job/", &format!("{}/", root.display()));
        std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(root)
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", root.join("bin").display()),
            )
            .status()
            .unwrap()
            .success()
    }

    /// The fallbacks, run by a real `sh` against a stand-in for pandoc
    /// that fails on any line holding `\bad` and on a preamble holding
    /// `\badpreamble`, naming the line the way pandoc does.
    #[test]
    fn fallbacks_leave_out_what_pandoc_cannot_parse() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let fake = "for a; do f=$a; done\n\
             if grep -q badpreamble \"$f\"; then echo 'Error at \"'$f'\" (line 2, column 1): x'; exit 64; fi\n\
             for g in \"$f\" chap.tex; do n=$(grep -n '^[^%]*bad' \"$g\" | head -n 1 | cut -d: -f1)\n\
             if [ -n \"$n\" ]; then echo \"Error at \\\"$g\\\" (line $n, column 3): unexpected\"; exit 64; fi; done\n\
             for a; do case $a in --output=*) o=${a#--output=};; esac; done; cat \"$f\" >\"$o\"\n";
        let main = "\\documentclass{x}\n\\badpreamble\n\\newcommand{\\R}{\\mathbb{R}}\n\\begin{document}\nok \\bad one\n\\input{chap}\n\\end{document}\n";
        std::fs::write(root.join("a.tex"), main).unwrap();
        std::fs::write(root.join("chap.tex"), "fine\n\\bad two\nend\n").unwrap();
        let body = main.find("\\begin{document}").unwrap();
        let definitions = macros::find("a.tex", &main.as_bytes()[..body]);
        let run = Run {
            main: "a.tex",
            has_bib: false,
            prelude: None,
        };
        assert!(run_with_fake_pandoc(
            root,
            fake,
            &script(&run, Some(body), &definitions)
        ));
        let page = std::fs::read_to_string(root.join(".texjail/out/index.html")).unwrap();
        assert!(
            page.starts_with("\\documentclass{article}\n\\newcommand{\\R}{\\mathbb{R}}\n"),
            "{page}"
        );
        assert!(
            page.contains("%ok \\bad one") && page.contains("\\input{chap}"),
            "{page}"
        );
        assert!(std::fs::read_to_string(root.join("chap.tex"))
            .unwrap()
            .contains("%\\bad two"));
        let notes = std::fs::read_to_string(root.join(".texjail/fallback.log")).unwrap();
        // Without and with its macros expanded, behind the plain preamble,
        // then two lines left out.
        assert_eq!(notes.lines().count(), 4, "{notes}");
        assert!(
            notes
                .lines()
                .nth(1)
                .unwrap()
                .starts_with("[WARNING] pandoc could not read the preamble"),
            "{notes}"
        );
        assert!(
            notes.contains("line 4 of texjail-plain-preamble.tex"),
            "{notes}"
        );
        assert!(notes.contains("line 2 of chap.tex"), "{notes}");
        // The main file stays as it was: the plain-preamble copy is the
        // one edited.
        assert_eq!(std::fs::read_to_string(root.join("a.tex")).unwrap(), main);
    }

    /// A definition of the document's own that pandoc cannot read costs
    /// the definitions, not the page.
    #[test]
    fn definitions_pandoc_cannot_read_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let fake = "for a; do f=$a; done\n\
             n=$(grep -n 'badpreamble\\|badmacro' \"$f\" | head -n 1 | cut -d: -f1)\n\
             if [ -n \"$n\" ]; then echo \"Error at \\\"$f\\\" (line $n, column 1): x\"; exit 64; fi\n\
             for a; do case $a in --output=*) o=${a#--output=};; esac; done; cat \"$f\" >\"$o\"\n";
        let main = "\\documentclass{x}\n\\badpreamble\n\\newcommand{\\badmacro}{x}\n\\begin{document}\nbody\n\\end{document}\n";
        std::fs::write(root.join("a.tex"), main).unwrap();
        let body = main.find("\\begin{document}").unwrap();
        let definitions = macros::find("a.tex", &main.as_bytes()[..body]);
        assert_eq!(definitions.len(), 1);
        let run = Run {
            main: "a.tex",
            has_bib: false,
            prelude: None,
        };
        assert!(run_with_fake_pandoc(
            root,
            fake,
            &script(&run, Some(body), &definitions)
        ));
        let page = std::fs::read_to_string(root.join(".texjail/out/index.html")).unwrap();
        assert_eq!(
            page,
            "\\documentclass{article}\n\\begin{document}\nbody\n\\end{document}\n"
        );
        let notes = std::fs::read_to_string(root.join(".texjail/fallback.log")).unwrap();
        assert_eq!(notes.lines().count(), 3, "{notes}");
        assert!(notes.contains("own definitions either"), "{notes}");
    }

    /// A document pandoc keeps stopping in costs at most
    /// `MAX_LEFT_OUT_LINES` lines, then the attempt gives up.
    #[test]
    fn lines_left_out_are_capped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let text: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        std::fs::write(root.join("a.tex"), &text).unwrap();
        // Stops at the first line not yet commented out, every time.
        let fake = "n=$(grep -n '^line' a.tex | head -n 1 | cut -d: -f1)\n\
             echo \"Error at \\\"a.tex\\\" (line $n, column 1): x\"; exit 64\n";
        assert!(!run_with_fake_pandoc(root, fake, &run(false, None)));
        let edited = std::fs::read_to_string(root.join("a.tex")).unwrap();
        assert_eq!(
            edited.lines().filter(|l| l.starts_with('%')).count(),
            MAX_LEFT_OUT_LINES
        );
        let notes = std::fs::read_to_string(root.join(".texjail/fallback.log")).unwrap();
        assert_eq!(
            notes.lines().filter(|l| l.contains("was left out")).count(),
            MAX_LEFT_OUT_LINES,
            "{notes}"
        );
    }

    /// A document pandoc cannot read with its macros expanded is read
    /// without expanding them.
    #[test]
    fn macro_expansion_is_dropped_when_it_breaks_the_parse() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("a.tex"), "text\n").unwrap();
        let fake = "for a; do case $a in --from=latex) echo 'Error at \"a.tex\" (line 1, column 1): x'; exit 64;; \
             --output=*) o=${a#--output=};; esac; f=$a; done\ncat \"$f\" >\"$o\"\n";
        assert!(run_with_fake_pandoc(root, fake, &run(false, None)));
        assert_eq!(
            std::fs::read_to_string(root.join(".texjail/out/index.html")).unwrap(),
            "text\n"
        );
        let notes = std::fs::read_to_string(root.join(".texjail/fallback.log")).unwrap();
        assert!(notes.contains("without expanding them"), "{notes}");
        assert_eq!(
            std::fs::read_to_string(root.join("a.tex")).unwrap(),
            "text\n"
        );
    }

    /// A prelude pandoc cannot read does not cost the page: pandoc runs
    /// again without it, and a warning says so.
    #[test]
    fn a_prelude_pandoc_cannot_read_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".texjail")).unwrap();
        std::fs::write(root.join(".texjail/prelude.tex"), "\\def\\x{").unwrap();
        std::fs::write(root.join("a.tex"), "text\n").unwrap();
        let fake = "for a; do case $a in *prelude.tex) echo 'Error at \"/job/.texjail/prelude.tex\" (line 1, column 8): x'; exit 64;; \
             --output=*) o=${a#--output=};; esac; f=$a; done\ncat \"$f\" >\"$o\"\n";
        let script = run(false, Some("/job/.texjail/prelude.tex"));
        assert!(run_with_fake_pandoc(root, fake, &script), "{script}");
        let page = std::fs::read_to_string(root.join(".texjail/out/index.html")).unwrap();
        assert_eq!(page, "text\n");
        let notes = std::fs::read_to_string(root.join(".texjail/fallback.log")).unwrap();
        assert!(
            notes.starts_with("[WARNING] pandoc could not read the definitions"),
            "{notes}"
        );
    }

    /// pandoc's log is written by the document: a location outside the
    /// job's sources, or a link, stops the fallback with nothing edited.
    #[test]
    fn hostile_locations_stop_the_fallback() {
        for named in ["../outside.tex", "/abs.tex", "link.tex", "sub/../a.tex"] {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("job");
            std::fs::create_dir_all(root.join("sub")).unwrap();
            std::fs::write(dir.path().join("outside.tex"), "x\n").unwrap();
            std::fs::write(root.join("a.tex"), "x\n").unwrap();
            std::os::unix::fs::symlink(root.join("a.tex"), root.join("link.tex")).unwrap();
            let fake = format!("echo 'Error at \"{named}\" (line 1, column 1): x'\nexit 64\n");
            assert!(
                !run_with_fake_pandoc(&root, &fake, &run(false, None)),
                "{named}"
            );
            assert_eq!(
                std::fs::read_to_string(root.join("a.tex")).unwrap(),
                "x\n",
                "{named}"
            );
            assert_eq!(
                std::fs::read_to_string(dir.path().join("outside.tex")).unwrap(),
                "x\n",
                "{named}"
            );
            let notes =
                std::fs::read_to_string(root.join(".texjail/fallback.log")).unwrap_or_default();
            assert!(!notes.contains("left out"), "{named}: {notes}");
        }
    }
}
