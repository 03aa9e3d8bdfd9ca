//! Old font switches in math, `$8.3\,{\rm d}$`, `$R_{\rm p}$`, `${\cal L}$`:
//! LaTeX still reads them (astronomy papers and older ones are full of
//! them, corpus project 41 has 97), pandoc's math reader does not, and
//! pandoc then prints the whole formula as raw TeX. For pandoc the driver
//! rewrites each switch inside math as the math alphabet it stands for,
//! up to where the switch's scope ends: `{\mathrm{d}}`, `R_{\mathrm{p}}`.
//! The scope ends where TeX ends it: the group's closing brace, a cell
//! (`&`, `\\`), or the end of the formula. Text size switches in math
//! (`\scriptsize`) and a row break ending a one-line formula, which
//! LaTeX ignores there and texmath stops at, are taken out. texmath also
//! stops at two things LaTeX reads well: a `\label` or `\tag` right after
//! a letter (`p = a^b \label{eq}`), which gets an empty group before it,
//! and a formula written inside a cell of an array that is itself in math
//! (`$\begin{array}{cc} 1, & $J$ \end{array}$`: TeX reads `J` between two
//! empty formulas), whose dollars become a group. Text inside
//! math (`\text{...}` and its kin) and everything outside math is left
//! alone, as are comments, `\verb` and verbatim-like environments.

use super::source_edits::{Replacement, SourceEdit};
use super::tex_source::{balanced_end, control_word, group, line_end, literal_end, skip_blanks};

/// Most switches rewritten in one file (two edits each).
pub const MAX_EDITS: usize = 4096;

/// Switch → the math alphabet command that replaces it.
const SWITCHES: [(&[u8], &str); 7] = [
    (b"rm", "\\mathrm{"),
    (b"bf", "\\mathbf{"),
    (b"it", "\\mathit{"),
    (b"mit", "\\mathit{"),
    (b"cal", "\\mathcal{"),
    (b"sf", "\\mathsf{"),
    (b"tt", "\\mathtt{"),
];

/// Text size switches: LaTeX ignores them in math ("Command \scriptsize
/// invalid in math mode", a warning), texmath stops at them (corpus
/// project 40: `\underset{\scriptsize [J]}{...}`). They are taken out.
const SIZES: [&[u8]; 10] = [
    b"tiny",
    b"scriptsize",
    b"footnotesize",
    b"small",
    b"normalsize",
    b"large",
    b"Large",
    b"LARGE",
    b"huge",
    b"Huge",
];

/// Environments whose body is math.
const MATH_ENVIRONMENTS: [&[u8]; 12] = [
    b"equation",
    b"align",
    b"alignat",
    b"flalign",
    b"gather",
    b"multline",
    b"eqnarray",
    b"math",
    b"displaymath",
    b"subequations",
    b"dmath",
    b"IEEEeqnarray",
];

/// Commands whose braced argument is text, even inside math.
const TEXT_ARGUMENTS: [&[u8]; 13] = [
    b"text",
    b"textrm",
    b"textit",
    b"textbf",
    b"textsf",
    b"texttt",
    b"textnormal",
    b"mbox",
    b"hbox",
    b"intertext",
    b"shortintertext",
    b"label",
    b"tag",
];

/// Equation labels and tags: texmath reads them only after a closed
/// group or an operator, so each gets an empty group before it.
const NUMBERING: [&[u8]; 2] = [b"label", b"tag"];

/// How a formula ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Close {
    Dollar,
    DoubleDollar,
    Paren,
    Bracket,
    /// `\end{...}` of a math environment.
    Environment,
}

/// The edits that rewrite the math font switches of `source` (the project
/// file `file`).
pub fn find(file: &str, source: &[u8]) -> Vec<SourceEdit> {
    let mut edits = Vec::new();
    let mut at = 0;
    let mut math: Option<Close> = None;
    // Environments open inside the current formula (`array`, `cases`).
    let mut inner = 0usize;
    while at < source.len() && edits.len() + 2 <= MAX_EDITS {
        match source[at] {
            b'%' => at = line_end(source, at),
            b'$' if math.is_some() && inner > 0 => {
                let close = cell_formula_end(source, at + 1);
                if let Some(close) = close {
                    for (start, with) in [(at, "{"), (close, "}")] {
                        edits.push(SourceEdit {
                            file: file.to_owned(),
                            start,
                            end: start + 1,
                            with: Replacement::Text(with),
                        });
                    }
                }
                at = close.map_or(at + 1, |close| close + 1);
            }
            b'$' => {
                let double = source.get(at + 1) == Some(&b'$');
                math = match math {
                    None if double => Some(Close::DoubleDollar),
                    None => Some(Close::Dollar),
                    Some(Close::Dollar) | Some(Close::DoubleDollar) => None,
                    other => other,
                };
                at += if double { 2 } else { 1 };
            }
            b'\\' => {
                let (name, after) = control_word(source, at);
                if let Some(end) = literal_end(source, name, after) {
                    at = end;
                    continue;
                }
                let start = at;
                at = after;
                match name {
                    b"(" if math.is_none() => math = Some(Close::Paren),
                    b"[" if math.is_none() => math = Some(Close::Bracket),
                    b")" if math == Some(Close::Paren) => math = None,
                    b"]" if math == Some(Close::Bracket) => math = None,
                    b"begin" => {
                        let (env, end) = group(source, after);
                        if math.is_some() {
                            inner += 1;
                            at = end.max(after);
                        } else if is_math_environment(env) {
                            math = Some(Close::Environment);
                            at = end.max(after);
                        }
                    }
                    b"end" if math.is_some() => {
                        let (env, end) = group(source, after);
                        if inner > 0 {
                            inner -= 1;
                            at = end.max(after);
                        } else if math == Some(Close::Environment) && is_math_environment(env) {
                            math = None;
                            at = end.max(after);
                        }
                    }
                    _ if math.is_some() && TEXT_ARGUMENTS.contains(&name) => {
                        if NUMBERING.contains(&name) {
                            edits.push(SourceEdit {
                                file: file.to_owned(),
                                start,
                                end: start,
                                with: Replacement::Text("{}"),
                            });
                        }
                        let open = skip_blanks(source, after);
                        if source.get(open) == Some(&b'{') {
                            at = balanced_end(source, open);
                        }
                    }
                    b"\\" if math.is_some() && ends_single_line_formula(source, after) => {
                        edits.push(SourceEdit {
                            file: file.to_owned(),
                            start,
                            end: after,
                            with: Replacement::Text(""),
                        });
                    }
                    _ if math.is_some() && SIZES.contains(&name) => {
                        edits.push(SourceEdit {
                            file: file.to_owned(),
                            start,
                            end: skip_blanks(source, after),
                            with: Replacement::Text(""),
                        });
                    }
                    _ if math.is_some() => {
                        if let Some(&(_, alphabet)) = SWITCHES.iter().find(|(s, _)| *s == name) {
                            let body = skip_blanks(source, after);
                            let end = scope_end(source, body);
                            edits.push(SourceEdit {
                                file: file.to_owned(),
                                start,
                                end: body,
                                with: Replacement::Text(alphabet),
                            });
                            edits.push(SourceEdit {
                                file: file.to_owned(),
                                start: end,
                                end,
                                with: Replacement::Text("}"),
                            });
                            // Switches nested in the scope are read on.
                            at = body;
                        }
                    }
                    _ => {}
                }
            }
            _ => at += 1,
        }
    }
    edits.sort_by_key(|e| e.start);
    edits
}

/// Whether a formula that cannot have rows ends right after `at` (spaces
/// and newlines between): `\end{equation}`, `\end{equation*}`,
/// `\end{displaymath}`, `\]` or `$$`. A `\\` there is a row break LaTeX
/// ignores and texmath stops at (corpus project 40: `... \nonumber\\`
/// closing an `equation`).
fn ends_single_line_formula(source: &[u8], at: usize) -> bool {
    let rest = &source[at.min(source.len())..];
    let rest = rest.trim_ascii_start();
    [
        &b"\\end{equation}"[..],
        b"\\end{equation*}",
        b"\\end{displaymath}",
        b"\\]",
        b"$$",
    ]
    .iter()
    .any(|end| rest.starts_with(end))
}

/// The `$` that closes a formula opened at `at - 1` inside a cell of an
/// array in math, if it closes before the cell does (`&`, `\\`, `\end`).
fn cell_formula_end(source: &[u8], mut at: usize) -> Option<usize> {
    while at < source.len() {
        match source[at] {
            b'$' => return Some(at),
            b'&' | b'%' => return None,
            b'\\' => {
                let (name, after) = control_word(source, at);
                if matches!(name, b"\\" | b"end" | b"begin") {
                    return None;
                }
                at = after;
                continue;
            }
            _ => {}
        }
        at += 1;
    }
    None
}

fn is_math_environment(env: &[u8]) -> bool {
    let base = env.strip_suffix(b"*").unwrap_or(env);
    MATH_ENVIRONMENTS.contains(&base)
}

/// Where a switch's scope that starts at `at` ends: before the `}` that
/// closes the group it is in, the `]` that closes an optional argument, a
/// cell's `&` or `\\`, or the end of the formula (`$`, `\)`, `\]`,
/// `\end`), whichever comes first outside the groups that open inside
/// the scope.
fn scope_end(source: &[u8], mut at: usize) -> usize {
    let mut depth = 0usize;
    while at < source.len() {
        match source[at] {
            b'%' => {
                at = line_end(source, at);
                continue;
            }
            b'{' => depth += 1,
            b'}' if depth == 0 => return at,
            b'}' => depth -= 1,
            // `]` ends an optional argument (`\xrightarrow[\rm and]{...}`);
            // a bracket that is only a bracket ends the alphabet early,
            // which changes a glyph's style, not the parse.
            b'$' | b'&' | b']' if depth == 0 => return at,
            b'\\' => {
                let (name, after) = control_word(source, at);
                if depth == 0 && matches!(name, b")" | b"]" | b"\\" | b"end") {
                    return at;
                }
                at = after;
                continue;
            }
            _ => {}
        }
        at += 1;
    }
    source.len()
}

#[cfg(test)]
mod tests {
    use super::super::source_edits::apply_text;
    use super::*;

    fn apply(source: &str) -> String {
        apply_text(source, &find("s.tex", source.as_bytes()))
    }

    #[test]
    fn switches_in_math_become_alphabets_over_their_scope() {
        assert_eq!(
            apply(r"period of $8.3\,{\rm d}$ and $R_{\rm p} = 0.77\,R_{\rm Jup}$"),
            r"period of $8.3\,{\mathrm{d}}$ and $R_{\mathrm{p}} = 0.77\,R_{\mathrm{Jup}}$"
        );
        assert_eq!(
            apply(r"$\rm d$ and ${\cal L}$"),
            r"$\mathrm{d}$ and ${\mathcal{L}}$"
        );
        assert_eq!(
            apply(r"\[ {\bf x} = {\rm M}_\odot \]"),
            r"\[ {\mathbf{x}} = {\mathrm{M}}_\odot \]"
        );
    }

    #[test]
    fn scopes_end_at_cells_and_environments() {
        assert_eq!(
            apply("\\begin{align}\\rm a &= b \\\\ \\bf c\n\\end{align}"),
            "\\begin{align}\\mathrm{a }&= b \\\\ \\mathbf{c\n}\\end{align}"
        );
        assert_eq!(
            apply(r"$\rm{pc} \frac{\rm a}{b}$"),
            r"$\mathrm{{pc} \frac{\mathrm{a}}{b}}$"
        );
        assert_eq!(
            apply(r"$\xrightarrow[\rm and~export]{\rm production}$"),
            r"$\xrightarrow[\mathrm{and~export}]{\mathrm{production}}$"
        );
    }

    #[test]
    fn a_row_break_ending_a_one_line_formula_is_taken_out() {
        assert_eq!(
            apply("\\begin{equation}\nF = a \\nonumber\\\\\n\\end{equation} \\[ x \\\\ \\]"),
            "\\begin{equation}\nF = a \\nonumber\n\\end{equation} \\[ x  \\]"
        );
        let rows = "\\begin{align}\na \\\\\n\\end{align} $\\begin{array}{c} a \\\\ b \\end{array}$";
        assert_eq!(apply(rows), rows);
    }

    #[test]
    fn labels_and_tags_in_math_follow_an_empty_group() {
        assert_eq!(
            apply("\\begin{equation}\np = a^b\n\\label{power}\n\\end{equation} and \\label{sec}"),
            "\\begin{equation}\np = a^b\n{}\\label{power}\n\\end{equation} and \\label{sec}"
        );
        assert_eq!(apply(r"\[ x = a \tag{3} \]"), r"\[ x = a {}\tag{3} \]");
    }

    #[test]
    fn a_formula_in_an_array_cell_in_math_becomes_a_group() {
        assert_eq!(
            apply(r"$\begin{array}{cc} 1, & \dots, & $J$ \end{array}$ then $y$"),
            r"$\begin{array}{cc} 1, & \dots, & {J} \end{array}$ then $y$"
        );
        // A dollar with no partner in its cell is left as it is.
        let unpaired = r"$\begin{array}{c} $J & x \end{array}$";
        assert_eq!(apply(unpaired), unpaired);
        // Prose dollars after the formula are not cells.
        let prose =
            r"$\begin{cases} a \end{cases}$ costs $5$ and \begin{tabular}{c} $x$ \end{tabular}";
        assert_eq!(apply(prose), prose);
    }

    #[test]
    fn size_switches_in_math_are_taken_out() {
        assert_eq!(
            apply(r"$\underset{\scriptsize [J]}{\sum}$ and {\small prose}"),
            r"$\underset{[J]}{\sum}$ and {\small prose}"
        );
    }

    #[test]
    fn text_and_prose_are_left_alone() {
        for source in [
            r"{\rm roman prose} and {\bf bold} \it italic",
            r"$\text{the {\rm d} unit}$ $\mbox{\bf x}$",
            r"\verb|$\rm x$| % $\rm y$",
            "\\begin{verbatim}\n$\\rm z$\n\\end{verbatim}",
            r"costs \$5 {\rm only}",
            r"$\rmfamily x$ is \bfseries",
        ] {
            let out = apply(source);
            assert!(!out.contains("\\math"), "{source} → {out}");
        }
    }

    #[test]
    fn edits_are_capped() {
        let source = r"${\rm b}$".repeat(MAX_EDITS);
        assert_eq!(find("s.tex", source.as_bytes()).len(), MAX_EDITS);
    }
}
