//! A quick look at an unpacked project before converting it: which TeX
//! engine it needs, whether it ships a `.bbl` or `.bib` files, and which
//! figures need converting to something a browser shows. Reads only the
//! host-side copy of the (already validated) project; never runs anything.

use std::path::Path;

use super::groups;
use super::macros;
use super::overlays;
use super::pandoc_math;
use super::pictures::{self, Picture};
use super::scripts;
use super::source_edits::{Replacement, SourceEdit};
use super::splits;
use super::tex_source::is_verbatim_environment;
use super::wrappers;

/// Most bytes read from one source file while scanning; preambles are at
/// the top, and a huge file must not make the scan slow.
const MAX_SCAN_BYTES: u64 = 1 << 20;
/// Most files the scan looks at; a project with more is unusual and the
/// first ones decide.
const MAX_SCAN_FILES: usize = 5_000;
/// Most edits taking wrapping commands off images in one project (a
/// command takes one more than the image arguments it keeps, at least
/// two): each costs the driver a process or two. A command whose edits
/// would pass the cap is left as it is, whole.
pub const MAX_UNWRAP_EDITS: usize = 1000;

/// The TeX engine a project's preamble asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    #[default]
    Pdflatex,
    /// Packages that only work with a Unicode engine (fontspec, ctex,
    /// xeCJK, polyglossia, unicode-math) were found.
    Xelatex,
}

impl Engine {
    pub fn command(self) -> &'static str {
        match self {
            Engine::Pdflatex => "pdflatex",
            Engine::Xelatex => "xelatex",
        }
    }
}

/// What the scan found (the default: nothing, as for a project with no
/// TeX).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProjectScan {
    pub engine: Engine,
    /// The main file's stem has a `.bbl` next to it.
    pub has_bbl: bool,
    /// At least one `.bib` file exists anywhere in the project.
    pub has_bib: bool,
    /// Relative paths of PDF and EPS files (figure candidates).
    pub vector_figures: Vec<String>,
    /// A source loads biblatex.
    pub uses_biblatex: bool,
    /// Relative paths of `.tex` files whose name has another dot
    /// (`chap/chap.01.basics.tex`): LaTeX finds `\input{chap/chap.01.basics}`,
    /// pandoc takes `.basics` for an extension and does not add `.tex`.
    pub dotted_tex: Vec<String>,
    /// The first package of `EXPL3_PACKAGES` a source loads (or
    /// `\ExplSyntaxOn` when a source writes expl3 itself): LaTeXML 0.8.7
    /// would have to interpret the LaTeX3 kernel raw, which it never
    /// finishes.
    pub expl3_package: Option<&'static str>,
    /// TikZ pictures in the sources (`tikzpicture` environments, tikzit's
    /// `\tikzfig`/`\ctikzfig`, `\input` of `.tikz` files), outside comments
    /// and verbatim: LaTeXML 0.8.7 interprets pgf in Perl, tens of seconds
    /// per picture (`LATEXML_MAX_TIKZ_PICTURES`).
    pub tikz_pictures: usize,
    /// Folders named by `\graphicspath` (as written, relative to the main
    /// file's folder): a converter that does not run TeX (pandoc) leaves
    /// `\includegraphics{knuth1}` as `src="knuth1"`, and the page assembly
    /// looks for the figure in these folders as LaTeX would.
    pub graphics_paths: Vec<String>,
    /// The TikZ/pgfplots pictures of the `.tex` sources (byte ranges; in
    /// the main file, after `\begin{document}`), which the pandoc driver
    /// renders with LaTeX (`convert::pictures`).
    pub pictures: Vec<Picture>,
    /// The main file's preamble length in bytes (up to its
    /// `\begin{document}`), the picture document's preamble.
    pub preamble_bytes: Option<usize>,
    /// Edits taking images out of commands pandoc drops
    /// (`convert::wrappers`), at most `MAX_UNWRAP_EDITS`, the closing
    /// braces of groups a file leaves open (`convert::groups`), old font
    /// switches in math as math alphabets (`convert::pandoc_math`), and in a
    /// beamer document the overlay specifications (`convert::overlays`), at
    /// most `overlays::MAX_EDITS`.
    pub unwraps: Vec<SourceEdit>,
    /// Figure names (`\includegraphics{example-image-c}`) no project file
    /// answers to: TeX finds such a figure in TeX Live (mwe's example
    /// images, common in templates); the page does not, so the driver
    /// copies it from the toolchain (`figures::texlive_script`).
    pub texlive_figures: Vec<String>,
    /// Formulas in the `.tex` sources that are not documents of their own
    /// (the main file and its chapters; a response letter beside it does
    /// not count): an estimate the page's `<math>` count is measured
    /// against (`convert::quality`).
    pub math_formulas: usize,
    /// Definitions pandoc can expand from the local classes and packages
    /// the sources load, which it does not read itself (`convert::macros`),
    /// at most `macros::MAX_RANGES` ranges.
    pub macro_prelude: Vec<macros::Range>,
    /// Definitions of the LaTeX and package commands pandoc does not know
    /// and the project does not define itself (`macros::STAND_INS`).
    pub stand_ins: Vec<&'static str>,
    /// The project's `.sty` files, which the pandoc driver hides from
    /// pandoc: it would read them raw, and one `\@ifnextchar` or
    /// self-naming definition there makes it give up on the document
    /// (corpus project 44) or expand without end. Their definitions it
    /// can expand are in the prelude.
    pub local_packages: Vec<String>,
    /// The edits make4ht's driver makes in the job's copies of the
    /// sources: braces for unbraced command scripts (`convert::scripts`:
    /// tex4ht cannot read `f_\text{R}`) and `split` renamed `aligned`
    /// (`convert::splits`: tex4ht overflows on `split`). Each kind is
    /// capped, and the script applying them by `source_edits`' budget.
    pub make4ht_edits: Vec<SourceEdit>,
    /// The definitions of the main file's preamble pandoc can expand: its
    /// preamble when pandoc cannot parse the one the document has.
    pub preamble_definitions: Vec<macros::Range>,
}

/// Most figure names looked up in TeX Live for one project.
pub const MAX_TEXLIVE_FIGURES: usize = 32;

/// The plain names (one path segment of letters, digits, `.`, `_`, `-`,
/// starting with a letter or digit) of the figures `\includegraphics`
/// includes in `code` (comments and verbatim already removed): the only
/// names worth looking up in TeX Live, and safe as file names anywhere.
pub fn included_figure_names(code: &str) -> Vec<String> {
    static INCLUDE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\\includegraphics\s*\*?\s*(?:\[[^\]]*\]\s*)*\{\s*([A-Za-z0-9][A-Za-z0-9._-]{0,99})\s*\}")
            .unwrap()
    });
    INCLUDE
        .captures_iter(code)
        .map(|caps| caps[1].to_string())
        .collect()
}

/// Packages whose presence means the document only builds with XeLaTeX or
/// LuaLaTeX.
const UNICODE_ENGINE_PACKAGES: [&str; 6] = [
    "fontspec",
    "xecjk",
    "ctex",
    "polyglossia",
    "unicode-math",
    "xltxtra",
];

/// Scans `root`, whose main file is the relative path `main`.
pub fn scan(root: &Path, main: &str) -> ProjectScan {
    let stem = main.strip_suffix(".tex").unwrap_or(main);
    let has_bbl = root.join(format!("{stem}.bbl")).is_file();
    let mut has_bib = false;
    let mut unicode_engine = false;
    let mut uses_biblatex = false;
    let mut vector_figures = Vec::new();
    let mut dotted_tex = Vec::new();
    let mut graphics_paths: Vec<String> = Vec::new();
    let mut tikz_pictures = 0;
    let mut expl3_package = None;
    let mut pictures = Vec::new();
    let mut preamble_bytes = None;
    let mut unwraps = Vec::new();
    let mut figure_names: Vec<String> = Vec::new();
    let mut project_names = std::collections::HashSet::new();
    let mut math_formulas = 0;
    let mut loaded = std::collections::HashSet::new();
    let mut local_packages = Vec::new();
    let mut preamble_definitions = Vec::new();
    // (stem, definitions)
    let mut package_macros: Vec<(String, Vec<macros::Range>)> = Vec::new();
    let mut defined = std::collections::HashSet::new();
    let mut overlay_edits = Vec::new();
    let mut make4ht_edits = Vec::new();
    let mut split_edits = 0;
    let mut pandoc_math_edits = 0;
    let mut beamer = false;
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .take(MAX_SCAN_FILES);
    for entry in walker {
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        let Some(rel) = rel.to_str() else { continue };
        let name = rel.rsplit('/').next().unwrap_or(rel);
        project_names.insert(name.to_string());
        project_names.insert(file_stem(rel).to_string());
        let ext = rel
            .rsplit_once('.')
            .map(|(_, e)| e.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "bib" => has_bib = true,
            "pdf" | "eps" => vector_figures.push(rel.to_string()),
            "tex" | "sty" | "cls" => {
                if ext == "tex" && file_stem(rel).contains('.') {
                    dotted_tex.push(rel.to_string());
                }
                let bytes = read_head(entry.path());
                if ext == "tex" {
                    let (found, preamble) = pictures::find(rel, &bytes, rel == main);
                    let from = if rel == main {
                        preamble_bytes = preamble;
                        let head = &bytes[..preamble.unwrap_or(0).min(bytes.len())];
                        preamble_definitions = macros::find(rel, head);
                        preamble_definitions.truncate(macros::MAX_RANGES);
                        preamble.unwrap_or(bytes.len())
                    } else {
                        0
                    };
                    let ranges: Vec<(usize, usize)> =
                        found.iter().map(|p| (p.start, p.end)).collect();
                    if (bytes.len() as u64) < MAX_SCAN_BYTES {
                        unwraps.extend(groups::find(rel, &bytes, from));
                    }
                    unwraps.extend(self_naming_definitions(&bytes).into_iter().map(
                        |(start, end)| SourceEdit {
                            file: rel.to_owned(),
                            start,
                            end,
                            with: Replacement::Text(""),
                        },
                    ));
                    if pandoc_math_edits < pandoc_math::MAX_EDITS {
                        let found = pandoc_math::find(rel, &bytes);
                        pandoc_math_edits += found.len();
                        unwraps.extend(found);
                    }
                    for edits in wrappers::find(rel, &bytes, from, &ranges) {
                        if unwraps.len() + edits.len() <= MAX_UNWRAP_EDITS {
                            unwraps.extend(edits);
                        }
                    }
                    pictures.extend(found);
                    if rel == main {
                        beamer = overlays::is_beamer(&String::from_utf8_lossy(&bytes));
                    }
                    if make4ht_edits.len() < scripts::MAX_EDITS {
                        make4ht_edits.extend(scripts::find(rel, &bytes));
                    }
                    if split_edits < splits::MAX_EDITS {
                        let found = splits::find(rel, &bytes);
                        split_edits += found.len();
                        make4ht_edits.extend(found);
                    }
                    if overlay_edits.len() < overlays::MAX_EDITS {
                        overlay_edits.extend(overlays::find(rel, &bytes));
                    }
                }
                let head = code_only(&String::from_utf8_lossy(&bytes));
                if ext != "tex" && package_macros.len() < macros::MAX_PACKAGES {
                    if ext == "sty" {
                        local_packages.push(rel.to_owned());
                    }
                    package_macros.push((file_stem(rel).to_owned(), macros::find(rel, &bytes)));
                }
                defined.extend(macros::defined_names(&head).map(str::to_owned));
                let (used, required) = macros::loads(&head);
                loaded.extend(used);
                loaded.extend(required);
                tikz_pictures += count_tikz_pictures(&head);
                if ext == "tex" && (rel == main || !head.contains("\\documentclass")) {
                    math_formulas += count_formulas(&head);
                }
                for name in included_figure_names(&head) {
                    if figure_names.len() < MAX_TEXLIVE_FIGURES && !figure_names.contains(&name) {
                        figure_names.push(name);
                    }
                }
                expl3_package = expl3_package.or_else(|| loaded_expl3_package(&head));
                // Local packages are hidden from pandoc, and their
                // self-naming definitions left out of its prelude.
                unicode_engine = unicode_engine || needs_unicode_engine(&head);
                uses_biblatex = uses_biblatex || loads_package(&head, "biblatex");
                for dir in graphics_path_dirs(&head) {
                    if graphics_paths.len() < MAX_GRAPHICS_PATHS && !graphics_paths.contains(&dir) {
                        graphics_paths.push(dir);
                    }
                }
            }
            _ => {}
        }
    }
    if beamer {
        overlay_edits.truncate(overlays::MAX_EDITS);
        unwraps.extend(overlay_edits);
    }
    ProjectScan {
        engine: if unicode_engine {
            Engine::Xelatex
        } else {
            Engine::Pdflatex
        },
        has_bbl,
        has_bib,
        vector_figures,
        uses_biblatex,
        dotted_tex,
        expl3_package,
        tikz_pictures,
        graphics_paths,
        pictures,
        preamble_bytes,
        unwraps,
        texlive_figures: figure_names
            .into_iter()
            .filter(|name| !project_names.contains(name))
            .collect(),
        math_formulas,
        stand_ins: macros::stand_ins(&defined),
        macro_prelude: package_macros
            .into_iter()
            .filter(|(name, _)| loaded.contains(name))
            .flat_map(|(_, ranges)| ranges)
            .take(macros::MAX_RANGES)
            .collect(),
        local_packages,
        make4ht_edits,
        preamble_definitions,
    }
}

/// Formulas `code` (already without comments and verbatim) writes: `$..$`
/// and `$$..$$` pairs, `\(..\)`, `\[..\]` and display environments
/// (an `align` counts once, though converters may show a formula a row).
pub fn count_formulas(code: &str) -> usize {
    static DISPLAY: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"\\begin\s*\{(?:equation|align|alignat|gather|multline|flalign|eqnarray|displaymath|math|dmath)\*?\}|(?:^|[^\\])\\[(\[]",
        )
        .unwrap()
    });
    let bytes = code.as_bytes();
    let mut dollars = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'$' => {
                dollars += 1;
                if bytes.get(i + 1) == Some(&b'$') {
                    i += 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    dollars / 2 + DISPLAY.find_iter(code).count()
}

/// Packages that take LaTeXML 0.8.7 into the raw LaTeX3 kernel, each seen
/// doing so: xparse (corpus project 06, latexml-t `expl3-xparse`), lipsum
/// (project 28), siunitx (`complex-si`), tcolorbox (`tikz-various_colors`),
/// expl3 itself (`expl3-tilde_tricks`), ctex and xeCJK (expl3 packages
/// with no LaTeXML binding). Others are caught when LaTeXML gets there
/// (`latexml::EXPL3_STOPPED`); these are refused before a jail run.
pub const EXPL3_PACKAGES: [&str; 7] = [
    "xparse",
    "expl3",
    "lipsum",
    "siunitx",
    "tcolorbox",
    "ctex",
    "xecjk",
];

/// The first `EXPL3_PACKAGES` entry `code` loads (a `ctex*` class counts
/// as ctex), or `\ExplSyntaxOn` when it writes expl3 itself.
pub fn loaded_expl3_package(code: &str) -> Option<&'static str> {
    static CLASS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\\documentclass\s*(?:\[[^\]]*\]\s*)?\{\s*ctex").unwrap()
    });
    EXPL3_PACKAGES
        .into_iter()
        .find(|package| loads_package(code, package))
        .or_else(|| CLASS.is_match(code).then_some("ctex"))
        .or_else(|| code.contains("\\ExplSyntaxOn").then_some("\\ExplSyntaxOn"))
}

/// Most TikZ pictures a document may have for LaTeXML to be tried on it.
/// LaTeXML 0.8.7 raw-interprets pgf: measured on corpus project 29 (26
/// tikzit pictures), 35 s to load TikZ and its libraries, then 35-40 s per
/// picture, so its attempt could only time out; the latexml-t documents
/// it converts have at most 3 pictures.
pub const LATEXML_MAX_TIKZ_PICTURES: usize = 8;

/// The TikZ pictures `code` (already without comments and verbatim) draws.
pub fn count_tikz_pictures(code: &str) -> usize {
    static PICTURE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"\\begin\s*\{tikzpicture\}|\\c?tikzfig\s*\{|\\input\s*\{[^{}]*\.tikz\s*\}",
        )
        .unwrap()
    });
    PICTURE.find_iter(code).count()
}

/// Most `\graphicspath` folders kept: each is one more place the page
/// assembly looks for every figure.
const MAX_GRAPHICS_PATHS: usize = 16;

/// The folders of every `\graphicspath{{a/}{b/}}` (not commented out) in
/// `source`, trailing `/` removed. Whether a folder is safe to look in is
/// the page assembly's decision: it only resolves beneath the copy-out.
pub fn graphics_path_dirs(source: &str) -> Vec<String> {
    static PATH: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\\graphicspath\s*\{((?:\s*\{[^{}]*\})*)\s*\}").unwrap()
    });
    static ENTRY: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\{([^{}]*)\}").unwrap());
    let code = code_only(source);
    PATH.captures_iter(&code)
        .flat_map(|caps| {
            ENTRY
                .captures_iter(&caps[1])
                .map(|entry| entry[1].trim().trim_end_matches('/').to_string())
                .collect::<Vec<_>>()
        })
        .filter(|dir| !dir.is_empty())
        .collect()
}

/// The bodies (byte ranges inside their braces) of the definitions in
/// `source` of a macro whose body names the macro itself: `\def`,
/// `\gdef`, `\edef`, `\xdef`, `\newcommand`, `\renewcommand` (starred
/// or not). pandoc 3.9 expands such a macro forever (corpus project 27's
/// `\tocheader`, which calls itself through `\afterpage`, ran it out of
/// its budget); the driver empties these bodies in pandoc's copy, and the
/// rest of the document's macros are expanded as usual. Comments, `\verb`
/// and verbatim-like environments are skipped.
pub fn self_naming_definitions(source: &[u8]) -> Vec<(usize, usize)> {
    use super::tex_source::{balanced_end, control_word, line_end, literal_end};
    let mut found = Vec::new();
    let mut at = 0;
    while at < source.len() {
        match source[at] {
            b'%' => at = line_end(source, at),
            b'\\' => {
                let (command, after) = control_word(source, at);
                if let Some(end) = literal_end(source, command, after) {
                    at = end;
                    continue;
                }
                at = after;
                match command {
                    b"def" | b"gdef" | b"edef" | b"xdef" | b"newcommand" | b"renewcommand" => {
                        if let Some((name, open)) = defined_name(source, after) {
                            let close = balanced_end(source, open);
                            let body = &source[open + 1..close.saturating_sub(1).max(open + 1)];
                            if names_itself(body, name) {
                                found.push((open + 1, close.saturating_sub(1).max(open + 1)));
                            }
                            at = close.max(after);
                        }
                    }
                    _ => {}
                }
            }
            _ => at += 1,
        }
    }
    found
}

/// After a defining command: the name defined (without its backslash)
/// and the index of the body's `{`, past a `*`, braces around the name,
/// optional arguments and parameters (`[1][x]`, `#1#2`).
fn defined_name(source: &[u8], mut at: usize) -> Option<(&[u8], usize)> {
    let skip = |source: &[u8], mut at: usize| {
        while source.get(at).is_some_and(|b| b.is_ascii_whitespace()) {
            at += 1;
        }
        at
    };
    at = skip(source, at);
    if source.get(at) == Some(&b'*') {
        at = skip(source, at + 1);
    }
    let braced = source.get(at) == Some(&b'{');
    if braced {
        at = skip(source, at + 1);
    }
    if source.get(at) != Some(&b'\\') {
        return None;
    }
    let (name, after) = super::tex_source::control_word(source, at);
    at = skip(source, after);
    if braced {
        if source.get(at) != Some(&b'}') {
            return None;
        }
        at = skip(source, at + 1);
    }
    loop {
        match source.get(at)? {
            b'[' => {
                at = skip(
                    source,
                    at + source[at..].iter().position(|&b| b == b']')? + 1,
                )
            }
            b'#' => at = skip(source, at + 2),
            b'{' => return Some((name, at)),
            _ => return None,
        }
    }
}

/// Whether `body` uses `\name` other than in an assignment to it.
fn names_itself(body: &[u8], name: &[u8]) -> bool {
    let body = String::from_utf8_lossy(body);
    let needle = format!("\\{}", String::from_utf8_lossy(name));
    body.match_indices(&needle).any(|(at, _)| {
        !body[at + needle.len()..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '@')
            && !assigns(&body[..at])
    })
}

/// True when the text before a name ends in an assignment to it
/// (`\let\x\y`, `\def\x`, `\renewcommand{\x}`): the name is being
/// defined there, not expanded (qleet's `\let\nl\oldnl` inside a
/// `\renewcommand{\nl}` is no recursion).
fn assigns(before: &str) -> bool {
    let before = before.trim_end().trim_end_matches('{').trim_end();
    ["\\let", "\\def", "\\gdef", "\\edef", "\\xdef"]
        .iter()
        .chain(&["\\newcommand", "\\renewcommand", "\\providecommand"])
        .any(|command| before.trim_end_matches('*').strip_suffix(command).is_some())
}

/// The file name without its directory and its last extension.
fn file_stem(rel: &str) -> &str {
    let name = rel.rsplit_once('/').map_or(rel, |(_, name)| name);
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

/// True when a `\usepackage`/`\RequirePackage` (not commented out, not in
/// a verbatim-like environment: `code_only`) names
/// `package`, its options spread over several lines or not (corpus project
/// 27 loads biblatex with `\usepackage[%` and one option per line).
pub fn loads_package(source: &str, package: &str) -> bool {
    static LOAD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)\\(?:usepackage|requirepackage)\s*(?:\[[^\]]*\]\s*)?\{([^}]*)\}")
            .unwrap()
    });
    let code = code_only(source).to_ascii_lowercase();
    LOAD.captures_iter(&code)
        .any(|caps| caps[1].split(',').any(|name| name.trim() == package))
}

/// Where the comment of `line` starts (its length when it has none): the
/// first `%` not escaped by an odd number of backslashes.
fn comment_start(line: &str) -> usize {
    let bytes = line.as_bytes();
    let mut backslashes = 0;
    for (at, &b) in bytes.iter().enumerate() {
        match b {
            b'\\' => backslashes += 1,
            b'%' if backslashes % 2 == 0 => return at,
            _ => backslashes = 0,
        }
    }
    bytes.len()
}

/// The source as TeX reads it for the scan's purposes: `%` comments and
/// the bodies of verbatim-like environments (`VERBATIM_ENVIRONMENTS`,
/// starred or not) removed, line breaks of the code kept. An environment
/// that never ends hides the rest of the file, as it would in TeX.
pub fn code_only(source: &str) -> String {
    let mut code = String::with_capacity(source.len());
    let mut in_verbatim: Option<String> = None;
    for line in source.lines() {
        let mut rest = line;
        loop {
            if let Some(end) = &in_verbatim {
                match rest.find(end.as_str()) {
                    Some(at) => {
                        rest = &rest[at + end.len()..];
                        in_verbatim = None;
                    }
                    None => break,
                }
            } else {
                let visible = &rest[..comment_start(rest)];
                match verbatim_begin(visible) {
                    Some((at, after, end)) => {
                        code.push_str(&visible[..at]);
                        rest = &rest[after..];
                        in_verbatim = Some(end);
                    }
                    None => {
                        code.push_str(visible);
                        break;
                    }
                }
            }
        }
        code.push('\n');
    }
    code
}

/// The first `\begin{env}` of a verbatim-like environment in `line`: where
/// it starts, where its body starts and the `\end{env}` that closes it.
fn verbatim_begin(line: &str) -> Option<(usize, usize, String)> {
    static BEGIN: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\\begin\s*\{([A-Za-z]+\*?)\}").unwrap());
    BEGIN.captures_iter(line).find_map(|caps| {
        let name = &caps[1];
        let base = name.trim_end_matches('*');
        is_verbatim_environment(base.as_bytes()).then(|| {
            let whole = caps.get(0).unwrap();
            (whole.start(), whole.end(), format!("\\end{{{name}}}"))
        })
    })
}

fn read_head(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut buf = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(MAX_SCAN_BYTES).read_to_end(&mut buf);
    }
    buf
}

/// Tests a source uses to pick its packages by engine. A file that has one
/// loads its Unicode-engine packages only under XeTeX/LuaTeX and builds
/// with pdfLaTeX too (corpus project 27: polyglossia under XeTeX, babel
/// under pdfLaTeX), and pdfLaTeX is the engine tex4ht handles best: its
/// XeTeX path cannot read the OpenType fonts of an `.xdv` ("Improper op
/// while scanning font defs in postamble").
const ENGINE_CONDITIONALS: [&str; 5] = [
    "\\ifxetex",
    "\\ifluatex",
    "\\iftutex",
    "\\ifpdftex",
    "\\sys_if_engine_",
];

/// True when a `\usepackage`/`\RequirePackage`/`\documentclass` line names
/// a Unicode-engine package and the file does not choose its packages by
/// engine (`ENGINE_CONDITIONALS`). Comment lines are ignored so a
/// commented-out `%\usepackage{fontspec}` does not switch engines.
pub fn needs_unicode_engine(source: &str) -> bool {
    let lower = source.to_ascii_lowercase();
    if ENGINE_CONDITIONALS.iter().any(|test| lower.contains(test)) {
        return false;
    }
    source.lines().any(|line| {
        let code = line.split('%').next().unwrap_or("");
        let lower = code.to_ascii_lowercase();
        if !(lower.contains("\\usepackage")
            || lower.contains("\\requirepackage")
            || lower.contains("\\documentclass"))
        {
            return false;
        }
        let is_class = lower.contains("\\documentclass");
        let found = package_names(&lower).any(|name| {
            UNICODE_ENGINE_PACKAGES.contains(&name) || (is_class && name.starts_with("ctex"))
        });
        found
    })
}

/// The names inside every `{...}` group of a line, split at commas.
fn package_names(line: &str) -> impl Iterator<Item = &str> {
    line.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}').map(|(inside, _)| inside))
        .flat_map(|inside| inside.split(','))
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_counted_once_each() {
        let code = "a $x$ and $$y$$, \\(z\\) \\[w\\] costs \\$5\n\
                    \\begin{align*} a \\\\[2pt] b \\end{align*} \\begin{equation}c\\end{equation}";
        assert_eq!(count_formulas(code), 6);
    }

    #[test]
    fn figure_names_are_plain_names_only() {
        let code = "\\includegraphics[width=2cm]{example-image-c} \\includegraphics*[a][b] { logo.png }\n\
                    \\includegraphics{figs/a} \\includegraphics{../x} \\includegraphics{-x} \\includegraphics{a b}";
        assert_eq!(included_figure_names(code), ["example-image-c", "logo.png"]);
    }

    /// Unwrapping is capped by edits, a command at a time: one command
    /// holding 2000 images is left whole, the small ones after it fit
    /// until the cap.
    #[test]
    fn unwrap_edits_are_capped_whole_commands_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let huge = format!("\\wrap{}", "{\\includegraphics{a}}".repeat(2000));
        let small = "\\fbox{\\includegraphics{a}}\n".repeat(600);
        std::fs::write(
            dir.path().join("main.tex"),
            format!(
                "\\documentclass{{article}}\\begin{{document}}\n{huge}\n{small}\\end{{document}}"
            ),
        )
        .unwrap();
        let edits = scan(dir.path(), "main.tex").unwraps;
        assert_eq!(edits.len(), MAX_UNWRAP_EDITS);
        assert!(
            edits.iter().all(|e| e.start > 2000 * 20),
            "the huge command stays whole"
        );
    }

    /// At most `MAX_TEXLIVE_FIGURES` names are looked up, each once.
    #[test]
    fn texlive_figure_names_are_capped_and_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let includes: String = (0..100)
            .map(|i| format!("\\includegraphics{{fig{}}}\n", i % 50))
            .collect();
        std::fs::write(
            dir.path().join("main.tex"),
            format!("\\documentclass{{article}}\\begin{{document}}\n{includes}\\end{{document}}"),
        )
        .unwrap();
        let names = scan(dir.path(), "main.tex").texlive_figures;
        assert_eq!(names.len(), MAX_TEXLIVE_FIGURES);
        assert_eq!(names[0], "fig0");
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len());
    }

    /// A figure name no project file answers to is a TeX Live candidate;
    /// one with a file of that stem or name anywhere in the project is not.
    #[test]
    fn texlive_figures_are_those_the_project_lacks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("images")).unwrap();
        std::fs::write(dir.path().join("images/logo.pdf"), "").unwrap();
        std::fs::write(dir.path().join("plot.png"), "").unwrap();
        std::fs::write(
            dir.path().join("main.tex"),
            "\\documentclass{article}\\begin{document}\\includegraphics{logo}\n\
             \\includegraphics{plot.png}\\includegraphics{example-image-c}\n\
             % \\includegraphics{commented}\n\\end{document}",
        )
        .unwrap();
        let found = scan(dir.path(), "main.tex");
        assert_eq!(found.texlive_figures, ["example-image-c"]);
    }

    #[test]
    fn graphicspath_folders_are_read_with_and_without_slash() {
        let src = "% \\graphicspath{{commented/}}\n\\graphicspath{ {images/}{Dissertation/images/} {figs}}\n";
        assert_eq!(
            graphics_path_dirs(src),
            ["images", "Dissertation/images", "figs"]
        );
        assert!(graphics_path_dirs("\\graphicspath{}").is_empty());
    }

    #[test]
    fn unicode_engine_packages_are_detected() {
        assert!(needs_unicode_engine("\\usepackage{fontspec}"));
        assert!(needs_unicode_engine("\\usepackage[UTF8]{ctex}"));
        assert!(needs_unicode_engine("\\RequirePackage{amsmath, xeCJK}"));
        assert!(needs_unicode_engine("\\documentclass[UTF8]{ctexart}"));
        assert!(!needs_unicode_engine("%\\usepackage{fontspec}"));
        assert!(!needs_unicode_engine("\\usepackage{amsmath}"));
        assert!(!needs_unicode_engine("fontspec is nice"));
    }

    fn defines(source: &str) -> bool {
        !self_naming_definitions(source.as_bytes()).is_empty()
    }

    #[test]
    fn self_naming_bodies_are_found_by_their_bytes() {
        let source = "\\newcommand{\\R}{\\mathbb{R}}\n\\newcommand*{\\toc}{a\\afterpage{\\toc}}";
        let found = self_naming_definitions(source.as_bytes());
        assert_eq!(found.len(), 1);
        let (start, end) = found[0];
        assert_eq!(&source[start..end], "a\\afterpage{\\toc}");
    }

    #[test]
    fn self_naming_macros_are_found() {
        let thesis = "\\newcommand*{\\tocheader}{\n  \\ifendTOC\\else\\hbox{x}%\n    \\afterpage{\\tocheader}\n  \\fi}";
        assert!(defines(thesis));
        assert!(defines("\\def\\x#1{a\\x{#1}}"));
        assert!(defines("\\renewcommand\\y[1][]{\\y}"));
        assert!(!defines("\\newcommand{\\R}{\\mathbb{R}}"));
        // Assignments to the name inside its body are not recursion.
        assert!(!defines(
            "\\newcommand{\\nonl}{\\renewcommand{\\nl}{\\let\\nl\\oldnl}}"
        ));
        assert!(defines("\\renewcommand{\\y}{\\let\\z\\y}"));
        assert!(!defines("\\def\\zz{\\zzz}"));
        assert!(!defines("\\def\\a{b}\\a"));
        assert!(!defines("% \\def\\q{\\q}"));
    }

    #[test]
    fn engine_adaptive_sources_stay_with_pdflatex() {
        let adaptive = "\\ifxetexorluatex\n  \\usepackage{polyglossia}\n\\else\n  \\usepackage[russian]{babel}\n\\fi";
        assert!(!needs_unicode_engine(adaptive));
        assert!(!needs_unicode_engine(
            "\\ifPDFTeX\\else\\usepackage{fontspec}\\fi"
        ));
        assert!(!needs_unicode_engine(
            "\\sys_if_engine_xetex:T { \\RequirePackage{fontspec} }"
        ));
        assert!(needs_unicode_engine(
            "\\RequirePackage[fontset=fandol]{ctex}\n\\ifdraft\\fi"
        ));
    }

    #[test]
    fn biblatex_is_detected_only_when_loaded() {
        assert!(loads_package(
            "\\usepackage[style=apa]{biblatex}",
            "biblatex"
        ));
        assert!(loads_package(
            "\\RequirePackage{csquotes,biblatex}",
            "biblatex"
        ));
        assert!(!loads_package("% \\usepackage{biblatex}", "biblatex"));
        assert!(loads_package(
            "\\usepackage[%\n  backend=biber,% engine\n  style=gost-numeric,\n]{biblatex}",
            "biblatex"
        ));
        assert!(!loads_package(
            "\\usepackage{biblatex-chicago-notes}",
            "biblatex"
        ));
    }

    #[test]
    fn packages_shown_in_verbatim_or_comments_are_not_loaded() {
        let book = "\\begin{sourcecode}\n\\begin{Verbatim}\n% File: demo.tex\n\
                    \\usepackage[style=gb7714-2015]{biblatex}\n\\end{Verbatim}\n\\end{sourcecode}";
        assert!(!loads_package(book, "biblatex"));
        for env in ["verbatim", "verbatim*", "lstlisting", "minted", "comment"] {
            let src = format!("\\begin{{{env}}}[x]\n\\usepackage{{biblatex}}\n\\end{{{env}}}");
            assert!(!loads_package(&src, "biblatex"), "{env}");
        }
        // Code after the environment ends on the same line still counts.
        assert!(loads_package(
            "\\begin{verbatim}x\\end{verbatim}\\usepackage{biblatex}",
            "biblatex"
        ));
        assert!(loads_package(
            "\\begin{itemize}\\end{itemize}\n\\usepackage{biblatex}",
            "biblatex"
        ));
        // `\%` is a percent sign, not the start of a comment.
        assert!(loads_package("50\\% \\usepackage{biblatex}", "biblatex"));
        assert!(!loads_package("50\\\\% \\usepackage{biblatex}", "biblatex"));
        // A verbatim environment that never ends hides the rest, as in TeX.
        assert!(!loads_package(
            "\\begin{verbatim}\n\\end{verbatim*}\n\\usepackage{biblatex}",
            "biblatex"
        ));
    }

    #[test]
    fn expl3_packages_are_found_where_loaded() {
        assert_eq!(loaded_expl3_package("\\usepackage{xparse}"), Some("xparse"));
        assert_eq!(
            loaded_expl3_package("\\usepackage[english]{babel}\n\\usepackage{lipsum}"),
            Some("lipsum")
        );
        assert_eq!(
            loaded_expl3_package("\\documentclass[UTF8]{ctexbook}"),
            Some("ctex")
        );
        assert_eq!(
            loaded_expl3_package("\\ExplSyntaxOn \\cs_new:Npn \\x {} \\ExplSyntaxOff"),
            Some("\\ExplSyntaxOn")
        );
        assert_eq!(loaded_expl3_package("\\usepackage{amsmath,tikz}"), None);
        assert_eq!(loaded_expl3_package("% \\usepackage{xparse}"), None);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.tex"), "\\usepackage{style}").unwrap();
        std::fs::write(dir.path().join("style.sty"), "\\RequirePackage{siunitx}").unwrap();
        assert_eq!(scan(dir.path(), "main.tex").expl3_package, Some("siunitx"));
    }

    #[test]
    fn tikz_pictures_are_counted_outside_verbatim() {
        let src = "\\begin{tikzpicture}\\end{tikzpicture}\n\\tikzfig{a/b}\n\\ctikzfig{c}\n\
                   \\input{Dissertation/images/scheme.tikz}\n\\input{chapter}\n\
                   % \\begin{tikzpicture}\n\\begin{verbatim}\n\\begin{tikzpicture}\n\\end{verbatim}";
        assert_eq!(count_tikz_pictures(&code_only(src)), 4);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.tex"), src).unwrap();
        std::fs::write(dir.path().join("more.tex"), src).unwrap();
        assert_eq!(scan(dir.path(), "main.tex").tikz_pictures, 8);
    }

    #[test]
    fn graphicspath_folders_are_capped_and_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let many: String = (0..MAX_GRAPHICS_PATHS + 10)
            .map(|i| format!("{{f{i}/}}{{f{i}}}"))
            .collect();
        let tex = format!("\\graphicspath{{{many}}}\n");
        std::fs::write(dir.path().join("main.tex"), &tex).unwrap();
        std::fs::write(dir.path().join("other.tex"), &tex).unwrap();
        let found = scan(dir.path(), "main.tex").graphics_paths;
        assert_eq!(found.len(), MAX_GRAPHICS_PATHS, "{found:?}");
        assert_eq!(found[0], "f0");
        assert_eq!(found[1], "f1");
    }

    #[test]
    fn scan_finds_bbl_bib_figures_and_engine() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("fig")).unwrap();
        std::fs::write(root.join("paper.tex"), "\\documentclass{article}").unwrap();
        std::fs::write(root.join("paper.bbl"), "").unwrap();
        std::fs::write(root.join("refs.bib"), "").unwrap();
        std::fs::write(root.join("fig/a.PDF"), "").unwrap();
        std::fs::write(root.join("fig/b.eps"), "").unwrap();
        std::fs::write(root.join("fig/c.png"), "").unwrap();
        std::fs::write(root.join("style.sty"), "\\RequirePackage{polyglossia}").unwrap();
        std::fs::write(root.join("fig/chap.01.intro.tex"), "").unwrap();
        let s = scan(root, "paper.tex");
        assert_eq!(s.dotted_tex, vec!["fig/chap.01.intro.tex"]);
        assert!(s.has_bbl && s.has_bib);
        assert_eq!(s.engine, Engine::Xelatex);
        assert_eq!(s.vector_figures, vec!["fig/a.PDF", "fig/b.eps"]);
        assert!(!s.uses_biblatex);
        std::fs::write(root.join("b.tex"), "\\usepackage[backend=biber]{biblatex}").unwrap();
        assert!(scan(root, "paper.tex").uses_biblatex);
        let s = scan(root, "other.tex");
        assert!(!s.has_bbl);
    }
}
