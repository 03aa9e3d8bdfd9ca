//! amsmath's `split` under tex4ht 2022: tex4ht hooks `\begin{split}` for
//! its MathML, and the hook recurses until "TeX capacity exceeded, sorry
//! [save size=200000]" ends the run: one `split` in an `equation`, a
//! `\[...\]` or an `equation*` is enough (measured on a one-formula
//! document with no configuration at all; corpus projects 38 and 44).
//! `aligned` is the same two-column alignment (right, then left) and
//! tex4ht reads it, so for make4ht the driver renames each
//! `\begin{split}`/`\end{split}` to `aligned` in the job's copies. The
//! formula keeps its rows, alignment and number. Comments, `\verb` and
//! verbatim-like environments are left alone.

use super::source_edits::{Replacement, SourceEdit};
use super::tex_source::{control_word, group, line_end, literal_end};

/// Most environments renamed in one project (two edits each).
pub const MAX_EDITS: usize = 2048;

/// The edits renaming every `split` environment of `source` (the project
/// file `file`) to `aligned`.
pub fn find(file: &str, source: &[u8]) -> Vec<SourceEdit> {
    let mut edits = Vec::new();
    let mut at = 0;
    while at < source.len() && edits.len() < MAX_EDITS {
        match source[at] {
            b'%' => at = line_end(source, at),
            b'\\' => {
                let (name, after) = control_word(source, at);
                if let Some(end) = literal_end(source, name, after) {
                    at = end;
                    continue;
                }
                at = after;
                if name == b"begin" || name == b"end" {
                    let (env, end) = group(source, after);
                    if env.trim_ascii() == b"split" && source.get(end - 1) == Some(&b'}') {
                        // `group` gives the bytes inside the braces, which
                        // end just before `end - 1`.
                        let inside = end - 1 - env.len();
                        let start = inside + (env.len() - env.trim_ascii_start().len());
                        edits.push(SourceEdit {
                            file: file.to_owned(),
                            start,
                            end: start + b"split".len(),
                            with: Replacement::Text("aligned"),
                        });
                        at = end;
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

    fn apply(source: &str) -> String {
        apply_text(source, &find("s.tex", source.as_bytes()))
    }

    #[test]
    fn split_becomes_aligned() {
        assert_eq!(
            apply("\\begin{equation}\\begin{split} a &= b \\\\ &= c \\end{split}\\end{equation}"),
            "\\begin{equation}\\begin{aligned} a &= b \\\\ &= c \\end{aligned}\\end{equation}"
        );
        assert_eq!(
            apply("\\[\\begin{ split }x\\end {split}\\]"),
            "\\[\\begin{ aligned }x\\end {aligned}\\]",
            "a begin and its end are renamed alike"
        );
    }

    #[test]
    fn renames_are_capped() {
        let source = "\\begin{split}x\\end{split}".repeat(MAX_EDITS);
        assert_eq!(find("s.tex", source.as_bytes()).len(), MAX_EDITS);
    }

    #[test]
    fn everything_else_is_left_alone() {
        let source = "% \\begin{split}\n\\verb|\\begin{split}| \\begin{verbatim}\n\\begin{split}\n\\end{verbatim}\n\\begin{splitter}\\split{x}";
        assert_eq!(apply(source), source);
    }
}
