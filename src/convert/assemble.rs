//! Host side of a converter run: read what the jail copied out, keep only
//! what the sanitized page references, and write the result directory.
//!
//! Everything under the copy-out is jail-controlled and treated as hostile:
//! the page is read with a size cap, figure paths are resolved only beneath
//! the copy-out (no absolute paths, no `..`, no symlinks, regular files
//! only), a figure is kept only when its extension is allowlisted and its
//! bytes match the type, SVG figures pass the SVG sanitizer, and names in
//! `assets/` are chosen here, never taken from the converter. The
//! sanitizer's attribute filter keeps a `src` only as the name of a kept
//! asset (the answer of [`Figures::keep`]), so every image the page
//! shows is a file of the result; the page's images are then read back
//! with the tokenizer ([`sanitize::image_sources`]), never by matching
//! text, so a listing that shows HTML keeps its text.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

use regex::Regex;

use super::driver::{LOGS, OUT_DIR};
use super::image_size;
use super::quality::{self, Quality};
use super::render::{self, PageSummary};
use super::Settings;
use crate::convert::diagnostics::{scrub_paths, StatusClass};
use crate::sanitize;

/// Directory of the kept figures inside a result.
pub const ASSETS: &str = "assets";

/// Image types a result may serve, by extension.
const IMAGE_TYPES: [&str; 6] = ["png", "jpg", "jpeg", "gif", "webp", "svg"];
/// Figure types the converters reference but browsers cannot show; the
/// figure pre-pass renders each to a `.png` sibling.
const RENDERED_TYPES: [&str; 3] = ["pdf", "eps", "ps"];

/// What a run left in the copy-out.
#[derive(Debug, Default)]
pub struct RunOutput {
    /// The converter's page, when it wrote one within the size cap.
    pub html: Option<String>,
    /// Each log the driver wrote (its `driver::LOGS` name and text), capped
    /// to its tail, host paths removed.
    pub logs: Vec<(&'static str, String)>,
}

impl RunOutput {
    /// The text of one log, empty when the run did not write it.
    pub fn log(&self, name: &str) -> &str {
        self.logs
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, text)| text.as_str())
    }

    /// All logs, each under a header, as `log.txt` shows them.
    pub fn combined(&self) -> String {
        let mut out = String::new();
        for (name, text) in &self.logs {
            out.push_str(&format!("==> {name} <==\n{text}\n"));
        }
        out
    }
}

/// Reads the page and logs from `job_out`; `host_paths` are scrubbed from
/// the logs so no host path leaks into results.
pub fn read_output(job_out: &Path, settings: &Settings, host_paths: &[&Path]) -> RunOutput {
    let html = read_page(job_out, settings);
    let prefixes: Vec<String> = host_paths
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let prefixes: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let mut logs = Vec::new();
    for name in LOGS {
        let path = job_out.join(name);
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            continue;
        }
        let text = read_tail(&path, settings.max_log_bytes).unwrap_or_default();
        logs.push((name, scrub_paths(&text, &prefixes)));
    }
    RunOutput { html, logs }
}

/// The converter's page in `job_out`, when it wrote one within the size
/// cap.
pub fn read_page(job_out: &Path, settings: &Settings) -> Option<String> {
    read_capped(
        &job_out.join(OUT_DIR).join("index.html"),
        settings.max_html_bytes,
    )
    .ok()
    .flatten()
    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
}

/// Facts about an assembled result that go into its summary.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Assembled {
    pub title: Option<String>,
    pub assets: Vec<String>,
    pub math_count: usize,
    pub image_count: usize,
    /// The page as a reader sees it (see `convert::quality`).
    pub quality: Quality,
    /// The converter's status class, escalated when the page shows raw
    /// TeX ([`Quality::escalate`]); the page header shows this one.
    pub status: StatusClass,
}

/// Turns a converter page into the result in `dest`: figures resolved and
/// copied into `assets/`, page sanitized, `index.html` and `fragment.html`
/// rendered. `main_dir` is the main file's directory relative to the
/// project root (converters resolve figures from there).
pub fn assemble(
    raw_html: &str,
    job_out: &Path,
    main_dir: &str,
    figure_dirs: &[String],
    dest: &Path,
    settings: &Settings,
    summary: &PageSummary,
) -> io::Result<Assembled> {
    let title = sanitize::extract_title(raw_html);
    // pandoc shows PDF figures with <embed>; as <img> they take the same
    // path as every other figure (the sanitizer drops <embed>).
    // LaTeXML and tex4ht show SVG figures with <object data=...> (tex4ht
    // with a "SVG-Viewer needed." fallback inside): the same, the fallback
    // dropped.
    let body = embed_tag().replace_all(raw_html, "<img");
    let body = object_tag().replace_all(&body, |caps: &regex::Captures| {
        let data = caps
            .get(1)
            .or_else(|| caps.get(2))
            .map_or("", |m| m.as_str());
        format!("<img src=\"{}\">", data.replace('"', "&quot;"))
    });
    fs::create_dir_all(dest.join(ASSETS))?;
    let figures = RefCell::new(Figures::new(job_out, main_dir, figure_dirs, dest, settings));
    let resolve = |path: &str| {
        figures
            .borrow_mut()
            .keep(path)
            .map(|name| format!("{ASSETS}/{name}"))
    };
    let page_html = sanitize::sanitize_html(&body, &resolve).html;
    let figures = figures.into_inner();
    let sources = sanitize::image_sources(&page_html);
    // Markup in the sanitized page is never text: text escapes `<`.
    let math_count = page_html.matches("<math").count();
    // Images the reader sees: kept `src`s and inline SVG pictures (an
    // `<img>` whose `src` was refused, like LaTeXML's data: logo, shows
    // nothing and does not count).
    let image_count = sources.len() + page_html.matches("<svg").count();
    let measured = quality::measure(&page_html);
    let status = measured.escalate(summary.status);
    let quality = Quality {
        math_in_sources: summary.quality.math_in_sources,
        converter_errors: summary.quality.converter_errors,
        ..measured
    }
    .with_status(status);
    let shown_summary = PageSummary {
        status,
        quality: quality.clone(),
        ..summary.clone()
    };
    let title_text = title.clone().unwrap_or_default();
    fs::write(
        dest.join("index.html"),
        render::page(&title_text, &page_html, &shown_summary),
    )?;
    fs::write(dest.join("fragment.html"), render::fragment(&page_html))?;
    // Only figures the final page shows are kept.
    let shown: HashSet<&str> = sources.iter().map(String::as_str).collect();
    let mut assets = Vec::new();
    for name in figures.names() {
        let rel = format!("{ASSETS}/{name}");
        if shown.contains(rel.as_str()) {
            assets.push(rel);
        } else {
            fs::remove_file(dest.join(ASSETS).join(name))?;
        }
    }
    assets.sort();
    Ok(Assembled {
        title,
        assets,
        math_count,
        image_count,
        quality,
        status,
    })
}

fn object_tag() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r#"(?is)<object\b[^>]*?\sdata\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>.*?</object\s*>"#,
        )
        .unwrap()
    })
}

fn embed_tag() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?i)<embed\b").unwrap())
}

/// The figures kept so far, by source file.
struct Figures<'a> {
    job_out: &'a Path,
    bases: Vec<PathBuf>,
    dest: &'a Path,
    settings: &'a Settings,
    by_source: BTreeMap<PathBuf, Option<String>>,
    count: usize,
}

impl<'a> Figures<'a> {
    fn new(
        job_out: &'a Path,
        main_dir: &str,
        figure_dirs: &[String],
        dest: &'a Path,
        settings: &'a Settings,
    ) -> Self {
        let mut bases = vec![job_out.join(OUT_DIR)];
        let main = safe_relative(main_dir);
        if let Some(main) = &main {
            bases.push(job_out.join(main));
        }
        let main = job_out.join(main.unwrap_or_default());
        // LaTeX looks in the `\graphicspath` folders (relative to the main
        // file's folder) after the current one; a `..` or absolute entry
        // is not followed (`safe_relative`), and every candidate must
        // still resolve beneath the copy-out (`is_servable_file`).
        for dir in figure_dirs {
            if let Some(dir) = safe_relative(dir) {
                bases.push(main.join(dir));
            }
        }
        bases.push(job_out.to_path_buf());
        Figures {
            job_out,
            bases,
            dest,
            settings,
            by_source: BTreeMap::new(),
            count: 0,
        }
    }

    fn names(&self) -> impl Iterator<Item = &String> {
        self.by_source.values().flatten()
    }

    /// Resolves a `src` value to a file, copies it into `assets/` once and
    /// returns its asset name; `None` drops the reference.
    fn keep(&mut self, value: &str) -> Option<String> {
        let source = self.resolve(value)?;
        if let Some(known) = self.by_source.get(&source) {
            return known.clone();
        }
        let name = self.copy(&source);
        self.by_source.insert(source, name.clone());
        name
    }

    fn resolve(&self, value: &str) -> Option<PathBuf> {
        let rel = safe_relative(value)?;
        let ext = extension(&rel);
        let mut variants = vec![rel.clone()];
        if RENDERED_TYPES.contains(&ext.as_str()) {
            variants.insert(0, rel.with_extension("png"));
        } else if !IMAGE_TYPES.contains(&ext.as_str()) {
            for e in IMAGE_TYPES {
                let mut name = rel.clone().into_os_string();
                name.push(format!(".{e}"));
                variants.push(PathBuf::from(name));
            }
            for e in ["pdf", "eps"] {
                let mut name = rel.clone().into_os_string();
                name.push(format!(".{e}"));
                variants.push(PathBuf::from(name).with_extension("png"));
            }
        }
        for base in &self.bases {
            for variant in &variants {
                let path = base.join(variant);
                if self.is_servable_file(&path) {
                    return Some(path);
                }
            }
        }
        None
    }

    /// A regular, non-symlinked file beneath the copy-out, with an image
    /// extension and within the size cap.
    fn is_servable_file(&self, path: &Path) -> bool {
        if !IMAGE_TYPES.contains(&extension(path).as_str()) {
            return false;
        }
        let Ok(meta) = fs::symlink_metadata(path) else {
            return false;
        };
        if !meta.is_file() || meta.len() > self.settings.max_asset_bytes {
            return false;
        }
        // Every directory on the way must be real too: a symlinked
        // directory inside the copy-out must not lead outside it.
        match (path.canonicalize(), self.job_out.canonicalize()) {
            (Ok(real), Ok(root)) => real.starts_with(root),
            _ => false,
        }
    }

    fn copy(&mut self, source: &Path) -> Option<String> {
        if self.count >= self.settings.max_assets {
            return None;
        }
        let ext = extension(source);
        let bytes = read_capped(source, self.settings.max_asset_bytes).ok()??;
        let bytes = if ext == "svg" {
            let text = std::str::from_utf8(&bytes).ok()?;
            sanitize::sanitize_svg(text)?.into_bytes()
        } else {
            if !magic_matches(&ext, &bytes) {
                return None;
            }
            if image_size::pixels(&ext, &bytes)? > self.settings.max_image_pixels {
                return None;
            }
            bytes
        };
        self.count += 1;
        let stem: String = source
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("figure")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(40)
            .collect();
        let ext = if ext == "jpeg" {
            "jpg".to_string()
        } else {
            ext
        };
        let name = format!("{:03}-{stem}.{ext}", self.count);
        fs::write(self.dest.join(ASSETS).join(&name), bytes).ok()?;
        Some(name)
    }
}

/// A relative path with only normal components, or `None`.
fn safe_relative(value: &str) -> Option<PathBuf> {
    if value.contains('\0') || value.contains('\\') {
        return None;
    }
    // A scheme (`http:`, `file:`, `javascript:`) before any `/`.
    if let Some(colon) = value.find(':') {
        if !value[..colon].contains('/') {
            return None;
        }
    }
    let path = Path::new(value);
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

fn extension(path: &Path) -> String {
    path.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The first bytes of each raster type: a file named `.png` must be one.
fn magic_matches(ext: &str, bytes: &[u8]) -> bool {
    match ext {
        "png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "jpg" | "jpeg" => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        "gif" => bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a"),
        "webp" => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        _ => false,
    }
}

/// Reads a regular, non-symlinked file of at most `cap` bytes; `Ok(None)`
/// when it is larger or not a regular file.
fn read_capped(path: &Path, cap: u64) -> io::Result<Option<Vec<u8>>> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.is_file() || meta.len() > cap {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    fs::File::open(path)?
        .take(cap + 1)
        .read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= cap).then_some(bytes))
}

/// The last `cap` bytes of a log (the end says how it went).
fn read_tail(path: &Path, cap: u64) -> io::Result<String> {
    use std::io::{Seek, SeekFrom};
    let mut file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut bytes = Vec::new();
    if len > cap {
        file.seek(SeekFrom::Start(len - cap))?;
        bytes.extend_from_slice(b"[... log truncated ...]\n");
    }
    file.take(cap).read_to_end(&mut bytes)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG signature and the IHDR of a 2x2 image (the kept figures' pixel
    /// counts are read from it).
    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x02\0\0\0\x02rest";
    /// SOI and a start-of-frame of 3x2.
    const JPEG: &[u8] = b"\xff\xd8\xff\xc0\x00\x11\x08\x00\x02\x00\x03rest";

    fn job() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join(OUT_DIR)).unwrap();
        dir
    }

    fn run(html: &str, job: &Path) -> (Assembled, String, tempfile::TempDir) {
        run_with_dirs(html, job, &[])
    }

    fn run_with_dirs(
        html: &str,
        job: &Path,
        figure_dirs: &[String],
    ) -> (Assembled, String, tempfile::TempDir) {
        let dest = tempfile::tempdir().unwrap();
        let summary = PageSummary {
            status: crate::convert::diagnostics::StatusClass::Ok,
            converter: "test".into(),
            warnings: 0,
            errors: 0,
            missing: vec![],
            quality: Default::default(),
            main: None,
            execution: None,
        };
        let got = assemble(
            html,
            job,
            "",
            figure_dirs,
            dest.path(),
            &Settings::default(),
            &summary,
        )
        .unwrap();
        let page = fs::read_to_string(dest.path().join("fragment.html")).unwrap();
        (got, page, dest)
    }

    /// Every `src` in `page` names a file in `dest`.
    fn assert_all_srcs_resolve(page: &str, dest: &Path) {
        for src in sanitize::image_sources(page) {
            assert!(dest.join(&src).is_file(), "dangling src {src}");
        }
    }

    #[test]
    fn graphicspath_folders_are_searched_but_never_outside_the_copy_out() {
        let outer = tempfile::tempdir().unwrap();
        fs::write(outer.path().join("secret.png"), PNG).unwrap();
        let job = outer.path().join("job");
        fs::create_dir_all(job.join(OUT_DIR)).unwrap();
        fs::create_dir_all(job.join("images")).unwrap();
        fs::write(job.join("images/knuth1.jpg"), JPEG).unwrap();
        fs::write(job.join("images/latex.png"), PNG).unwrap();
        let html = "<p><img src=\"knuth1\"><img src=\"latex.eps\"><img src=\"secret\"></p>";
        let dirs = ["images/".to_string(), "..".to_string(), "/etc".to_string()];
        let (got, page, dest) = run_with_dirs(html, &job, &dirs);
        assert_eq!(got.assets.len(), 2, "{:?}", got.assets);
        assert!(page.contains("knuth1.jpg"), "{page}");
        assert!(page.contains("latex.png"), "{page}");
        assert!(!page.contains("secret"), "{page}");
        assert_all_srcs_resolve(&page, dest.path());
    }

    #[test]
    fn figures_are_copied_renamed_and_pdfs_use_their_png() {
        let job = job();
        fs::create_dir(job.path().join("fig")).unwrap();
        fs::write(job.path().join("fig/plot.png"), PNG).unwrap();
        fs::write(job.path().join("fig/plot.pdf"), b"%PDF").unwrap();
        fs::write(job.path().join(OUT_DIR).join("x1.png"), PNG).unwrap();
        let html = "<body><p><img src=\"x1.png\"><img src='fig/plot.pdf'>\
                    <img src=\"fig/plot\"></p></body>";
        let (got, page, dest) = run(html, job.path());
        assert_eq!(got.assets.len(), 2, "{:?}", got.assets);
        assert_eq!(got.image_count, 3);
        assert_all_srcs_resolve(&page, dest.path());
        assert!(page.contains("assets/001-x1.png"));
    }

    #[test]
    fn hostile_srcs_are_dropped() {
        let job = job();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.png"), PNG).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.png"),
            job.path().join("link.png"),
        )
        .unwrap();
        std::os::unix::fs::symlink(outside.path(), job.path().join("dirlink")).unwrap();
        fs::write(job.path().join("fake.png"), b"<script>alert(1)</script>").unwrap();
        // A decompression bomb: 100000x100000 pixels claimed in a few bytes.
        fs::write(
            job.path().join("bomb.png"),
            b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\x01\x86\xa0\0\x01\x86\xa0rest",
        )
        .unwrap();
        fs::write(
            job.path().join("big.png"),
            [PNG, &vec![0u8; 17 << 20]].concat(),
        )
        .unwrap();
        let abs = outside.path().join("secret.png");
        let html = format!(
            "<img src=\"{}\"><img src=\"../secret.png\"><img src=\"link.png\">\
             <img src=\"dirlink/secret.png\"><img src=\"fake.png\"><img src=\"big.png\">\
             <img src=\"bomb.png\">\
             <img src=\"file:///etc/passwd\"><img src=\"http://evil.example/x.png\">\
             <img src=\"%2e%2e/secret.png\"><img src=\"fig\\..\\x.png\">",
            abs.display()
        );
        let (got, page, dest) = run(&html, job.path());
        assert!(got.assets.is_empty(), "{:?}", got.assets);
        assert!(!page.contains("src="), "{page}");
        assert_eq!(fs::read_dir(dest.path().join(ASSETS)).unwrap().count(), 0);
    }

    #[test]
    fn svg_figures_are_sanitized() {
        let job = job();
        fs::write(
            job.path().join("d.svg"),
            "<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script><rect width=\"1\"/></svg>",
        )
        .unwrap();
        let (got, page, dest) = run("<img src=\"d.svg\">", job.path());
        assert_eq!(got.assets.len(), 1);
        let svg = fs::read_to_string(dest.path().join(&got.assets[0])).unwrap();
        assert!(!svg.contains("script"), "{svg}");
        assert_all_srcs_resolve(&page, dest.path());
    }

    #[test]
    fn svg_objects_become_images() {
        let job = job();
        fs::write(
            job.path().join(OUT_DIR).join("d.svg"),
            "<svg xmlns=\"http://www.w3.org/2000/svg\"><rect width=\"1\"/></svg>",
        )
        .unwrap();
        let html = "A <object type=\"image/svg+xml\" data=\"d.svg\" width=\"79\"></object> B\
                    <object data=\"../../etc/passwd\"></object>\
                    <object data=\"d.svg\" type=\"image/svg+xml\"><p>SVG-Viewer needed.</p></object>";
        let (got, page, dest) = run(html, job.path());
        assert_eq!(got.assets, vec!["assets/001-d.svg"]);
        assert_eq!(got.image_count, 2);
        assert!(!page.contains("SVG-Viewer"), "{page}");
        assert!(!page.contains("object"), "{page}");
        assert_all_srcs_resolve(&page, dest.path());
    }

    /// A listing that shows HTML is text: its `src="..."` stays, counts
    /// as no image and keeps no asset; real images are judged alone.
    #[test]
    fn listings_of_html_keep_their_text() {
        let job = job();
        fs::write(job.path().join("a.png"), PNG).unwrap();
        let listing = r#"&lt;img src="logo.png" alt="x"&gt; &lt;img src="assets/001-a.png"&gt;"#;
        let html = format!(
            r#"<pre class="ltx_verbatim">{listing}</pre><img src="logo.png" alt="y"><img src="a.png">"#
        );
        let (got, page, dest) = run(&html, job.path());
        assert!(
            page.contains(&format!(r#"<pre class="ltx_verbatim">{listing}</pre>"#)),
            "{page}"
        );
        assert!(page.contains(r#"<img alt="y">"#), "{page}");
        assert_eq!(got.image_count, 1);
        assert_eq!(got.assets, vec!["assets/001-a.png"]);
        assert_all_srcs_resolve(&page, dest.path());
    }

    #[test]
    fn same_figure_twice_is_one_asset() {
        let job = job();
        fs::write(job.path().join("a.png"), PNG).unwrap();
        let (got, _, _) = run("<img src=\"a.png\"><img src=\"./a.png\">", job.path());
        assert_eq!(got.assets.len(), 1);
        assert_eq!(got.image_count, 2);
    }

    #[test]
    fn logs_are_capped_and_host_paths_removed() {
        let job = job();
        fs::write(
            job.path().join(LOGS[2]),
            format!(
                "{}\nread {}/x.tex\nDONE",
                "x".repeat(5000),
                job.path().display()
            ),
        )
        .unwrap();
        let settings = Settings {
            max_log_bytes: 200,
            ..Settings::default()
        };
        let out = read_output(job.path(), &settings, &[job.path()]);
        assert!(out.html.is_none());
        let log = out.combined();
        assert!(log.contains("truncated"));
        assert!(log.contains("DONE"));
        assert!(!log.contains(&job.path().display().to_string()));
    }

    #[test]
    fn oversized_page_counts_as_no_page() {
        let job = job();
        fs::write(job.path().join(OUT_DIR).join("index.html"), "x".repeat(100)).unwrap();
        let small = Settings {
            max_html_bytes: 10,
            ..Settings::default()
        };
        assert!(read_output(job.path(), &small, &[]).html.is_none());
        assert!(read_output(job.path(), &Settings::default(), &[])
            .html
            .is_some());
    }
}
