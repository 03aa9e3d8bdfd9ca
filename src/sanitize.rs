//! The HTML allowlist every converter's output passes through before it is
//! stored or served.
//!
//! Converters run upload-controlled code, so their HTML is hostile input.
//! The policy, built on ammonia (html5ever's spec-conformant parser, with
//! namespace checks against MathML/SVG mutation XSS):
//!
//! - **Kept:** the structural HTML LaTeXML, make4ht and pandoc emit
//!   (sections, figures, tables, lists, footnotes, theorem blocks), with
//!   `id` and `class` so internal `#` links and the stylesheet work;
//!   presentation MathML with `semantics`/`annotation`; a static SVG subset
//!   (shapes, paths, text, gradients, clip paths).
//! - **Removed:** scripts, event handlers, `<style>`, `<iframe>`, `<object>`,
//!   `<embed>`, `<form>`, `<base>`, `<meta>`, `<link>`, `annotation-xml`,
//!   SVG `use`/`image`/`foreignObject`/filters/animation, `href` on MathML,
//!   `mglyph`/`altimg` (they load resources).
//! - **Links:** `#fragment` links are kept; `http`, `https` and `mailto`
//!   links (a user's `\href`/`\url`) stay, with
//!   `rel="noopener noreferrer nofollow"`; every other scheme
//!   (`javascript:`, `vbscript:`, `data:`, ...) is removed, whatever its
//!   case, entity encoding or embedded whitespace (the URL is parsed the way
//!   a browser parses it). Relative links go through `resolve_asset`.
//! - **Resources** (`img src`): only relative URLs, each passed to
//!   `resolve_asset`, which maps it to one of the result's own files or
//!   refuses it. No external URL, no scheme-relative `//host` URL and no
//!   `data:` URL is ever kept: the converters write figures as files, so
//!   nothing legitimate needs `data:`, and `data:image/svg+xml` is active
//!   content we would otherwise have to sanitize a second time.
//! - **Styles:** `<style>` elements are dropped with their content (a
//!   stylesheet needs selector sanitizing, which ammonia does not do).
//!   `style` attributes are kept only for a short list of layout and colour
//!   properties that cannot take a `url()`, and a declaration list holding
//!   `url(`, `image(`, `expression(`, `@import` or a CSS escape (`\`) is
//!   dropped whole. LaTeXML uses inline styles for colours, rotated boxes
//!   and table widths; dropping them all would lose real content.
//! - **SVG paint servers:** presentation attributes such as
//!   `fill="url(#grad)"` may only point at a `#fragment` in the same
//!   document.
//!
//! - **Rewrites before the allowlist:** LaTeXML's TikZ labels
//!   (`<foreignObject>`) become SVG `<text>`; dvisvgm's glyph `<use>`s in
//!   standalone SVG become paths. Both outputs go through the same policy.
//! - **Limits:** input over [`MAX_INPUT_BYTES`], nesting over
//!   [`MAX_DEPTH`] or a tag with more than [`MAX_ATTRIBUTES`] attributes is
//!   not rendered (html5ever's cost grows with the square of the last two);
//!   the result says so.
//!
//! [`POLICY_VERSION`] names this policy; it is part of every cache key, so
//! changing the policy must change the constant.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use regex::Regex;

use ammonia::url::{ParseError, Url};
use ammonia::{Builder, UrlRelative};
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

/// Version of the sanitizing policy; feeds the cache key.
pub const POLICY_VERSION: &str = "1";

/// At most this many distinct notes are kept in [`Sanitized::dropped`].
const MAX_NOTES: usize = 50;

/// Deepest element nesting accepted. The HTML tree builder scans the stack
/// of open elements for many start tags, so its cost grows with depth
/// times length: 50,000 nested `<div>`s take minutes. Converter output of
/// real papers stays below 100 (MathML included; our samples reach 16).
pub const MAX_DEPTH: usize = 256;

/// Largest input accepted, in bytes. Real converter output of a long
/// paper is a few MiB.
pub const MAX_INPUT_BYTES: usize = 64 << 20;

/// Most attributes one tag may carry. html5ever checks each new attribute
/// against the tag's earlier ones, so its cost grows with the square of
/// this count (20,000 attributes on one `\HCode` tag take seconds).
/// Converters write fewer than 20.
pub const MAX_ATTRIBUTES: usize = 256;

/// The outcome of [`sanitize_html`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sanitized {
    /// Sanitized body content (no `<html>`, `<head>` or `<body>` wrapper).
    pub html: String,
    /// The rewritten relative URLs the HTML refers to, deduplicated, in
    /// order of first appearance.
    pub referenced_assets: Vec<String>,
    /// Human-readable notes on what was removed, deduplicated (with a
    /// count) and capped at 50 entries.
    pub dropped: Vec<String>,
}

/// HTML elements kept. Ammonia matches names without namespace, so a name
/// here is allowed in every namespace it exists in; the namespace checks
/// (only `<svg>`/`<math>` and integration points switch namespace) are
/// ammonia's.
const HTML_TAGS: &[&str] = &[
    "a",
    "abbr",
    "address",
    "article",
    "aside",
    "b",
    "bdi",
    "bdo",
    "big",
    "blockquote",
    "br",
    "caption",
    "center",
    "cite",
    "code",
    "col",
    "colgroup",
    "dd",
    "del",
    "details",
    "dfn",
    "div",
    "dl",
    "dt",
    "em",
    "figcaption",
    "figure",
    "footer",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "i",
    "img",
    "ins",
    "kbd",
    "li",
    "main",
    "mark",
    "nav",
    "ol",
    "p",
    "pre",
    "q",
    "s",
    "samp",
    "section",
    "small",
    "span",
    "strike",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "time",
    "tr",
    "tt",
    "u",
    "ul",
    "var",
    "wbr",
];

/// Presentation MathML plus `semantics`/`annotation`. Deliberately absent:
/// `annotation-xml` (an HTML integration point), `maction` (interactive),
/// `mglyph` (loads an image).
const MATHML_TAGS: &[&str] = &[
    "math",
    "mi",
    "mn",
    "mo",
    "ms",
    "mtext",
    "mspace",
    "mrow",
    "mfrac",
    "msqrt",
    "mroot",
    "mstyle",
    "merror",
    "mpadded",
    "mphantom",
    "mfenced",
    "menclose",
    "msub",
    "msup",
    "msubsup",
    "munder",
    "mover",
    "munderover",
    "mmultiscripts",
    "mprescripts",
    "none",
    "mtable",
    "mtr",
    "mtd",
    "mlabeledtr",
    "maligngroup",
    "malignmark",
    "semantics",
    "annotation",
];

/// Static SVG. Deliberately absent: `use`, `image`, `foreignObject`,
/// `script`, `style`, `a`-style navigation beyond the shared `a`,
/// `filter`/`fe*` (can reference images), `pattern`, `mask`, `symbol`
/// and every animation element.
const SVG_TAGS: &[&str] = &[
    "svg",
    "g",
    "path",
    "rect",
    "circle",
    "ellipse",
    "line",
    "polyline",
    "polygon",
    "text",
    "tspan",
    "defs",
    "clipPath",
    "linearGradient",
    "radialGradient",
    "stop",
    "marker",
];

/// Elements removed together with everything inside them: their content
/// is code, styles, alternate markup or metadata, never reading text.
const DROP_WITH_CONTENT: &[&str] = &[
    "script",
    "style",
    "title",
    "desc",
    "metadata",
    "noscript",
    "template",
    "iframe",
    "object",
    "embed",
    "noembed",
    "noframes",
    "textarea",
    "select",
    "xmp",
    "plaintext",
    "annotation-xml",
    "foreignObject",
    "head",
];

const GENERIC_ATTRIBUTES: &[&str] = &["id", "class", "title", "lang", "dir", "style", "role"];

const HTML_ATTRIBUTES: &[(&str, &[&str])] = &[
    ("a", &["href"]),
    ("img", &["src", "alt", "width", "height"]),
    ("td", &["colspan", "rowspan", "align", "valign", "headers"]),
    (
        "th",
        &["colspan", "rowspan", "align", "valign", "headers", "scope"],
    ),
    ("tr", &["align", "valign"]),
    (
        "table",
        &["align", "border", "cellpadding", "cellspacing", "width"],
    ),
    ("col", &["span", "width", "align"]),
    ("colgroup", &["span", "width", "align"]),
    ("ol", &["start", "type", "reversed"]),
    ("li", &["value"]),
    ("time", &["datetime"]),
    ("details", &["open"]),
    ("p", &["align"]),
    ("div", &["align"]),
];

/// MathML presentation attributes (no `href`, no `altimg`, no
/// `actiontype`).
const MATHML_ATTRIBUTES: &[&str] = &[
    "display",
    "alttext",
    "mathvariant",
    "mathsize",
    "mathcolor",
    "mathbackground",
    "displaystyle",
    "scriptlevel",
    "fence",
    "separator",
    "separators",
    "stretchy",
    "symmetric",
    "largeop",
    "movablelimits",
    "accent",
    "accentunder",
    "lspace",
    "rspace",
    "minsize",
    "maxsize",
    "form",
    "linethickness",
    "numalign",
    "denomalign",
    "bevelled",
    "columnalign",
    "rowalign",
    "columnspacing",
    "rowspacing",
    "columnlines",
    "rowlines",
    "columnwidth",
    "frame",
    "framespacing",
    "equalrows",
    "equalcolumns",
    "columnspan",
    "rowspan",
    "notation",
    "width",
    "height",
    "depth",
    "voffset",
    "open",
    "close",
    "encoding",
    "intent",
    "arg",
    "align",
    "side",
    "subscriptshift",
    "superscriptshift",
];

/// SVG attributes, with the case html5ever gives them (`viewBox`).
const SVG_ATTRIBUTES: &[&str] = &[
    "viewBox",
    "preserveAspectRatio",
    "version",
    "width",
    "height",
    "x",
    "y",
    "x1",
    "y1",
    "x2",
    "y2",
    "cx",
    "cy",
    "r",
    "rx",
    "ry",
    "fx",
    "fy",
    "dx",
    "dy",
    "d",
    "points",
    "transform",
    "fill",
    "fill-opacity",
    "fill-rule",
    "stroke",
    "stroke-width",
    "stroke-opacity",
    "stroke-linecap",
    "stroke-linejoin",
    "stroke-miterlimit",
    "stroke-dasharray",
    "stroke-dashoffset",
    "opacity",
    "color",
    "visibility",
    "overflow",
    "font-family",
    "font-size",
    "font-weight",
    "font-style",
    "text-anchor",
    "dominant-baseline",
    "alignment-baseline",
    "textLength",
    "lengthAdjust",
    "clip-path",
    "clip-rule",
    "clipPathUnits",
    "offset",
    "stop-color",
    "stop-opacity",
    "gradientUnits",
    "gradientTransform",
    "spreadMethod",
    "marker-start",
    "marker-mid",
    "marker-end",
    "markerWidth",
    "markerHeight",
    "markerUnits",
    "refX",
    "refY",
    "orient",
];

/// CSS properties kept in `style` attributes: none of them accepts a URL
/// or an image, and none can position an element over the page chrome.
const STYLE_PROPERTIES: &[&str] = &[
    // SVG paint (LaTeXML writes `style="fill:none"` on TikZ strokes); a
    // `url()` paint server is caught by the declaration check.
    "fill",
    "fill-opacity",
    "fill-rule",
    "stroke",
    "stroke-width",
    "stroke-opacity",
    "stroke-dasharray",
    "stroke-dashoffset",
    "stroke-linecap",
    "stroke-linejoin",
    "stroke-miterlimit",
    "opacity",
    "color",
    "background-color",
    "width",
    "height",
    "min-width",
    "max-width",
    "min-height",
    "max-height",
    "vertical-align",
    "text-align",
    "text-indent",
    "text-decoration",
    "text-transform",
    "font-size",
    "font-weight",
    "font-style",
    "font-variant",
    "font-family",
    "letter-spacing",
    "word-spacing",
    "line-height",
    "white-space",
    "margin",
    "margin-top",
    "margin-right",
    "margin-bottom",
    "margin-left",
    "padding",
    "padding-top",
    "padding-right",
    "padding-bottom",
    "padding-left",
    "border",
    "border-top",
    "border-right",
    "border-bottom",
    "border-left",
    "border-width",
    "border-style",
    "border-color",
    "border-collapse",
    "border-spacing",
    "display",
    "float",
    "clear",
    "transform",
    "transform-origin",
    "direction",
];

/// Attributes whose value is a URL we must inspect.
fn is_url_attribute(attribute: &str) -> bool {
    matches!(attribute, "href" | "src" | "xlink:href")
}

/// Sanitizes converter output.
///
/// `html` may be a whole document or a body; the result is body content
/// only. Every relative `src`/`href` that names a file is passed to
/// `resolve_asset` (without query and fragment, percent-decoded); its
/// answer replaces the URL (a link keeps its `#fragment`), and `None`
/// removes the attribute.
///
/// Input larger than [`MAX_INPUT_BYTES`] or nested deeper than
/// [`MAX_DEPTH`] is not rendered: the result is a short notice, and
/// `dropped` says why.
pub fn sanitize_html(html: &str, resolve_asset: &dyn Fn(&str) -> Option<String>) -> Sanitized {
    if html.len() > MAX_INPUT_BYTES {
        return refused(format!(
            "the converter output is {} bytes, over the {MAX_INPUT_BYTES}-byte limit",
            html.len()
        ));
    }
    if let Some(count) = attribute_overflow(html) {
        return refused(format!(
            "a tag in the converter output has {count} or more attributes, over the limit of {MAX_ATTRIBUTES}"
        ));
    }
    let (html, labels) = foreign_objects_to_text(html);
    let html = html.as_ref();
    let mut scan = scan(html);
    if labels > 0 {
        scan.notes.insert(
            "converted foreignObject labels to plain SVG text".to_owned(),
            labels,
        );
    }
    if scan.too_deep {
        return refused(format!(
            "the converter output nests elements deeper than {MAX_DEPTH} levels"
        ));
    }
    // Resolve outside ammonia: its callbacks must be `Send + Sync +
    // 'static`, which a borrowed resolver is not.
    let mut resolved: HashMap<String, Option<String>> = HashMap::new();
    for path in &scan.relative_paths {
        resolved
            .entry(path.clone())
            .or_insert_with(|| resolve_asset(path));
    }
    let shared = Arc::new(FilterState {
        resolved,
        notes: Mutex::new(BTreeMap::new()),
        referenced: Mutex::new(Vec::new()),
    });

    let body = builder(Arc::clone(&shared)).clean(html).to_string();

    let mut notes = scan.notes;
    for (note, count) in shared.notes.lock().expect("notes lock").iter() {
        *notes.entry(note.clone()).or_insert(0) += count;
    }
    let referenced_assets = shared.referenced.lock().expect("referenced lock").clone();
    Sanitized {
        html: body,
        referenced_assets,
        dropped: format_notes(notes),
    }
}

/// Counts attributes per tag with the HTML tokenizer's tag states (tag
/// name, attribute name, quoted and unquoted values), linear in the input,
/// before html5ever sees it. `Some(n)` when a tag passes the limit.
///
/// Known gap: it reads everything as markup, while the parser reads the
/// content of `<script>`, `<style>` and the like as text; a quote opened
/// in such text can put this scan out of step with the parser for a
/// while, so a deliberately crafted document can still hide one large tag
/// from it.
fn attribute_overflow(html: &str) -> Option<usize> {
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

fn refused(reason: String) -> Sanitized {
    Sanitized {
        html: format!(
            r#"<p class="texjail-refused">This document was not rendered: {}.</p>"#,
            crate::render::escape(&reason)
        ),
        referenced_assets: Vec::new(),
        dropped: vec![format!("not rendered: {reason}")],
    }
}

/// Sanitizes a standalone SVG file (a figure served as an asset) with the
/// same policy as inline SVG. Returns `None` when nothing safe is left of
/// it (not an SVG, or its root was removed).
pub fn sanitize_svg(svg: &str) -> Option<String> {
    // The XML prolog and DOCTYPE (which may declare entities) carry nothing
    // a figure needs; the HTML parser treats them as bogus comments.
    let start = svg.find("<svg").or_else(|| svg.find("<SVG"))?;
    let inlined = inline_local_uses(&svg[start..]);
    let refuse_all = |_: &str| None;
    let cleaned = sanitize_html(&inlined, &refuse_all).html;
    let cleaned = first_svg_element(cleaned.trim())?;
    // HTML serialization of foreign content is XML-compatible except for
    // the namespace declaration (which the HTML parser consumes) and the
    // `&nbsp;` entity, which XML does not define.
    let mut out = String::with_capacity(cleaned.len() + 64);
    out.push_str(r#"<svg xmlns="http://www.w3.org/2000/svg""#);
    out.push_str(&cleaned["<svg".len()..]);
    Some(out.replace("&nbsp;", "&#160;"))
}

/// The first top-level `<svg>...</svg>` of serialized output (an XML file
/// has one root; whatever followed the root in the input is dropped).
/// Text in the serialization has `<` escaped, so every `<svg` and `</svg>`
/// left is a tag.
fn first_svg_element(html: &str) -> Option<&str> {
    if !html.starts_with("<svg") {
        return None;
    }
    let mut depth = 0usize;
    let mut at = 0;
    while at < html.len() {
        let rest = &html[at..];
        let next_open = rest.find("<svg").map(|i| (i, true));
        let next_close = rest.find("</svg>").map(|i| (i, false));
        let (offset, opens) = match (next_open, next_close) {
            (Some(o), Some(c)) => {
                if o.0 < c.0 {
                    o
                } else {
                    c
                }
            }
            (Some(o), None) => o,
            (None, Some(c)) => c,
            (None, None) => return None,
        };
        if opens {
            depth += 1;
            at += offset + "<svg".len();
        } else {
            depth = depth.checked_sub(1)?;
            at += offset + "</svg>".len();
            if depth == 0 {
                return Some(&html[..at]);
            }
        }
    }
    None
}

/// dvisvgm (make4ht's and tex4ht's SVG writer) draws every glyph as
/// `<use x=".." y=".." xlink:href="#g1-2"/>` pointing at a `<path id="g1-2">`
/// in `<defs>`. `use` is not in the policy (it can pull in other
/// documents), so local references to paths are replaced by a copy of the
/// path, translated; whatever else `use` points at is left for the
/// sanitizer to drop. The result is sanitized like any other input.
fn inline_local_uses(svg: &str) -> Cow<'_, str> {
    static PATH_TAG: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?s)<path\b[^>]*>").expect("regex"));
    static USE_TAG: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"(?s)<use\b([^>]*?)/?>(?:\s*</use>)?").expect("regex"));
    if !svg.contains("<use") {
        return Cow::Borrowed(svg);
    }
    let mut paths: HashMap<String, String> = HashMap::new();
    for tag in PATH_TAG.find_iter(svg) {
        let attrs = attributes(tag.as_str());
        if let (Some(id), Some(d)) = (attrs.get("id"), attrs.get("d")) {
            paths.insert(id.clone(), d.clone());
        }
    }
    USE_TAG.replace_all(svg, |caps: &regex::Captures<'_>| {
        let attrs = attributes(&caps[1]);
        let target = attrs.get("xlink:href").or_else(|| attrs.get("href"));
        let d = target
            .and_then(|t| t.strip_prefix('#'))
            .and_then(|id| paths.get(id));
        let number = |name: &str| -> Option<f64> {
            attrs.get(name).map_or(Some(0.0), |v| v.trim().parse().ok())
        };
        match (d, number("x"), number("y")) {
            (Some(d), Some(x), Some(y)) => {
                let mut transform = format!("translate({x} {y})");
                if let Some(outer) = attrs.get("transform") {
                    transform = format!("{outer} {transform}");
                }
                let mut out = format!(
                    r#"<path d="{}" transform="{}""#,
                    attribute_escape(d),
                    attribute_escape(&transform)
                );
                for paint in ["fill", "stroke", "stroke-width", "opacity"] {
                    if let Some(value) = attrs.get(paint) {
                        out.push_str(&format!(r#" {paint}="{}""#, attribute_escape(value)));
                    }
                }
                out.push_str("/>");
                out
            }
            // Not a local path: keep it as written; the policy drops `use`.
            _ => caps[0].to_owned(),
        }
    })
}

/// LaTeXML writes TikZ labels as HTML inside SVG `<foreignObject>`, which
/// the policy refuses (an HTML integration point inside SVG is where
/// namespace-confusion attacks live). Each one becomes a plain SVG
/// `<text>` in the same box: its text, with formulas as their TeX source
/// (`alttext`), squeezed to the box width when it would overflow. The
/// result is then sanitized like everything else.
fn foreign_objects_to_text(html: &str) -> (Cow<'_, str>, usize) {
    static FOREIGN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?is)<foreignObject\b([^>]*)>(.*?)</foreignObject\s*>").expect("regex")
    });
    static MATH: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?is)<math\b[^>]*?\balttext\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>.*?</math\s*>"#,
        )
        .expect("regex")
    });
    static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)<[^>]*>").expect("regex"));
    static CODE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?is)<(script|style)\b.*?</(script|style)\s*>").expect("regex")
    });
    if !html.to_ascii_lowercase().contains("<foreignobject") {
        return (Cow::Borrowed(html), 0);
    }
    let converted = Cell::new(0);
    let out = FOREIGN.replace_all(html, |caps: &regex::Captures<'_>| {
        converted.set(converted.get() + 1);
        let attrs = attributes(&caps[1]);
        let number = |name: &str| attrs.get(name).and_then(|v| v.trim().parse::<f64>().ok());
        let inner = CODE.replace_all(&caps[2], " ");
        let inner = MATH.replace_all(&inner, |m: &regex::Captures<'_>| {
            format!(
                " {} ",
                m.get(1).or_else(|| m.get(2)).map_or("", |v| v.as_str())
            )
        });
        let text = TAG.replace_all(&inner, " ");
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            return String::new();
        }
        let height = number("height").unwrap_or(12.0);
        let font_size = (height * 0.8).clamp(4.0, 10.0);
        let mut out = format!(
            r#"<text x="0" y="{:.2}" font-size="{font_size:.2}""#,
            font_size
        );
        if let Some(transform) = attrs.get("transform") {
            out.push_str(&format!(r#" transform="{}""#, attribute_escape(transform)));
        }
        // Roughly half an em per character; squeeze only when too wide.
        if let Some(width) = number("width") {
            if text.chars().count() as f64 * font_size * 0.5 > width && width > 0.0 {
                out.push_str(&format!(
                    r#" textLength="{width:.2}" lengthAdjust="spacingAndGlyphs""#
                ));
            }
        }
        out.push('>');
        out.push_str(&text.replace('<', "&lt;"));
        out.push_str("</text>");
        out
    });
    (out, converted.get())
}

/// Attributes of one tag's source text (quoted values only, as XML has).
fn attributes(tag: &str) -> HashMap<String, String> {
    static ATTRIBUTE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"([A-Za-z_:][-A-Za-z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)')"#).expect("regex")
    });
    ATTRIBUTE
        .captures_iter(tag)
        .map(|c| {
            let value = c.get(2).or_else(|| c.get(3)).map_or("", |m| m.as_str());
            (c[1].to_owned(), value.to_owned())
        })
        .collect()
}

fn attribute_escape(value: &str) -> String {
    value.replace('"', "&quot;").replace('<', "&lt;")
}

/// The document title: the `<title>` element, else the first `<h1>`,
/// with tags removed and whitespace collapsed.
///
/// Input that [`sanitize_html`] would refuse for its size or attribute
/// count has no title (reading it would cost as much as refusing saves).
pub fn extract_title(html: &str) -> Option<String> {
    if html.len() > MAX_INPUT_BYTES || attribute_overflow(html).is_some() {
        return None;
    }
    let sink = tokenize(html, TitleSink::default());
    let pick = |text: &str| {
        let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
        (!collapsed.is_empty()).then_some(collapsed)
    };
    let title = sink.title.borrow();
    let h1 = sink.h1.borrow();
    pick(&title).or_else(|| pick(&h1))
}

/// What the ammonia callbacks share with [`sanitize_html`].
struct FilterState {
    resolved: HashMap<String, Option<String>>,
    notes: Mutex<BTreeMap<String, usize>>,
    referenced: Mutex<Vec<String>>,
}

impl FilterState {
    fn note(&self, note: String) {
        *self
            .notes
            .lock()
            .expect("notes lock")
            .entry(note)
            .or_insert(0) += 1;
    }

    fn reference(&self, url: &str) {
        let mut referenced = self.referenced.lock().expect("referenced lock");
        if !referenced.iter().any(|r| r == url) {
            referenced.push(url.to_owned());
        }
    }
}

fn builder(state: Arc<FilterState>) -> Builder<'static> {
    let mut tags: HashSet<&'static str> = HashSet::new();
    tags.extend(HTML_TAGS);
    tags.extend(MATHML_TAGS);
    tags.extend(SVG_TAGS);

    let mut tag_attributes: HashMap<&'static str, HashSet<&'static str>> = HashMap::new();
    for (tag, attributes) in HTML_ATTRIBUTES {
        tag_attributes
            .entry(tag)
            .or_default()
            .extend(attributes.iter());
    }
    for tag in MATHML_TAGS {
        tag_attributes
            .entry(tag)
            .or_default()
            .extend(MATHML_ATTRIBUTES);
    }
    for tag in SVG_TAGS {
        tag_attributes
            .entry(tag)
            .or_default()
            .extend(SVG_ATTRIBUTES);
    }

    let mut builder = Builder::empty();
    builder
        .tags(tags)
        .clean_content_tags(DROP_WITH_CONTENT.iter().copied().collect())
        .tag_attributes(tag_attributes)
        .generic_attributes(GENERIC_ATTRIBUTES.iter().copied().collect())
        .generic_attribute_prefixes(["aria-"].into_iter().collect())
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .url_relative(UrlRelative::PassThrough)
        .link_rel(Some("noopener noreferrer nofollow"))
        .strip_comments(true)
        .filter_style_properties(STYLE_PROPERTIES.iter().copied().collect())
        .attribute_filter(move |element, attribute, value| {
            filter_attribute(&state, element, attribute, value)
        });
    builder
}

/// The value-level rules ammonia's name allowlist cannot express.
fn filter_attribute<'u>(
    state: &FilterState,
    element: &str,
    attribute: &str,
    value: &'u str,
) -> Option<Cow<'u, str>> {
    if is_url_attribute(attribute) {
        return filter_url(state, element, attribute, value);
    }
    if attribute == "class" {
        // The page shell's own classes (`texjail-summary`, ...) are not
        // the document's to use: it could draw a fake status box.
        if value.split_whitespace().any(|c| c.starts_with("texjail-")) {
            let kept: Vec<&str> = value
                .split_whitespace()
                .filter(|c| !c.starts_with("texjail-"))
                .collect();
            state.note("removed texjail- classes".to_owned());
            return (!kept.is_empty()).then(|| Cow::Owned(kept.join(" ")));
        }
        return Some(Cow::Borrowed(value));
    }
    if attribute == "style" {
        if css_is_suspicious(value) {
            state.note(format!(
                "removed a style attribute on <{element}> that could load a resource"
            ));
            return None;
        }
        return Some(Cow::Borrowed(value));
    }
    if value.to_ascii_lowercase().contains("url(") && !svg_paint_url_is_local(value) {
        state.note(format!(
            "removed {attribute}=\"url(...)\" pointing outside the document"
        ));
        return None;
    }
    Some(Cow::Borrowed(value))
}

fn filter_url<'u>(
    state: &FilterState,
    element: &str,
    attribute: &str,
    value: &'u str,
) -> Option<Cow<'u, str>> {
    let trimmed = value.trim_matches(|c: char| c.is_ascii_whitespace() || c.is_control());
    if let Some(fragment) = trimmed.strip_prefix('#') {
        if fragment.chars().all(is_fragment_char) {
            return Some(Cow::Owned(trimmed.to_owned()));
        }
        state.note(format!("removed a malformed fragment link on <{element}>"));
        return None;
    }
    let is_link = element == "a";
    match classify(trimmed) {
        // Notes for absolute and unusable URLs come from the pre-pass
        // (ammonia drops most of them before this filter runs).
        UrlKind::Absolute(scheme) => {
            (is_link && is_web_scheme(&scheme)).then_some(Cow::Borrowed(value))
        }
        UrlKind::Relative { path, fragment } => {
            match state.resolved.get(&path).cloned().flatten() {
                Some(rewritten) => {
                    state.reference(&rewritten);
                    match fragment.filter(|_| is_link) {
                        Some(fragment) => Some(Cow::Owned(format!("{rewritten}#{fragment}"))),
                        None => Some(Cow::Owned(rewritten)),
                    }
                }
                None => {
                    state.note(format!(
                        "removed a reference to a file that is not part of the result ({element} {attribute})"
                    ));
                    None
                }
            }
        }
        UrlKind::Unusable => None,
    }
}

fn is_web_scheme(scheme: &str) -> bool {
    matches!(scheme, "http" | "https" | "mailto")
}

/// The note for a URL the policy refuses whatever the resolver says.
fn url_note(element: &str, attribute: &str, value: &str) -> Option<String> {
    let trimmed = value.trim_matches(|c: char| c.is_ascii_whitespace() || c.is_control());
    if trimmed.starts_with('#') {
        return None;
    }
    match classify(trimmed) {
        UrlKind::Absolute(scheme) if element == "a" && is_web_scheme(&scheme) => None,
        UrlKind::Absolute(scheme) if element == "a" => Some(format!("removed a {scheme}: link")),
        UrlKind::Absolute(scheme) => Some(format!(
            "removed an external resource ({scheme}: URL in {element} {attribute})"
        )),
        UrlKind::Unusable => Some(format!("removed an unusable URL ({element} {attribute})")),
        UrlKind::Relative { .. } => None,
    }
}

fn is_fragment_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '%')
}

enum UrlKind {
    Absolute(String),
    Relative {
        path: String,
        fragment: Option<String>,
    },
    Unusable,
}

/// Classifies a URL the way a browser would read it: the `url` crate
/// implements the WHATWG URL parser, which strips tabs and newlines inside
/// the scheme and lowercases it, so `JaVa&#9;Script:` is still
/// `javascript`. (html5ever has already decoded character references.)
fn classify(url: &str) -> UrlKind {
    match Url::parse(url) {
        Ok(parsed) => UrlKind::Absolute(parsed.scheme().to_owned()),
        Err(ParseError::RelativeUrlWithoutBase) => relative(url),
        Err(_) => UrlKind::Unusable,
    }
}

fn relative(url: &str) -> UrlKind {
    let cleaned: String = url
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    // A browser reads `//host/x`, `\\host\x` and `/\host` as another host.
    let head: String = cleaned.chars().take(2).collect();
    if matches!(head.as_str(), "//" | "\\\\" | "/\\" | "\\/") {
        return UrlKind::Unusable;
    }
    let (rest, fragment) = match cleaned.split_once('#') {
        Some((rest, fragment)) => (rest, Some(fragment.to_owned())),
        None => (cleaned.as_str(), None),
    };
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() {
        return UrlKind::Unusable;
    }
    match percent_decode(path).and_then(|p| inside_result(&p)) {
        Some(path) => UrlKind::Relative {
            path,
            fragment: fragment.filter(|f| f.chars().all(is_fragment_char)),
        },
        None => UrlKind::Unusable,
    }
}

/// A decoded path that stays inside the result: no absolute path, no
/// `..`, no backslash or NUL (the resolver checks against its file list
/// too; this keeps the class of escapes out before it is asked).
fn inside_result(path: &str) -> Option<String> {
    if path.starts_with('/') || path.contains(['\\', '\0']) {
        return None;
    }
    let segments: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    if segments.is_empty() || segments.contains(&"..") {
        return None;
    }
    Some(segments.join("/"))
}

/// Decodes `%XX` escapes; `None` for malformed escapes or non-UTF-8.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = path.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// True when a declaration list could load something or hide a construct
/// from the property filter.
fn css_is_suspicious(css: &str) -> bool {
    let lower = css.to_ascii_lowercase();
    [
        "url(",
        "image(",
        "image-set(",
        "expression(",
        "@import",
        "\\",
        "/*",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// `url(#id)` paint references are local; anything else is not.
fn svg_paint_url_is_local(value: &str) -> bool {
    if value.contains('\\') {
        return false;
    }
    let lower = value.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("url(") {
        let inner =
            rest[at + 4..].trim_start_matches(|c: char| c.is_whitespace() || c == '"' || c == '\'');
        if !inner.starts_with('#') {
            return false;
        }
        rest = &inner[1..];
    }
    true
}

fn format_notes(notes: BTreeMap<String, usize>) -> Vec<String> {
    let mut out: Vec<String> = notes
        .into_iter()
        .map(|(note, count)| {
            if count > 1 {
                format!("{note} (×{count})")
            } else {
                note
            }
        })
        .collect();
    if out.len() > MAX_NOTES {
        let more = out.len() - MAX_NOTES;
        out.truncate(MAX_NOTES);
        out.push(format!("... and {more} more kinds of removal"));
    }
    out
}

/// What the token pre-pass learns: relative URLs to resolve and notes on
/// elements and attributes outside the policy.
struct Scan {
    relative_paths: Vec<String>,
    notes: BTreeMap<String, usize>,
    too_deep: bool,
}

/// A tokenizer pass over the raw input. It sees every tag the markup
/// spells, including ones a tree builder would later discard, which is
/// what we want for resolving (resolving a path is harmless) and for
/// notes; what is *kept* is decided by ammonia alone.
fn scan(html: &str) -> Scan {
    let sink = tokenize(html, ScanSink::default());
    Scan {
        relative_paths: sink.paths.into_inner(),
        notes: sink.notes.into_inner(),
        too_deep: sink.too_deep.get(),
    }
}

#[derive(Default)]
struct ScanSink {
    paths: RefCell<Vec<String>>,
    notes: RefCell<BTreeMap<String, usize>>,
    /// The elements open at this point, as far as tags tell: see
    /// [`OpenElements`].
    open: RefCell<OpenElements>,
    too_deep: Cell<bool>,
}

impl ScanSink {
    fn track_depth(&self, kind: TagKind, name: &str, self_closing: bool) {
        if self.too_deep.get() {
            return;
        }
        let mut open = self.open.borrow_mut();
        match kind {
            TagKind::StartTag => open.start(name, self_closing),
            TagKind::EndTag => open.end(name),
        }
        if open.0.len() > MAX_DEPTH {
            self.too_deep.set(true);
        }
    }
}

/// A model of the tree builder's stack of open elements, from tags alone,
/// for the depth limit. It must never count *lower* than the real tree
/// (that would let a deep tree through): where the HTML rules are
/// intricate it keeps elements open, which can only count higher, and
/// only on markup no converter writes.
#[derive(Default)]
struct OpenElements(Vec<String>);

impl OpenElements {
    fn start(&mut self, name: &str, self_closing: bool) {
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

    fn end(&mut self, name: &str) {
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

fn known_tag(name: &str) -> bool {
    HTML_TAGS.contains(&name)
        || MATHML_TAGS.contains(&name)
        || SVG_TAGS.iter().any(|t| t.eq_ignore_ascii_case(name))
}

/// Document-level elements whose removal is expected, not worth a note.
fn wrapper_tag(name: &str) -> bool {
    matches!(name, "html" | "head" | "body" | "title" | "meta" | "link")
}

impl TokenSink for ScanSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let Token::TagToken(tag) = token else {
            return TokenSinkResult::Continue;
        };
        let name: &str = &tag.name;
        self.track_depth(tag.kind, name, tag.self_closing);
        if tag.kind != TagKind::StartTag {
            return TokenSinkResult::Continue;
        }
        let mut notes = self.notes.borrow_mut();
        if !known_tag(name) && !wrapper_tag(name) {
            *notes.entry(format!("removed <{name}>")).or_insert(0) += 1;
        }
        for attr in &tag.attrs {
            let attr_name: &str = &attr.name.local;
            if attr_name.starts_with("on") {
                *notes
                    .entry(format!("removed event handler {attr_name}="))
                    .or_insert(0) += 1;
            }
            if is_url_attribute(attr_name) {
                if let Some(note) = url_note(name, attr_name, &attr.value) {
                    *notes.entry(note).or_insert(0) += 1;
                }
                let value = attr.value.trim();
                if !value.starts_with('#') {
                    if let UrlKind::Relative { path, .. } = classify(value) {
                        self.paths.borrow_mut().push(path);
                    }
                }
            }
        }
        TokenSinkResult::Continue
    }
}

#[derive(Default)]
struct TitleSink {
    /// Which element's text is being collected: 1 = title, 2 = h1.
    inside: RefCell<u8>,
    /// Open elements whose text is not title text: a formula's TeX
    /// annotation would otherwise repeat it (`x2x^{2}`).
    skipping: Cell<u32>,
    title: RefCell<String>,
    h1: RefCell<String>,
}

impl TokenSink for TitleSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut inside = self.inside.borrow_mut();
        match token {
            Token::TagToken(tag) => match (tag.kind, &*tag.name) {
                (TagKind::StartTag, "title") if self.title.borrow().is_empty() => *inside = 1,
                (TagKind::StartTag, "h1") if self.h1.borrow().is_empty() => *inside = 2,
                (TagKind::EndTag, "title") | (TagKind::EndTag, "h1") => *inside = 0,
                (TagKind::StartTag, "br") if *inside != 0 => self.push(*inside, " "),
                (kind, "annotation" | "annotation-xml" | "script" | "style") => {
                    let depth = self.skipping.get();
                    self.skipping.set(match kind {
                        TagKind::StartTag if !tag.self_closing => depth + 1,
                        TagKind::StartTag => depth,
                        TagKind::EndTag => depth.saturating_sub(1),
                    });
                }
                _ => {}
            },
            Token::CharacterTokens(text) if *inside != 0 && self.skipping.get() == 0 => {
                self.push(*inside, &text)
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

impl TitleSink {
    fn push(&self, which: u8, text: &str) {
        let target = if which == 1 { &self.title } else { &self.h1 };
        target.borrow_mut().push_str(text);
    }
}

fn tokenize<S: TokenSink<Handle = ()>>(html: &str, sink: S) -> S {
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assets(path: &str) -> Option<String> {
        (!path.contains("..")).then(|| format!("assets/{path}"))
    }

    fn clean(html: &str) -> Sanitized {
        sanitize_html(html, &assets)
    }

    #[test]
    fn keeps_latexml_structure_ids_and_classes() {
        let out = clean(
            r##"<section class="ltx_section" id="S1"><h2 class="ltx_title">1 Intro</h2>
            <div class="ltx_theorem ltx_theorem_theorem" id="Thmtheorem1"><p>See <a href="#S1" class="ltx_ref">1</a>.</p></div></section>"##,
        );
        assert!(
            out.html
                .contains(r#"<section class="ltx_section" id="S1">"#),
            "{}",
            out.html
        );
        assert!(
            out.html.contains(r##"<a href="#S1" class="ltx_ref""##),
            "{}",
            out.html
        );
        assert!(out.dropped.is_empty(), "{:?}", out.dropped);
    }

    #[test]
    fn keeps_mathml_with_tex_annotation() {
        let out = clean(
            r#"<math display="block" alttext="x^2"><semantics><msup><mi>x</mi><mn>2</mn></msup><annotation encoding="application/x-tex">x^2</annotation></semantics></math>"#,
        );
        assert!(
            out.html.contains("<msup><mi>x</mi><mn>2</mn></msup>"),
            "{}",
            out.html
        );
        assert!(out
            .html
            .contains(r#"<annotation encoding="application/x-tex">x^2</annotation>"#));
        assert!(out.html.contains(r#"display="block""#));
    }

    #[test]
    fn rewrites_image_sources_and_reports_them() {
        let out =
            clean(r#"<img src="x1.png" alt="a"><img src="fig%201.png"><img src="../etc/passwd">"#);
        assert!(out.html.contains(r#"src="assets/x1.png""#), "{}", out.html);
        assert!(
            out.html.contains(r#"src="assets/fig 1.png""#)
                || out.html.contains("assets/fig%201.png"),
            "{}",
            out.html
        );
        assert_eq!(
            out.referenced_assets,
            vec!["assets/x1.png", "assets/fig 1.png"]
        );
        assert!(!out.html.contains("passwd"));
        assert!(
            out.dropped.iter().any(|d| d.contains("unusable URL")),
            "{:?}",
            out.dropped
        );
        // The resolver is only asked about paths inside the result; what
        // it refuses is removed.
        let only_x1 = |p: &str| (p == "x1.png").then(|| "assets/x1.png".to_owned());
        let out = sanitize_html(
            r#"<img src="missing.png"><img src="./x1.png"><img src="/etc/x.png"><img src="a/%2e%2e/%2e%2e/x.png"><img src="a\..\x.png">"#,
            &only_x1,
        );
        assert_eq!(out.referenced_assets, vec!["assets/x1.png"]);
        assert_eq!(out.html.matches("src=").count(), 1, "{}", out.html);
        assert!(
            out.dropped
                .iter()
                .any(|d| d.contains("not part of the result")),
            "{:?}",
            out.dropped
        );
    }

    #[test]
    fn external_and_data_images_are_removed() {
        for src in [
            "http://evil.example/x.png",
            "https://evil.example/x.png",
            "//evil.example/x.png",
            "\\\\evil.example/x.png",
            "data:image/png;base64,AAAA",
            "data:image/svg+xml,<svg onload=alert(1)>",
        ] {
            let out = clean(&format!(r#"<img src="{src}">"#));
            assert!(!out.html.contains("src="), "{src} survived: {}", out.html);
        }
    }

    #[test]
    fn web_links_stay_with_rel() {
        let out = clean(r#"<a href="https://example.org/p">p</a>"#);
        assert!(out.html.contains(r#"href="https://example.org/p""#));
        assert!(out.html.contains(r#"rel="noopener noreferrer nofollow""#));
    }

    #[test]
    fn link_to_other_output_page_keeps_fragment() {
        let out = clean(r##"<a href="sec2.html#S2">2</a>"##);
        assert!(
            out.html.contains(r##"href="assets/sec2.html#S2""##),
            "{}",
            out.html
        );
    }

    #[test]
    fn full_document_yields_body_only_and_title() {
        let doc = "<!DOCTYPE html><html><head><title>My  Paper</title><meta charset=utf-8><link rel=stylesheet href=x.css><style>p{}</style></head><body><p>hi</p></body></html>";
        assert_eq!(clean(doc).html, "<p>hi</p>");
        assert_eq!(extract_title(doc).as_deref(), Some("My Paper"));
        assert_eq!(
            extract_title("<h1 class=ltx_title>A <em>B</em>\n C</h1>").as_deref(),
            Some("A B C")
        );
        assert_eq!(extract_title("<p>none</p>"), None);
        let crowded = format!("<title{}>t</title>", " a".repeat(MAX_ATTRIBUTES + 1));
        assert_eq!(extract_title(&crowded), None);
        let latexml_h1 = r#"<h1 class="ltx_title">On <math alttext="x^2"><semantics><msup><mi>x</mi><mn>2</mn></msup><annotation encoding="application/x-tex">x^{2}</annotation></semantics></math> and more</h1>"#;
        assert_eq!(extract_title(latexml_h1).as_deref(), Some("On x2 and more"));
    }

    #[test]
    fn shell_classes_are_not_the_documents() {
        let out = clean(
            r#"<aside class="texjail-summary status-ok"><span class="texjail-status ltx_text">ok</span></aside>"#,
        );
        assert!(!out.html.contains("texjail-"), "{}", out.html);
        assert!(
            out.html.contains(r#"<span class="ltx_text">ok</span>"#),
            "{}",
            out.html
        );
    }

    #[test]
    fn style_attributes_are_filtered() {
        let out = clean(
            r#"<span style="color:red;position:fixed;top:0">a</span><span style="background-color:url(http://x/)">b</span><span style="color:r\65 d">c</span>"#,
        );
        assert!(
            out.html.contains(r#"<span style="color:red">a</span>"#),
            "{}",
            out.html
        );
        assert!(out.html.contains("<span>b</span>"), "{}", out.html);
        assert!(out.html.contains("<span>c</span>"), "{}", out.html);
    }

    #[test]
    fn foreign_object_labels_become_svg_text() {
        let out = clean(
            r#"<svg><g transform="matrix(1 0 0 -1 0 0)"><path d="M0 0" style="fill:none"/><foreignObject width="79.98" height="12.57" transform="matrix(1 0 0 -1 0 16.6)" overflow="visible"><span>Label</span> <math alttext="3^{2}=1+3+5"><semantics><mn>3</mn><annotation encoding="application/x-tex">3^{2}</annotation></semantics></math><script>alert(1)</script><img src=x onerror=alert(1)></foreignObject></g></svg>"#,
        );
        assert!(
            out.html.contains(r#"<text x="0" y="10.00" font-size="10.00" transform="matrix(1 0 0 -1 0 16.6)" textLength="79.98" lengthAdjust="spacingAndGlyphs">Label 3^{2}=1+3+5</text>"#),
            "{}",
            out.html
        );
        assert!(out.html.contains(r#"style="fill:none""#), "{}", out.html);
        assert!(
            !out.html.contains("<img") && !out.html.contains("foreign"),
            "{}",
            out.html
        );
        let out = clean(r#"<svg><foreignObject width="50" height="10">fits</foreignObject></svg>"#);
        assert!(
            out.html.contains(r#"font-size="8.00">fits</text>"#),
            "{}",
            out.html
        );
        // Too long for its box: squeezed.
        let out = clean(
            r#"<svg><foreignObject width="5" height="10">a long label</foreignObject></svg>"#,
        );
        assert!(out.html.contains(r#"textLength="5.00""#), "{}", out.html);
    }

    #[test]
    fn svg_paint_urls_must_be_local() {
        let out = clean(
            r##"<svg><rect fill="url(#g)"/><rect fill="url(http://evil/x.svg#p)"/><rect fill="URL( 'https://x' )"/></svg>"##,
        );
        assert!(out.html.contains(r##"fill="url(#g)""##), "{}", out.html);
        assert!(
            !out.html.contains("evil") && !out.html.contains("https"),
            "{}",
            out.html
        );
    }

    #[test]
    fn standalone_svg_is_sanitized_and_namespaced() {
        let svg = r#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x "y">]><svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10" onload="alert(1)"><script>alert(1)</script><path d="M0 0L10 10"/><image href="http://x/y.png"/><text>a&#160;b</text></svg>"#;
        let out = sanitize_svg(svg).expect("svg kept");
        assert!(
            out.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10">"#),
            "{out}"
        );
        assert!(
            !out.contains("script") && !out.contains("onload") && !out.contains("image"),
            "{out}"
        );
        assert!(out.contains(r#"<path d="M0 0L10 10"></path>"#), "{out}");
        assert!(out.contains("a&#160;b"), "{out}");
        assert_eq!(sanitize_svg("<p>not svg</p>"), None);
        let two_roots =
            sanitize_svg("<svg><g><svg></svg></g></svg><svg><rect/></svg><p>x</p>").unwrap();
        assert_eq!(
            two_roots,
            r#"<svg xmlns="http://www.w3.org/2000/svg"><g><svg></svg></g></svg>"#
        );
    }

    #[test]
    fn deep_nesting_is_refused_quickly() {
        for (open, close) in [
            ("<div>", "</div>"),
            ("<span>", ""),
            ("<math><mrow>", ""),
            ("<svg><g>", ""),
            ("<table><tr><td><div>", ""),
            ("<b><i>", ""),
        ] {
            let html = format!("{}x{}", open.repeat(50_000), close.repeat(50_000));
            let out = clean(&html);
            assert!(
                out.html.contains("deeper than 256 levels"),
                "{open}: {}",
                &out.html[..100.min(out.html.len())]
            );
            assert!(out.dropped[0].starts_with("not rendered"));
        }
        // Just under the limit, closed properly, many times over: accepted.
        let block = format!(
            "{}x{}",
            "<div>".repeat(MAX_DEPTH - 1),
            "</div>".repeat(MAX_DEPTH - 1)
        );
        let out = clean(&block.repeat(3));
        assert!(!out.html.contains("not rendered"));
        // Markup whose slash or sibling rules the parser ignores still
        // nests, and is refused.
        for attack in [
            "<div/>",
            "<dd><li>",
            "<li><form>",
            "<rt>",
            "<p><table><p>",
            "<option><b>",
        ] {
            let out = clean(&format!("{}x", attack.repeat(20_000)));
            assert!(out.html.contains("not rendered"), "{attack} let through");
        }
        // Siblings closed implicitly, as converters and authors write
        // them, are not depth.
        let rows = "<tr><td>a<td>b".repeat(5_000);
        let out = clean(&format!(
            "<table>{rows}</table><ul>{}</ul><svg>{}</svg>",
            "<li>x".repeat(5_000),
            "<path d='M0 0'/>".repeat(5_000)
        ));
        assert!(!out.html.contains("not rendered"), "{}", &out.html[..200]);
        // Unclosed paragraphs and list items do not count as depth.
        let out = clean(&"<ul><li><p>x".repeat(200));
        assert!(!out.html.contains("not rendered"));
    }

    #[test]
    fn tags_with_too_many_attributes_are_refused() {
        let plain: String = (0..20_000).map(|i| format!(" a{i}")).collect();
        // Quoted values may hide `>`, and need no space after them.
        let quoted: String = (0..20_000).map(|i| format!(" a{i}='>'")).collect();
        let packed: String = (0..20_000).map(|i| format!("a{i}=\">\"")).collect();
        let packed = format!(" {packed}");
        let slashed: String = (0..20_000).map(|i| format!("/a{i}")).collect();
        let valued: String = (0..20_000).map(|i| format!(" a{i}=x")).collect();
        for attrs in [plain, quoted, packed, slashed, valued] {
            let started = std::time::Instant::now();
            let out = clean(&format!("<p{attrs}>x</p>"));
            assert!(
                out.html.contains("over the limit of 256"),
                "{}",
                &out.html[..out.html.len().min(200)]
            );
            assert!(
                started.elapsed().as_secs() < 5,
                "refusal itself must be fast"
            );
        }
        // Many tags with a few attributes each are fine.
        let many = r#"<span class="a" id="b" title="c" lang="en">x</span>"#.repeat(10_000);
        assert!(!clean(&many).html.contains("not rendered"));
        assert_eq!(
            attribute_overflow(&format!("<p{}>", " a".repeat(256))),
            None
        );
        assert_eq!(
            attribute_overflow(&format!("<p{}>", " a".repeat(257))),
            Some(257)
        );
    }

    #[test]
    fn oversized_input_is_refused() {
        let html = "a".repeat(MAX_INPUT_BYTES + 1);
        let out = clean(&html);
        assert!(out.html.contains("over the"), "{}", out.html);
        assert!(out.html.len() < 200);
    }

    #[test]
    fn notes_are_deduplicated_and_capped() {
        let mut html = String::new();
        for i in 0..200 {
            html.push_str(&format!(
                "<x-tag{i} onclick=a></x-tag{i}><script>1</script>"
            ));
        }
        let out = clean(&html);
        assert!(out.dropped.len() <= MAX_NOTES + 1);
        assert!(
            out.dropped
                .iter()
                .any(|d| d.contains("removed <script> (×200)")),
            "{:?}",
            &out.dropped[..5]
        );
        assert!(out.dropped.last().unwrap().contains("more kinds"));
    }
}
