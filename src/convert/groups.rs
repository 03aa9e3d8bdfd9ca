//! Groups a document opens and never closes: `\citet{Ward:2016}{.` leaves
//! a `{` open to the end of the document. TeX takes it (a group still open
//! at the end is not an error), pandoc does not: it stops at
//! `\end{document}` with "unexpected \end" and makes no page at all
//! (corpus project 40). For pandoc the driver closes each such group where
//! its paragraph ends, the first blank line after it at which no group
//! opened inside it is still open, or else at the end of the file (before
//! the main file's `\end{document}`). Comments, escaped braces, `\verb`
//! and verbatim-like environments do not count.

use super::source_edits::{Replacement, SourceEdit};
use super::tex_source::{control_word, group, line_end, literal_end};

/// Most groups closed in one file: past this, the file's braces follow
/// rules of their own (catcode changes, `\iffalse{\fi` tricks), and it is
/// left as written.
pub const MAX_CLOSES: usize = 8;

/// Closing braces, one to `MAX_CLOSES` (an edit's text is fixed).
const CLOSES: [&str; MAX_CLOSES] = [
    "}", "}}", "}}}", "}}}}", "}}}}}", "}}}}}}", "}}}}}}}", "}}}}}}}}",
];

/// The edits that close the groups `source` (the project file `file`)
/// leaves open, reading from `from` (the main file's body, or 0) to the
/// main file's `\end{document}` or the end of the file.
pub fn find(file: &str, source: &[u8], from: usize) -> Vec<SourceEdit> {
    // The positions of open `{`, innermost last.
    let mut open: Vec<usize> = Vec::new();
    // Blank lines: (index of the line after it, groups open there).
    let mut breaks: Vec<(usize, usize)> = Vec::new();
    let mut at = from.min(source.len());
    let mut end = source.len();
    while at < source.len() {
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
                    let (env, close) = group(source, after);
                    if name == b"end" && env == b"document" {
                        end = at - b"\\end".len();
                        break;
                    } else {
                        // The environment's name is balanced: skip it.
                        at = close.max(after);
                    }
                }
            }
            b'{' => {
                open.push(at);
                at += 1;
            }
            b'}' => {
                open.pop();
                at += 1;
            }
            b'\n' => {
                at += 1;
                let mut next = at;
                while next < source.len() && matches!(source[next], b' ' | b'\t' | b'\r') {
                    next += 1;
                }
                if source.get(next) == Some(&b'\n') {
                    breaks.push((next + 1, open.len()));
                    at = next + 1;
                }
            }
            _ => at += 1,
        }
    }
    if open.is_empty() || open.len() > MAX_CLOSES {
        return Vec::new();
    }
    // Innermost first: each closes at the first blank line after it where
    // it is the innermost group open, and always before the groups around
    // it (whose own blank lines come before it, or at the end after it).
    let mut at_end = 0;
    let mut edits = Vec::new();
    for (depth, &position) in open.iter().enumerate().rev() {
        match breaks
            .iter()
            .find(|&&(line, groups)| line > position && groups == depth + 1)
        {
            Some(&(line, _)) => edits.push(close(file, line, 1)),
            None => at_end += 1,
        }
    }
    if at_end > 0 {
        edits.push(close(file, end, at_end));
    }
    edits.sort_by_key(|e| e.start);
    edits
}

fn close(file: &str, at: usize, count: usize) -> SourceEdit {
    SourceEdit {
        file: file.to_owned(),
        start: at,
        end: at,
        with: Replacement::Text(CLOSES[count - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::source_edits::apply_text;

    fn closed(source: &str, from: usize) -> String {
        apply_text(source, &find("main.tex", source.as_bytes(), from))
    }

    #[test]
    fn a_group_left_open_closes_where_its_paragraph_ends() {
        let body = "\\begin{document}\nAs in \\citet{Ward:2016}{.\nMore text.\n\nNext \\emph{one}.\n\\end{document}\n";
        assert_eq!(
            closed(body, 0),
            "\\begin{document}\nAs in \\citet{Ward:2016}{.\nMore text.\n\n}Next \\emph{one}.\n\\end{document}\n"
        );
    }

    #[test]
    fn inner_groups_still_open_at_a_blank_line_are_waited_for() {
        // The `{\bf` group spans a blank line; the stray `{` before it
        // closes at the first blank line after both.
        let body = "{ stray {\\bf a\n\nb} c\n\nd\n";
        assert_eq!(closed(body, 0), "{ stray {\\bf a\n\nb} c\n\n}d\n");
    }

    #[test]
    fn without_a_blank_line_the_group_closes_before_end_document() {
        let body = "\\begin{document}\nOpen { here and { there\n\\end{document}\n";
        assert_eq!(
            closed(body, 0),
            "\\begin{document}\nOpen { here and { there\n}}\\end{document}\n"
        );
    }

    #[test]
    fn balanced_sources_are_left_alone() {
        for body in [
            "\\begin{document}\n\\textbf{a} {\\em b\n\nc} \\{ \\} % { comment\n\\end{document}\n",
            "\\begin{verbatim}\n{ not a group\n\\end{verbatim}\n\\verb|{| and \\verb+{+\n",
            "\\begin{lstlisting}\n{\n\\end{lstlisting}\n",
        ] {
            assert!(find("main.tex", body.as_bytes(), 0).is_empty(), "{body}");
        }
    }

    #[test]
    fn the_preamble_is_not_read() {
        let source = "\\def\\x{ {\n\\begin{document}\nText.\n\\end{document}\n";
        let body = source.find("\\begin{document}").unwrap();
        assert!(find("main.tex", source.as_bytes(), body).is_empty());
        assert!(!find("main.tex", source.as_bytes(), 0).is_empty());
    }

    #[test]
    fn too_many_open_groups_are_left_as_written() {
        let body = "{".repeat(MAX_CLOSES + 1);
        assert!(find("main.tex", body.as_bytes(), 0).is_empty());
        let body = "{".repeat(MAX_CLOSES);
        assert_eq!(
            closed(&body, 0),
            format!("{body}{}", "}".repeat(MAX_CLOSES))
        );
    }
}
