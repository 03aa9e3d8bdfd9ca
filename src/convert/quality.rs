//! How good a page is, measured as a reader sees it.
//!
//! A converter's status line says what the converter noticed; a reader
//! sees something else: TeX that was never interpreted (`\ell`,
//! `\externaldocument`, `$x$` left as text), references that point
//! nowhere (`??`, `[?]`, a link to an id the page lacks), images that did
//! not arrive, formulas that went missing. [`measure`] reads the
//! sanitized page once and counts each of these in the *visible* text:
//! what lies inside `<math>`, `<pre>`, `<code>`, `<svg>` and the like is
//! meant to show TeX or code and is not counted.
//!
//! The measure serves three readers: the result (`quality` in the JSON,
//! `result.json` and the page header), `auto`, which keeps the best page
//! of its attempts ([`Quality::penalty`]), and the status class: a page
//! whose text shows raw TeX is not `ok` or `warnings`
//! ([`Quality::escalate`]).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashSet};

use html5ever::tokenizer::{TagKind, Token, TokenSink, TokenSinkResult};
use serde::{Deserialize, Serialize};

use super::diagnostics::StatusClass;
use crate::sanitize::tokenize;

/// A page showing this many raw TeX commands or more is not clean: a few
/// can be prose about TeX (`the \LaTeX{} logo` in a listing-free
/// paragraph); more means the converter did not understand the document.
pub const RAW_TEX_LIMIT: usize = 5;

/// At most this many distinct raw commands are named in the result.
const MAX_SAMPLES: usize = 8;

/// Elements whose text is code or formula source by design.
const VERBATIM_ELEMENTS: &[&str] = &[
    "math",
    "pre",
    "code",
    "kbd",
    "samp",
    "tt",
    "svg",
    "script",
    "style",
    "annotation",
    "textarea",
];

/// What a reader would notice about one page.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quality {
    /// Backslash commands (`\ell`, `\csname`) in the visible text.
    pub raw_tex_commands: usize,
    /// The most frequent of them, with counts (`\ell ×12`).
    pub raw_tex_samples: Vec<String>,
    /// `$` signs in the visible text: math a converter did not parse.
    pub dollar_signs: usize,
    /// `??`, `[?]` and links to ids the page does not have.
    pub unresolved_references: usize,
    /// Images whose file did not reach the result.
    pub missing_images: usize,
    /// `<math>` elements on the page.
    pub math_elements: usize,
    /// Formulas in the sources (inline and display), for comparison.
    pub math_in_sources: usize,
    /// The converter's own errors (error and fatal diagnostics).
    pub converter_errors: usize,
    /// The page's status is `ok` or `warnings` and it shows fewer than
    /// [`RAW_TEX_LIMIT`] raw commands.
    pub clean: bool,
}

impl Quality {
    /// Formulas of the sources that are not on the page. Only a large
    /// shortfall means anything: the source count is an estimate (a
    /// macro can hold many formulas, a `$` can be a price).
    pub fn missing_math(&self) -> usize {
        self.math_in_sources
            .saturating_sub(self.math_elements)
            .saturating_sub(self.math_in_sources / 5)
    }

    /// The cost of what a reader meets, for choosing among pages of one
    /// project (lower is better). Each unit is roughly one spot where the
    /// reader stumbles: a raw command, an unparsed formula (two `$`), a
    /// broken reference, a missing image (worth several), a formula that
    /// is gone, an error the converter reported.
    pub fn penalty(&self) -> usize {
        self.raw_tex_commands
            + self.dollar_signs / 2
            + self.unresolved_references
            + 5 * self.missing_images
            + self.missing_math()
            + 3 * self.converter_errors.min(100)
    }

    /// The status class a page earns: the converter's, made `errors` when
    /// the text shows raw TeX (a page whose text shows raw TeX is not
    /// `ok` or `warnings`, whatever the converter thought).
    pub fn escalate(&self, status: StatusClass) -> StatusClass {
        if self.shows_raw_tex() {
            status.max(StatusClass::Errors)
        } else {
            status
        }
    }

    /// The text shows raw TeX: commands, or formulas left as `$...$`.
    pub fn shows_raw_tex(&self) -> bool {
        self.raw_tex_commands >= RAW_TEX_LIMIT || self.dollar_signs >= 2 * RAW_TEX_LIMIT
    }

    /// Sets [`Quality::clean`] for the final status.
    pub fn with_status(mut self, status: StatusClass) -> Self {
        self.clean = matches!(status, StatusClass::Ok | StatusClass::Warnings)
            && self.raw_tex_commands < RAW_TEX_LIMIT;
        self
    }

    /// One line for people: "clean" or what is wrong.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.raw_tex_commands > 0 {
            let mut part = format!("{} raw TeX commands", self.raw_tex_commands);
            if !self.raw_tex_samples.is_empty() {
                part.push_str(&format!(" ({})", self.raw_tex_samples.join(", ")));
            }
            parts.push(part);
        }
        if self.dollar_signs > 0 {
            parts.push(format!("{} `$` in the text", self.dollar_signs));
        }
        if self.unresolved_references > 0 {
            parts.push(format!(
                "{} unresolved references",
                self.unresolved_references
            ));
        }
        if self.missing_images > 0 {
            parts.push(format!("{} missing images", self.missing_images));
        }
        if self.missing_math() > 0 {
            parts.push(format!(
                "{} of about {} formulas missing",
                self.math_in_sources.saturating_sub(self.math_elements),
                self.math_in_sources
            ));
        }
        if self.converter_errors > 0 {
            parts.push(format!("{} converter errors", self.converter_errors));
        }
        if parts.is_empty() {
            "no problems seen".to_owned()
        } else {
            parts.join("; ")
        }
    }
}

/// Measures a sanitized page (the body as the result stores it).
pub fn measure(page_html: &str) -> Quality {
    let sink = tokenize(page_html, PageSink::default());
    let text = sink.text.into_inner();
    let commands = raw_commands(&text);
    let raw_tex_commands = commands.values().sum();
    let mut ranked: Vec<(&String, &usize)> = commands.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let raw_tex_samples = ranked
        .into_iter()
        .take(MAX_SAMPLES)
        .map(|(name, count)| {
            if *count > 1 {
                format!("{name} ×{count}")
            } else {
                name.clone()
            }
        })
        .collect();
    let ids = sink.ids.into_inner();
    let broken_links = sink
        .fragment_links
        .into_inner()
        .iter()
        .filter(|target| !ids.contains(*target))
        .count();
    Quality {
        raw_tex_commands,
        raw_tex_samples,
        dollar_signs: text.matches('$').count(),
        unresolved_references: text.matches("??").count()
            + text.matches("[?]").count()
            + broken_links
            + sink.missing_labels.get(),
        missing_images: sink.images_without_source.get(),
        math_elements: sink.math.get(),
        ..Quality::default()
    }
}

/// `\name` commands in `text`, by name. A backslash before a non-letter
/// (`\\`, `\,`) is not counted: prose and file names show those too.
fn raw_commands(text: &str) -> BTreeMap<String, usize> {
    let mut found = BTreeMap::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end].is_ascii_alphabetic() {
                end += 1;
            }
            if end > start {
                *found.entry(text[i..end].to_owned()).or_insert(0) += 1;
                i = end;
                continue;
            }
        }
        i += 1;
    }
    found
}

/// Collects the visible text and the page's link structure in one
/// tokenizer pass.
#[derive(Default)]
struct PageSink {
    text: RefCell<String>,
    /// Depth inside elements whose text is code or formula source.
    verbatim: Cell<u32>,
    ids: RefCell<HashSet<String>>,
    fragment_links: RefCell<Vec<String>>,
    missing_labels: Cell<usize>,
    images_without_source: Cell<usize>,
    math: Cell<usize>,
}

impl TokenSink for PageSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        match token {
            Token::TagToken(tag) => {
                let name: &str = &tag.name;
                if VERBATIM_ELEMENTS.contains(&name) {
                    let depth = self.verbatim.get();
                    self.verbatim.set(match tag.kind {
                        TagKind::StartTag if !tag.self_closing => depth + 1,
                        TagKind::StartTag => depth,
                        TagKind::EndTag => depth.saturating_sub(1),
                    });
                }
                if tag.kind == TagKind::EndTag {
                    return TokenSinkResult::Continue;
                }
                if name == "math" {
                    self.math.set(self.math.get() + 1);
                }
                let attr = |wanted: &str| {
                    tag.attrs
                        .iter()
                        .find(|a| &*a.name.local == wanted)
                        .map(|a| a.value.to_string())
                };
                if let Some(id) = attr("id") {
                    self.ids.borrow_mut().insert(id);
                }
                if let Some(href) = attr("href") {
                    if let Some(target) = href.strip_prefix('#') {
                        if !target.is_empty() {
                            self.fragment_links.borrow_mut().push(target.to_owned());
                        }
                    }
                }
                // LaTeXML marks a `\ref` or `\cite` it could not resolve.
                if attr("class").is_some_and(|c| {
                    c.split_whitespace()
                        .any(|c| c == "ltx_missing_label" || c == "ltx_missing_citation")
                }) {
                    self.missing_labels.set(self.missing_labels.get() + 1);
                }
                if name == "img" && attr("src").map_or(true, |s| s.is_empty()) {
                    self.images_without_source
                        .set(self.images_without_source.get() + 1);
                }
                // Words on both sides of a tag are separate words.
                if self.verbatim.get() == 0 {
                    self.text.borrow_mut().push(' ');
                }
            }
            Token::CharacterTokens(text) if self.verbatim.get() == 0 => {
                self.text.borrow_mut().push_str(&text);
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_tex_in_visible_text_is_counted_and_named() {
        let q = measure(
            "<p>Let \\ell be \\ell and \\csname foo\\endcsname; C:\\\\ and \\, stay.</p>\
             <math><mi>\\alpha</mi></math><pre>\\begin{x}</pre><code>\\verb</code>",
        );
        assert_eq!(q.raw_tex_commands, 4);
        assert_eq!(q.raw_tex_samples[0], "\\ell ×2");
        assert!(q.raw_tex_samples.contains(&"\\endcsname".to_string()));
        assert_eq!(q.math_elements, 1);
        assert!(!q.shows_raw_tex());
    }

    #[test]
    fn unparsed_math_counts_as_dollars() {
        let q = measure("<p>where $x_i$ and $\\alpha$</p>");
        assert_eq!(q.dollar_signs, 4);
        assert_eq!(q.raw_tex_commands, 1);
    }

    #[test]
    fn references_that_point_nowhere_are_counted() {
        let q = measure(
            "<p id=\"s1\">See <a href=\"#s1\">1</a>, <a href=\"#gone\">2</a>, ?? and [?] \
             and <a class=\"ltx_ref ltx_missing_label\">LABEL:x</a>.</p>",
        );
        assert_eq!(q.unresolved_references, 4);
    }

    #[test]
    fn images_without_a_file_are_missing() {
        let q = measure("<img alt=\"a\"><img src=\"assets/1.png\"><img src=\"\">");
        assert_eq!(q.missing_images, 2);
    }

    #[test]
    fn escalation_and_cleanliness() {
        let many = measure(&"<p>\\foo</p>".repeat(RAW_TEX_LIMIT));
        assert!(many.shows_raw_tex());
        assert_eq!(many.escalate(StatusClass::Warnings), StatusClass::Errors);
        assert_eq!(many.escalate(StatusClass::Fatal), StatusClass::Fatal);
        assert!(!many.clone().with_status(StatusClass::Ok).clean);
        let few = measure(&"<p>\\foo</p>".repeat(RAW_TEX_LIMIT - 1));
        assert_eq!(few.escalate(StatusClass::Ok), StatusClass::Ok);
        assert!(few.clone().with_status(StatusClass::Warnings).clean);
        assert!(!few.with_status(StatusClass::Errors).clean);
        let dollars = measure(&"<p>$x$</p>".repeat(RAW_TEX_LIMIT));
        assert!(dollars.shows_raw_tex());
    }

    #[test]
    fn penalty_orders_pages_as_a_reader_would() {
        let good = measure("<p>Fine text <math><mi>x</mi></math></p>");
        let residue = measure("<p>\\ell \\ell \\ell</p>");
        let no_image = measure("<p>ok</p><img alt=\"figure\">");
        assert!(good.penalty() < residue.penalty());
        assert!(residue.penalty() < no_image.penalty());
        let mut math_lost = good.clone();
        math_lost.math_in_sources = 100;
        assert!(math_lost.missing_math() > 0);
        assert!(math_lost.penalty() > good.penalty());
        assert!(math_lost.describe().contains("formulas missing"));
        assert_eq!(good.describe(), "no problems seen");
    }

    #[test]
    fn words_split_at_tags_and_hostile_markup_is_text() {
        // A tag between a backslash and letters does not make a command,
        // and an unclosed verbatim element hides nothing after the page.
        let q = measure("<p>\\<b>ell</b></p>");
        assert_eq!(q.raw_tex_commands, 0);
        let q = measure("<p><code>x</p><p>\\foo");
        assert_eq!(q.raw_tex_commands, 0, "inside the unclosed <code>");
        let q = measure(&format!("<p>{}</p>", "\\".repeat(100_000)));
        assert_eq!(q.raw_tex_commands, 0);
    }
}
