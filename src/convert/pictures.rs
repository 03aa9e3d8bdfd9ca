//! TikZ/pgfplots pictures for pandoc. pandoc does not run TeX and drops
//! every `tikzpicture`; so before it runs, the driver renders the
//! document's pictures with real LaTeX and puts an `\includegraphics` of
//! each rendered picture where the picture was.
//!
//! The host finds the pictures (`find`: byte ranges in the sources, read
//! as TeX would: not in comments, verbatim or macro definitions); the
//! driver (`prepass_script`) works from those ranges alone, so no upload
//! text is ever pasted into the script:
//!
//! 1. one LaTeX run (the document's engine) of `texjail-pictures.tex`,
//!    made of the main file's own preamble, the `preview` package
//!    (`active,tightpage`) and every picture's bytes in a `preview`
//!    environment of its own: one page per picture;
//! 2. the pages of pictures whose part of the log shows no error become
//!    `/job/.texjail/out/texjail-pictures/N.svg`, in one `dvisvgm --pdf
//!    --no-fonts` call (Ghostscript as a library, `SAFER` by default):
//!    glyphs become paths the SVG sanitizer keeps. poppler's `pdftocairo
//!    -svg` is faster (about 50 ms a page against 120 ms) but draws text
//!    through `<symbol>`/`<use>`, which the sanitizer drops: the labels
//!    would be lost;
//! 3. a picture that did not render is named in `PICTURES_LOG` as a
//!    warning; the pre-pass's `source_edits` then put an
//!    `\includegraphics{texjail-pictures/N.svg}` in place of each rendered
//!    picture and leave the others as they were (pandoc drops them).
//!
//! Bounded: at most `MAX_PICTURES` pictures; the LaTeX run and the page
//! conversion get at most a third of the attempt's budget, and with less
//! than `MIN_BUDGET` the pre-pass is skipped (and says so).

use std::time::Duration;

use super::driver::{OUT_DIR, PICTURES_LOG, PREPASS_LOG};
use super::scan::Engine;
use super::shell::quote;
use super::source_edits::{Replacement, SourceEdit, PICTURE_DIR};
use super::tex_source::{
    control_word, definition_end, environment_end, group, is_verbatim_environment, line_end, trim,
    verb_end, verbatim_end, DEFINITIONS,
};

/// Most pictures one job renders; the rest are dropped by pandoc as
/// before, with a warning.
pub const MAX_PICTURES: usize = 200;
/// Below this attempt budget the pictures are not rendered: the preamble
/// alone can take seconds, and pandoc must keep its time.
pub const MIN_BUDGET: Duration = Duration::from_secs(20);
/// The picture document, written next to the main file (TeX's
/// `openin_any=p` refuses dot directories; a project file of that name is
/// overwritten).
const DOCUMENT: &str = "texjail-pictures";

/// Environments drawn as pictures.
const PICTURE_ENVIRONMENTS: [&str; 3] = ["tikzpicture", "tikzcd", "circuitikz"];

/// One picture: the bytes `start..end` of `file` (relative to the project
/// root), starting on `line`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picture {
    pub file: String,
    pub start: usize,
    pub end: usize,
    pub line: usize,
}

/// What `find_in` sees in one source.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pictures {
    /// Byte ranges of the pictures, in order, outermost only.
    pub ranges: Vec<(usize, usize)>,
    /// Where the first `\begin{document}` starts (the preamble's end).
    pub document_begin: Option<usize>,
}

/// The pictures of `source`: `tikzpicture`/`tikzcd`/`circuitikz`
/// environments (a nested one belongs to the outer) and `\input{x.tikz}`,
/// outside `%` comments, `\verb`, verbatim-like environments and the
/// arguments of macro definitions.
pub fn find_in(source: &[u8]) -> Pictures {
    let mut found = Pictures::default();
    let mut at = 0;
    while at < source.len() {
        match source[at] {
            b'%' => at = line_end(source, at),
            b'\\' => {
                let (name, after) = control_word(source, at);
                match name {
                    b"begin" => {
                        let (env, body) = group(source, after);
                        let env = trim(env);
                        let base = env.strip_suffix(b"*").unwrap_or(env);
                        if is_verbatim_environment(base) {
                            at = verbatim_end(source, body, env);
                        } else if PICTURE_ENVIRONMENTS.iter().any(|p| p.as_bytes() == env) {
                            let end = environment_end(source, body, env);
                            if let Some(end) = end {
                                found.ranges.push((at, end));
                                at = end;
                            } else {
                                at = source.len();
                            }
                        } else {
                            if env == b"document" && found.document_begin.is_none() {
                                found.document_begin = Some(at);
                            }
                            at = body;
                        }
                    }
                    b"input" => {
                        let (arg, end) = group(source, after);
                        if trim(arg).ends_with(b".tikz") {
                            found.ranges.push((at, end));
                        }
                        at = end.max(after);
                    }
                    b"verb" => at = verb_end(source, after),
                    _ if DEFINITIONS.iter().any(|d| d.as_bytes() == name) => {
                        at = definition_end(source, after, name);
                    }
                    _ => at = after,
                }
            }
            _ => at += 1,
        }
    }
    found
}

/// The pictures of the source `file` (relative to the project root), with
/// the line each starts on, and where its preamble ends. In the main file
/// (`is_main`) only pictures after `\begin{document}` count.
pub fn find(file: &str, bytes: &[u8], is_main: bool) -> (Vec<Picture>, Option<usize>) {
    let found = find_in(bytes);
    let from = if is_main {
        found.document_begin.unwrap_or(usize::MAX)
    } else {
        0
    };
    let pictures = found
        .ranges
        .into_iter()
        .filter(|(start, _)| *start >= from)
        .map(|(start, end)| Picture {
            file: file.to_string(),
            start,
            end,
            line: 1 + bytes[..start].iter().filter(|&&b| b == b'\n').count(),
        })
        .collect();
    (pictures, found.document_begin)
}

/// The pre-pass: the `sh` snippet that renders the pictures, and the
/// source edits that show them once rendered.
#[derive(Debug, Default)]
pub struct Prepass {
    pub script: String,
    pub edits: Vec<SourceEdit>,
}

/// The pre-pass of `pictures`; its script changes directory, so the driver
/// runs it in a subshell. `main_dir`/`main` are
/// the main file's directory (relative, "" for the root) and path relative
/// to the root, `preamble` its preamble's length in bytes.
pub fn prepass_script(
    pictures: &[Picture],
    main_dir: &str,
    main: &str,
    preamble: usize,
    engine: Engine,
    budget: Duration,
) -> Prepass {
    let log = format!("/job/{PICTURES_LOG}");
    if pictures.is_empty() {
        return Prepass::default();
    }
    if budget < MIN_BUDGET {
        let script = format!(
            "echo {} >>{log}\n",
            quote(&format!(
                "[WARNING] {} TikZ pictures not rendered: the attempt's budget of {} s is \
                 shorter than {} s; pandoc leaves them out",
                pictures.len(),
                budget.as_secs(),
                MIN_BUDGET.as_secs()
            ))
        );
        return Prepass {
            script,
            edits: Vec::new(),
        };
    }
    let mut s = String::new();
    if pictures.len() > MAX_PICTURES {
        s.push_str(&format!(
            "echo {} >>{log}\n",
            quote(&format!(
                "[WARNING] {} TikZ pictures: only the first {MAX_PICTURES} are rendered, \
                 pandoc leaves the others out",
                pictures.len()
            ))
        ));
    }
    let pictures = &pictures[..pictures.len().min(MAX_PICTURES)];
    let allowance = (budget / 3).as_secs().max(1);
    let svg_dir = format!("/job/{OUT_DIR}/{PICTURE_DIR}");
    let dir = if main_dir.is_empty() {
        "/job".to_string()
    } else {
        format!("/job/{main_dir}")
    };
    let source = |file: &str| quote(&format!("/job/{file}"));
    // 1. The picture document: preamble, preview, one environment per picture.
    s.push_str(&format!(
        "mkdir -p {svg} && cd {dir} && {{\nhead -c {preamble} {main}\n\
         printf '%s\\n' '\\usepackage[active,tightpage]{{preview}}' '\\begin{{document}}'\n",
        svg = quote(&svg_dir),
        dir = quote(&dir),
        main = source(main),
    ));
    for (i, p) in pictures.iter().enumerate() {
        let n = i + 1;
        s.push_str(&format!(
            "printf '\\n\\\\typeout{{texjail-picture {n}}}\\\\begin{{preview}}'\n\
             tail -c +{from} {file} | head -c {len}\n\
             printf '\\\\end{{preview}}\\\\typeout{{texjail-picture-end {n}}}\\n'\n",
            from = p.start + 1,
            len = p.end - p.start,
            file = source(&p.file),
        ));
    }
    s.push_str(&format!(
        "printf '%s\\n' '\\end{{document}}'\n}} >{DOCUMENT}.tex && \
         deadline=$(( $(date +%s) + {allowance} )) && \
         timeout -k 2 {allowance} {engine} -interaction=nonstopmode -no-shell-escape {DOCUMENT}.tex \
         </dev/null >>/job/{PREPASS_LOG} 2>&1\n",
        engine = engine.command(),
    ));
    // 2. The pages of the pictures without errors, when every picture made
    // its page (otherwise pages and pictures cannot be matched), in one
    // dvisvgm call with what is left of the allowance. dvisvgm pads `%p`
    // with zeros to the page count's width (`07.svg` of 25 pages): the
    // names lose the padding.
    s.push_str(&format!(
        "pages=$(awk -v count={count} '{RENDERED_AWK}' {DOCUMENT}.log 2>/dev/null | paste -sd, -)\n\
         left=$(( ${{deadline:-0}} - $(date +%s) ))\n\
         if [ -n \"$pages\" ] && [ \"$left\" -gt 0 ]; then timeout -k 2 \"$left\" dvisvgm --pdf --no-fonts \
         --page=\"$pages\" -o {svg}/%p.svg {DOCUMENT}.pdf </dev/null >>/job/{PREPASS_LOG} 2>&1; fi\n\
         for f in {svg}/0*.svg; do [ -e \"$f\" ] || continue; n=${{f##*/}}; n=${{n%.svg}}; \
         while [ \"${{n#0}}\" != \"$n\" ] && [ -n \"${{n#0}}\" ]; do n=${{n#0}}; done; \
         mv \"$f\" {svg}/\"$n\".svg; done\n",
        count = pictures.len(),
        svg = quote(&svg_dir),
    ));
    // 3. A warning for every picture left out.
    for (i, p) in pictures.iter().enumerate() {
        let n = i + 1;
        s.push_str(&format!(
            "[ -s {svg} ] || echo {msg} >>{log}\n",
            svg = quote(&format!("{svg_dir}/{n}.svg")),
            msg = quote(&format!(
                "[WARNING] TikZ picture {n} ({}, line {}) did not render with LaTeX; \
                 pandoc leaves it out",
                p.file, p.line
            )),
        ));
    }
    let edits = pictures
        .iter()
        .enumerate()
        .map(|(i, p)| SourceEdit {
            file: p.file.clone(),
            start: p.start,
            end: p.end,
            with: Replacement::Picture(i + 1),
        })
        .collect();
    Prepass { script: s, edits }
}

/// Reads the picture document's log: prints the numbers of the pictures
/// that began and ended without a `!` error line between, but only when
/// the PDF has exactly one page per picture.
const RENDERED_AWK: &str = "/^texjail-picture [0-9]+$/ { cur = $2; bad[cur] = 0; next } \
/^texjail-picture-end [0-9]+$/ { if (($2 in bad) && !bad[$2]) ok[$2] = 1; cur = 0; next } \
/^! / { if (cur) bad[cur] = 1 } \
/^Output written on / { if (match($0, /\\([0-9]+ page/)) pages = substr($0, RSTART + 1, RLENGTH - 6) + 0 } \
END { if (pages == count) for (n = 1; n <= count; n++) if (n in ok) print n }";

#[cfg(test)]
mod tests {
    use super::*;

    fn ranges(source: &str) -> Vec<&str> {
        find_in(source.as_bytes())
            .ranges
            .into_iter()
            .map(|(s, e)| &source[s..e])
            .collect()
    }

    #[test]
    fn environments_and_tikz_inputs_are_pictures() {
        let src = "a \\begin{tikzpicture}\\draw (0,0);\\end{tikzpicture} b\n\
                   \\input{fig/a.tikz} \\input{chapter} \\begin {tikzcd} A \\end{tikzcd}";
        assert_eq!(
            ranges(src),
            [
                "\\begin{tikzpicture}\\draw (0,0);\\end{tikzpicture}",
                "\\input{fig/a.tikz}",
                "\\begin {tikzcd} A \\end{tikzcd}",
            ]
        );
    }

    #[test]
    fn nested_pictures_and_axes_belong_to_the_outer_one() {
        let src = "\\begin{tikzpicture}\\node{\\begin{tikzpicture}x\\end{tikzpicture}};\n\
                   \\begin{axis}\\addplot{x};\\end{axis}\\end{tikzpicture}tail";
        assert_eq!(ranges(src), [&src[..src.len() - 4]]);
    }

    #[test]
    fn comments_and_verbatim_hide_pictures() {
        let src = "% \\begin{tikzpicture}\n\\verb|\\begin{tikzpicture}|\n\
                   \\begin{verbatim}\n\\begin{tikzpicture}\\end{tikzpicture}\n\\end{verbatim}\n\
                   \\begin{lstlisting*}\\input{a.tikz}\\end{lstlisting*}\n\
                   50\\% \\begin{tikzpicture}%\\end{tikzpicture}\n\\end{tikzpicture}";
        let got = ranges(src);
        assert_eq!(got.len(), 1, "{got:?}");
        assert!(got[0].starts_with("\\begin{tikzpicture}%"));
        assert!(got[0].ends_with("\n\\end{tikzpicture}"));
    }

    #[test]
    fn pictures_inside_definitions_are_not_touched() {
        for def in [
            "\\newcommand{\\pic}[1][x]{\\begin{tikzpicture}\\draw;\\end{tikzpicture}}",
            "\\newcommand*\\pic{\\begin{tikzpicture}\\draw;\\end{tikzpicture}}",
            "\\def\\pic#1.{\\begin{tikzpicture}\\draw;\\end{tikzpicture}}",
            "\\newenvironment{p}{\\begin{tikzpicture}}{\\end{tikzpicture}}",
            "\\NewDocumentCommand{\\pic}{m}{\\begin{tikzpicture}#1\\end{tikzpicture}}",
            "\\sbox{\\mybox}{\\begin{tikzpicture}\\draw;\\end{tikzpicture}}",
        ] {
            let src = format!("{def}\n\\begin{{tikzpicture}}\\fill;\\end{{tikzpicture}}");
            assert_eq!(
                ranges(&src),
                ["\\begin{tikzpicture}\\fill;\\end{tikzpicture}"],
                "{def}"
            );
        }
    }

    #[test]
    fn unclosed_picture_is_not_a_picture() {
        assert!(ranges("\\begin{tikzpicture}\\draw (0,0);").is_empty());
    }

    #[test]
    fn main_file_pictures_count_after_begin_document() {
        let main = b"\\newsavebox\\b\n\\begin{tikzpicture}\\end{tikzpicture}\n\\begin{document}\n\
                     \\begin{tikzpicture}\\end{tikzpicture}\n"
            .as_slice();
        let other = b"\\begin{tikzpicture}\\end{tikzpicture}".as_slice();
        let (pictures, preamble) = find("m.tex", main, true);
        assert_eq!(preamble, Some(51));
        assert_eq!(pictures.len(), 1);
        assert_eq!((pictures[0].file.as_str(), pictures[0].line), ("m.tex", 4));
        let (pictures, _) = find("ch.tex", other, false);
        assert_eq!((pictures[0].file.as_str(), pictures[0].line), ("ch.tex", 1));
    }

    /// The whole pre-pass in a real `sh` with fake LaTeX and dvisvgm:
    /// the picture document holds the preamble and each picture's bytes;
    /// the rendered picture is replaced, the failed one stays and is
    /// named in the log.
    #[test]
    fn prepass_renders_replaces_and_reports_in_sh() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job");
        std::fs::create_dir_all(job.join(".texjail/out")).unwrap();
        let main = "\\documentclass{article}\n\\begin{document}\nA \\begin{tikzpicture}1\\end{tikzpicture} B\n\
                    \\input{f.tikz} C\n\\end{document}\n";
        std::fs::write(job.join("main.tex"), main).unwrap();
        let (pictures, preamble) = find("main.tex", main.as_bytes(), true);
        assert_eq!(pictures.len(), 2);
        let prepass = prepass_script(
            &pictures,
            "",
            "main.tex",
            preamble.unwrap(),
            Engine::Pdflatex,
            Duration::from_secs(60),
        );
        let script = format!(
            "({})\n{}",
            prepass.script,
            super::super::source_edits::script(&prepass.edits)
        )
        .replace("/job", &job.display().to_string());
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let tool = |name: &str, body: &str| {
            use std::os::unix::fs::PermissionsExt;
            let path = bin.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        // picture 2 fails: an error line between its markers.
        tool(
            "pdflatex",
            "printf 'texjail-picture 1\\ntexjail-picture-end 1\\ntexjail-picture 2\\n! Undefined control sequence.\\ntexjail-picture-end 2\\nOutput written on texjail-pictures.pdf (2 pages, 9 bytes).\\n' >texjail-pictures.log",
        );
        // dvisvgm --pdf --no-fonts --page=LIST -o DIR/%p.svg PDF, padding
        // the page numbers as the real one does with 10 pages or more.
        tool(
            "dvisvgm",
            "pages=${3#--page=}; out=${5%/%p.svg}; for n in $(echo $pages | tr , ' '); do echo \"<svg page=$n/>\" >\"$out/0$n.svg\"; done",
        );
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
        let read = |p: &str| std::fs::read_to_string(job.join(p)).unwrap();
        let doc = read("texjail-pictures.tex");
        assert!(doc.starts_with("\\documentclass{article}\n\\usepackage[active,tightpage]{preview}\n\\begin{document}\n"), "{doc}");
        assert!(
            doc.contains("\\begin{preview}\\begin{tikzpicture}1\\end{tikzpicture}\\end{preview}")
        );
        assert!(doc.contains("\\begin{preview}\\input{f.tikz}\\end{preview}"));
        assert!(doc.ends_with("\\end{document}\n"));
        assert_eq!(
            read("main.tex"),
            main.replace(
                "\\begin{tikzpicture}1\\end{tikzpicture}",
                "\\includegraphics{texjail-pictures/1.svg}"
            )
        );
        assert_eq!(
            read(".texjail/out/texjail-pictures/1.svg").trim(),
            "<svg page=1/>"
        );
        assert!(!job.join(".texjail/out/texjail-pictures/2.svg").exists());
        let log = read(".texjail/pictures.log");
        assert!(
            log.contains("TikZ picture 2 (main.tex, line 4) did not render"),
            "{log}"
        );
        assert!(!log.contains("picture 1 "), "{log}");
    }

    #[test]
    fn short_budget_and_cap_are_reported() {
        let p = Picture {
            file: "m.tex".into(),
            start: 0,
            end: 1,
            line: 1,
        };
        let s = prepass_script(
            std::slice::from_ref(&p),
            "",
            "m.tex",
            0,
            Engine::Pdflatex,
            Duration::from_secs(5),
        );
        assert!(s.edits.is_empty());
        let s = s.script;
        assert!(s.contains("budget of 5 s"));
        assert!(!s.contains("pdflatex"));
        let many = vec![p; MAX_PICTURES + 5];
        let s = prepass_script(
            &many,
            "",
            "m.tex",
            0,
            Engine::Xelatex,
            Duration::from_secs(60),
        );
        assert_eq!(s.edits.len(), MAX_PICTURES);
        let s = s.script;
        assert!(s.contains("only the first 200"));
        assert!(s.contains("xelatex -interaction=nonstopmode"));
        assert_eq!(s.matches("\\begin{preview}").count(), MAX_PICTURES);
    }
}
