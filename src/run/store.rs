//! Keeps what a run wrote in the result store, so its files are served
//! by `/r/{key}/assets/{name}` under the same rules as a conversion's:
//! opened beneath the result without following links, served inline only
//! for allowlisted types, under the sandboxing CSP, as an attachment
//! otherwise. The key is a hash of the files, so a URL names its bytes
//! for good; the store's eviction treats a run's files like any result.
//!
//! Markup the result server would show inline is sanitized first, as a
//! conversion's is: SVG with the SVG policy, HTML with the page policy.
//! Either is capped at [`MAX_MARKUP_BYTES`], and a file nothing safe is
//! left of is listed without a URL.

use std::io::Read;
use std::path::Path;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::outputs::{image_mime, Written};
use crate::cache::{Cache, MARKER};
use crate::sanitize;

/// Largest SVG or HTML file sanitized and kept.
pub const MAX_MARKUP_BYTES: u64 = 4 << 20;
/// Where a run's files sit inside its result directory.
const ASSETS: &str = "assets";

/// One file as the answer lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeptFile {
    pub name: String,
    pub bytes: u64,
    /// `None` when nothing safe was left to serve.
    pub url: Option<String>,
    /// Set for PNG, JPEG and SVG files that are served.
    #[serde(skip)]
    pub mime: Option<&'static str>,
}

/// Which markup a name is served as inline.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Markup {
    Svg,
    Html,
}

fn markup(name: &str) -> Option<Markup> {
    let guess = mime_guess::from_path(name).first()?;
    match guess.essence_str() {
        "image/svg+xml" => Some(Markup::Svg),
        "text/html" | "application/xhtml+xml" => Some(Markup::Html),
        _ => None,
    }
}

/// The store key of a set of files: a hash of names and contents.
fn key_of(written: &[Written]) -> std::io::Result<String> {
    let mut hash = Sha256::new();
    hash.update(b"texjail-run-files-v1\0");
    for file in written {
        hash.update(file.name.as_bytes());
        hash.update(b"\0");
        hash.update(file.bytes.to_le_bytes());
        let mut f = std::fs::File::open(&file.path)?;
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
    }
    Ok(hex::encode(hash.finalize()))
}

/// The sanitized markup of `path`, or `None` when it is too large, not
/// UTF-8 or nothing safe is left.
fn sanitized(path: &Path, kind: Markup) -> Option<String> {
    if std::fs::metadata(path).ok()?.len() > MAX_MARKUP_BYTES {
        return None;
    }
    let text = String::from_utf8(std::fs::read(path).ok()?).ok()?;
    match kind {
        Markup::Svg => sanitize::sanitize_svg(&text),
        Markup::Html => Some(sanitize::sanitize_html(&text, &|_| None).html),
    }
}

/// A run's files as kept: the result they are in and each one's entry.
#[derive(Debug, Default)]
pub struct Kept {
    /// The cache key of the result holding them; `None` without files.
    pub key: Option<String>,
    pub files: Vec<KeptFile>,
}

/// Stores `written` in `cache` and lists them with URLs under
/// `results_base` (empty: the same origin). No files, no result.
pub fn keep(cache: &Cache, written: &[Written], results_base: &str) -> std::io::Result<Kept> {
    if written.is_empty() {
        return Ok(Kept::default());
    }
    let key = key_of(written)?;
    let lookup = cache.get_or_create::<std::io::Error>(&key, |dir| {
        let mut listed = Vec::new();
        for file in written {
            let dest = dir.join(ASSETS).join(&file.name);
            std::fs::create_dir_all(dest.parent().expect("under assets"))?;
            match markup(&file.name) {
                Some(kind) => {
                    let Some(clean) = sanitized(&file.path, kind) else {
                        continue;
                    };
                    std::fs::write(&dest, clean)?;
                }
                None => {
                    std::fs::copy(&file.path, &dest)?;
                }
            }
            listed.push(&file.name);
        }
        let marker = serde_json::json!({ "kind": "run", "files": listed });
        std::fs::write(dir.join(MARKER), marker.to_string())
    })?;
    let files = written
        .iter()
        .map(|file| {
            let stored = lookup.dir.join(ASSETS).join(&file.name);
            match std::fs::symlink_metadata(&stored) {
                Ok(meta) if meta.is_file() => KeptFile {
                    name: file.name.clone(),
                    bytes: meta.len(),
                    url: Some(format!(
                        "{results_base}/r/{key}/{ASSETS}/{}",
                        encode_path(&file.name)
                    )),
                    mime: image_mime(&file.name),
                },
                _ => KeptFile {
                    name: file.name.clone(),
                    bytes: file.bytes,
                    url: None,
                    mime: None,
                },
            }
        })
        .collect();
    Ok(Kept {
        key: Some(key),
        files,
    })
}

/// Percent-encodes each segment of a `/`-separated name for a URL path.
fn encode_path(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(dir: &Path, files: &[(&str, &[u8])]) -> Vec<Written> {
        files
            .iter()
            .map(|(name, bytes)| {
                let path = dir.join(name.replace('/', "_"));
                std::fs::write(&path, bytes).unwrap();
                Written {
                    name: name.to_string(),
                    bytes: bytes.len() as u64,
                    path,
                }
            })
            .collect()
    }

    #[test]
    fn files_are_kept_under_a_content_key_and_markup_is_sanitized() {
        let out = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        let cache = Cache::open(store.path(), 1 << 30).unwrap();
        let files = written(
            out.path(),
            &[
                ("plot.png", b"\x89PNG"),
                (
                    "evil.svg",
                    b"<svg><script>alert(1)</script><circle r=\"1\"/></svg>",
                ),
                (
                    "page.html",
                    b"<p onclick=\"x()\">hi</p><script>y()</script>",
                ),
                ("not-svg.svg", b"plain text"),
                ("sub/data file.csv", b"1,2\n"),
            ],
        );
        let kept = keep(&cache, &files, "").unwrap();
        let key = kept.key.clone().unwrap();
        let kept = kept.files;
        let by_name = |n: &str| kept.iter().find(|k| k.name == n).unwrap();
        let png = by_name("plot.png");
        assert_eq!(png.mime, Some("image/png"));
        let url = png.url.as_deref().unwrap();
        assert_eq!(url, format!("/r/{key}/assets/plot.png"));
        let result = store.path().join(&key);
        let svg = std::fs::read_to_string(result.join("assets/evil.svg")).unwrap();
        assert!(!svg.contains("script") && svg.contains("circle"), "{svg}");
        let html = std::fs::read_to_string(result.join("assets/page.html")).unwrap();
        assert!(
            !html.contains("script") && !html.contains("onclick"),
            "{html}"
        );
        assert_eq!(by_name("not-svg.svg").url, None);
        assert_eq!(
            by_name("sub/data file.csv").url.as_deref(),
            Some(format!("/r/{key}/assets/sub/data%20file.csv").as_str())
        );
        // The same files are the same result.
        let again = keep(&cache, &files, "https://results.example.org").unwrap();
        assert_eq!(again.key.as_deref(), Some(key.as_str()));
        assert!(again.files[0].url.as_deref().unwrap().contains(&key));
        let none = keep(&cache, &[], "").unwrap();
        assert!(none.key.is_none() && none.files.is_empty());
    }
}
