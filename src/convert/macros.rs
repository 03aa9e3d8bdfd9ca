//! Macro definitions from the project's own packages, for pandoc.
//!
//! pandoc expands the macros a document defines (`\newcommand`, `\def`,
//! `\DeclareMathOperator`, ...) and reads a local package the document
//! `\usepackage`s, but not a local class nor a package loaded by
//! `\RequirePackage`, so a paper whose notation lives there comes out with
//! its formulas as raw TeX (`$\R^n$` that pandoc cannot parse). And the
//! packages it does read hold internals it expands wrongly or forever: a
//! package's `\renewcommand\small{\@setfontsize\small...}` names itself,
//! which pandoc expands without end, so its macro expansion had to be
//! turned off for the whole document (corpus project 34).
//!
//! So a local package with a self-naming definition is hidden from pandoc
//! (the driver moves it away just before pandoc runs), and pandoc gets,
//! in a prelude, the definitions it can expand of every local class, of
//! every package loaded only by `\RequirePackage`, and of the hidden
//! packages: [`find`] picks them as byte ranges ([`loads`] says which
//! files are loaded); the driver copies those
//! bytes into a prelude file that pandoc reads before the main file
//! (`driver`, like every source edit: upload text never enters the
//! script).
//!
//! What is kept is what pandoc's own macro expansion understands and
//! cannot turn against the document's structure: definitions whose name
//! and body use no `@` (the package's internals), no TeX conditionals or
//! expansion primitives, and that do not redefine the commands pandoc
//! reads as structure (`\section`, `\title`, `\cite`, ...).

use super::driver::WORK_DIR;
use super::shell::quote;
use super::tex_source::{control_word, definition_end, line_end};

/// The prelude pandoc reads before the main file.
pub const PRELUDE: &str = "/job/.texjail/prelude.tex";

/// Most local packages read for definitions.
pub const MAX_PACKAGES: usize = 32;
/// Most byte ranges copied into the prelude (each costs the driver two
/// processes; adjacent definitions share one range).
pub const MAX_RANGES: usize = 400;
/// Most bytes one definition may span: a longer one is not notation.
const MAX_DEFINITION_BYTES: usize = 4096;

/// Definition commands pandoc expands.
const DEFINING: [&[u8]; 9] = [
    b"newcommand",
    b"renewcommand",
    b"providecommand",
    b"DeclareRobustCommand",
    b"DeclareMathOperator",
    b"def",
    b"newenvironment",
    b"renewenvironment",
    b"newtheorem",
];

/// Primitives whose meaning pandoc's expansion does not follow; a body
/// with one is left out rather than expanded wrongly.
const LOW_LEVEL: [&str; 16] = [
    "\\expandafter",
    "\\csname",
    "\\futurelet",
    "\\if",
    "\\else",
    "\\fi",
    "\\global",
    "\\let",
    "\\edef",
    "\\xdef",
    "\\gdef",
    "\\catcode",
    "\\makeatletter",
    "\\ExplSyntaxOn",
    "\\ProvidesPackage",
    "\\RequirePackage",
];

/// Commands pandoc reads as the document's structure: a package that
/// redefines them changes their look, which pandoc's expansion would turn
/// into losing their meaning.
const STRUCTURE: [&str; 44] = [
    "section",
    "subsection",
    "subsubsection",
    "paragraph",
    "subparagraph",
    "chapter",
    "part",
    "title",
    "author",
    "date",
    "thanks",
    "maketitle",
    "abstract",
    "caption",
    "label",
    "ref",
    "eqref",
    "pageref",
    "cite",
    "citep",
    "citet",
    "nocite",
    "item",
    "footnote",
    "emph",
    "textbf",
    "textit",
    "texttt",
    "href",
    "url",
    "includegraphics",
    "input",
    "include",
    "begin",
    "end",
    "documentclass",
    "usepackage",
    "bibliography",
    "bibliographystyle",
    "printbibliography",
    "tableofcontents",
    "appendix",
    "document",
    "figure",
];

/// Commands of LaTeX, amsmath, mathtools and common math packages that
/// pandoc's math reader (texmath) does not know, each as a definition it
/// can expand. Measured: one unknown command makes pandoc give up on the
/// whole formula, which then shows as TeX (`\hbox` in corpus project 42,
/// 513 `\nicefrac` in 44, `\vphantom` in 27, `\idotsint` in 23). The
/// boxes become `\mbox` (which pandoc reads in text and in math), the
/// spacing and layout hints their nearest texmath form or nothing;
/// beamer's overlay commands their content (pandoc drops them whole).
/// A project that defines one of these names itself keeps its own
/// definition: pandoc keeps the first it reads, so [`stand_ins`] leaves
/// those out.
pub const STAND_INS: [(&str, &str); 67] = [
    ("hbox", r"\providecommand{\hbox}[1]{\mbox{#1}}"),
    ("vbox", r"\providecommand{\vbox}[1]{\mbox{#1}}"),
    ("makebox", r"\providecommand{\makebox}[2][]{\mbox{#2}}"),
    ("framebox", r"\providecommand{\framebox}[2][]{\mbox{#2}}"),
    ("raisebox", r"\providecommand{\raisebox}[2]{\mbox{#2}}"),
    (
        "textnormal",
        r"\providecommand{\textnormal}[1]{\textrm{#1}}",
    ),
    ("textup", r"\providecommand{\textup}[1]{\textrm{#1}}"),
    ("mathstrut", r"\providecommand{\mathstrut}{}"),
    ("vphantom", r"\providecommand{\vphantom}[1]{}"),
    ("hphantom", r"\providecommand{\hphantom}[1]{\phantom{#1}}"),
    ("smash", r"\providecommand{\smash}[1]{#1}"),
    ("thinspace", r"\providecommand{\thinspace}{\,}"),
    ("negthinspace", r"\providecommand{\negthinspace}{\!}"),
    ("thickspace", r"\providecommand{\thickspace}{\;}"),
    ("allowbreak", r"\providecommand{\allowbreak}{}"),
    ("nobreak", r"\providecommand{\nobreak}{}"),
    ("nonscript", r"\providecommand{\nonscript}{}"),
    ("displaybreak", r"\providecommand{\displaybreak}[1][]{}"),
    ("qedhere", r"\providecommand{\qedhere}{}"),
    // texmath reads them only at the very end of a row: `\notag,` stops
    // the whole alignment (corpus project 38).
    ("notag", r"\providecommand{\notag}{}"),
    ("nonumber", r"\providecommand{\nonumber}{}"),
    // LaTeX's robustness marker; texmath stops at it (corpus project 27:
    // `\protect\upvarepsilon`).
    ("protect", r"\providecommand{\protect}{}"),
    // textcomp's degree sign, which texmath's `\text` does not read.
    ("textdegree", r"\providecommand{\textdegree}{°}"),
    // babel-russian's operator names (project 27: `\tg 20^\circ`).
    ("tg", r"\providecommand{\tg}{\operatorname{tg}}"),
    ("ctg", r"\providecommand{\ctg}{\operatorname{ctg}}"),
    ("arctg", r"\providecommand{\arctg}{\operatorname{arctg}}"),
    ("arcctg", r"\providecommand{\arcctg}{\operatorname{arcctg}}"),
    ("cosec", r"\providecommand{\cosec}{\operatorname{cosec}}"),
    ("cfrac", r"\providecommand{\cfrac}[3][]{\dfrac{#2}{#3}}"),
    ("tbinom", r"\providecommand{\tbinom}[2]{\binom{#1}{#2}}"),
    ("dbinom", r"\providecommand{\dbinom}[2]{\binom{#1}{#2}}"),
    ("mathclap", r"\providecommand{\mathclap}[1]{#1}"),
    ("mathllap", r"\providecommand{\mathllap}[1]{#1}"),
    ("mathrlap", r"\providecommand{\mathrlap}[1]{#1}"),
    ("clap", r"\providecommand{\clap}[1]{#1}"),
    ("llap", r"\providecommand{\llap}[1]{#1}"),
    ("rlap", r"\providecommand{\rlap}[1]{#1}"),
    ("vcentcolon", r"\providecommand{\vcentcolon}{:}"),
    ("dblcolon", r"\providecommand{\dblcolon}{::}"),
    ("mathinner", r"\providecommand{\mathinner}[1]{#1}"),
    ("lefteqn", r"\providecommand{\lefteqn}[1]{#1}"),
    ("intertext", r"\providecommand{\intertext}[1]{\text{#1}}"),
    (
        "shortintertext",
        r"\providecommand{\shortintertext}[1]{\text{#1}}",
    ),
    ("centernot", r"\providecommand{\centernot}[1]{\not{#1}}"),
    (
        "prescript",
        r"\providecommand{\prescript}[3]{{}^{#1}_{#2}{#3}}",
    ),
    ("idotsint", r"\providecommand{\idotsint}{\int\cdots\int}"),
    (
        "injlim",
        r"\providecommand{\injlim}{\operatorname*{inj\,lim}}",
    ),
    (
        "projlim",
        r"\providecommand{\projlim}{\operatorname*{proj\,lim}}",
    ),
    (
        "varinjlim",
        r"\providecommand{\varinjlim}{\underrightarrow{\lim}}",
    ),
    (
        "varprojlim",
        r"\providecommand{\varprojlim}{\underleftarrow{\lim}}",
    ),
    (
        "xmapsto",
        r"\providecommand{\xmapsto}[1]{\overset{#1}{\longmapsto}}",
    ),
    (
        "xleftrightarrow",
        r"\providecommand{\xleftrightarrow}[1]{\overset{#1}{\longleftrightarrow}}",
    ),
    ("mathbbm", r"\providecommand{\mathbbm}[1]{\mathbb{#1}}"),
    ("nicefrac", r"\providecommand{\nicefrac}[2]{{#1}/{#2}}"),
    ("sfrac", r"\providecommand{\sfrac}[2]{{#1}/{#2}}"),
    ("abs", r"\providecommand{\abs}[1]{\left|#1\right|}"),
    ("norm", r"\providecommand{\norm}[1]{\left\|#1\right\|}"),
    ("dv", r"\providecommand{\dv}[2]{\frac{d #1}{d #2}}"),
    (
        "pdv",
        r"\providecommand{\pdv}[2]{\frac{\partial #1}{\partial #2}}",
    ),
    ("ket", r"\providecommand{\ket}[1]{\left|#1\right\rangle}"),
    ("bra", r"\providecommand{\bra}[1]{\left\langle#1\right|}"),
    // Beamer's overlay commands, once `overlays` took their
    // specifications out: every step shows.
    ("only", r"\providecommand{\only}[1]{#1}"),
    ("alt", r"\providecommand{\alt}[2]{#1}"),
    ("uncover", r"\providecommand{\uncover}[1]{#1}"),
    ("visible", r"\providecommand{\visible}[1]{#1}"),
    ("invisible", r"\providecommand{\invisible}[1]{#1}"),
    ("temporal", r"\providecommand{\temporal}[3]{#2}"),
];

/// The [`STAND_INS`] for names the project does not define itself.
pub fn stand_ins(defined: &std::collections::HashSet<String>) -> Vec<&'static str> {
    STAND_INS
        .iter()
        .filter(|(name, _)| !defined.contains(*name))
        .map(|(_, definition)| *definition)
        .collect()
}

/// The names `code` (already without comments) defines, by any of the
/// ways LaTeX and its packages have: `\newcommand{\x}`, `\def\x`,
/// `\let\x`, `\DeclareMathOperator*{\x}`, `\NewDocumentCommand\x`,
/// `\DeclarePairedDelimiter\x`, ...
pub fn defined_names(code: &str) -> impl Iterator<Item = &str> {
    static DEFINITION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"\\(?:(?:(?:re)?new|provide)command|DeclareRobustCommand|DeclareMathOperator|(?:New|Renew|Provide|Declare)DocumentCommand|DeclarePairedDelimiter(?:X|XPP)?|[egx]?def|let|global\\let)\*?\s*\{?\s*\\([A-Za-z]+)",
        )
        .unwrap()
    });
    DEFINITION
        .captures_iter(code)
        .filter_map(|caps| caps.get(1).map(|m| m.as_str()))
}

/// A byte range of a project file to copy into the prelude.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Range {
    /// Relative to the project root.
    pub file: String,
    pub start: usize,
    pub end: usize,
}

/// The definitions of `source` (a local package) that pandoc can expand,
/// adjacent ones merged into one range.
pub fn find(file: &str, source: &[u8]) -> Vec<Range> {
    let mut ranges: Vec<Range> = Vec::new();
    let mut at = 0;
    while at < source.len() {
        match source[at] {
            b'%' => at = line_end(source, at),
            b'\\' => {
                let (name, after) = control_word(source, at);
                if !DEFINING.contains(&name) {
                    at = after;
                    continue;
                }
                let end = definition_end(source, after, name);
                if end > after && keep(name, &source[after..end]) {
                    push(&mut ranges, file, source, at, end);
                }
                at = end.max(after);
            }
            _ => at += 1,
        }
    }
    ranges
}

/// Appends `start..end`, merged into the last range when only spaces,
/// newlines and comments lie between them.
fn push(ranges: &mut Vec<Range>, file: &str, source: &[u8], start: usize, end: usize) {
    if let Some(last) = ranges.last_mut() {
        if only_blank_or_comments(&source[last.end..start]) {
            last.end = end;
            return;
        }
    }
    ranges.push(Range {
        file: file.to_owned(),
        start,
        end,
    });
}

fn only_blank_or_comments(gap: &[u8]) -> bool {
    let mut at = 0;
    while at < gap.len() {
        match gap[at] {
            b'%' => at = line_end(gap, at),
            b if b.is_ascii_whitespace() => at += 1,
            _ => return false,
        }
    }
    true
}

/// Whether pandoc may see this definition: `name` is the defining
/// command, `rest` its arguments (the defined name and the body).
fn keep(name: &[u8], rest: &[u8]) -> bool {
    if rest.len() > MAX_DEFINITION_BYTES || rest.contains(&b'@') {
        return false;
    }
    let Ok(text) = std::str::from_utf8(rest) else {
        return false;
    };
    let has_low_level = LOW_LEVEL.iter().any(|primitive| {
        text.match_indices(primitive).any(|(i, _)| {
            // Every `\if...` is a conditional (`\ifx`, `\ifmmode`,
            // `\iffalse`) except the relation `\iff`.
            let next = &text[i + primitive.len()..];
            match *primitive {
                "\\if" => !next.starts_with('f') || next.starts_with("false"),
                _ => !next.starts_with(|c: char| c.is_ascii_alphabetic()),
            }
        })
    });
    if has_low_level {
        return false;
    }
    let defined = defined_name(name, text);
    if defined.is_empty() || STRUCTURE.contains(&defined) {
        return false;
    }
    // A body naming its own macro is expanded by pandoc without end.
    let needle = format!("\\{defined}");
    let body = &text[text.find(&needle).map_or(0, |at| at + needle.len())..];
    !body
        .match_indices(&needle)
        .any(|(at, _)| !body[at + needle.len()..].starts_with(|c: char| c.is_ascii_alphabetic()))
}

/// The name a definition defines: `\x` in `\def\x#1{...}` and
/// `\newcommand{\x}`, `x` in `\newenvironment{x}`.
fn defined_name<'a>(command: &[u8], rest: &'a str) -> &'a str {
    let rest = rest.trim_start_matches('*').trim_start();
    let rest = rest.strip_prefix('{').unwrap_or(rest).trim_start();
    let rest = rest.strip_prefix('\\').unwrap_or(
        if command.ends_with(b"environment") || command == b"newtheorem" {
            rest
        } else {
            ""
        },
    );
    let len = rest.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
    &rest[..len]
}

/// The packages `code` (comments and verbatim removed) loads with
/// `\usepackage`, and the ones it loads in ways pandoc does not follow:
/// `\RequirePackage`, and classes (`\documentclass`, `\LoadClass`).
/// pandoc reads a local package a document `\usepackage`s, but not a
/// class nor what a package or class requires in turn: the prelude
/// carries the definitions of those (measured with pandoc 3.9).
pub fn loads(code: &str) -> (Vec<String>, Vec<String>) {
    static LOAD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"\\(usepackage|RequirePackage|documentclass|LoadClass)\s*(?:\[[^\]]*\]\s*)?\{([^{}]*)\}",
        )
        .unwrap()
    });
    let (mut used, mut required) = (Vec::new(), Vec::new());
    for caps in LOAD.captures_iter(code) {
        let names = caps[2]
            .split(',')
            // `\usepackage{sty/notation}` loads `sty/notation.sty`.
            .map(|name| name.trim().rsplit('/').next().unwrap_or("").to_owned())
            .filter(|name| !name.is_empty());
        if &caps[1] == "usepackage" {
            used.extend(names);
        } else {
            required.extend(names);
        }
    }
    (used, required)
}

/// Where a local package pandoc must not read is moved to, just before
/// pandoc runs (after the pre-passes, which run LaTeX and need it).
pub const HIDDEN_SUFFIX: &str = ".texjail-hidden";

/// The `sh` snippet, run anywhere, that hides `packages` (project-relative
/// `.sty` paths) from pandoc.
pub fn hide_script(packages: &[String]) -> String {
    packages
        .iter()
        .take(MAX_PACKAGES)
        .map(|p| {
            let path = format!("/job/{p}");
            format!(
                "mv -f {} {}\n",
                quote(&path),
                quote(&format!("{path}{HIDDEN_SUFFIX}"))
            )
        })
        .collect()
}

/// The `sh` snippet, run anywhere, that writes [`PRELUDE`]: the fixed
/// `packages` definitions, then `ranges` copied with `head -c`/`tail -c`
/// (no byte of the sources enters the script).
pub fn prelude_script(packages: &[&str], ranges: &[Range]) -> String {
    debug_assert!(PRELUDE.starts_with(&format!("/job/{WORK_DIR}/")));
    if packages.is_empty() && ranges.is_empty() {
        return String::new();
    }
    let fixed: String = packages
        .iter()
        .map(|d| format!("printf '%s\\n' {}\n", quote(d)))
        .collect();
    format!("{{\n{fixed}{}}} >{}\n", copy_script(ranges), quote(PRELUDE))
}

/// The commands that print `ranges` (at most [`MAX_RANGES`]), each
/// followed by a newline, on standard output.
pub fn copy_script(ranges: &[Range]) -> String {
    let mut s = String::new();
    for r in ranges.iter().take(MAX_RANGES) {
        s.push_str(&format!(
            "tail -c +{} {} | head -c {}; echo\n",
            r.start + 1,
            quote(&format!("/job/{}", r.file)),
            r.end.saturating_sub(r.start)
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(source: &str) -> Vec<String> {
        find("m.sty", source.as_bytes())
            .iter()
            .map(|r| source[r.start..r.end].to_owned())
            .collect()
    }

    #[test]
    fn notation_is_kept_and_adjacent_definitions_share_a_range() {
        let sty = "\\ProvidesPackage{m}\n\
                   \\newcommand{\\R}{\\mathbb{R}}\n% reals\n\\DeclareMathOperator*{\\argmin}{arg\\,min}\n\
                   \\RequirePackage{amsmath}\n\
                   \\def\\ket#1{|#1\\rangle}\n\\newenvironment{claim}{\\textbf{Claim.}}{}\n";
        assert_eq!(
            texts(sty),
            [
                "\\newcommand{\\R}{\\mathbb{R}}\n% reals\n\\DeclareMathOperator*{\\argmin}{arg\\,min}",
                "\\def\\ket#1{|#1\\rangle}\n\\newenvironment{claim}{\\textbf{Claim.}}{}"
            ]
        );
    }

    #[test]
    fn internals_conditionals_and_structure_are_left_out() {
        let sty = "\\def\\@tmp{x}\n\\newcommand\\a{\\@ifnextchar[x y}\n\
                   \\newcommand\\b{\\ifmmode x\\else y\\fi}\n\
                   \\renewcommand{\\section}{\\textbf}\n\\def\\title#1{#1}\n\
                   \\newcommand\\c{\\expandafter\\d}\n% \\newcommand\\e{x}\n\
                   \\newcommand\\iffy{\\iff}\n\\renewcommand\\small{\\fontsize\\small}\n\\newcommand{\\x}{\\xi}\n";
        assert_eq!(
            texts(sty),
            ["\\newcommand\\iffy{\\iff}", "\\newcommand{\\x}{\\xi}"]
        );
    }

    #[test]
    fn hostile_sources_end() {
        assert!(texts("\\newcommand{\\x}{").len() <= 1);
        assert!(texts("\\def").is_empty());
        assert!(texts(&"\\newcommand".repeat(10_000)).len() <= 1);
        let long = format!("\\newcommand\\x{{{}}}", "a".repeat(MAX_DEFINITION_BYTES));
        assert!(texts(&long).is_empty());
    }

    #[test]
    fn the_prelude_copies_at_most_max_ranges() {
        let ranges: Vec<Range> = (0..MAX_RANGES + 50)
            .map(|i| Range {
                file: "m.sty".into(),
                start: i * 10,
                end: i * 10 + 5,
            })
            .collect();
        assert_eq!(copy_script(&ranges).lines().count(), MAX_RANGES);
    }

    #[test]
    fn packages_are_listed() {
        let (used, required) = loads(
            "\\documentclass[a]{Defs/cls}\\usepackage[x]{a, sty/b}\\RequirePackage{c}\\usepackage{}",
        );
        assert_eq!(used, ["a", "b"]);
        assert_eq!(required, ["cls", "c"]);
    }

    #[test]
    fn defined_names_cover_the_ways_to_define() {
        let code = r"\newcommand{\a}{1}\renewcommand*\b{2}\providecommand {\c}{3}
\def\d#1{4}\gdef\e{5}\let\f\relax\global\let\g\h
\DeclareMathOperator*{\argmin}{arg\,min}\DeclarePairedDelimiter\abs{\lvert}{\rvert}
\NewDocumentCommand{\vect}{m}{#1}\DeclareRobustCommand{\smash}{x}";
        let names: Vec<&str> = defined_names(code).collect();
        assert_eq!(
            names,
            ["a", "b", "c", "d", "e", "f", "g", "argmin", "abs", "vect", "smash"]
        );
        assert_eq!(defined_names(r"\newcommandx \relax \definition").count(), 0);
    }

    #[test]
    fn stand_ins_leave_out_what_the_project_defines() {
        let all = stand_ins(&Default::default());
        assert_eq!(all.len(), STAND_INS.len());
        let defined = ["abs".to_string(), "hbox".to_string()].into();
        let some = stand_ins(&defined);
        assert_eq!(some.len(), STAND_INS.len() - 2);
        assert!(!some
            .iter()
            .any(|d| d.contains("{\\abs}") || d.contains("{\\hbox}")));
        assert!(some.iter().any(|d| d.contains("{\\nicefrac}")));
    }

    /// The prelude, written by a real `sh`: exactly the kept bytes, from a
    /// file whose name needs quoting.
    #[test]
    fn prelude_copies_the_ranges() {
        let dir = tempfile::tempdir().unwrap();
        let sty = "\\ProvidesPackage{x}\n\\newcommand\\R{\\mathbb R}\n\\makeatletter\n\\def\\N{\\mathbb N}\n";
        std::fs::write(dir.path().join("it's.sty"), sty).unwrap();
        let ranges = find("it's.sty", sty.as_bytes());
        let defined = STAND_INS
            .iter()
            .map(|(name, _)| name.to_string())
            .filter(|name| name != "nicefrac")
            .collect();
        let script = prelude_script(&stand_ins(&defined), &ranges)
            .replace("/job/", &format!("{}/", dir.path().display()));
        std::fs::create_dir(dir.path().join(".texjail")).unwrap();
        let ok = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .status()
            .unwrap()
            .success();
        assert!(ok, "{script}");
        let prelude = std::fs::read_to_string(dir.path().join(".texjail/prelude.tex")).unwrap();
        assert_eq!(
            prelude,
            "\\providecommand{\\nicefrac}[2]{{#1}/{#2}}\n\\newcommand\\R{\\mathbb R}\n\\def\\N{\\mathbb N}\n"
        );
        assert_eq!(prelude_script(&[], &[]), "");
    }
}
