//! Images inside commands pandoc drops. pandoc skips a command it does not
//! know together with every bracket and brace argument that follows, and
//! several it knows the same way: with pandoc 3.9 an `\includegraphics`
//! inside `\resizebox`, `\scalebox`, `\rotatebox`, `\raisebox`, `\fbox`,
//! `\makebox`, `\adjustbox`, `\subfloat`, `\subcaptionbox`, `\IfFileExists`,
//! memoir's `\centerfloat` or a document's own wrapper never reaches the
//! page. So before pandoc runs, every command with an image in one of its
//! brace arguments is taken off it:
//!
//! `\cmd*[o]{a}{… \includegraphics{x} …}{b}` becomes `{… \includegraphics{x} …}`
//!
//! keeping only the arguments that hold an image (a subfigure's caption
//! and an `\IfFileExists`'s other branch go, as they did before). An image
//! is `\includegraphics`, `\includesvg` or a picture the pre-pass renders.
//! Left alone: commands whose meaning pandoc keeps and the unwrapping
//! would lose (links, footnotes, captions), and those whose argument is not
//! typeset where it stands (phantoms, inline TikZ). Sources are read as TeX
//! reads them (`tex_source`): comments, verbatim and macro definitions are
//! not touched. Nesting is tracked on an explicit stack, so any depth of
//! braces costs memory in proportion, never the call stack.

use super::source_edits::{Replacement, SourceEdit};
use super::tex_source::{
    control_word, definition_end, group, is_verbatim_environment, line_end, overlay_end, trim,
    verb_end, verbatim_end, DEFINITIONS,
};

/// Commands that show an image. The argument of an image command is a file
/// name, so they are never unwrapped themselves.
const IMAGE_COMMANDS: [&str; 2] = ["includegraphics", "includesvg"];

/// Commands left as they are although an image sits in a brace group
/// after them. Most pandoc reads itself, image included (measured with
/// pandoc 3.9), and unwrapping would lose their meaning, or take a group
/// that merely follows them for an argument (`\item {…}`, `\label{x}{…}`);
/// the rest are not typeset where they stand.
const LEFT_ALONE: &[&str] = &[
    // Structure and metadata.
    "part",
    "chapter",
    "section",
    "subsection",
    "subsubsection",
    "paragraph",
    "subparagraph",
    "title",
    "author",
    "date",
    "thanks",
    "item",
    "caption",
    "captionof",
    "footnote",
    "footnotetext",
    // Links and references.
    "href",
    "hyperref",
    "hyperlink",
    "url",
    "label",
    "ref",
    "eqref",
    "pageref",
    "cref",
    "Cref",
    "autoref",
    "cite",
    // Text and boxes pandoc keeps.
    "textbf",
    "textit",
    "emph",
    "textsf",
    "texttt",
    "textrm",
    "textsc",
    "textup",
    "textnormal",
    "underline",
    "textcolor",
    "mbox",
    "hbox",
    "vbox",
    "parbox",
    "centerline",
    "colorbox",
    "texorpdfstring",
    // Not typeset where they stand, or not text at all.
    "phantom",
    "hphantom",
    "vphantom",
    "tikz",
    "begin",
    "end",
];

/// A command whose arguments are being read.
struct Command {
    start: usize,
    unwrappable: bool,
    /// Brace arguments so far: (index of `{`, index after `}`, holds an image).
    args: Vec<(usize, usize, bool)>,
    /// The index after its last argument.
    end: usize,
    /// Nothing read after the name yet: a beamer overlay (`<2->`) may follow.
    fresh: bool,
}

/// An open brace group, and the command it is an argument of.
struct Open {
    owner: Option<Box<Command>>,
    open: usize,
    image: bool,
}

/// The edits that take every wrapping command of `source` (the project
/// file `file`) off its images, from byte `from` on; `pictures` are the
/// picture ranges of the file (each counts as an image and is not looked
/// into). One entry per command, inner commands first.
pub fn find(
    file: &str,
    source: &[u8],
    from: usize,
    pictures: &[(usize, usize)],
) -> Vec<Vec<SourceEdit>> {
    let mut unwraps = Vec::new();
    let mut finish = |command: Command| {
        if let Some(edits) = unwrap_edits(file, &command) {
            unwraps.push(edits);
        }
    };
    let mut stack: Vec<Open> = Vec::new();
    let mut pending: Option<Command> = None;
    let mut pictures = pictures.iter().peekable();
    let mut at = from;
    while at < source.len() {
        if let Some(mut command) = pending.take() {
            let next = skip_gap(source, at);
            let overlay = command.fresh.then(|| overlay_end(source, next)).flatten();
            match source.get(next) {
                Some(b'{') => {
                    stack.push(Open {
                        owner: Some(Box::new(command)),
                        open: next,
                        image: false,
                    });
                    at = next + 1;
                    continue;
                }
                Some(b'[') => {
                    command.end = optional_end(source, next);
                    command.fresh = false;
                    at = command.end;
                    pending = Some(command);
                    continue;
                }
                Some(b'<') if overlay.is_some() => {
                    command.end = overlay.unwrap_or(next);
                    command.fresh = false;
                    at = command.end;
                    pending = Some(command);
                    continue;
                }
                _ => {
                    finish(command);
                    at = next;
                    if at >= source.len() {
                        break;
                    }
                }
            }
        }
        match source[at] {
            b'%' => at = line_end(source, at),
            b'{' => {
                stack.push(Open {
                    owner: None,
                    open: at,
                    image: false,
                });
                at += 1;
            }
            b'}' => {
                at += 1;
                let Some(closed) = stack.pop() else { continue };
                if closed.image {
                    mark_image(&mut stack);
                }
                if let Some(mut command) = closed.owner {
                    command.args.push((closed.open, at, closed.image));
                    command.end = at;
                    command.fresh = false;
                    pending = Some(*command);
                }
            }
            b'\\' => {
                while pictures.next_if(|(start, _)| *start < at).is_some() {}
                if let Some((_, end)) = pictures.next_if(|(start, _)| *start == at) {
                    mark_image(&mut stack);
                    at = *end;
                    continue;
                }
                let (name, after) = control_word(source, at);
                let letters = name.first().is_some_and(|b| b.is_ascii_alphabetic());
                if !letters {
                    at = after;
                    continue;
                }
                let is = |list: &[&str]| list.iter().any(|n| n.as_bytes() == name);
                if name == b"begin" {
                    let (env, body) = group(source, after);
                    let env = trim(env);
                    let base = env.strip_suffix(b"*").unwrap_or(env);
                    if is_verbatim_environment(base) {
                        at = verbatim_end(source, body, env);
                        continue;
                    }
                } else if name == b"verb" {
                    at = verb_end(source, after);
                    continue;
                } else if is(&DEFINITIONS) {
                    at = definition_end(source, after, name);
                    continue;
                } else if is(&IMAGE_COMMANDS) {
                    mark_image(&mut stack);
                }
                let after = if source.get(after) == Some(&b'*') {
                    after + 1
                } else {
                    after
                };
                pending = Some(Command {
                    start: at,
                    unwrappable: !is(LEFT_ALONE) && !is(&IMAGE_COMMANDS),
                    args: Vec::new(),
                    end: after,
                    fresh: true,
                });
                at = after;
            }
            _ => at += 1,
        }
    }
    if let Some(command) = pending {
        finish(command);
    }
    unwraps
}

/// Marks the innermost open group as holding an image (its enclosing
/// groups learn it as each closes).
fn mark_image(stack: &mut [Open]) {
    if let Some(open) = stack.last_mut() {
        open.image = true;
    }
}

/// The edits taking `command` off its image arguments, or `None` when it
/// has none or is left alone.
fn unwrap_edits(file: &str, command: &Command) -> Option<Vec<SourceEdit>> {
    if !command.unwrappable {
        return None;
    }
    let kept: Vec<(usize, usize)> = command
        .args
        .iter()
        .filter(|(_, _, image)| *image)
        .map(|(open, close, _)| (*open, *close))
        .collect();
    let (first, last) = (kept.first()?, kept.last()?);
    let edit = |start: usize, end: usize, text: &'static str| SourceEdit {
        file: file.to_string(),
        start,
        end,
        with: Replacement::Text(text),
    };
    let mut edits = vec![edit(command.start, first.0 + 1, "{")];
    for pair in kept.windows(2) {
        edits.push(edit(pair[0].1 - 1, pair[1].0 + 1, "}{"));
    }
    edits.push(edit(last.1 - 1, command.end, "}"));
    Some(edits)
}

/// The index of the next thing after spaces (up to one newline) and
/// comments from `at`: where a command's next argument would start.
fn skip_gap(source: &[u8], mut at: usize) -> usize {
    let mut newlines = 0;
    while let Some(&b) = source.get(at) {
        match b {
            b'%' => {
                at = line_end(source, at);
                newlines = 0;
            }
            b'\n' if newlines > 0 => break,
            b'\n' => {
                newlines += 1;
                at += 1;
            }
            b' ' | b'\t' | b'\r' => at += 1,
            _ => break,
        }
    }
    at
}

/// The index after the `]` closing the optional argument opened at `open`;
/// braces inside it are balanced (`[{a]b}]`), comments skipped. The end of
/// the source when it never closes.
fn optional_end(source: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut at = open + 1;
    while let Some(&b) = source.get(at) {
        match b {
            b'\\' => at += 1,
            b'%' => {
                at = line_end(source, at);
                continue;
            }
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b']' if depth == 0 => return at + 1,
            _ => {}
        }
        at += 1;
    }
    source.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `source` with its wrappers taken off, as the edits would leave it.
    fn unwrapped(source: &str) -> String {
        unwrapped_with(source, &[])
    }

    fn unwrapped_with(source: &str, pictures: &[(usize, usize)]) -> String {
        let mut edits: Vec<SourceEdit> = find("f.tex", source.as_bytes(), 0, pictures)
            .into_iter()
            .flatten()
            .collect();
        edits.sort_by_key(|e| e.start);
        let mut out = String::new();
        let mut at = 0;
        for e in edits {
            assert!(e.start >= at, "overlapping edits in {source:?}");
            out.push_str(&source[at..e.start]);
            match e.with {
                Replacement::Text(t) => out.push_str(t),
                Replacement::Picture(_) => unreachable!(),
            }
            at = e.end;
        }
        out.push_str(&source[at..]);
        out
    }

    #[test]
    fn wrappers_around_images_are_taken_off() {
        let cases = [
            (
                "\\centerfloat{\n  \\includegraphics[scale=0.3]{latex}\n}\n\\caption{TeX.}",
                "{\n  \\includegraphics[scale=0.3]{latex}\n}\n\\caption{TeX.}",
            ),
            (
                "\\resizebox{\\linewidth}{!}{\\includegraphics{a}} after",
                "{\\includegraphics{a}} after",
            ),
            (
                "\\subcaptionbox[lof]{First\\label{a}}{%\n \\includegraphics{k}}\\hfill",
                "{%\n \\includegraphics{k}}\\hfill",
            ),
            (
                "\\IfFileExists{logo.pdf}{\\begin{minipage}{3cm}\\includegraphics{logo}\\end{minipage}}{No logo}",
                "{\\begin{minipage}{3cm}\\includegraphics{logo}\\end{minipage}}",
            ),
            (
                "\\stackon*[4pt]{\\includegraphics{a}} % gap\n {\\includesvg{b}}.",
                "{\\includegraphics{a}}{\\includesvg{b}}.",
            ),
            ("\\fbox{\\includegraphics{a}}", "{\\includegraphics{a}}"),
            (
                "\\only<2->{\\includegraphics{a}}\\visible<+(1)>{x}",
                "{\\includegraphics{a}}\\visible<+(1)>{x}",
            ),
        ];
        for (source, expected) in cases {
            assert_eq!(unwrapped(source), expected, "{source}");
        }
    }

    #[test]
    fn nested_wrappers_each_come_off() {
        let source = "\\centerfloat{\n\\hfill\\subcaptionbox{A}{\\includegraphics{a}}\\hfill\n\
                      \\subcaptionbox{B}{\\rotatebox{90}{\\includegraphics{b}}}\n}";
        assert_eq!(
            unwrapped(source),
            "{\n\\hfill{\\includegraphics{a}}\\hfill\n{{\\includegraphics{b}}}\n}"
        );
    }

    #[test]
    fn commands_without_images_and_left_alone_ones_stay() {
        for source in [
            "\\textbf{bold} \\resizebox{2cm}{!}{text}. {\\includegraphics{a}}",
            "\\href{http://x}{\\includegraphics{a}}",
            "\\footnote{See \\includegraphics{a}}",
            "\\phantom{\\includegraphics{a}}",
            "\\includegraphics[width=\\fbox{x}]{a}",
            "\\wrap[\\includegraphics{in-optional}]{text}",
            "% \\fbox{\\includegraphics{a}}\n",
            "\\verb|\\fbox{\\includegraphics{a}}|",
            "\\begin{verbatim}\\fbox{\\includegraphics{a}}\\end{verbatim}",
            "\\newcommand{\\fig}[1]{\\fbox{\\includegraphics{#1}}}",
            "\\fbox{\\includegraphics{a}",
            "\\fbox\n\n{\\includegraphics{a}}",
            "\\item {\\includegraphics{a}}",
            "\\section*{\\includegraphics{a}}",
            "\\label{x} {\\includegraphics{a}}",
            "\\author{A. Author \\includegraphics{orcid}}",
            "\\a<b {\\includegraphics{a}}",
        ] {
            assert_eq!(unwrapped(source), source, "{source}");
        }
    }

    #[test]
    fn a_picture_is_an_image_and_is_not_looked_into() {
        let picture = "\\input{a.tikz}";
        let source = format!("\\centerfloat{{{picture}}} \\fbox{{x}}");
        let range = (13, 13 + picture.len());
        assert_eq!(&source[range.0..range.1], picture);
        assert_eq!(
            unwrapped_with(&source, &[range]),
            format!("{{{picture}}} \\fbox{{x}}")
        );
        let inside = "\\begin{tikzpicture}\\node{\\fbox{\\includegraphics{a}}};\\end{tikzpicture}";
        assert_eq!(unwrapped_with(inside, &[(0, inside.len())]), inside);
    }

    /// Hostile nesting is linear: a megabyte of open braces, and of
    /// wrappers, each ending on the heap, not the call stack.
    #[test]
    fn deep_nesting_is_fine() {
        let open = "{".repeat(1 << 20);
        assert!(find("f.tex", open.as_bytes(), 0, &[]).is_empty());
        let n = 50_000;
        let deep = format!(
            "{}\\includegraphics{{a}}{}",
            "\\fbox{".repeat(n),
            "}".repeat(n)
        );
        let unwraps = find("f.tex", deep.as_bytes(), 0, &[]);
        assert_eq!(unwraps.len(), n);
        assert_eq!(
            unwrapped(&deep),
            format!("{}\\includegraphics{{a}}{}", "{".repeat(n), "}".repeat(n))
        );
    }

    #[test]
    fn scanning_starts_at_from() {
        let source = "\\fbox{\\includegraphics{pre}}\\begin{document}\\fbox{\\includegraphics{a}}";
        let from = source.find("\\begin{document}").unwrap();
        let unwraps = find("m.tex", source.as_bytes(), from, &[]);
        assert_eq!(unwraps.len(), 1);
        assert!(unwraps[0][0].start > from);
    }
}
