//! Token-level passes over the raw input: the pre-pass that collects URLs
//! to resolve, notes and nesting depth, and the title reader.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{
    BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

use super::limits::OpenElements;
use super::policy::{is_url_attribute, HTML_TAGS, MATHML_TAGS, SVG_TAGS};
use super::urls::{classify, url_note, UrlKind};
use super::MAX_DEPTH;

/// What the token pre-pass learns: relative URLs to resolve and notes on
/// elements and attributes outside the policy.
pub(super) struct Scan {
    pub(super) relative_paths: Vec<String>,
    pub(super) notes: BTreeMap<String, usize>,
    pub(super) too_deep: bool,
}

/// A tokenizer pass over the raw input. It sees every tag the markup
/// spells, including ones a tree builder would later discard, which is
/// what we want for resolving (resolving a path is harmless) and for
/// notes; what is *kept* is decided by ammonia alone.
pub(super) fn scan(html: &str) -> Scan {
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
        if open.depth() > MAX_DEPTH {
            self.too_deep.set(true);
        }
    }
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
pub(super) struct TitleSink {
    /// Which element's text is being collected: 1 = title, 2 = h1.
    inside: RefCell<u8>,
    /// Open elements whose text is not title text: a formula's TeX
    /// annotation would otherwise repeat it (`x2x^{2}`).
    skipping: Cell<u32>,
    pub(super) title: RefCell<String>,
    pub(super) h1: RefCell<String>,
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

/// Runs html5ever's tokenizer over `html` into `sink` and returns it.
pub(crate) fn tokenize<S: TokenSink<Handle = ()>>(html: &str, sink: S) -> S {
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tokenizer = Tokenizer::new(sink, TokenizerOpts::default());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink
}
