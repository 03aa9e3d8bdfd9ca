//! The allowlist itself: which elements and attributes survive, and the
//! value rules (URLs, inline styles, SVG paint) ammonia's name lists
//! cannot express.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex};

use ammonia::{Builder, UrlRelative};
use regex::Regex;

use super::urls::{classify, is_fragment_char, is_web_scheme, UrlKind};

/// HTML elements kept. Ammonia matches names without namespace, so a name
/// here is allowed in every namespace it exists in; the namespace checks
/// (only `<svg>`/`<math>` and integration points switch namespace) are
/// ammonia's.
pub(super) const HTML_TAGS: &[&str] = &[
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
pub(super) const MATHML_TAGS: &[&str] = &[
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
pub(super) const SVG_TAGS: &[&str] = &[
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
pub(super) fn is_url_attribute(attribute: &str) -> bool {
    matches!(attribute, "href" | "src" | "xlink:href")
}

/// What the ammonia callbacks share with [`sanitize_html`].
pub(super) struct FilterState {
    pub(super) resolved: HashMap<String, Option<String>>,
    pub(super) notes: Mutex<BTreeMap<String, usize>>,
    pub(super) referenced: Mutex<Vec<String>>,
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

pub(super) fn builder(state: Arc<FilterState>) -> Builder<'static> {
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
        // Keep only allowed declarations here (ammonia filters them again,
        // strictly); nothing left means no attribute rather than `style=""`.
        let kept: Vec<&str> = value
            .split(';')
            .map(str::trim)
            .filter(|declaration| {
                declaration.split_once(':').is_some_and(|(property, _)| {
                    STYLE_PROPERTIES.contains(&property.trim().to_ascii_lowercase().as_str())
                })
            })
            .collect();
        return (!kept.is_empty()).then(|| Cow::Owned(kept.join(";")));
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
    if attribute == "src" {
        return filter_src(state, element, trimmed).map(Cow::Owned);
    }
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

/// A resource (`src`) survives only as the resolver's answer for it: a
/// relative path the resolver mapped to one of the result's own files.
/// Everything else goes: absolute, scheme-relative and `data:` URLs, a
/// bare `#fragment` (no file), a path the resolver refused. This runs on
/// the parsed attribute, so text that merely looks like an attribute (a
/// listing showing `<img src=...>`) is never touched.
fn filter_src(state: &FilterState, element: &str, trimmed: &str) -> Option<String> {
    match classify(trimmed) {
        UrlKind::Relative { path, .. } => match state.resolved.get(&path).cloned().flatten() {
            Some(file) => {
                state.reference(&file);
                Some(file)
            }
            None => {
                state.note(format!(
                    "removed a reference to a file that is not part of the result ({element} src)"
                ));
                None
            }
        },
        // A bare `#fragment` classifies as unusable; absolute and unusable
        // URLs are noted by the pre-pass.
        UrlKind::Absolute(_) | UrlKind::Unusable => None,
    }
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

/// At most this many LaTeXML page logos are looked for in one page (it
/// writes one, in the page footer).
const MAX_PAGE_LOGOS: usize = 4;

/// How far after a page logo's start tag its end tag is looked for. The
/// logo (text, a link and a base64 PNG) is about 2 KiB.
const MAX_PAGE_LOGO_BYTES: usize = 64 << 10;

/// Removes LaTeXML's page logo, converter chrome on every page it writes:
///
/// ```html
/// <footer class="ltx_page_footer">
/// <div class="ltx_page_logo">Generated on ... by <a href="http://dlmf.nist.gov/LaTeXML/"
///   class="ltx_LaTeXML_logo">...<img src="data:image/png;base64,..." alt="..."></a>
/// </div></footer>
/// ```
///
/// The policy refuses the `data:` image, which left a broken image (and
/// a link to LaTeXML's site) at the foot of every page. The whole `div`
/// goes, before the other passes, so no note reports the image. A logo
/// whose end is not found near its start is left to the policy.
///
/// This edits the converter's markup before it is parsed, so a mistake
/// here can only change what the sanitizer is given, never bypass it.
pub(super) fn without_page_logo(html: &str) -> Cow<'_, str> {
    static LOGO: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"<div\s+class="(?:[^"<>]*\s)?ltx_page_logo(?:\s[^"<>]*)?"\s*>"#)
            .expect("regex")
    });
    let mut out = String::new();
    let mut copied = 0;
    for start in LOGO.find_iter(html).take(MAX_PAGE_LOGOS) {
        if start.start() < copied {
            continue;
        }
        let window_end = floor_char_boundary(html, start.end() + MAX_PAGE_LOGO_BYTES);
        let Some(end) = matching_div_end(&html[start.end()..window_end]) else {
            continue;
        };
        out.push_str(&html[copied..start.start()]);
        copied = start.end() + end;
    }
    if copied == 0 {
        return Cow::Borrowed(html);
    }
    out.push_str(&html[copied..]);
    Cow::Owned(out)
}

/// The byte offset just after the `</div>` closing a `div` whose content
/// starts `text`, counting the `div`s opened inside it (one pass over the
/// tags).
fn matching_div_end(text: &str) -> Option<usize> {
    let mut depth = 1usize;
    let mut at = 0;
    while let Some(offset) = text[at..].find('<') {
        at += offset;
        let rest = &text[at..];
        if rest.starts_with("</div") {
            at += rest.find('>')? + 1;
            depth -= 1;
            if depth == 0 {
                return Some(at);
            }
        } else {
            if rest.starts_with("<div") {
                depth += 1;
            }
            at += 1;
        }
    }
    None
}

/// The largest char boundary of `text` at or before `at`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}
