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
//!   the result says so. These pre-checks run in microseconds and refuse
//!   the shapes we know; the attribute count reads the page both as our
//!   token passes do (every tag is markup) and as the tree builder does
//!   (raw text, script data, comments, CDATA in SVG/MathML), so a quote in
//!   text cannot hide a tag from it. They are a first filter, not the
//!   wall: this module runs inside the post-conversion child of
//!   `crate::convert::bounded`, whose time and memory budget stops
//!   whatever they miss (e.g. the tree builder's HTML integration points
//!   inside MathML/SVG, which the count does not model).
//!
//! [`POLICY_VERSION`] names this policy; it is part of every cache key, so
//! changing the policy must change the constant.

mod limits;
mod policy;
mod scan;
mod svg;
mod urls;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use limits::attribute_overflow;
use policy::{builder, FilterState};
use scan::{scan, tokenize, TitleSink};
use svg::foreign_objects_to_text;
pub use svg::sanitize_svg;

/// Version of the sanitizing policy; feeds the cache key.
pub const POLICY_VERSION: &str = "2";

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
        let out = clean(r#"<a href="x.png" style="position:fixed">a</a><p style="">b</p>"#);
        assert!(!out.html.contains("style"), "{}", out.html);
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

    /// A quote inside text the parser does not read as markup must not
    /// hide a large tag from the pre-scan (nor the reverse).
    #[test]
    fn text_the_parser_does_not_tokenize_cannot_hide_a_tag() {
        let huge: String = (0..20_000).map(|i| format!(" a{i}")).collect();
        for shape in [
            "<style><a x=\"</style><p{huge}>\"",
            "<STYLE>'</style ><p{huge}>'",
            "<script>var s = \"</script><p{huge}>\"",
            "<script><!--<script>\"</script>\"--></script><p{huge}>",
            "<textarea><b title=\"</textarea><p{huge}>\"",
            "<title>\"</title><p{huge}>\"",
            "<xmp>\"</xmp><p{huge}>\"",
            "<noscript>\"</noscript><p{huge}>\"",
            "<iframe>\"</iframe><p{huge}>\"",
            "<!-- <a x=\" --><p{huge}>\"",
            "<!--> <p{huge}>",
            "<? <a x=\" ><p{huge}>\"",
            "<! <a x=\" ><p{huge}>\"",
            "</1 <a x=\" ><p{huge}>\"",
            "<svg><![CDATA[ <a x=\" ]]><p{huge}>\"</svg>",
            // Read as markup by our token passes, as text by the parser.
            "<style><p{huge}></style>",
            "<plaintext><p{huge}>",
            "<svg><style>\"</style></svg><style>\"</style><p{huge}>\"",
            "<math><mi>x</mi></math><style>\"</style><p{huge}>\"",
        ] {
            let html = shape.replace("{huge}", &huge);
            let started = std::time::Instant::now();
            let out = clean(&html);
            assert!(
                out.html.contains("over the limit of 256"),
                "{}: {}",
                &shape[..shape.len().min(40)],
                &out.html[..out.html.len().min(200)]
            );
            assert!(started.elapsed().as_secs() < 5, "refusal must be fast");
        }
        // Raw text and comments holding quotes and many words are fine.
        let words = "w ".repeat(2_000);
        let fine = format!(
            "<style>a[title=\"x\"] {{}}</style><p>{words}</p><!-- \" {words} -->\
             <script>if (a < b) {{ s = \"</p>\"; }}</script><p class=\"x\">{words}</p>"
        );
        assert_eq!(attribute_overflow(&fine), None);
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
