//! Hostile HTML against the sanitizer, and real converter output through it.
//!
//! Nothing here trusts substring checks alone: every output is re-read
//! with html5ever's tokenizer, which reports every tag a browser could see
//! (it does not know about raw-text elements, so markup hidden inside a
//! `<style>` would still be reported — a stricter reading than a
//! browser's), and each tag and attribute is checked against rules
//! written here independently of the policy's own tables. Outputs are
//! also sanitized a second time: a stable result shows that re-parsing
//! does not mutate the markup into something new (mutation XSS).

use std::cell::RefCell;
use std::path::Path;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};
use proptest::prelude::*;
use texjail::sanitize::{extract_title, sanitize_html, sanitize_svg, Sanitized, POLICY_VERSION};

/// Tags a sanitized document may contain (lowercase, as the tokenizer
/// reports them). Written out here on purpose rather than imported from
/// the policy: the checker must be able to fail when the policy itself
/// lets something in.
const SAFE_TAGS: &[&str] = &[
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
    // MathML
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
    // SVG
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
    "clippath",
    "lineargradient",
    "radialgradient",
    "stop",
    "marker",
];

/// The files a result holds, as the converter's copy-out would list them.
const RESULT_FILES: &[&str] = &[
    "x.png",
    "x.html",
    "sec2.html",
    "figures/dots.png",
    "figures/square-.png",
    "x1.png",
];

/// The resolver the tests use: files of the result map into `assets/`,
/// anything else is refused, as the real one does.
fn resolve(path: &str) -> Option<String> {
    RESULT_FILES
        .contains(&path)
        .then(|| format!("assets/{path}"))
}

/// A start tag as the tokenizer reports it: name and (name, value) pairs.
type StartTag = (String, Vec<(String, String)>);

#[derive(Default)]
struct Tags(RefCell<Vec<StartTag>>);

impl TokenSink for Tags {
    type Handle = ();
    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        if let Token::TagToken(tag) = token {
            if tag.kind == TagKind::StartTag {
                let attrs = tag
                    .attrs
                    .iter()
                    .map(|a| {
                        let name = match &a.name.prefix {
                            Some(p) => format!("{p}:{}", a.name.local),
                            None => a.name.local.to_string(),
                        };
                        (name, a.value.to_string())
                    })
                    .collect();
                self.0.borrow_mut().push((tag.name.to_string(), attrs));
            }
        }
        TokenSinkResult::Continue
    }
}

fn start_tags(html: &str) -> Vec<StartTag> {
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tokenizer = Tokenizer::new(Tags::default(), TokenizerOpts::default());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.0.into_inner()
}

/// `assert!` that reports instead of panicking, so the checker itself can
/// be tested.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// Every way the output could still act, checked on each start tag; the
/// first problem found, if any.
fn active_content(input: &str, out: &Sanitized) -> Result<(), String> {
    let html = &out.html;
    for (tag, attrs) in start_tags(html) {
        ensure!(
            SAFE_TAGS.contains(&tag.as_str()),
            "tag <{tag}> survived\ninput: {input}\noutput: {html}"
        );
        for (name, value) in attrs {
            let lower_name = name.to_ascii_lowercase();
            let lower_value: String = value
                .to_ascii_lowercase()
                .chars()
                .filter(|c| !c.is_whitespace() && !c.is_control())
                .collect();
            ensure!(
                !lower_name.starts_with("on"),
                "event handler {name} on <{tag}>\ninput: {input}\noutput: {html}"
            );
            ensure!(
                !matches!(
                    lower_name.as_str(),
                    "srcset"
                        | "action"
                        | "formaction"
                        | "data"
                        | "srcdoc"
                        | "background"
                        | "poster"
                        | "xlink:href"
                        | "altimg"
                        | "attributename"
                        | "values"
                        | "from"
                        | "to"
                        | "http-equiv"
                ),
                "attribute {name} on <{tag}>\ninput: {input}\noutput: {html}"
            );
            if lower_name == "href" {
                let ok = lower_value.starts_with('#')
                    || lower_value.starts_with("https://")
                    || lower_value.starts_with("http://")
                    || lower_value.starts_with("mailto:")
                    || lower_value.starts_with("assets/");
                ensure!(
                    ok,
                    "href={value:?} on <{tag}>\ninput: {input}\noutput: {html}"
                );
                ensure!(tag != "math", "href on MathML");
                if !lower_value.starts_with('#') && !lower_value.starts_with("assets/") {
                    ensure!(tag == "a", "external href on <{tag}>");
                }
            }
            if lower_name == "src" {
                ensure!(
                    lower_value.starts_with("assets/"),
                    "src={value:?} on <{tag}>\ninput: {input}\noutput: {html}"
                );
            }
            for needle in [
                "javascript:",
                "vbscript:",
                "data:",
                "expression(",
                "@import",
                "position",
            ] {
                ensure!(
                    !lower_value.contains(needle),
                    "{needle} in {name} on <{tag}>\ninput: {input}\noutput: {html}"
                );
            }
            if lower_name == "style" {
                ensure!(
                    !value.contains('\\'),
                    "CSS escape in style on <{tag}>\ninput: {input}\noutput: {html}"
                );
            }
            if lower_value.contains("url(") {
                ensure!(
                    lower_value.contains("url(#")
                        || lower_value.contains("url('#")
                        || lower_value.contains("url(\"#"),
                    "non-local url() in {name} on <{tag}>\ninput: {input}\noutput: {html}"
                );
                ensure!(
                    !lower_value.contains("url(h") && !lower_value.contains("url(/"),
                    "external url() in {name} on <{tag}>"
                );
            }
        }
    }
    for asset in &out.referenced_assets {
        ensure!(
            asset.starts_with("assets/") && !asset.contains(".."),
            "asset {asset}"
        );
    }
    Ok(())
}

fn assert_no_active_content(input: &str, out: &Sanitized) {
    if let Err(problem) = active_content(input, out) {
        panic!("{problem}");
    }
}

/// [`assert_no_active_content`] plus stability: sanitizing the output
/// again (what a browser's re-parse amounts to) neither adds nor removes
/// a single element or attribute. Mutation XSS is exactly a re-parse that
/// turns text or attribute values into new markup. Nesting may settle
/// (`<a>` inside `<a>` after table foster-parenting becomes siblings), so
/// the tag and attribute sequence is compared, not the string; the order
/// of attributes within a tag carries no meaning, so each tag's set is.
fn assert_inert(input: &str, out: &Sanitized) {
    assert_no_active_content(input, out);
    let html = &out.html;
    let again = sanitize_html(html, &|p| Some(p.to_owned()));
    assert_no_active_content(input, &again);
    let canonical = |html: &str| {
        let mut tags = start_tags(html);
        for (_, attrs) in &mut tags {
            attrs.sort();
        }
        tags
    };
    assert_eq!(
        canonical(&again.html),
        canonical(html),
        "re-sanitizing changed the markup\ninput: {input}\nfirst: {html}\nagain: {}",
        again.html
    );
}

fn check(input: &str) -> Sanitized {
    let out = sanitize_html(input, &resolve);
    assert_inert(input, &out);
    out
}

/// Payloads collected from sanitizer bypass write-ups and from what the
/// converters emit when a document smuggles markup: make4ht's
/// `\HCode{...}` copies text into the HTML verbatim, pandoc keeps
/// `{=html}` and `rawhtml` blocks, LaTeXML writes `\href` targets as is.
const PAYLOADS: &[&str] = &[
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<IMG SRC=x OnErRoR=alert(1)>",
    "<svg onload=alert(1)>",
    "<body onload=alert(1)><p>x</p></body>",
    // Namespace confusion (mutation XSS).
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "<math><mtext><table><mglyph><style><!--</style><img title=\"--&gt;&lt;img src=1 onerror=alert(1)&gt;\">",
    "<svg><p><style><img src=x onerror=alert(1)>",
    "<svg></p><style><a id=\"</style><img src=1 onerror=alert(1)>\">",
    "<math><annotation-xml encoding=\"text/html\"><img src=x onerror=alert(1)></annotation-xml></math>",
    "<math><annotation-xml encoding=\"application/xhtml+xml\"><style><img src=x onerror=alert(1)></style></annotation-xml></math>",
    "<math><mi><svg><foreignObject><script>alert(1)</script></foreignObject></svg></mi></math>",
    "<math><mtext><svg><style><img src=x onerror=alert(1)></style></svg></mtext></math>",
    "<svg><desc><img src=x onerror=alert(1)></desc></svg>",
    "<svg><title><img src=x onerror=alert(1)></title></svg>",
    "<svg><![CDATA[</svg><img src=x onerror=alert(1)>]]></svg>",
    "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<p><!--</p><img src=x onerror=alert(1)>--></p>",
    "<!--<img src=x onerror=alert(1)>-->",
    "<textarea><img src=x onerror=alert(1)></textarea>",
    "<xmp><img src=x onerror=alert(1)></xmp>",
    "<template><script>alert(1)</script><img src=x onerror=alert(1)></template>",
    "<select><style></select><img src=x onerror=alert(1)>",
    "<form><math><mtext></form><form><mglyph><style></math><img src onerror=alert(1)>",
    // Links as a converter writes `\href{javascript:...}`.
    "<a href=\"javascript:alert(1)\">x</a>",
    "<a href=\"JaVaScRiPt:alert(1)\">x</a>",
    "<a href=\" javascript:alert(1)\">x</a>",
    "<a href=\"java\tscript:alert(1)\">x</a>",
    "<a href=\"java\nscript:alert(1)\">x</a>",
    "<a href=\"&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)\">x</a>",
    "<a href=\"&#x6A;avascript&colon;alert(1)\">x</a>",
    "<a href=\"&#0000106&#0000097vascript:alert(1)\">x</a>",
    "<a href=\"jav&#x09;ascript:alert(1)\">x</a>",
    "<a href=\"\x01javascript:alert(1)\">x</a>",
    "<a href=\"vbscript:msgbox(1)\">x</a>",
    "<a href=\"data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==\">x</a>",
    "<a href=\"//evil.example/\">x</a>",
    "<a href=\"\\\\evil.example\\x\">x</a>",
    "<a href=\"/\\evil.example\">x</a>",
    "<a href=\"file:///etc/passwd\">x</a>",
    "<a href=\"#x\" onclick=\"alert(1)\" ping=\"http://evil/\">x</a>",
    // Resources that would load from elsewhere.
    "<img src=\"http://evil.example/x.png\">",
    "<img src=\"//evil.example/x.png\">",
    "<img src=\"data:image/svg+xml,&lt;svg onload=alert(1)&gt;\">",
    "<img src=\"x.png\" srcset=\"http://evil.example/x.png 2x\">",
    "<img src=\"../../etc/passwd\">",
    "<img src=\"/etc/passwd\">",
    "<iframe src=\"javascript:alert(1)\"></iframe>",
    "<iframe srcdoc=\"<script>alert(1)</script>\"></iframe>",
    "<object data=\"x.swf\"></object><embed src=\"x.swf\">",
    "<form action=\"http://evil/\"><input type=submit formaction=\"javascript:alert(1)\"><button>x</button></form>",
    "<base href=\"http://evil.example/\"><a href=\"x.html\">x</a>",
    "<meta http-equiv=\"refresh\" content=\"0;url=javascript:alert(1)\">",
    "<link rel=\"stylesheet\" href=\"http://evil.example/x.css\">",
    "<video poster=\"http://evil/x.png\"><source src=\"x.mp4\"></video><audio src=x.mp3></audio>",
    // Styles.
    "<style>@import url(http://evil.example/x.css); body{background:url(http://evil/)}</style>",
    "<p style=\"background:url(http://evil.example/x.png)\">x</p>",
    "<p style=\"background-image:url(javascript:alert(1))\">x</p>",
    "<p style=\"color:red;background-color:u\\72l(http://evil/)\">x</p>",
    "<p style=\"width:expression(alert(1))\">x</p>",
    "<div style=\"position:fixed;top:0;left:0;width:100%;height:100%\">overlay</div>",
    "<p style=\"list-style:url(http://evil/x.png)\">x</p>",
    // SVG active content.
    "<svg><script>alert(1)</script></svg>",
    "<svg><style>@import url(http://evil/)</style></svg>",
    "<svg><use href=\"data:image/svg+xml;base64,PHN2Zz4=#x\"/></svg>",
    "<svg><use xlink:href=\"http://evil/x.svg#a\"/></svg>",
    "<svg><image href=\"http://evil/x.png\" onerror=\"alert(1)\"/></svg>",
    "<svg><foreignObject><iframe src=\"javascript:alert(1)\"></iframe></foreignObject></svg>",
    "<svg><a href=\"javascript:alert(1)\"><text>x</text></a></svg>",
    "<svg><a xlink:href=\"javascript:alert(1)\"><text>x</text></a></svg>",
    "<svg><animate attributeName=\"href\" values=\"javascript:alert(1)\"/><a><text>x</text></a></svg>",
    "<svg><set attributeName=\"onmouseover\" to=\"alert(1)\"/></svg>",
    "<svg><animateTransform attributeName=\"transform\"/><animateMotion path=\"M0 0\"/></svg>",
    "<svg><rect fill=\"url(http://evil.example/p.svg#x)\" filter=\"url(#f)\"/></svg>",
    "<svg><filter id=\"f\"><feImage href=\"http://evil/x.png\"/></filter></svg>",
    "<svg><pattern id=\"p\"><image href=\"x.png\"/></pattern></svg>",
    // MathML links and actions.
    "<math href=\"javascript:alert(1)\"><mi>x</mi></math>",
    "<math><mi xlink:href=\"javascript:alert(1)\">x</mi></math>",
    "<math><maction actiontype=\"statusline#http://evil\"><mi>x</mi></maction></math>",
    "<math><mglyph src=\"http://evil/x.png\"/></math>",
    "<math altimg=\"http://evil/x.png\"><mi>x</mi></math>",
    // make4ht \HCode and pandoc raw blocks, as they reach the HTML.
    "<div class=\"raw\"><script type=\"text/javascript\">document.cookie</script></div>",
    "<p>text</p><script src=\"http://evil.example/x.js\"></script>",
    "<div class=\"rawhtml\"><img src=x onerror=alert(1)><iframe src=//evil></iframe></div>",
];

#[test]
fn every_payload_is_inert() {
    for payload in PAYLOADS {
        check(payload);
    }
}

#[test]
fn payloads_inside_real_structure_are_inert() {
    // The same payloads embedded where converters put user text: inside
    // math text, table cells, theorem blocks and figure captions.
    for payload in PAYLOADS {
        for wrapper in [
            "<math><mtext>{}</mtext></math>",
            "<table><tr><td>{}</td></tr></table>",
            "<div class=\"ltx_theorem\"><p>{}</p></div>",
            "<figure><figcaption>{}</figcaption></figure>",
            "<svg><text>{}</text></svg>",
        ] {
            check(&wrapper.replace("{}", payload));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Random concatenations of payload fragments and namespace switches:
    /// the rules must hold for the class, not for the listed cases.
    #[test]
    fn random_mixtures_are_inert(parts in prop::collection::vec(
        prop_oneof![
            prop::sample::select(PAYLOADS.to_vec()).prop_map(str::to_owned),
            prop::sample::select(vec![
                "<math>", "<mtext>", "<mi>", "<svg>", "<p>", "</p>", "<style>", "</style>",
                "<table>", "<mglyph>", "<annotation-xml encoding=\"text/html\">", "<foreignObject>",
                "<!--", "-->", "<desc>", "<title>", "\"", "'", ">", "</math>", "</svg>",
                "<noscript>", "<textarea>", "<a href=\"", "javascript:", "<img src=x ",
            ]).prop_map(str::to_owned),
        ],
        1..12,
    )) {
        let input = parts.concat();
        check(&input);
    }
}

/// The checker must be able to fail: fed the raw payloads, it rejects
/// every one of them.
#[test]
fn the_checker_rejects_raw_payloads() {
    // Comments are inert as written; they are in the list for what a
    // sanitizer might do when it re-serializes them.
    let inert_as_written = [
        "<p><!--</p><img src=x onerror=alert(1)>--></p>",
        "<!--<img src=x onerror=alert(1)>-->",
    ];
    let accepted: Vec<&str> = PAYLOADS
        .iter()
        .copied()
        .filter(|payload| {
            let raw = Sanitized {
                html: payload.to_string(),
                referenced_assets: vec![],
                dropped: vec![],
            };
            active_content(payload, &raw).is_ok()
        })
        .collect();
    assert_eq!(
        accepted, inert_as_written,
        "the checker accepts raw payloads"
    );
}

#[test]
fn javascript_links_are_removed_but_text_kept() {
    let out = check("<a href=\"JaVa&#x09;ScRiPt:alert(1)\">click</a>");
    assert!(out.html.contains("click"));
    assert!(
        out.dropped.iter().any(|d| d.contains("javascript")),
        "{:?}",
        out.dropped
    );
}

#[test]
fn external_links_carry_rel() {
    let out = check("<a href=\"https://arxiv.org/\">arXiv</a>");
    let tags = start_tags(&out.html);
    let attrs = &tags[0].1;
    assert!(attrs.contains(&("href".into(), "https://arxiv.org/".into())));
    assert!(attrs.contains(&("rel".into(), "noopener noreferrer nofollow".into())));
}

#[test]
fn dropped_notes_name_what_was_removed() {
    let out = check("<script>1</script><script>2</script><img src=x onerror=a><iframe></iframe>");
    let notes = out.dropped.join("\n");
    assert!(notes.contains("removed <script> (×2)"), "{notes}");
    assert!(notes.contains("removed event handler onerror="), "{notes}");
    assert!(notes.contains("removed <iframe>"), "{notes}");
}

#[test]
fn standalone_svg_payloads() {
    let cases = [
        r#"<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><rect width="1" height="1"/></svg>"#,
        r#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><circle r="1"/></svg>"#,
        r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><use xlink:href="http://evil/x.svg#a"/><image xlink:href="x.png"/><foreignObject><iframe src="javascript:alert(1)"/></foreignObject></svg>"#,
        r#"<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><svg xmlns="http://www.w3.org/2000/svg"><text>&lol2;</text></svg>"#,
        r#"<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript:alert(1)"><text>x</text></a><animate attributeName="href" to="javascript:alert(1)"/></svg>"#,
        r#"<svg xmlns="http://www.w3.org/2000/svg"><style>rect{fill:url(http://evil/)}</style><rect style="fill:url(http://evil/)" fill="url(http://evil/#x)"/></svg>"#,
    ];
    for svg in cases {
        let out = sanitize_svg(svg).unwrap_or_else(|| panic!("{svg} rejected entirely"));
        assert!(
            out.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg""#),
            "{out}"
        );
        let as_html = Sanitized {
            html: out.clone(),
            referenced_assets: vec![],
            dropped: vec![],
        };
        // The href rule of the checker allows `assets/`, which a refusing
        // resolver never produces; no src/href may survive at all here.
        assert_no_active_content(svg, &as_html);
        assert!(!out.contains("href") && !out.contains("src="), "{out}");
        assert!(!out.contains("&lol"), "entity expanded or kept: {out}");
    }
    assert_eq!(
        sanitize_svg("<html><body><p>no svg</p></body></html>"),
        None
    );
    assert_eq!(
        sanitize_svg("<svg><script>x</script>"),
        Some(r#"<svg xmlns="http://www.w3.org/2000/svg"></svg>"#.to_owned())
    );
}

#[test]
fn policy_version_is_set() {
    assert!(!POLICY_VERSION.is_empty());
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// How many start tags named `tag` the markup holds.
fn count(html: &str, tag: &str) -> usize {
    start_tags(html)
        .iter()
        .filter(|(name, _)| name == tag)
        .count()
}

fn has_attr(html: &str, tag: &str, attr: &str, value: &str) -> bool {
    start_tags(html)
        .iter()
        .any(|(name, attrs)| name == tag && attrs.iter().any(|(a, v)| a == attr && v == value))
}

/// Real LaTeXML output of samples/article (latexmlc --format=html5 --pmml
/// --mathtex): math, ids, theorem classes, links and figures survive.
#[test]
fn latexml_article_keeps_its_content() {
    let input = fixture("latexml-article.html");
    let out = check(&input);
    let html = &out.html;
    // LaTeXML puts TikZ labels in `<foreignObject>`, which the policy
    // refuses: the label becomes SVG text, its formula TeX source.
    let in_foreign_object = input
        .split("<foreignObject")
        .skip(1)
        .map(|part| count(part.split("</foreignObject>").next().unwrap(), "math"))
        .sum::<usize>();
    assert_eq!(in_foreign_object, 1);
    assert_eq!(
        count(html, "math"),
        count(&input, "math") - in_foreign_object,
        "every other formula kept"
    );
    assert_eq!(count(html, "text"), 1);
    assert!(html.contains(">3^{2}=1+3+5</text>"), "{html}");
    assert!(
        out.dropped
            .iter()
            .any(|d| d.contains("foreignObject labels")),
        "{:?}",
        out.dropped
    );
    assert_eq!(
        count(html, "annotation"),
        count(html, "math"),
        "TeX annotations kept"
    );
    assert_eq!(count(html, "munderover"), count(&input, "munderover"));
    assert!(has_attr(html, "section", "id", "S2"), "section ids kept");
    assert!(has_attr(html, "a", "href", "#S2.E1"), "equation links kept");
    assert!(
        start_tags(html).iter().any(|(n, a)| n == "div"
            && a.iter()
                .any(|(k, v)| k == "class" && v.contains("ltx_theorem_theorem"))),
        "theorem classes kept"
    );
    assert_eq!(count(html, "table"), count(&input, "table"));
    assert!(
        has_attr(html, "a", "href", "https://www.ctan.org/"),
        "\\href kept"
    );
    assert_eq!(
        out.referenced_assets,
        vec!["assets/figures/dots.png", "assets/x1.png"]
    );
    assert_eq!(count(html, "svg"), 1, "TikZ picture kept as SVG");
    assert_eq!(count(html, "path"), count(&input, "path"));
    // LaTeXML's footer logo is converter chrome: removed whole, no note.
    assert!(
        !html.contains("ltx_page_logo") && !html.contains("dlmf.nist.gov"),
        "{html}"
    );
    assert!(
        !out.dropped.iter().any(|d| d.contains("data: URL")),
        "{:?}",
        out.dropped
    );
    assert_eq!(
        extract_title(&input).as_deref(),
        Some("Sums of Squares and Small Pictures")
    );
    assert!(
        !html.contains("<title") && !html.contains("<head"),
        "body only"
    );
}

#[test]
fn make4ht_article_keeps_its_content() {
    let input = fixture("make4ht-article.html");
    let out = check(&input);
    assert_eq!(count(&out.html, "math"), count(&input, "math"));
    assert!(count(&out.html, "math") >= 10);
    assert!(
        has_attr(&out.html, "div", "class", "newtheorem"),
        "theorem blocks kept"
    );
    assert_eq!(
        out.referenced_assets,
        vec!["assets/figures/dots.png", "assets/figures/square-.png"]
    );
    assert_eq!(
        extract_title(&input).as_deref(),
        Some("Sums of Squares and Small Pictures")
    );
}

#[test]
fn pandoc_article_keeps_its_content() {
    let input = fixture("pandoc-article.html");
    let out = check(&input);
    assert_eq!(count(&out.html, "math"), count(&input, "math"));
    for id in ["sec:intro", "thm:squares", "tab:squares", "ref-gauss1801"] {
        assert!(
            start_tags(&out.html)
                .iter()
                .any(|(_, a)| a.iter().any(|(k, v)| k == "id" && v == id)),
            "id {id}"
        );
    }
    // pandoc writes `style="width:30.0%"`; the width survives the filter
    // (normalized).
    assert!(
        has_attr(&out.html, "img", "style", "width:30%"),
        "{}",
        out.html
    );
    assert_eq!(out.referenced_assets, vec!["assets/figures/dots.png"]);
}

#[test]
fn latexml_beamer_is_inert_and_keeps_math() {
    let input = fixture("latexml-beamer.html");
    let out = check(&input);
    assert_eq!(count(&out.html, "math"), count(&input, "math"));
    assert!(count(&out.html, "math") > 0);
}

/// A hostile document (tests/fixtures/hostile.tex) as the three converters
/// really render it: LaTeXML writes `\href` targets verbatim, make4ht
/// copies `\HCode{...}` into the page.
#[test]
fn real_hostile_outputs_are_inert() {
    for name in [
        "latexml-hostile.html",
        "make4ht-hostile.html",
        "pandoc-hostile.html",
    ] {
        let input = fixture(name);
        assert!(
            input.contains("javascript:alert(1)"),
            "{name} carries the payload"
        );
        let out = check(&input);
        for text in ["one", "two", "safe"] {
            assert!(out.html.contains(text), "{name}: link text {text} kept");
        }
        assert!(
            has_attr(&out.html, "a", "href", "https://example.org/"),
            "{name}: web link kept"
        );
        // `\url{javascript:...}` shows its target as text; no link may
        // carry a scheme other than the web ones.
        let hrefs: Vec<String> = start_tags(&out.html)
            .into_iter()
            .flat_map(|(_, attrs)| attrs)
            .filter(|(k, _)| k == "href")
            .map(|(_, v)| v)
            .collect();
        assert!(
            hrefs.iter().all(|h| h.starts_with("https://")
                || h.starts_with("http://")
                || h.starts_with('#')),
            "{name}: {hrefs:?}"
        );
    }
    let make4ht = fixture("make4ht-hostile.html");
    assert!(
        make4ht.contains("<script>alert(6)"),
        "make4ht really emits \\HCode scripts"
    );
    let out = check(&make4ht);
    assert!(
        out.dropped
            .iter()
            .any(|d| d.starts_with("removed <script>")),
        "{:?}",
        out.dropped
    );
}

/// dvisvgm's SVG (make4ht's TikZ output) draws its text with local
/// `<use xlink:href="#glyph">`; those are inlined as paths, never kept.
#[test]
fn make4ht_tikz_svg_keeps_glyphs_as_paths() {
    let input = fixture("make4ht-article-tikz.svg");
    let out = sanitize_svg(&input).expect("svg kept");
    let as_html = Sanitized {
        html: out.clone(),
        referenced_assets: vec![],
        dropped: vec![],
    };
    assert_no_active_content(&input, &as_html);
    assert_eq!(count(&out, "use"), 0);
    // Every glyph use became a path, next to the definitions and the
    // drawn lines.
    assert_eq!(
        count(&out, "path"),
        count(&input, "path") + count(&input, "use"),
        "{out}"
    );
    assert!(
        out.contains(r#"viewBox="5.061319 97.633473 94.088546 93.276894""#),
        "{out}"
    );
}
