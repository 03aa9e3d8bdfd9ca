//! Sub- and superscripts written without braces around a command with
//! arguments, `f_\text{R}`, `A^\mathrm{T}`, `x_\frac{1}{2}`: LaTeX reads
//! them, because `_` expands the macro that follows, but tex4ht redefines
//! `\text`, `\mathrm` and the others for its MathML, and the script then
//! takes only the first token of the new definition ("Argument of
//! \n:text@ has an extra }", "Missing $ inserted", and a cascade that can
//! end in "TeX capacity exceeded" and no page). 8 of the 23 corpus
//! projects write them (project 38: 48, 36: 62). For make4ht the driver
//! braces each such script in the job's copies of the sources
//! (`f_{\text{R}}`), which LaTeX reads the same way: a minimal document
//! with five of them went from 123 make4ht errors to none.

use super::source_edits::{Replacement, SourceEdit};
use super::tex_source::{balanced_end, control_word, line_end, literal_end, skip_blanks};

/// Commands taking one braced argument, as scripts are written with them.
const ONE_ARGUMENT: [&[u8]; 32] = [
    b"text",
    b"textrm",
    b"textbf",
    b"textit",
    b"textsf",
    b"texttt",
    b"textnormal",
    b"mbox",
    b"mathrm",
    b"mathbf",
    b"mathit",
    b"mathsf",
    b"mathtt",
    b"mathcal",
    b"mathbb",
    b"mathfrak",
    b"mathscr",
    b"mathnormal",
    b"boldsymbol",
    b"bm",
    b"operatorname",
    b"hat",
    b"tilde",
    b"bar",
    b"vec",
    b"dot",
    b"ddot",
    b"check",
    b"widehat",
    b"widetilde",
    b"overline",
    b"underline",
];

/// Commands taking two braced arguments.
const TWO_ARGUMENTS: [&[u8]; 4] = [b"frac", b"dfrac", b"tfrac", b"binom"];

/// Most scripts braced in one project.
pub const MAX_EDITS: usize = 4096;

/// The edits that brace every unbraced command script of `source` (the
/// project file `file`): an opening brace before the command, a closing
/// one after its last argument, each argument braced (`{x}`) or a single
/// token as TeX reads one (`\Pi_\mathcal F`, `w_\frac 12`, `x_\hat\alpha`:
/// tex4ht stops on those too, corpus project 34). Comments, `\verb` and
/// verbatim-like environments are left alone, and so is a command whose
/// argument is missing (`x_\mathrm}`).
pub fn find(file: &str, source: &[u8]) -> Vec<SourceEdit> {
    let mut edits = Vec::new();
    let insert = |at: usize, text: &'static str| SourceEdit {
        file: file.to_owned(),
        start: at,
        end: at,
        with: Replacement::Text(text),
    };
    let mut at = 0;
    while at < source.len() && edits.len() + 2 <= MAX_EDITS {
        match source[at] {
            b'%' => at = line_end(source, at),
            b'\\' => {
                let (name, after) = control_word(source, at);
                at = literal_end(source, name, after).unwrap_or(after);
            }
            b'_' | b'^' => {
                at += 1;
                let command = skip_blanks(source, at);
                if source.get(command) != Some(&b'\\') {
                    continue;
                }
                let (name, after) = control_word(source, command);
                let arguments = if ONE_ARGUMENT.contains(&name) {
                    1
                } else if TWO_ARGUMENTS.contains(&name) {
                    2
                } else {
                    continue;
                };
                let mut end = after;
                for _ in 0..arguments {
                    match argument_end(source, skip_blanks(source, end)) {
                        Some(next) => end = next,
                        None => {
                            end = 0;
                            break;
                        }
                    }
                }
                if end > after {
                    edits.push(insert(command, "{"));
                    edits.push(insert(end, "}"));
                    at = end;
                }
            }
            _ => at += 1,
        }
    }
    edits
}

/// The end of the macro argument at `at`: a braced group, a control
/// sequence or one character (a whole UTF-8 one, as inputenc reads it);
/// `None` where TeX would find no argument to take.
fn argument_end(source: &[u8], at: usize) -> Option<usize> {
    match *source.get(at)? {
        b'{' => Some(balanced_end(source, at)),
        b'\\' => Some(control_word(source, at).1),
        b'}' | b'$' | b'&' | b'^' | b'_' | b'%' | b'#' | b'\n' | b'\r' => None,
        first => {
            let len = match first {
                0xF0..=0xF7 => 4,
                0xE0..=0xEF => 3,
                0xC0..=0xDF => 2,
                _ => 1,
            };
            Some((at + len).min(source.len()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::source_edits::apply_text;
    use super::*;

    fn apply(source: &str) -> String {
        apply_text(source, &find("s.tex", source.as_bytes()))
    }

    #[test]
    fn unbraced_command_scripts_get_braces() {
        assert_eq!(
            apply(r"$f_\text{R}\ge0$ $A^ \mathrm{T}x_\frac{1}{ 2}$ $y_\mathbf {v}_{\text{ok}}$"),
            r"$f_{\text{R}}\ge0$ $A^ {\mathrm{T}}x_{\frac{1}{ 2}}$ $y_{\mathbf {v}}_{\text{ok}}$"
        );
    }

    #[test]
    fn everything_else_is_left_alone() {
        let source = r"$x_\alpha^\prime a_{\text{b}} y_\mathrm}$ % $f_\text{R}$
\verb|f_\text{R}| \begin{verbatim}
f_\text{R}
\end{verbatim} \url{a_b} x_\text{unclosed";
        assert_eq!(
            apply(source),
            source.replace(r"x_\text{unclosed", r"x_{\text{unclosed}")
        );
    }

    #[test]
    fn single_token_arguments_are_braced_too() {
        assert_eq!(
            apply(r"\(\Pi_\mathcal F\) $x_\mathrm a^\hat\alpha w_\frac 12 z_\frac{1}2 e_\text é$"),
            r"\(\Pi_{\mathcal F}\) $x_{\mathrm a}^{\hat\alpha} w_{\frac 12} z_{\frac{1}2} e_{\text é}$"
        );
    }

    #[test]
    fn edits_are_capped() {
        let source = r"$a_\text{b}$".repeat(MAX_EDITS);
        assert_eq!(find("s.tex", source.as_bytes()).len(), MAX_EDITS);
    }
}
