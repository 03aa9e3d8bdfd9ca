//! SVG handling beyond the allowlist: standalone SVG assets, dvisvgm's
//! glyph `<use>`s and LaTeXML's `<foreignObject>` labels.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use super::sanitize_html;

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
        LazyLock::new(|| Regex::new(r"<path(?:[\s/][^>]*)?>").expect("regex"));
    static USE_TAG: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"<use((?:[\s/][^>]*?)?)/?>(?:\s*</use>)?").expect("regex"));
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
pub(super) fn foreign_objects_to_text(html: &str) -> (Cow<'_, str>, usize) {
    static FOREIGN: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?s)<foreignObject((?:[\s/][^>]*)?)>(.*?)</foreignObject\s*>").expect("regex")
    });
    static MATH: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r#"(?is)<math(?:\s[^>]*?)?\salttext\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>.*?</math\s*>"#,
        )
        .expect("regex")
    });
    static TAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(?s)<[^>]*>").expect("regex"));
    static CODE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"(?is)<(script|style)[\s/>].*?</(script|style)\s*>").expect("regex")
    });
    // Case-sensitive, as LaTeXML writes it: a differently spelled one is
    // simply dropped by the policy, which is safe, only less readable.
    if !html.contains("<foreignObject") {
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
pub(super) fn attributes(tag: &str) -> HashMap<String, String> {
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
