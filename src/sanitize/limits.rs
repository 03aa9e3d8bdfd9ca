//! Cheap checks that run before the HTML parser, refusing input on which
//! html5ever's cost would grow with the square of its size.

use super::MAX_ATTRIBUTES;

/// Counts attributes per tag with the HTML tokenizer's tag states (tag
/// name, attribute name, quoted and unquoted values), linear in the input,
/// before html5ever sees it. `Some(n)` when a tag passes the limit.
///
/// Known gap: it reads everything as markup, while the parser reads the
/// content of `<script>`, `<style>` and the like as text; a quote opened
/// in such text can put this scan out of step with the parser for a
/// while, so a deliberately crafted document can still hide one large tag
/// from it.
pub(super) fn attribute_overflow(html: &str) -> Option<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        Data,
        TagName,
        BeforeName,
        Name,
        AfterName,
        BeforeValue,
        Quoted(u8),
        Unquoted,
    }
    let bytes = html.as_bytes();
    let mut state = State::Data;
    let mut count = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let space = matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c');
        state = match state {
            State::Data => {
                let next = bytes.get(i + 1).copied().unwrap_or(0);
                let after = bytes.get(i + 2).copied().unwrap_or(0);
                if b == b'<'
                    && (next.is_ascii_alphabetic() || (next == b'/' && after.is_ascii_alphabetic()))
                {
                    count = 0;
                    State::TagName
                } else {
                    State::Data
                }
            }
            State::TagName | State::Name if b == b'>' => State::Data,
            State::TagName if space || b == b'/' => State::BeforeName,
            State::TagName => State::TagName,
            State::BeforeName if space || b == b'/' => State::BeforeName,
            State::BeforeName | State::AfterName if b == b'>' => State::Data,
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
            State::BeforeValue if b == b'>' => State::Data,
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
            State::Unquoted if b == b'>' => State::Data,
            State::Unquoted => State::Unquoted,
        };
        if count > MAX_ATTRIBUTES {
            return Some(count);
        }
        i += 1;
    }
    None
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
