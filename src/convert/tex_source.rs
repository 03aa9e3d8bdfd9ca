//! Reading TeX sources the way TeX does, as far as finding things in them
//! needs: control words, brace groups, comments, `\verb`, verbatim-like
//! environments and the bodies of macro definitions. Byte-level, so any
//! encoding passes through; every function is total on any input (an
//! unclosed group ends at the end of the source).

/// Commands whose arguments are stored, not typeset: a picture inside one
/// is drawn where the macro is used, which the source does not show.
pub const DEFINITIONS: [&str; 20] = [
    "def",
    "gdef",
    "edef",
    "xdef",
    "newcommand",
    "renewcommand",
    "providecommand",
    "DeclareRobustCommand",
    "newrobustcmd",
    "newenvironment",
    "renewenvironment",
    "NewDocumentCommand",
    "RenewDocumentCommand",
    "ProvideDocumentCommand",
    "DeclareDocumentCommand",
    "NewDocumentEnvironment",
    "RenewDocumentEnvironment",
    "sbox",
    "savebox",
    "tikzset",
];

/// Environments whose body TeX does not read as code: listings, comments,
/// files written out. One list for every reader of sources (a package
/// name or a macro shown in a listing is not one the document uses:
/// corpus project 23 documents biblatex inside its code examples).
pub const VERBATIM_ENVIRONMENTS: [&str; 9] = [
    "verbatim",
    "Verbatim",
    "BVerbatim",
    "LVerbatim",
    "lstlisting",
    "minted",
    "comment",
    "alltt",
    "filecontents",
];

/// Whether `env` is one of [`VERBATIM_ENVIRONMENTS`], starred or not.
pub fn is_verbatim_environment(env: &[u8]) -> bool {
    let base = env.strip_suffix(b"*").unwrap_or(env);
    VERBATIM_ENVIRONMENTS.iter().any(|v| v.as_bytes() == base)
}

/// The end of the line `at` is on (the index after its newline).
pub fn line_end(source: &[u8], at: usize) -> usize {
    source[at..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(source.len(), |p| at + p + 1)
}

/// The control sequence at `at` (a backslash): its name (letters, or one
/// other character) and the index after it.
pub fn control_word(source: &[u8], at: usize) -> (&[u8], usize) {
    let start = at + 1;
    let letters = source[start..]
        .iter()
        .take_while(|b| b.is_ascii_alphabetic() || **b == b'@')
        .count();
    let end = if letters > 0 {
        start + letters
    } else {
        (start + 1).min(source.len())
    };
    (&source[start..end], end)
}

pub fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// Where text TeX does not read as commands ends, when the control word
/// `name` (ending at `after`, as [`control_word`] gives it) starts some:
/// `\verb|...|`, and a verbatim-like environment's `\begin{...}` up to its
/// `\end{...}`. `None` for any other command. The source-edit finders
/// skip such text, as they skip comments.
pub fn literal_end(source: &[u8], name: &[u8], after: usize) -> Option<usize> {
    match name {
        b"verb" => Some(verb_end(source, after)),
        b"begin" => {
            let (env, end) = group(source, after);
            is_verbatim_environment(env).then(|| verbatim_end(source, end, env))
        }
        _ => None,
    }
}

/// Skips spaces and tabs from `at` (TeX skips them before a macro's
/// argument and a script).
pub fn skip_blanks(source: &[u8], mut at: usize) -> usize {
    while matches!(source.get(at), Some(b' ' | b'\t')) {
        at += 1;
    }
    at
}

/// Skips spaces (not a blank line) from `at`.
pub fn skip_spaces(source: &[u8], mut at: usize) -> usize {
    let mut newlines = 0;
    while at < source.len() && source[at].is_ascii_whitespace() {
        if source[at] == b'\n' {
            newlines += 1;
            if newlines > 1 {
                break;
            }
        }
        at += 1;
    }
    at
}

/// The `{...}` argument starting at `at` (after spaces): its contents and
/// the index after its closing brace; an empty argument at `at` when there
/// is none.
pub fn group(source: &[u8], at: usize) -> (&[u8], usize) {
    let open = skip_spaces(source, at);
    if source.get(open) != Some(&b'{') {
        return (&[], at);
    }
    let close = balanced_end(source, open);
    (
        &source[open + 1..close.saturating_sub(1).max(open + 1)],
        close,
    )
}

/// The index after the `}` matching the `{` at `open` (the end of the
/// source when it never closes); escaped braces and comments do not count.
pub fn balanced_end(source: &[u8], open: usize) -> usize {
    let mut depth = 0usize;
    let mut at = open;
    while at < source.len() {
        match source[at] {
            b'\\' => at += 1,
            b'%' => {
                at = line_end(source, at);
                continue;
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return at + 1;
                }
            }
            _ => {}
        }
        at += 1;
    }
    source.len()
}

/// The index after the `\end{env}` closing a verbatim-like environment
/// whose body starts at `body` (the end of the source when it never ends).
pub fn verbatim_end(source: &[u8], body: usize, env: &[u8]) -> usize {
    let mut needle = b"\\end{".to_vec();
    needle.extend_from_slice(env);
    needle.push(b'}');
    source[body..]
        .windows(needle.len())
        .position(|w| w == needle.as_slice())
        .map_or(source.len(), |p| body + p + needle.len())
}

/// The index after the `\end{env}` matching a `\begin{env}` whose body
/// starts at `body`; nested environments of the same name, comments and
/// `\verb` are skipped. `None` when it never ends.
pub fn environment_end(source: &[u8], body: usize, env: &[u8]) -> Option<usize> {
    let mut depth = 1usize;
    let mut at = body;
    while at < source.len() {
        match source[at] {
            b'%' => at = line_end(source, at),
            b'\\' => {
                let (name, after) = control_word(source, at);
                at = after;
                if name == b"begin" || name == b"end" {
                    let (arg, end) = group(source, after);
                    if trim(arg) == env {
                        at = end;
                        if name == b"begin" {
                            depth += 1;
                        } else {
                            depth -= 1;
                            if depth == 0 {
                                return Some(end);
                            }
                        }
                    }
                } else if name == b"verb" {
                    at = verb_end(source, after);
                }
            }
            _ => at += 1,
        }
    }
    None
}

/// The index after the `>` closing a beamer overlay specification opened
/// at `open` (`<2->`, `<handout:0>`), when it closes on the same line
/// with nothing but overlay characters in between.
pub fn overlay_end(source: &[u8], open: usize) -> Option<usize> {
    if source.get(open) != Some(&b'<') {
        return None;
    }
    let len = source[open + 1..]
        .iter()
        .take(64)
        .position(|&b| !(b.is_ascii_alphanumeric() || b"-+|,:.()@ ".contains(&b)))?;
    (source.get(open + 1 + len) == Some(&b'>')).then_some(open + 2 + len)
}

/// The index after `\verb<c>...<c>` (`\verb*` too); `at` is after `\verb`.
pub fn verb_end(source: &[u8], mut at: usize) -> usize {
    if source.get(at) == Some(&b'*') {
        at += 1;
    }
    let Some(&delimiter) = source.get(at) else {
        return source.len();
    };
    source[at + 1..]
        .iter()
        .position(|&b| b == delimiter || b == b'\n')
        .map_or(source.len(), |p| at + 1 + p + 1)
}

/// The index after a definition's arguments: `\def\x#1{...}` (parameter
/// text up to the body), `\newcommand{\x}[1][d]{...}`,
/// `\newenvironment{x}{...}{...}`, `\tikzset{...}`: every bracket, `#n`
/// and brace group that follows, up to anything else or a blank line.
pub fn definition_end(source: &[u8], after: usize, name: &[u8]) -> usize {
    let mut at = after;
    if source.get(at) == Some(&b'*') {
        at += 1;
    }
    if name.ends_with(b"def") {
        // `\def\x<parameter text>{body}`: everything up to the body.
        let open = source[at..].iter().position(|&b| b == b'{' || b == b'%');
        return match open {
            Some(p) if source[at + p] == b'{' => balanced_end(source, at + p),
            _ => line_end(source, at),
        };
    }
    loop {
        let next = skip_spaces(source, at);
        match source.get(next) {
            Some(b'{') => at = balanced_end(source, next),
            Some(b'[') => {
                at = source[next..]
                    .iter()
                    .position(|&b| b == b']')
                    .map_or(source.len(), |p| next + p + 1)
            }
            Some(b'#') => at = (next + 2).min(source.len()),
            Some(b'\\') if at == after || source[at - 1] == b'*' => {
                // The macro's name, unbraced: `\newcommand\x{...}`.
                at = control_word(source, next).1;
            }
            _ => return at,
        }
    }
}
