//! Beamer's overlay specifications (`\only<2->{...}`, `\item<+->`,
//! `\alt<2>{new}{old}`, `\begin{block}<3>{...}`) are not LaTeX pandoc
//! reads: it drops `\only`, `\alt`, `\uncover`, `\visible`, `\onslide`
//! and `\temporal` whole, content and all, and prints other specifications
//! as text (corpus project 29: 18 `\alt` left as TeX). The pandoc driver
//! takes each specification out of a beamer document's sources (byte-range
//! edits, `source_edits`), and `macros::STAND_INS` give the overlay
//! commands their content: the page shows every step of a slide at once.

use super::source_edits::{Replacement, SourceEdit};
use super::tex_source::{
    control_word, group, is_verbatim_environment, line_end, overlay_end, verb_end, verbatim_end,
};

/// Commands that take an overlay specification right after their name.
const OVERLAY_COMMANDS: [&[u8]; 22] = [
    b"only",
    b"alt",
    b"uncover",
    b"visible",
    b"invisible",
    b"onslide",
    b"temporal",
    b"item",
    b"alert",
    b"structure",
    b"textbf",
    b"textit",
    b"textsl",
    b"textrm",
    b"textsf",
    b"texttt",
    b"emph",
    b"color",
    b"textcolor",
    b"includegraphics",
    b"action",
    b"pause",
];

/// Most edits taken from one file, and from a whole project.
pub const MAX_EDITS: usize = 4096;

/// Whether `main` (the main file's text, comments included) is a beamer
/// document.
pub fn is_beamer(main: &str) -> bool {
    static CLASS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?m)^[^%\n]*\\documentclass\s*(?:\[[^\]]*\]\s*)?\{\s*beamer\s*\}")
            .unwrap()
    });
    CLASS.is_match(main)
}

/// The edits that take the overlay specifications out of `source` (the
/// project file `file`): after an [`OVERLAY_COMMANDS`] name, after
/// `\begin{env}`, and a list's default `[<+->]`. Comments, `\verb` and
/// verbatim environments are left alone; a `<` anywhere else (math's
/// less-than) is never touched.
pub fn find(file: &str, source: &[u8]) -> Vec<SourceEdit> {
    let mut edits = Vec::new();
    let mut at = 0;
    let remove = |start: usize, end: usize, edits: &mut Vec<SourceEdit>| {
        if edits.len() < MAX_EDITS {
            edits.push(SourceEdit {
                file: file.to_owned(),
                start,
                end,
                with: Replacement::Text(""),
            });
        }
    };
    while at < source.len() {
        match source[at] {
            b'%' => at = line_end(source, at),
            b'\\' => {
                let (name, after) = control_word(source, at);
                at = after;
                if name == b"verb" {
                    at = verb_end(source, after);
                } else if OVERLAY_COMMANDS.contains(&name) {
                    let open = if source.get(after) == Some(&b'*') {
                        after + 1
                    } else {
                        after
                    };
                    if let Some(end) = overlay_end(source, open) {
                        remove(open, end, &mut edits);
                        at = end;
                    }
                } else if name == b"begin" {
                    let (env, end) = group(source, after);
                    if is_verbatim_environment(env) {
                        at = verbatim_end(source, end, env);
                    } else if let Some(spec_end) = overlay_end(source, end) {
                        remove(end, spec_end, &mut edits);
                        at = spec_end;
                    } else if source.get(end) == Some(&b'[') {
                        // `\begin{itemize}[<+->]`: the list's default spec.
                        if let Some(spec_end) = overlay_end(source, end + 1) {
                            if source.get(spec_end) == Some(&b']') {
                                remove(end, spec_end + 1, &mut edits);
                                at = spec_end + 1;
                            }
                        }
                    }
                }
            }
            _ => at += 1,
        }
    }
    edits
}

#[cfg(test)]
mod tests {
    use super::super::source_edits::apply_text;
    use super::*;

    #[test]
    fn specifications_go_and_math_stays() {
        let source = r"\begin{frame}<2->{T}
\alt<2>{new}{old} \only<3->{x} \item<+-| alert@2> one \uncover<2>{u}
\begin{itemize}[<+->] \item a \end{itemize}
\begin{block}<3>{Title} b \end{block}
$\delta<1, x>0$ and \alpha<2> stays % \only<9>{comment}
\verb|\only<2>{v}| \textbf<2>{bold} \includegraphics<2>[width=1cm]{f}
\begin{verbatim}
\only<4>{kept}
\end{verbatim}
";
        let out = apply_text(source, &find("s.tex", source.as_bytes()));
        assert_eq!(
            out,
            r"\begin{frame}{T}
\alt{new}{old} \only{x} \item one \uncover{u}
\begin{itemize} \item a \end{itemize}
\begin{block}{Title} b \end{block}
$\delta<1, x>0$ and \alpha<2> stays % \only<9>{comment}
\verb|\only<2>{v}| \textbf{bold} \includegraphics[width=1cm]{f}
\begin{verbatim}
\only<4>{kept}
\end{verbatim}
"
        );
    }

    #[test]
    fn beamer_is_recognised_by_its_class() {
        assert!(is_beamer("\\documentclass[11pt,aspectratio=169]{beamer}\n"));
        assert!(!is_beamer(
            "% \\documentclass{beamer}\n\\documentclass{article}"
        ));
        assert!(!is_beamer("\\documentclass{beamerposter}"));
    }

    #[test]
    fn edits_are_capped() {
        let source = "\\only<1>{a}".repeat(MAX_EDITS + 10);
        assert_eq!(find("s.tex", source.as_bytes()).len(), MAX_EDITS);
    }
}
