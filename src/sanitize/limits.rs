//! Cheap checks that run before the HTML parser, refusing input on which
//! html5ever's cost would grow with the square of its size.
//!
//! They are a first filter, not the wall: the whole post-conversion step
//! runs in a child process under a time and memory budget
//! (`texjail __assemble`, started by its caller), which holds whatever
//! these miss.

use super::MAX_ATTRIBUTES;

/// How a pass over the page reads it. The page goes through both: our
/// token passes (`scan`, the title) run html5ever's tokenizer on its own,
/// which reads every tag as markup; ammonia runs it under the tree
/// builder, which switches it to text inside `<script>`, `<style>` and the
/// like, and reads CDATA sections in SVG/MathML. A quote inside such text
/// means different things to the two, so each reading is scanned.
#[derive(Clone, Copy, PartialEq)]
enum Reading {
    Tokenizer,
    TreeBuilder,
}

/// Counts attributes per tag the way html5ever's tokenizer reads tags (tag
/// name, attribute name, quoted and unquoted values), comments, bogus
/// comments and, for the tree builder's reading, raw text, script data
/// and CDATA; linear in the input, before html5ever sees it. `Some(n)`
/// when a tag passes the limit.
///
/// The tree builder's reading is modelled from tags alone: SVG/MathML
/// content is entered by `<svg>`/`<math>` and left by their end tags or an
/// HTML breakout tag. HTML integration points inside it (`<mi>`,
/// `<foreignObject>`, ...), where `<style>` is raw text again, are not
/// modelled, so a crafted page can still hide a tag from this scan there;
/// the process budget holds for it.
pub(super) fn attribute_overflow(html: &str) -> Option<usize> {
    let bytes = html.as_bytes();
    overflow(bytes, Reading::Tokenizer).or_else(|| overflow(bytes, Reading::TreeBuilder))
}

/// Elements whose content the tree builder has the tokenizer read as text
/// (scripting enabled, as in html5ever's default).
const RAW_TEXT: [&[u8]; 8] = [
    b"style",
    b"xmp",
    b"iframe",
    b"noembed",
    b"noframes",
    b"noscript",
    b"textarea",
    b"title",
];

fn overflow(bytes: &[u8], reading: Reading) -> Option<usize> {
    let mut foreign = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        i += bytes[i..].iter().position(|&b| b == b'<')?;
        let rest = &bytes[i..];
        if rest.starts_with(b"<!--") {
            i = comment_end(bytes, i + 4);
            continue;
        }
        if reading == Reading::TreeBuilder && foreign > 0 && rest.starts_with(b"<![CDATA[") {
            i = find(bytes, i + 9, b"]]>").map_or(bytes.len(), |j| j + 3);
            continue;
        }
        let next = rest.get(1).copied().unwrap_or(0);
        let after = rest.get(2).copied().unwrap_or(0);
        let (end_tag, name_at) = match next {
            b'!' | b'?' => {
                i = bogus_comment_end(bytes, i + 2);
                continue;
            }
            b'/' if after.is_ascii_alphabetic() => (true, i + 2),
            b'/' if after == b'>' => {
                i += 3;
                continue;
            }
            b'/' if after != 0 => {
                i = bogus_comment_end(bytes, i + 2);
                continue;
            }
            c if c.is_ascii_alphabetic() => (false, i + 1),
            _ => {
                i += 1;
                continue;
            }
        };
        let tag = match read_tag(bytes, name_at) {
            Ok(tag) => tag,
            Err(count) => return Some(count),
        };
        i = tag.end;
        if reading == Reading::Tokenizer {
            continue;
        }
        let name = tag.name.as_slice();
        let is_foreign_root = name == b"svg" || name == b"math";
        if end_tag {
            if is_foreign_root {
                foreign = foreign.saturating_sub(1);
            }
        } else if is_foreign_root {
            foreign += usize::from(!tag.self_closing);
        } else if foreign > 0 {
            if is_breakout(std::str::from_utf8(name).unwrap_or("")) {
                foreign = 0;
            }
        } else if name == b"plaintext" {
            // The rest of the page is text.
            return None;
        } else if name == b"script" {
            i = script_end(bytes, i);
        } else if RAW_TEXT.contains(&name) {
            i = raw_text_end(bytes, i, name);
        }
    }
    None
}

/// A tag as the tokenizer reads it.
struct Tag {
    /// Lowercased, cut after 16 bytes (longer names match nothing we
    /// look for).
    name: Vec<u8>,
    self_closing: bool,
    /// Index after its `>` (or the end of input: a tag cut by the end is
    /// dropped by the tokenizer).
    end: usize,
}

/// Reads the tag whose name starts at `start`; `Err(count)` as soon as it
/// has more attributes than the limit.
fn read_tag(bytes: &[u8], start: usize) -> Result<Tag, usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        TagName,
        BeforeName,
        Name,
        AfterName,
        BeforeValue,
        Quoted(u8),
        Unquoted,
    }
    let mut state = State::TagName;
    let mut name = Vec::new();
    let mut count = 0usize;
    let mut i = start;
    while i < bytes.len() {
        let b = bytes[i];
        let space = matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c');
        if b == b'>'
            && matches!(
                state,
                State::TagName
                    | State::BeforeName
                    | State::Name
                    | State::AfterName
                    | State::BeforeValue
                    | State::Unquoted
            )
        {
            let self_closing = state != State::Unquoted && i > start && bytes[i - 1] == b'/';
            return Ok(Tag {
                name,
                self_closing,
                end: i + 1,
            });
        }
        state = match state {
            State::TagName if space || b == b'/' => State::BeforeName,
            State::TagName => {
                if name.len() < 16 {
                    name.push(b.to_ascii_lowercase());
                }
                State::TagName
            }
            State::BeforeName if space || b == b'/' => State::BeforeName,
            State::BeforeName => {
                count += 1;
                State::Name
            }
            State::Name if space => State::AfterName,
            State::Name if b == b'/' => State::BeforeName,
            State::Name if b == b'=' => State::BeforeValue,
            State::Name => State::Name,
            State::AfterName if space => State::AfterName,
            State::AfterName if b == b'/' => State::BeforeName,
            State::AfterName if b == b'=' => State::BeforeValue,
            State::AfterName => {
                count += 1;
                State::Name
            }
            State::BeforeValue if space => State::BeforeValue,
            State::BeforeValue if b == b'"' || b == b'\'' => State::Quoted(b),
            State::BeforeValue => State::Unquoted,
            // After the closing quote the tokenizer expects a separator;
            // anything else starts the next attribute at once.
            State::Quoted(q) if b == q => match bytes.get(i + 1) {
                Some(b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>') | None => {
                    State::BeforeName
                }
                Some(_) => {
                    count += 1;
                    i += 1;
                    State::Name
                }
            },
            State::Quoted(q) => State::Quoted(q),
            State::Unquoted if space => State::BeforeName,
            State::Unquoted => State::Unquoted,
        };
        if count > MAX_ATTRIBUTES {
            return Err(count);
        }
        i += 1;
    }
    Ok(Tag {
        name,
        self_closing: false,
        end: bytes.len(),
    })
}

/// Index of the first `needle` at or after `from`.
fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| from + at)
}

/// Index after the comment whose text starts at `start` (after `<!--`):
/// `<!-->` and `<!--->` end at once, otherwise `-->` or `--!>` ends it.
fn comment_end(bytes: &[u8], start: usize) -> usize {
    let rest = &bytes[start.min(bytes.len())..];
    if rest.starts_with(b">") {
        return start + 1;
    }
    if rest.starts_with(b"->") {
        return start + 2;
    }
    let mut from = start;
    while let Some(k) = find(bytes, from, b">") {
        let before = &bytes[start..k];
        if before.ends_with(b"--") || before.ends_with(b"--!") {
            return k + 1;
        }
        from = k + 1;
    }
    bytes.len()
}

/// Index after a bogus comment (`<!x`, `<?x`, `</1`): its first `>`.
fn bogus_comment_end(bytes: &[u8], start: usize) -> usize {
    find(bytes, start, b">").map_or(bytes.len(), |k| k + 1)
}

/// Whether an end tag for `name` starts at `at` (`</name` followed by a
/// space, `/` or `>`, any case): the end of raw text.
fn end_tag_at(bytes: &[u8], at: usize, name: &[u8]) -> bool {
    let Some(rest) = bytes.get(at..) else {
        return false;
    };
    rest.len() > name.len() + 2
        && rest.starts_with(b"</")
        && rest[2..2 + name.len()].eq_ignore_ascii_case(name)
        && matches!(
            rest[2 + name.len()],
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>'
        )
}

/// Index of the end tag that closes raw text opened by `<name>` before
/// `start` (the end tag itself is then read as a tag).
fn raw_text_end(bytes: &[u8], start: usize, name: &[u8]) -> usize {
    let mut from = start;
    while let Some(k) = find(bytes, from, b"</") {
        if end_tag_at(bytes, k, name) {
            return k;
        }
        from = k + 2;
    }
    bytes.len()
}

/// Index of the `</script` that ends script data begun at `start`, with
/// the tokenizer's escape states: after `<!--`, a `<script` makes the next
/// `</script` (before `-->`) part of the text.
fn script_end(bytes: &[u8], start: usize) -> usize {
    #[derive(PartialEq)]
    enum State {
        Data,
        Escaped,
        DoubleEscaped,
    }
    let mut state = State::Data;
    let mut i = start;
    while i < bytes.len() {
        let rest = &bytes[i..];
        match state {
            State::Data if rest.starts_with(b"<!--") => {
                state = State::Escaped;
                // `<!--` is followed by the escaped state's dashes, so
                // `<!-->` is escaped-then-ended at once.
                i += 2;
                continue;
            }
            State::Escaped | State::DoubleEscaped if rest.starts_with(b"-->") => {
                state = State::Data;
                i += 3;
                continue;
            }
            State::Data | State::Escaped if end_tag_at(bytes, i, b"script") => return i,
            State::Escaped if script_start_at(bytes, i) => {
                state = State::DoubleEscaped;
                i += 7;
                continue;
            }
            State::DoubleEscaped if end_tag_at(bytes, i, b"script") => {
                state = State::Escaped;
                i += 8;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// `<script` followed by a space, `/` or `>`, any case.
fn script_start_at(bytes: &[u8], at: usize) -> bool {
    let rest = &bytes[at..];
    rest.len() > 7
        && rest[0] == b'<'
        && rest[1..7].eq_ignore_ascii_case(b"script")
        && matches!(
            rest[7],
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>'
        )
}

/// A model of the tree builder's stack of open elements, from tags alone,
/// for the depth limit. It must never count *lower* than the real tree
/// (that would let a deep tree through): where the HTML rules are
/// intricate it keeps elements open, which can only count higher, and
/// only on markup no converter writes.
#[derive(Default)]
pub(super) struct OpenElements(Vec<String>);

impl OpenElements {
    /// How many elements are open.
    pub(super) fn depth(&self) -> usize {
        self.0.len()
    }

    pub(super) fn start(&mut self, name: &str, self_closing: bool) {
        if is_void(name) {
            return;
        }
        // `<x/>` closes itself only in SVG/MathML; in HTML the slash is
        // ignored (`<div/>` opens a div), and breakout tags leave foreign
        // content.
        let foreign = self.0.iter().any(|n| n == "svg" || n == "math");
        if self_closing && (foreign || name == "svg" || name == "math") && !is_breakout(name) {
            return;
        }
        self.close_implied_by(name);
        self.0.push(name.to_owned());
    }

    pub(super) fn end(&mut self, name: &str) {
        if let Some(at) = self.0.iter().rposition(|n| n == name) {
            self.0.truncate(at);
        }
    }

    /// Start tags that close an open sibling (`<li>` closes an open
    /// `<li>`, `<tr>` the previous row) the way the HTML parser does,
    /// stopping where the parser stops.
    fn close_implied_by(&mut self, name: &str) {
        let (group, barrier): (&[&str], fn(&str) -> bool) = match name {
            "p" => (&["p"], is_button_scope_marker),
            "li" => (&["li"], |n| {
                is_special(n) && !matches!(n, "address" | "div" | "p")
            }),
            "dd" | "dt" => (&["dd", "dt"], |n| {
                is_special(n) && !matches!(n, "address" | "div" | "p")
            }),
            "td" | "th" => (&["td", "th"], |n| n == "table"),
            "tr" => (&["tr"], |n| n == "table"),
            "tbody" | "thead" | "tfoot" => (&["tbody", "thead", "tfoot"], |n| n == "table"),
            // Closed only when it is the current node.
            "option" | "optgroup" => {
                if self.0.last().is_some_and(|n| n == "option") {
                    self.0.pop();
                }
                return;
            }
            _ => return,
        };
        for at in (0..self.0.len()).rev() {
            let open = self.0[at].as_str();
            if group.contains(&open) {
                self.0.truncate(at);
                return;
            }
            if barrier(open) {
                return;
            }
        }
    }
}

/// Elements that never contain anything.
fn is_void(name: &str) -> bool {
    matches!(
        name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
    )
}

/// HTML start tags that end SVG/MathML content (HTML spec, "parsing main
/// inforeign").
fn is_breakout(name: &str) -> bool {
    matches!(
        name,
        "b" | "big"
            | "blockquote"
            | "body"
            | "br"
            | "center"
            | "code"
            | "dd"
            | "div"
            | "dl"
            | "dt"
            | "em"
            | "embed"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "head"
            | "hr"
            | "i"
            | "img"
            | "li"
            | "listing"
            | "menu"
            | "meta"
            | "nobr"
            | "ol"
            | "p"
            | "pre"
            | "ruby"
            | "s"
            | "small"
            | "span"
            | "strong"
            | "strike"
            | "sub"
            | "sup"
            | "table"
            | "tt"
            | "u"
            | "ul"
            | "var"
            | "font"
    )
}

/// Where "has a p element in button scope" stops looking.
fn is_button_scope_marker(name: &str) -> bool {
    matches!(
        name,
        "applet"
            | "caption"
            | "html"
            | "table"
            | "td"
            | "th"
            | "marquee"
            | "object"
            | "template"
            | "button"
            | "mi"
            | "mo"
            | "mn"
            | "ms"
            | "mtext"
            | "annotation-xml"
            | "foreignobject"
            | "desc"
            | "title"
    )
}

/// The HTML spec's "special" elements (plus the MathML and SVG ones).
fn is_special(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "applet"
            | "area"
            | "article"
            | "aside"
            | "base"
            | "basefont"
            | "bgsound"
            | "blockquote"
            | "body"
            | "br"
            | "button"
            | "caption"
            | "center"
            | "col"
            | "colgroup"
            | "dd"
            | "details"
            | "dir"
            | "div"
            | "dl"
            | "dt"
            | "embed"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "form"
            | "frame"
            | "frameset"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "head"
            | "header"
            | "hgroup"
            | "hr"
            | "html"
            | "iframe"
            | "img"
            | "input"
            | "keygen"
            | "li"
            | "link"
            | "listing"
            | "main"
            | "marquee"
            | "menu"
            | "meta"
            | "nav"
            | "noembed"
            | "noframes"
            | "noscript"
            | "object"
            | "ol"
            | "p"
            | "param"
            | "plaintext"
            | "pre"
            | "script"
            | "search"
            | "section"
            | "select"
            | "source"
            | "style"
            | "summary"
            | "table"
            | "tbody"
            | "td"
            | "template"
            | "textarea"
            | "tfoot"
            | "th"
            | "thead"
            | "title"
            | "tr"
            | "track"
            | "ul"
            | "wbr"
            | "xmp"
            | "mi"
            | "mo"
            | "mn"
            | "ms"
            | "mtext"
            | "annotation-xml"
            | "foreignobject"
            | "desc"
    )
}
