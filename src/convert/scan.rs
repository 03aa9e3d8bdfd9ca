//! A quick look at an unpacked project before converting it: which TeX
//! engine it needs, whether it ships a `.bbl` or `.bib` files, and which
//! figures need converting to something a browser shows. Reads only the
//! host-side copy of the (already validated) project; never runs anything.

use std::path::Path;

/// Most bytes read from one source file while scanning; preambles are at
/// the top, and a huge file must not make the scan slow.
const MAX_SCAN_BYTES: u64 = 1 << 20;
/// Most files the scan looks at; a project with more is unusual and the
/// first ones decide.
const MAX_SCAN_FILES: usize = 5_000;

/// The TeX engine a project's preamble asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
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

/// What the scan found.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    /// A source defines a macro whose body names the macro itself
    /// (`\def\x{... \afterpage{\x}}`, guarded by a conditional TeX
    /// evaluates and pandoc does not): pandoc 3.9 expands it forever.
    pub recursive_macro: bool,
    /// Folders named by `\graphicspath` (as written, relative to the main
    /// file's folder): a converter that does not run TeX (pandoc) leaves
    /// `\includegraphics{knuth1}` as `src="knuth1"`, and the page assembly
    /// looks for the figure in these folders as LaTeX would.
    pub graphics_paths: Vec<String>,
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
    let mut recursive_macro = false;
    let mut graphics_paths: Vec<String> = Vec::new();
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
                let head = read_head(entry.path());
                recursive_macro = recursive_macro || defines_recursive_macro(&head);
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
        recursive_macro,
        graphics_paths,
    }
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
    let code = without_comments(source);
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

/// True when a `\def`, `\newcommand` or `\renewcommand` (starred or not)
/// defines a macro whose body (up to its balanced closing brace) names the
/// macro itself.
pub fn defines_recursive_macro(source: &str) -> bool {
    static DEFINITION: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(
            r"\\(?:(?:re)?newcommand\*?\s*\{?\s*|[egx]?def\s*)\\([A-Za-z@]+)\s*\}?\s*(?:\[[^\]]*\]\s*)*(?:#\d)*\{",
        )
        .unwrap()
    });
    let code = without_comments(source);
    DEFINITION.captures_iter(&code).any(|caps| {
        let (Some(name), Some(whole)) = (caps.get(1), caps.get(0)) else {
            return false;
        };
        let body = balanced_body(&code[whole.end()..]);
        let needle = format!("\\{}", name.as_str());
        body.match_indices(&needle).any(|(at, _)| {
            !body[at + needle.len()..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '@')
        })
    })
}

/// The text up to the `}` that closes an already opened group (all of it
/// when the group never closes).
fn balanced_body(rest: &str) -> &str {
    let mut depth = 1usize;
    for (at, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &rest[..at];
                }
            }
            _ => {}
        }
    }
    rest
}

/// The file name without its directory and its last extension.
fn file_stem(rel: &str) -> &str {
    let name = rel.rsplit_once('/').map_or(rel, |(_, name)| name);
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

/// True when a `\usepackage`/`\RequirePackage` (not commented out) names
/// `package`, its options spread over several lines or not (corpus project
/// 27 loads biblatex with `\usepackage[%` and one option per line).
pub fn loads_package(source: &str, package: &str) -> bool {
    static LOAD: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?i)\\(?:usepackage|requirepackage)\s*(?:\[[^\]]*\]\s*)?\{([^}]*)\}")
            .unwrap()
    });
    let code = without_comments(source).to_ascii_lowercase();
    LOAD.captures_iter(&code)
        .any(|caps| caps[1].split(',').any(|name| name.trim() == package))
}

/// The source with every `%` comment removed (line breaks kept).
fn without_comments(source: &str) -> String {
    source
        .lines()
        .map(|line| line.split('%').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn read_head(path: &Path) -> String {
    use std::io::Read;
    let mut buf = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(MAX_SCAN_BYTES).read_to_end(&mut buf);
    }
    String::from_utf8_lossy(&buf).into_owned()
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

    #[test]
    fn self_naming_macros_are_found() {
        let thesis = "\\newcommand*{\\tocheader}{\n  \\ifendTOC\\else\\hbox{x}%\n    \\afterpage{\\tocheader}\n  \\fi}";
        assert!(defines_recursive_macro(thesis));
        assert!(defines_recursive_macro("\\def\\x#1{a\\x{#1}}"));
        assert!(defines_recursive_macro("\\renewcommand\\y[1][]{\\y}"));
        assert!(!defines_recursive_macro("\\newcommand{\\R}{\\mathbb{R}}"));
        assert!(!defines_recursive_macro("\\def\\zz{\\zzz}"));
        assert!(!defines_recursive_macro("\\def\\a{b}\\a"));
        assert!(!defines_recursive_macro("% \\def\\q{\\q}"));
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
