//! Reading URLs the way a browser does, and keeping relative ones inside
//! the result.

use ammonia::url::{ParseError, Url};

pub(super) fn is_web_scheme(scheme: &str) -> bool {
    matches!(scheme, "http" | "https" | "mailto")
}

/// The note for a URL the policy refuses whatever the resolver says.
pub(super) fn url_note(element: &str, attribute: &str, value: &str) -> Option<String> {
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

pub(super) fn is_fragment_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '%')
}

pub(super) enum UrlKind {
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
pub(super) fn classify(url: &str) -> UrlKind {
    match Url::parse(url) {
        Ok(parsed) => UrlKind::Absolute(parsed.scheme().to_owned()),
        Err(ParseError::RelativeUrlWithoutBase) => relative(url),
        Err(_) => UrlKind::Unusable,
    }
}

pub(super) fn relative(url: &str) -> UrlKind {
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
