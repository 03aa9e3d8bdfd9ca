//! Jupyter notebooks end to end: the real `texjail convert` on the real
//! jail and rootfs (python3's pre-pass and pandoc), hostile notebooks
//! first. Every test asserts the outcome: a clean page, or exit 2 with
//! `bad_notebook`, nothing of the hostile input active on the page and
//! nothing of it loaded from another origin.

mod corpus;
mod executed_hostile;
mod execution;
mod hostile;
mod rendering;
mod service;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{json, Value};

use crate::support;

/// One converted upload: the CLI's exit status and JSON, and the result.
pub struct Converted {
    pub code: i32,
    pub json: Value,
    out: tempfile::TempDir,
    /// Kept so the cache outlives the result's checks.
    _data: tempfile::TempDir,
}

impl Converted {
    /// The result directory (`-o`).
    pub fn dir(&self) -> PathBuf {
        self.out.path().join("result")
    }

    pub fn page(&self) -> String {
        std::fs::read_to_string(self.dir().join("index.html"))
            .unwrap_or_else(|e| panic!("no index.html ({e}): {}", self.json))
    }

    pub fn summary(&self) -> &Value {
        &self.json["summary"]
    }

    /// The page's sanitized body as the fragment carries it.
    pub fn fragment(&self) -> String {
        std::fs::read_to_string(self.dir().join("fragment.html")).unwrap()
    }
}

/// Runs `texjail convert FILE -o OUT --json` with a private data dir.
pub fn convert_file(file: &Path, extra: &[&str]) -> Converted {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("result");
    let output: Output = support::texjail()
        .env("TEXJAIL_ROOTFS", support::rootfs())
        .env("TEXJAIL_DATA_DIR", data.path())
        .arg("convert")
        .arg(file)
        .arg("-o")
        .arg(&target)
        .arg("--json")
        .args(extra)
        .output()
        .expect("texjail runs");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "not JSON: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    Converted {
        code: output.status.code().unwrap_or(-1),
        json,
        out,
        _data: data,
    }
}

/// Writes `bytes` as `name` in a fresh directory and converts it.
pub fn convert_bytes(name: &str, bytes: &[u8]) -> (Converted, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, bytes).unwrap();
    (convert_file(&file, &[]), dir)
}

/// Converts a notebook given as JSON and asserts it made a page.
pub fn convert_notebook(nb: &Value) -> Converted {
    let (converted, _dir) = convert_bytes("test.ipynb", nb.to_string().as_bytes());
    assert_eq!(converted.code, 0, "{}", converted.json);
    assert_eq!(converted.summary()["converter"], "notebook");
    converted
}

/// An nbformat 4 notebook of `cells` with a Python kernel.
pub fn notebook(cells: Vec<Value>) -> Value {
    json!({
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
            "language_info": {"name": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5
    })
}

pub fn markdown(source: &str) -> Value {
    json!({"cell_type": "markdown", "metadata": {}, "source": source})
}

pub fn code(source: &str, outputs: Vec<Value>) -> Value {
    json!({"cell_type": "code", "metadata": {}, "execution_count": 1, "source": source, "outputs": outputs})
}

pub fn display(data: Value) -> Value {
    json!({"output_type": "display_data", "metadata": {}, "data": data})
}

/// Standard base64, as notebooks carry images.
pub fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | (b as u32) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Asserts the refusal a hostile file gets: exit 2, `bad_notebook`, the
/// reason naming `why`, and no result written.
pub fn assert_refused(converted: &Converted, why: &str) {
    assert_eq!(converted.code, 2, "{}", converted.json);
    assert_eq!(
        converted.json["error"], "bad_notebook",
        "{}",
        converted.json
    );
    let message = converted.json["message"].as_str().unwrap_or_default();
    assert!(message.contains(why), "{message:?} does not say {why:?}");
    assert!(!converted.dir().join("index.html").exists());
}

/// Asserts that nothing on a page is active or loaded from elsewhere:
/// no script, frame, plug-in, base, link, form or meta refresh element,
/// no event handler, no `javascript:`, `vbscript:`, `file:` or `data:`
/// URL in an attribute, no CSS `url()` but a fragment's and no `@import`
/// in a style, and every `src` a file of the result. Only markup is
/// looked at: text (code on the page shows HTML) has its `<` escaped.
pub fn assert_safe_page(page: &str, result: &Path) {
    let lower = page.to_ascii_lowercase();
    for tag in [
        "<script",
        "<iframe",
        "<frame",
        "<object",
        "<embed",
        "<base",
        "<link",
        "<applet",
        "<form",
        "<meta http-equiv",
    ] {
        assert!(!lower.contains(tag), "{tag} on the page");
    }
    let tags = regex::Regex::new(r"<[a-z][^>]*>").unwrap();
    let styles = regex::Regex::new(r"(?s)<style[^>]*>(.*?)</style>").unwrap();
    let scheme = regex::Regex::new(r#"=\s*["']?\s*(javascript|vbscript|file|data):"#).unwrap();
    let handler = regex::Regex::new(r#"\son[a-z]+\s*="#).unwrap();
    let url = regex::Regex::new(r#"url\(\s*(?:&quot;|['"])?([^'")\s&]*)"#).unwrap();
    let src =
        regex::Regex::new(r#"\s(?:src|srcset|poster|xlink:href|data)\s*=\s*"([^"]*)""#).unwrap();
    let css: Vec<&str> = styles
        .captures_iter(&lower)
        .map(|c| c.get(1).unwrap().as_str())
        .chain(tags.find_iter(&lower).map(|m| m.as_str()))
        .collect();
    for css in css {
        assert!(!css.contains("@import"), "@import on the page: {css}");
        for caps in url.captures_iter(css) {
            assert!(caps[1].starts_with('#'), "url({}) on the page", &caps[1]);
        }
    }
    for tag in tags.find_iter(page) {
        let tag_lower = tag.as_str().to_ascii_lowercase();
        assert!(!scheme.is_match(&tag_lower), "a dangerous URL: {tag_lower}");
        assert!(
            !handler.is_match(&tag_lower),
            "an event handler: {tag_lower}"
        );
        for caps in src.captures_iter(tag.as_str()) {
            let value = &caps[1];
            if value.starts_with('#') {
                continue;
            }
            assert!(
                !value.contains("..") && !value.starts_with('/') && !value.contains(':'),
                "a src outside the result: {value}"
            );
            assert!(
                std::fs::symlink_metadata(result.join(value)).is_ok_and(|m| m.is_file()),
                "src {value} is not a file of the result"
            );
        }
    }
}

/// The test corpus of real notebooks (`NOTEBOOK_CORPUS`, default
/// `/work/shared/corpus/notebooks`). Fails, never skips, without it.
pub fn corpus_dir() -> PathBuf {
    let dir = std::env::var_os("NOTEBOOK_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/corpus/notebooks"));
    assert!(
        dir.join("MANIFEST.tsv").is_file(),
        "the notebook corpus is missing at {} (set NOTEBOOK_CORPUS)",
        dir.display()
    );
    dir
}
