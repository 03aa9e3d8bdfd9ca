//! The conversion pipeline end to end: the real binary and the library's
//! `run_job`, on the real jail and rootfs, with the real converters.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use texjail::cache::Cache;
use texjail::config::Config;
use texjail::convert::{Converter, Options};
use texjail::job::{self, Context, Input, JobResult};

use crate::support;

mod fixtures;

/// A context on the real rootfs with a private data dir.
fn context(data: &Path) -> Context {
    let config = Config {
        rootfs: support::rootfs(),
        data_dir: data.to_path_buf(),
        ..Config::default()
    };
    Context::open(config, support::texjail_bin()).expect("context")
}

fn convert(
    ctx: &Context,
    project: &Path,
    converter: Converter,
) -> Result<JobResult, job::JobError> {
    convert_within(ctx, project, converter, None)
}

/// [`convert`] with a job time limit.
fn convert_within(
    ctx: &Context,
    project: &Path,
    converter: Converter,
    timeout: Option<std::time::Duration>,
) -> Result<JobResult, job::JobError> {
    let options = Options {
        converter,
        timeout,
        ..Options::default()
    };
    job::run_job(
        ctx,
        &Input::Directory(project.to_path_buf()),
        &options,
        job::Slots::only(0),
        &|_| {},
        &AtomicBool::new(false),
    )
}

/// Every `src` in the page names a regular file of the result.
fn assert_srcs_resolve(result_dir: &Path) {
    let page = std::fs::read_to_string(result_dir.join("index.html")).unwrap();
    let re = regex::Regex::new(r#"\ssrc="([^"]*)""#).unwrap();
    for caps in re.captures_iter(&page) {
        let src = &caps[1];
        if src.starts_with("data:image/") {
            continue;
        }
        assert!(
            !src.contains("..") && !src.starts_with('/'),
            "src escapes the result: {src}"
        );
        let file = result_dir.join(src);
        assert!(
            std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()),
            "src {src} does not resolve to a file of the result"
        );
    }
}

fn samples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("samples/ is missing ({e}): the sample projects are required"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "samples/ has no sample projects");
    dirs
}

/// Text of every `.tex` file of a project.
fn sources(project: &Path) -> String {
    walkdir::WalkDir::new(project)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "tex"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}

/// The first `title = {...}` of the project's `.bib` files, if any.
fn first_bib_title(project: &Path) -> Option<String> {
    let re = regex::Regex::new(r#"(?i)\btitle\s*=\s*[{"]\{?([A-Za-z][^{}"]{6,}?)[}"]"#).unwrap();
    walkdir::WalkDir::new(project)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "bib"))
        .find_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            re.captures(&text).map(|c| c[1].to_string())
        })
}

/// Lowercased words of the page's text, for content checks that ignore
/// markup and line breaks.
fn page_text(dir: &Path) -> String {
    let page = std::fs::read_to_string(dir.join("index.html")).unwrap();
    let tags = regex::Regex::new(r"<[^>]*>").unwrap();
    tags.replace_all(&page, " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

#[test]
fn every_sample_converts_with_every_converter() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let mut failures = Vec::new();
    for sample in samples() {
        let source = sources(&sample);
        for converter in [Converter::Latexml, Converter::Make4ht, Converter::Pandoc] {
            let name = format!("{} with {converter}", sample.display());
            let biblatex = source.contains("{biblatex}");
            if converter == Converter::Latexml && biblatex {
                // LaTeXML 0.8.7 cannot read biblatex documents: refused up
                // front, with the reason, instead of a long timeout.
                match convert(&ctx, &sample, converter) {
                    Err(e) => {
                        assert_eq!(e.code().name(), "conversion_failed", "{name}");
                        let reason = e.details().attempts()[0].reason.clone();
                        assert!(reason.contains("biblatex"), "{name}: {reason}");
                    }
                    Ok(_) => failures.push(format!("{name}: expected the biblatex refusal")),
                }
                continue;
            }
            let result = match convert(&ctx, &sample, converter) {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{name}: {e} {:?}", e.details()));
                    continue;
                }
            };
            let s = &result.summary;
            assert_eq!(s.converter, converter, "{name}");
            assert_srcs_resolve(&result.dir);
            let page = std::fs::read_to_string(result.dir.join("index.html")).unwrap();
            let text = page_text(&result.dir);
            let has_math = source.contains('$') || source.contains("\\begin{equation");
            if has_math && (!page.contains("<math") || s.math_count == 0) {
                failures.push(format!("{name}: math but no MathML"));
            }
            if source.contains("\\begin{tabular") && !page.contains("<table") {
                failures.push(format!("{name}: tabular but no <table>"));
            }
            if source.contains("\\includegraphics") && s.image_count == 0 {
                failures.push(format!("{name}: figures but no images"));
            }
            if let Some(title) = first_bib_title(&sample) {
                if source.contains("\\cite") {
                    let words: Vec<String> = title
                        .split_whitespace()
                        .take(3)
                        .map(str::to_lowercase)
                        .collect();
                    if !text.contains(&words.join(" ")) {
                        failures.push(format!("{name}: bibliography entry {title:?} missing"));
                    }
                }
            }
            for theorem in ["theorem", "lemma"] {
                if source.contains(&format!("\\begin{{{theorem}}}")) && !text.contains(theorem) {
                    failures.push(format!("{name}: {theorem} environment missing"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn figures_of_every_kind_become_served_images() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::figures_project();
    for converter in [Converter::Latexml, Converter::Make4ht, Converter::Pandoc] {
        let result = convert(&ctx, project.path(), converter)
            .unwrap_or_else(|e| panic!("{converter}: {e} {:?}", e.details()));
        assert_srcs_resolve(&result.dir);
        let s = &result.summary;
        // PNG, EPS, PDF and SVG files and the TikZ picture (pandoc's
        // rendered by the driver's picture pre-pass).
        let want = 5;
        assert!(
            s.image_count >= want,
            "{converter}: {} images, want {want}: {:?}",
            s.image_count,
            s.assets
        );
        if converter == Converter::Make4ht {
            // A PDF in the preamble is measured from the pre-pass's
            // `.xbb`, not a "Cannot determine size of graphic" error.
            assert_eq!(s.quality.converter_errors, 0, "{:?}", s.diagnostics);
        }
        for asset in &s.assets {
            let bytes = std::fs::read(result.dir.join(asset)).unwrap();
            let ok = bytes.starts_with(b"\x89PNG")
                || bytes.starts_with(&[0xFF, 0xD8, 0xFF])
                || String::from_utf8_lossy(&bytes).contains("<svg");
            assert!(ok, "{converter}: {asset} is not an image");
        }
    }
}

/// A `verbatim` listing that shows `<img src="logo.png" alt="x">` keeps
/// its text (the `src` check is on parsed attributes, never on text),
/// while a real `<img>` whose file is not a result file still loses its
/// `src`, with LaTeXML and with pandoc.
#[test]
fn listings_that_show_html_keep_their_text() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::html_listing_project();
    // Markup, not text: the sanitized page escapes every `<` of its text,
    // so each `<img` is a tag.
    let img_tag = regex::Regex::new(r"<img\b[^>]*>").unwrap();
    let src_attr = regex::Regex::new(r#"\ssrc="([^"]*)""#).unwrap();
    for converter in [Converter::Latexml, Converter::Pandoc] {
        let result = convert(&ctx, project.path(), converter)
            .unwrap_or_else(|e| panic!("{converter}: {e} {:?}", e.details()));
        let page = std::fs::read_to_string(result.dir.join("index.html")).unwrap();
        let listing = r#"&lt;img src="logo.png" alt="x"&gt;"#;
        assert!(
            page.contains(listing),
            "{converter}: the listing lost its text: {}",
            page.lines()
                .filter(|l| l.contains("alt=\"x\""))
                .collect::<Vec<_>>()
                .join("\n")
        );
        let tags: Vec<&str> = img_tag.find_iter(&page).map(|m| m.as_str()).collect();
        let srcs: Vec<&str> = tags
            .iter()
            .filter_map(|t| src_attr.captures(t).map(|c| c.get(1).unwrap().as_str()))
            .collect();
        // The real figure is served; the fake one keeps its `<img>`, no `src`.
        assert_eq!(srcs.len(), 1, "{converter}: {tags:?}");
        assert!(srcs[0].starts_with("assets/"), "{converter}: {tags:?}");
        assert!(
            std::fs::symlink_metadata(result.dir.join(srcs[0])).is_ok_and(|m| m.is_file()),
            "{converter}: {} is not a file of the result",
            srcs[0]
        );
        assert_eq!(tags.len(), 2, "{converter}: {tags:?}");
        assert_eq!(result.summary.image_count, 1, "{converter}");
        assert_eq!(
            result.summary.assets,
            vec![srcs[0].to_string()],
            "{converter}"
        );
    }
}

#[test]
fn second_conversion_is_a_hit_and_a_changed_byte_is_a_miss() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::small_project();
    let first = convert(&ctx, project.path(), Converter::Pandoc).unwrap();
    assert!(!first.cache_hit);
    let runs = job::jail_runs();
    let second = convert(&ctx, project.path(), Converter::Pandoc).unwrap();
    assert!(second.cache_hit);
    assert_eq!(job::jail_runs(), runs, "a hit must not run the jail");
    assert_eq!(first.key, second.key);
    assert_eq!(first.dir, second.dir);

    let main = project.path().join("main.tex");
    let mut text = std::fs::read(&main).unwrap();
    *text.last_mut().unwrap() ^= 0x20;
    std::fs::write(&main, text).unwrap();
    let changed = convert(&ctx, project.path(), Converter::Pandoc).unwrap();
    assert!(!changed.cache_hit);
    assert_ne!(changed.key, first.key);
    assert_ne!(changed.project_digest, first.project_digest);
}

#[test]
fn toolchain_digest_and_options_change_the_key() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::small_project();
    let base = convert(&ctx, project.path(), Converter::Pandoc).unwrap();
    let mut other = ctx.clone();
    other.rootfs.digest = "0".repeat(64);
    let moved = convert(&other, project.path(), Converter::Pandoc).unwrap();
    assert!(!moved.cache_hit);
    assert_ne!(moved.key, base.key);
    let by_make4ht = convert(&ctx, project.path(), Converter::Make4ht).unwrap();
    assert_ne!(by_make4ht.key, base.key);
}

#[test]
fn concurrent_identical_jobs_run_the_jail_once() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::small_project();
    let before = job::jail_runs();
    let results: Vec<JobResult> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| s.spawn(|| convert(&ctx, project.path(), Converter::Pandoc).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| !r.cache_hit).count(), 1);
    assert_eq!(job::jail_runs() - before, 1);
    assert!(results.windows(2).all(|w| w[0].key == w[1].key));
}

#[test]
fn concurrent_processes_share_one_conversion() {
    let data = tempfile::tempdir().unwrap();
    let project = fixtures::small_project();
    let spawn = |out: &Path| {
        support::texjail()
            .env("TEXJAIL_DATA_DIR", data.path())
            .env("TEXJAIL_ROOTFS", support::rootfs())
            .args(["convert", "--converter", "pandoc", "--json", "-o"])
            .arg(out)
            .arg(project.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let outs = tempfile::tempdir().unwrap();
    let children: Vec<_> = (0..2)
        .map(|i| spawn(&outs.path().join(i.to_string())))
        .collect();
    let hits: Vec<bool> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success());
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            v["cache_hit"].as_bool().unwrap()
        })
        .collect();
    assert_eq!(hits.iter().filter(|h| !**h).count(), 1, "{hits:?}");
}

#[test]
fn cli_writes_the_result_and_reports_json() {
    let data = tempfile::tempdir().unwrap();
    let project = fixtures::small_project();
    let out = tempfile::tempdir().unwrap();
    let outdir = out.path().join("result");
    let run = support::texjail()
        .env("TEXJAIL_DATA_DIR", data.path())
        .env("TEXJAIL_ROOTFS", support::rootfs())
        .args(["convert", "--json", "--converter", "pandoc", "-o"])
        .arg(&outdir)
        .arg(project.path().join("main.tex"))
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    for field in [
        "key",
        "cache_hit",
        "project_digest",
        "summary",
        "timings_ms",
    ] {
        assert!(v.get(field).is_some(), "{field} missing: {v}");
    }
    assert_eq!(v["summary"]["converter"], "pandoc");
    assert!(v["summary"]["status"].is_string());
    for file in ["index.html", "fragment.html", "log.txt", "result.json"] {
        assert!(outdir.join(file).is_file(), "{file} missing");
    }
    assert!(outdir.join("assets").is_dir());
    let log = std::fs::read_to_string(outdir.join("log.txt")).unwrap();
    assert!(
        !log.contains(&data.path().display().to_string()),
        "host path in log"
    );
    // Without the cache the same job runs again.
    let again = support::texjail()
        .env("TEXJAIL_DATA_DIR", data.path())
        .env("TEXJAIL_ROOTFS", support::rootfs())
        .args([
            "convert",
            "--json",
            "--no-cache",
            "--converter",
            "pandoc",
            "-o",
        ])
        .arg(&outdir)
        .arg(project.path().join("main.tex"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v["cache_hit"], false);
}

#[test]
fn cli_exit_codes_name_what_was_wrong() {
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cli = |args: &[&std::ffi::OsStr]| {
        support::texjail()
            .env("TEXJAIL_DATA_DIR", data.path())
            .env("TEXJAIL_ROOTFS", support::rootfs())
            .arg("convert")
            .arg("--json")
            .arg("-o")
            .arg(&out)
            .args(args)
            .output()
            .unwrap()
    };
    // Bad input: missing path, unknown type, a project without a main file.
    let missing = cli(&[dir.path().join("nope.zip").as_os_str()]);
    assert_eq!(missing.status.code(), Some(2));
    let txt = dir.path().join("notes.txt");
    std::fs::write(&txt, "hello").unwrap();
    assert_eq!(cli(&[txt.as_os_str()]).status.code(), Some(2));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("readme.md"), "no tex here").unwrap();
    let no_main = cli(&[empty.as_os_str()]);
    assert_eq!(no_main.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&no_main.stdout).unwrap();
    assert_eq!(v["error"], "no_main_file");
    // An explicit --main outside the project is refused, not followed.
    let project = fixtures::small_project();
    let escape = cli(&[
        "--main".as_ref(),
        "../../etc/passwd".as_ref(),
        project.path().as_os_str(),
    ]);
    assert_eq!(escape.status.code(), Some(2));
    assert!(!out.exists(), "nothing written on failure");
}

#[test]
fn a_runaway_document_times_out_with_exit_1() {
    let data = tempfile::tempdir().unwrap();
    let project = fixtures::runaway_project();
    let out = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    let run = support::texjail()
        .env("TEXJAIL_DATA_DIR", data.path())
        .env("TEXJAIL_ROOTFS", support::rootfs())
        .args([
            "convert",
            "--json",
            "--converter",
            "make4ht",
            "--timeout",
            "5",
            "-o",
        ])
        .arg(out.path().join("r"))
        .arg(project.path())
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["error"], "timeout", "{v}");
    assert_eq!(v["details"]["attempts"][0]["status"], "timeout");
    assert!(
        started.elapsed().as_secs() < 60,
        "the timeout was not enforced"
    );
}

/// A document that prints `Fatal:timeout` into its converters' logs and
/// finishes in seconds is not a timeout: only the jail's outcome says so.
#[test]
fn a_document_cannot_claim_a_timeout_in_its_log() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::spoofed_timeout_project();
    for converter in [Converter::Latexml, Converter::Make4ht] {
        let attempts = match convert(&ctx, project.path(), converter) {
            Ok(result) => {
                let log = std::fs::read_to_string(result.dir.join("log.txt")).unwrap();
                assert!(
                    log.contains("Fatal:timeout"),
                    "the spoof never reached the log: {log}"
                );
                serde_json::to_value(&result.summary.attempts).unwrap()
            }
            Err(e) => {
                assert_ne!(
                    e.code().name(),
                    "timeout",
                    "{converter}: {e} {:?}",
                    e.details()
                );
                serde_json::to_value(e.details().attempts()).unwrap()
            }
        };
        let attempt = &attempts[0];
        assert_eq!(attempt["converter"], converter.to_string(), "{attempts}");
        assert_ne!(attempt["status"], "timeout", "{converter}: {attempts}");
        assert!(
            !attempt["reason"].as_str().unwrap().contains("timed out"),
            "{attempts}"
        );
        assert!(attempt["wall_ms"].as_u64().unwrap() < 120_000, "{attempts}");
    }
}

/// LaTeXML stopped by its own timeout, shorter than the jail's, still
/// reads as a timeout (the driver's exit status and the jail's clock).
#[test]
fn latexml_at_its_own_timeout_reads_as_timeout() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::latexml_runaway_project();
    let budget = std::time::Duration::from_secs(30);
    let started = std::time::Instant::now();
    let err = convert_within(&ctx, project.path(), Converter::Latexml, Some(budget))
        .expect_err("a runaway document produced a page");
    assert_eq!(err.code().name(), "timeout", "{err} {:?}", err.details());
    assert_eq!(
        err.details().attempts()[0].status,
        Some(texjail::convert::diagnostics::StatusClass::Timeout)
    );
    assert!(started.elapsed() < budget + std::time::Duration::from_secs(30));
}

#[test]
fn auto_falls_back_and_says_why() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    // LaTeXML stops on this document (fatal); make4ht's real LaTeX copes.
    let project = fixtures::latexml_fatal_project();
    let result = convert(&ctx, project.path(), Converter::Auto)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let s = &result.summary;
    assert_ne!(s.converter.name(), "latexml", "{:?}", s.attempts);
    assert_eq!(s.attempts[0].converter.name(), "latexml");
    assert!(s.attempts[0].reason.contains("fatal") || s.attempts[0].reason.contains("no page"));
    let used = s
        .attempts
        .iter()
        .position(|a| a.converter == s.converter)
        .unwrap();
    for later in &s.attempts[used + 1..] {
        assert!(later.status.is_none() && later.reason.starts_with("not needed"));
    }
}

/// LaTeXML is stopped as soon as it starts interpreting the LaTeX3 kernel
/// (which it never finishes), and `auto` goes on to make4ht with the rest
/// of the budget instead of half of it.
#[test]
fn auto_stops_latexml_at_the_expl3_kernel() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::expl3_project();
    let result = convert(&ctx, project.path(), Converter::Auto)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let s = &result.summary;
    assert_eq!(s.converter.name(), "make4ht", "{:?}", s.attempts);
    let latexml = &s.attempts[0];
    assert_eq!(latexml.converter.name(), "latexml");
    assert!(latexml.status.is_some(), "{latexml:?}");
    assert!(latexml.reason.contains("expl3"), "{latexml:?}");
    // Reaching the kernel takes LaTeXML a few seconds; the timeout it used
    // to run into is half of the default budget.
    assert!(latexml.wall_ms < 60_000, "{latexml:?}");
    assert!(page_text(&result.dir).contains('3'));
}

/// A document loading a package known to need the LaTeX3 kernel is not
/// given to LaTeXML at all.
#[test]
fn auto_declines_latexml_for_known_expl3_packages() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::xparse_project();
    let result = convert(&ctx, project.path(), Converter::Auto)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let s = &result.summary;
    let latexml = &s.attempts[0];
    assert!(latexml.status.is_none(), "{latexml:?}");
    assert!(latexml.reason.contains("skipped: xparse"), "{latexml:?}");
    assert_eq!(s.converter.name(), "make4ht", "{:?}", s.attempts);
    assert!(page_text(&result.dir).contains("(a, b)"));
}

/// A document with more TikZ pictures than LaTeXML draws in time is not
/// given to LaTeXML at all; the refusal says why.
#[test]
fn auto_declines_latexml_for_many_tikz_pictures() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::many_tikz_pictures_project();
    let result = convert(&ctx, project.path(), Converter::Auto)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let s = &result.summary;
    let latexml = &s.attempts[0];
    assert_eq!(latexml.converter.name(), "latexml");
    assert!(latexml.status.is_none(), "{latexml:?}");
    assert!(latexml.reason.contains("12 TikZ pictures"), "{latexml:?}");
    assert_eq!(s.converter.name(), "make4ht", "{:?}", s.attempts);
    assert!(s.image_count >= 12, "{s:?}");
    let err = convert(&ctx, project.path(), Converter::Latexml).unwrap_err();
    assert!(
        format!("{:?}", err.details()).contains("TikZ"),
        "{:?}",
        err.details()
    );
}

/// A document without graphicx is clean under make4ht: the graphics part
/// of the tex4ht configuration is skipped rather than typeset in the
/// preamble ("Missing \\begin{document}" in the configuration, an
/// `errors` class on 10 of the latexml-t documents make4ht converted).
#[test]
fn make4ht_configuration_is_clean_without_graphicx() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::small_project();
    let result = convert(&ctx, project.path(), Converter::Make4ht)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let summary = &result.summary;
    assert!(
        summary
            .diagnostics
            .iter()
            .all(|d| !d.message.contains("texjail-make4ht.cfg")),
        "{:?}",
        summary.diagnostics
    );
    assert_eq!(
        summary.status,
        texjail::convert::diagnostics::StatusClass::Ok,
        "{:?}",
        summary.diagnostics
    );
    assert!(summary.math_count >= 2, "{summary:?}");
}

/// make4ht names its page and log after TeX's job name, the main file's
/// name without its extension: a `.ltx` or upper-case `.TEX` main file
/// (both main files to the service) used to lose the page.
#[test]
fn make4ht_converts_main_files_named_ltx_or_upper_case_tex() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    for name in ["paper.ltx", "Paper.TEX"] {
        let project = tempfile::tempdir().unwrap();
        std::fs::write(
            project.path().join(name),
            "\\documentclass{article}\n\\begin{document}\nThe extension is kept: $x^2$.\n\\end{document}\n",
        )
        .unwrap();
        let result = convert(&ctx, project.path(), Converter::Make4ht)
            .unwrap_or_else(|e| panic!("{name}: {e} {:?}", e.details()));
        assert_eq!(result.summary.converter.name(), "make4ht", "{name}");
        let text = page_text(&result.dir);
        assert!(text.contains("the extension is kept"), "{name}: {text}");
    }
}

/// A main file whose name has a dot or a space (`paper.lncs.tex`): tex4ht
/// and dvisvgm used to write its pictures under one name and look for
/// them under another, and make4ht did not start on a name with a space.
/// The page has its picture, its bibliography and errors named after the
/// file the author wrote.
#[test]
fn make4ht_converts_main_files_named_with_dots_or_spaces() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    for name in ["paper.lncs.tex", "my paper.tex"] {
        let project = tempfile::tempdir().unwrap();
        std::fs::write(
            project.path().join(name),
            "\\documentclass{article}\n\\usepackage{tikz}\n\\begin{document}\n\
             Named oddly $x^2$ \\cite{knuth}.\n\
             \\begin{tikzpicture}\\draw (0,0) -- (1,1);\\end{tikzpicture}\n\
             \\undefinedcommand\n\
             \\bibliographystyle{plain}\\bibliography{refs}\n\\end{document}\n",
        )
        .unwrap();
        std::fs::write(
            project.path().join("refs.bib"),
            "@book{knuth, author={Donald Knuth}, title={The TeXbook Oddly}, year={1984}}\n",
        )
        .unwrap();
        let result = convert(&ctx, project.path(), Converter::Make4ht)
            .unwrap_or_else(|e| panic!("{name}: {e} {:?}", e.details()));
        let s = &result.summary;
        assert_eq!(s.converter.name(), "make4ht", "{name}");
        assert_eq!(s.quality.missing_images, 0, "{name}: {s:?}");
        assert!(s.image_count >= 1, "{name}: {s:?}");
        assert_srcs_resolve(&result.dir);
        let text = page_text(&result.dir);
        assert!(text.contains("named oddly"), "{name}: {text}");
        assert!(text.contains("texbook oddly"), "{name}: {text}");
        assert!(
            s.diagnostics
                .iter()
                .any(|d| d.file.as_deref() == Some(name) && d.message.contains("Undefined")),
            "{name}: {:?}",
            s.diagnostics
        );
    }
}

/// A missing package or input file is an error LaTeX goes on from, not
/// an emergency stop: make4ht still makes the page, the bibliography
/// pre-pass still resolves the citation after it, and the diagnostics
/// name both files.
#[test]
fn make4ht_goes_on_without_missing_files() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::missing_files_project();
    let result = convert(&ctx, project.path(), Converter::Make4ht)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let text = page_text(&result.dir);
    assert!(text.contains("after the missing file"), "{text}");
    assert!(
        text.contains("euclid"),
        "the citation was not resolved: {text}"
    );
    let summary = &result.summary;
    assert_eq!(
        summary.status,
        texjail::convert::diagnostics::StatusClass::Errors,
        "{:?}",
        summary.diagnostics
    );
    for name in ["quiver-not-in-texlive.sty", "version.tex"] {
        assert!(
            summary
                .diagnostics
                .iter()
                .any(|d| d.message.contains(name) && d.message.contains("not found")),
            "{name}: {:?}",
            summary.diagnostics
        );
    }
    // The document's own line numbers hold (the prefix shares line 1).
    assert!(
        summary
            .diagnostics
            .iter()
            .any(|d| d.message.contains("version.tex") && d.line == Some(4)),
        "{:?}",
        summary.diagnostics
    );
}

/// `f_\text{R}` is LaTeX that tex4ht's MathML cannot read unbraced: the
/// driver braces such scripts, and the page has no TeX errors.
#[test]
fn make4ht_reads_unbraced_command_scripts() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::unbraced_scripts_project();
    let result = convert(&ctx, project.path(), Converter::Make4ht)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let s = &result.summary;
    assert_eq!(s.quality.converter_errors, 0, "{:?}", s.diagnostics);
    assert_eq!(
        s.status,
        texjail::convert::diagnostics::StatusClass::Ok,
        "{:?}",
        s.diagnostics
    );
    assert!(s.math_count >= 7, "{}", s.math_count);
    // The upload itself is not edited.
    let source = std::fs::read_to_string(project.path().join("main.tex")).unwrap();
    assert!(source.contains(r"f_\text{R}"));
}

/// tex4ht's MathML appends `\limits` to `\lim`, `\Pr`, `\max`, ...; a
/// document that redefined one as a non-operator used to stop with
/// "Limit controls must follow a math operator" at every use (corpus
/// project 06); those keep the document's meaning, operators keep their
/// limits underneath. mathtools' `multlined` used to cascade into "TeX
/// capacity exceeded" (corpus project 27), `split` overflowed TeX's save
/// stack with no page (38, 44), and a draft watermark came out as a
/// broken picture (43).
#[test]
fn make4ht_converts_what_tex4ht_trips_on() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::tex4ht_traps_project();
    let result = convert(&ctx, project.path(), Converter::Make4ht)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let s = &result.summary;
    assert_eq!(s.quality.converter_errors, 0, "{:?}", s.diagnostics);
    assert!(s.quality.clean, "{:?}", s.diagnostics);
    let page = std::fs::read_to_string(result.dir.join("index.html")).unwrap();
    assert!(
        page.contains("<munder"),
        "limits stay under operators: {page}"
    );
    assert!(page.contains("gcd"), "{page}");
    assert!(s.math_count >= 8, "{s:?}");
    assert_eq!(s.image_count, 0, "no decoration comes out: {page}");
    let text = page_text(&result.dir);
    assert!(
        !text.contains("progress") && !text.contains("confidential"),
        "{text}"
    );
}

/// babel-spanish's operators used to overflow TeX's parameter stack under
/// tex4ht's MathML (corpus project 28).
#[test]
fn make4ht_converts_spanish_passages_with_math() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::spanish_project();
    let result = convert(&ctx, project.path(), Converter::Make4ht)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let text = page_text(&result.dir);
    assert!(text.contains("español"), "{text}");
    assert!(result.summary.math_count >= 1, "{:?}", result.summary);
}

/// tex4ht shows pgf's pictures as `<object>`s with fallback text; they
/// must come out as served SVG images, and the talk's math as MathML
/// without errors (corpus project 29).
#[test]
fn make4ht_serves_beamer_tikz_pictures_as_svg() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::beamer_tikz_project();
    let result = convert(&ctx, project.path(), Converter::Make4ht)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    assert_srcs_resolve(&result.dir);
    let s = &result.summary;
    assert!(s.image_count >= 1, "{s:?}");
    assert!(
        s.assets.iter().any(|a| a.ends_with(".svg")),
        "{:?}",
        s.assets
    );
    assert!(!page_text(&result.dir).contains("svg-viewer"));
    // beamer's hyperref and tex4ht's MathML anchors used to give hundreds
    // of undefined-command errors on every talk.
    assert_eq!(s.quality.converter_errors, 0, "{:?}", s.diagnostics);
    assert!(s.math_count >= 1, "{s:?}");
}

/// pandoc reads every chapter of a ctex book whose chapter files have
/// dots in their names (corpus project 23).
#[test]
fn pandoc_reads_dotted_chapters_of_a_ctex_document() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::ctex_dotted_chapters_project();
    let result = convert(&ctx, project.path(), Converter::Pandoc)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let text = page_text(&result.dir);
    assert!(text.contains("欢迎使用"), "{text}");
    assert!(text.contains("公式"), "{text}");
    assert!(result.summary.math_count >= 1, "{:?}", result.summary);
}

/// pandoc leaves `\includegraphics{dots}` as `src="dots"`: the page
/// finds it (and the PNG rendered from `square.pdf`) in the
/// `\graphicspath` folder, and nothing through the entries that leave the
/// project.
#[test]
fn pandoc_figures_are_found_through_graphicspath() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::graphicspath_project();
    let result = convert(&ctx, project.path(), Converter::Pandoc)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    assert_eq!(result.summary.image_count, 2, "{:?}", result.summary);
    assert_srcs_resolve(&result.dir);
    let page = std::fs::read_to_string(result.dir.join("index.html")).unwrap();
    assert!(
        page.contains("dots.png") && page.contains("square.png"),
        "{page}"
    );
}

/// pandoc drops TikZ; the driver renders each picture with LaTeX first
/// and pandoc shows an `<img>` of it: inline, `\input` from a `.tikz` file,
/// a pgfplots axis. The picture that cannot render is named in a warning;
/// those in a definition, a comment or verbatim are not touched.
#[test]
fn pandoc_shows_tikz_pictures_rendered_by_latex() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::pandoc_pictures_project();
    let result = convert(&ctx, project.path(), Converter::Pandoc)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    assert_srcs_resolve(&result.dir);
    let page = std::fs::read_to_string(result.dir.join("index.html")).unwrap();
    let srcs: Vec<String> = regex::Regex::new(r#"<img[^>]*\ssrc="([^"]*)""#)
        .unwrap()
        .captures_iter(&page)
        .map(|c| c[1].to_string())
        .collect();
    assert_eq!(srcs.len(), 3, "{srcs:?} {:?}", result.summary.diagnostics);
    for src in &srcs {
        assert!(src.ends_with(".svg"), "{src}");
        let svg = std::fs::read_to_string(result.dir.join(src)).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("<path"),
            "{src}: {svg}"
        );
        let lower = svg.to_ascii_lowercase();
        for banned in ["<script", "onload", "<use", "<image", "<foreignobject"] {
            assert!(!lower.contains(banned), "{src} keeps {banned}");
        }
    }
    let warnings: Vec<&str> = result
        .summary
        .diagnostics
        .iter()
        .map(|d| d.message.as_str())
        .filter(|m| m.contains("TikZ picture"))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("picture 4 (main.tex, line 27) did not render"),
        "{warnings:?}"
    );
    let text = page_text(&result.dir);
    assert!(text.contains("the end."), "{text}");
    assert!(
        text.contains("\\begin{tikzpicture}"),
        "verbatim lost: {text}"
    );
}

/// Images inside commands pandoc drops with their arguments (a package's
/// own wrapper, `\resizebox`, `\subfloat`, `\IfFileExists`, a TikZ
/// picture in `\scalebox`) reach the page; the branch without an image
/// does not.
#[test]
fn pandoc_shows_images_inside_wrapping_commands() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::pandoc_wrapped_images_project();
    let result = convert(&ctx, project.path(), Converter::Pandoc)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    assert_srcs_resolve(&result.dir);
    let page = std::fs::read_to_string(result.dir.join("index.html")).unwrap();
    for name in ["one", "two", "three", "four"] {
        assert!(page.contains(&format!("-{name}.png")), "{name}: {page}");
    }
    assert!(page.contains("-1.svg"), "the picture: {page}");
    assert_eq!(result.summary.image_count, 5, "{:?}", result.summary);
    let text = page_text(&result.dir);
    assert!(text.contains("the end."), "{text}");
    assert!(!text.contains("missingbranch"), "{text}");
    let source = std::fs::read_to_string(project.path().join("main.tex")).unwrap();
    assert!(
        source.contains("\\centerfloat{"),
        "the upload itself is not edited"
    );
}

/// A figure the project names but TeX Live holds (templates use mwe's
/// example images) is served by the converters that do not run TeX over
/// the page: pandoc, and make4ht, whose page names a PNG.
#[test]
fn figures_from_texlive_are_served() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::texlive_figures_project();
    for converter in [Converter::Pandoc, Converter::Make4ht] {
        let result = convert(&ctx, project.path(), converter)
            .unwrap_or_else(|e| panic!("{converter:?}: {e} {:?}", e.details()));
        assert_srcs_resolve(&result.dir);
        assert_eq!(
            result.summary.image_count, 2,
            "{converter:?}: {:?}",
            result.summary
        );
        let page = std::fs::read_to_string(result.dir.join("index.html")).unwrap();
        for name in ["example-image-c", "example-image-duck"] {
            assert!(page.contains(name), "{converter:?} {name}: {page}");
        }
    }
}

/// Twelve circles of growing radius: each `<img>` shows its own picture,
/// in order (page N of the picture document is picture N, whatever
/// padding dvisvgm gives page numbers from ten pages on).
#[test]
fn pandoc_pictures_keep_their_order_past_ten() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::many_tikz_pictures_project();
    let result = convert(&ctx, project.path(), Converter::Pandoc)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    assert_srcs_resolve(&result.dir);
    let page = std::fs::read_to_string(result.dir.join("index.html")).unwrap();
    let width = regex::Regex::new(r#"<svg[^>]*\swidth="([0-9.]+)pt""#).unwrap();
    let widths: Vec<f64> = regex::Regex::new(r#"<img[^>]*\ssrc="([^"]*)""#)
        .unwrap()
        .captures_iter(&page)
        .map(|c| {
            let svg = std::fs::read_to_string(result.dir.join(&c[1])).unwrap();
            width.captures(&svg).unwrap()[1].parse().unwrap()
        })
        .collect();
    assert_eq!(widths.len(), 12, "{:?}", result.summary.diagnostics);
    assert!(widths.windows(2).all(|w| w[0] < w[1]), "{widths:?}");
}

/// A budget too short for LaTeX and pandoc both: the pictures are not
/// rendered, pandoc still runs, and the diagnostics say why.
#[test]
fn pandoc_skips_pictures_when_the_budget_is_short() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::pandoc_pictures_project();
    let timeout = Some(std::time::Duration::from_secs(10));
    let result = convert_within(&ctx, project.path(), Converter::Pandoc, timeout)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    assert_eq!(result.summary.image_count, 0, "{:?}", result.summary.assets);
    assert!(
        result
            .summary
            .diagnostics
            .iter()
            .any(|d| d.message.contains("4 TikZ pictures not rendered")
                && d.message.contains("shorter than 20 s")),
        "{:?}",
        result.summary.diagnostics
    );
    assert!(page_text(&result.dir).contains("the end."));
}

/// pandoc expands a self-naming macro forever; the driver turns macro
/// expansion off for such a project, so pandoc finishes well inside a
/// short budget (corpus project 27 used to time out).
/// Commands that only matter to a PDF build, which LaTeXML 0.8.7 lacks:
/// xr's `\externaldocument` (corpus project 20) and AASTeX 6's
/// `\startlongtable`, `\listofchanges` and `\turnoffedit` (project 41).
/// They are no errors and print nothing.
#[test]
fn latexml_reads_commands_only_a_pdf_build_needs() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("main.tex"),
        "\\documentclass{article}\n\\usepackage{xr}\\externaldocument{other}\n\\begin{document}\n\
         \\turnoffedit\nThe table follows $x^2$.\n\\startlongtable\n\
         \\begin{tabular}{ll}a & b\\end{tabular}\n\\listofchanges\n\\end{document}\n",
    )
    .unwrap();
    let result = convert(&ctx, project.path(), Converter::Latexml)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let s = &result.summary;
    assert_eq!(s.quality.converter_errors, 0, "{:?}", s.diagnostics);
    assert_eq!(s.quality.raw_tex_commands, 0, "{:?}", s.quality);
    assert!(page_text(&result.dir).contains("the table follows"));
}

/// Old font switches in math (`$8.3\,{\rm d}$`, `${\cal L}$`), a
/// `\notag` before a comma, `\protect`, a `\textdegree` in `\text` and
/// babel-russian's `\tg`, a `\label` right after a letter, a formula in
/// a cell of an array in math: pandoc's math reader refuses them and used
/// to print the formulas as raw TeX (corpus projects 41, 38, 27, 40). They
/// come out as MathML, the prose's own `{\rm}` as text.
#[test]
fn pandoc_reads_math_its_math_reader_refuses() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("main.tex"),
        "\\documentclass{article}\n\\begin{document}\n\
         A period of $8.3\\,{\\rm d}$, a radius $R_{\\rm p} = 0.77\\,R_{\\rm Jup}$,\n\
         a Lagrangian ${\\cal L}$ and {\\rm upright prose},\n\
         $\\tg 20\\text{\\textdegree}$ and $\\protect\\alpha$.\n\
         \\begin{equation}\\bf x = {\\rm M}_\\odot\\end{equation}\n\
         \\begin{eqnarray}\na &=& b \\notag, \\\\\nc &=& d\n\\end{eqnarray}\n\
         \\begin{equation}\np=a\\Big(\\frac{V}{V_0}\\Big)^b\n\\label{powerlaw}\n\\end{equation}\n\
         Classes $\\begin{array}{cccc} 1, & 2, & \\dots, & $J$ \\end{array}$.\n\\end{document}\n",
    )
    .unwrap();
    let result = convert(&ctx, project.path(), Converter::Pandoc)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let s = &result.summary;
    assert_eq!(s.quality.raw_tex_commands, 0, "{:?}", s.quality);
    assert_eq!(s.quality.dollar_signs, 0, "{:?}", s.quality);
    assert!(s.math_count >= 9, "{s:?}");
    let text = page_text(&result.dir);
    assert!(text.contains("upright prose"), "{text}");
}

/// A project whose edits for pandoc would fill more than one command-line
/// argument (corpus project 40: 1,190 old font switches over its `.tex`
/// variants made a 173 KB driver script, which Linux refuses at `execve`,
/// and no page): the page is made, with the edits that fit.
#[test]
fn pandoc_converts_a_project_with_thousands_of_edits() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = tempfile::tempdir().unwrap();
    let formulas = "Flux $F_{\\rm PO_4} = {\\rm d}x$ here.\n".repeat(3000);
    std::fs::write(
        project.path().join("main.tex"),
        format!("\\documentclass{{article}}\n\\begin{{document}}\n{formulas}\\end{{document}}\n"),
    )
    .unwrap();
    std::fs::write(project.path().join("old-draft.tex"), formulas.as_bytes()).unwrap();
    let result = convert(&ctx, project.path(), Converter::Pandoc)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    // 12,000 edits do not fit in the budget; the first ones are made.
    let q = &result.summary.quality;
    assert!(q.math_elements >= 800, "{q:?}");
    assert!(q.math_elements < 6000, "{q:?}");
    assert!(page_text(&result.dir).contains("flux"));
}

/// A `{` the document never closes (`\citet{Ward:2016}{.`): TeX takes it,
/// pandoc used to stop at `\end{document}` with no page (corpus project
/// 40). The group closes where its paragraph ends.
#[test]
fn pandoc_reads_a_document_that_leaves_a_group_open() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("main.tex"),
        "\\documentclass{article}\n\\begin{document}\n\\section{Production}\n\
         As in Ward {. The partition is sigmoidal.\n\n\
         \\section{Grazing}\nA second paragraph $x^2$.\n\\end{document}\n",
    )
    .unwrap();
    let result = convert(&ctx, project.path(), Converter::Pandoc)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let text = page_text(&result.dir);
    assert!(text.contains("the partition is sigmoidal"), "{text}");
    assert!(text.contains("a second paragraph"), "{text}");
    assert!(result.summary.math_count >= 1, "{:?}", result.summary);
    // The upload itself is not edited.
    let source = std::fs::read_to_string(project.path().join("main.tex")).unwrap();
    assert!(source.contains("Ward {. The"));
}

#[test]
fn pandoc_finishes_on_a_self_naming_macro() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::recursive_macro_project();
    let timeout = Some(std::time::Duration::from_secs(30));
    let result = convert_within(&ctx, project.path(), Converter::Pandoc, timeout)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let text = page_text(&result.dir);
    assert!(text.contains("after the header"), "{text}");
}

#[test]
fn hostile_figure_paths_serve_nothing_from_outside() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::hostile_paths_project();
    for converter in [Converter::Latexml, Converter::Make4ht, Converter::Pandoc] {
        let Ok(result) = convert(&ctx, project.path(), converter) else {
            continue; // no page at all is also a safe outcome
        };
        assert_srcs_resolve(&result.dir);
        for asset in &result.summary.assets {
            let bytes = std::fs::read(result.dir.join(asset)).unwrap();
            assert!(
                !String::from_utf8_lossy(&bytes).contains("root:x:0:0"),
                "{converter}: /etc/passwd leaked as {asset}"
            );
        }
        let page = std::fs::read_to_string(result.dir.join("index.html")).unwrap();
        assert!(!page.contains("root:x:0:0"), "{converter}: passwd in page");
        let log = std::fs::read_to_string(result.dir.join("log.txt")).unwrap();
        assert!(!log.contains(&data.path().display().to_string()));
    }
}

/// `Cache` is reachable for servers that share one store between jobs.
#[test]
fn a_cache_opened_twice_sees_the_same_results() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::small_project();
    let first = convert(&ctx, project.path(), Converter::Pandoc).unwrap();
    let reopened = Cache::open(&data.path().join("results"), u64::MAX).unwrap();
    assert_eq!(reopened.result_dir(&first.key), Some(first.dir.clone()));
}

#[test]
fn cancelling_kills_the_running_converter() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::runaway_project();
    let cancel = AtomicBool::new(false);
    let started = std::time::Instant::now();
    let outcome = std::thread::scope(|s| {
        let job = s.spawn(|| {
            job::run_job(
                &ctx,
                &Input::Directory(project.path().to_path_buf()),
                &Options {
                    converter: Converter::Make4ht,
                    ..Options::default()
                },
                job::Slots::only(0),
                &|_| {},
                &cancel,
            )
        });
        std::thread::sleep(std::time::Duration::from_secs(3));
        cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        job.join().unwrap()
    });
    let err = outcome.expect_err("a cancelled job has no result");
    assert_eq!(err.code().name(), "cancelled");
    // The default budget is minutes; only the kill ends it this soon.
    assert!(started.elapsed().as_secs() < 60, "{:?}", started.elapsed());
    assert!(
        std::fs::read_dir(data.path().join("results"))
            .unwrap()
            .filter_map(Result::ok)
            .all(|e| e.file_name().to_string_lossy().starts_with('.')),
        "a cancelled job stores nothing"
    );
}

#[test]
fn a_planted_driver_directory_is_reset_before_converting() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::small_project();
    let planted = project.path().join(".texjail/out");
    std::fs::create_dir_all(&planted).unwrap();
    std::fs::write(
        planted.join("index.html"),
        "<p>PLANTED-PAGE</p><script>alert(1)</script>",
    )
    .unwrap();
    std::fs::write(project.path().join(".texjail/exit"), "0").unwrap();
    let result = convert(&ctx, project.path(), Converter::Pandoc)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let page = std::fs::read_to_string(result.dir.join("index.html")).unwrap();
    assert!(!page.contains("PLANTED-PAGE"), "the upload chose the page");
    assert!(page.contains("Energy"), "the real conversion is served");
    assert!(!page.contains("<script>alert"));
}

/// With no main file named, the paper is chosen over the response letter,
/// the old draft and the clean copy, and the result says so.
#[test]
fn the_paper_is_chosen_among_side_documents() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::paper_among_side_documents();
    let result = convert(&ctx, project.path(), Converter::Pandoc)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let main = result.summary.main_file.as_ref().expect("main_file");
    assert_eq!(main.file, "paper.tex", "{main:?}");
    assert!(main.automatic);
    for other in [
        "paper_clean.tex",
        "old/paper.tex",
        "response-to-reviewers.tex",
    ] {
        assert!(main.others.iter().any(|o| o == other), "{other}: {main:?}");
    }
    let text = page_text(&result.dir);
    assert!(text.contains("we compute"), "{text}");
    assert!(
        text.contains("main file paper.tex (chosen automatically"),
        "{text}"
    );
    let stored: serde_json::Value =
        serde_json::from_slice(&std::fs::read(result.dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(stored["main_file"]["file"], "paper.tex");
    assert_eq!(stored["main_file"]["automatic"], true);
    assert!(stored["quality"]["clean"].is_boolean());
}

/// `auto` does not stop at LaTeXML's page when it shows raw TeX: it runs
/// the next converters and keeps the better page, and says why.
#[test]
fn auto_keeps_the_best_page_not_the_first() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::local_class_project();
    let result = convert(&ctx, project.path(), Converter::Auto)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let s = &result.summary;
    let latexml = &s.attempts[0];
    assert_eq!(latexml.converter.name(), "latexml");
    assert!(latexml.status.is_some(), "{latexml:?}");
    assert!(
        latexml.reason.contains("raw TeX") && latexml.reason.contains("not kept"),
        "{latexml:?}"
    );
    assert_ne!(s.converter.name(), "latexml", "{:?}", s.attempts);
    assert!(s.quality.clean, "{:?} {:?}", s.quality, s.attempts);
    assert!(s.quality.raw_tex_commands < 5, "{:?}", s.quality);
    let text = page_text(&result.dir);
    assert!(text.contains("solver"), "{text}");
    assert!(!text.contains("\\tool"), "{text}");
}

/// A page whose text shows raw TeX is not `ok` or `warnings`, whatever the
/// converter's own log says; the header and the result say what is wrong.
#[test]
fn a_page_showing_raw_tex_is_not_ok() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::unparsable_math_project();
    let result = convert(&ctx, project.path(), Converter::Pandoc)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let s = &result.summary;
    assert!(s.quality.raw_tex_commands >= 6, "{:?}", s.quality);
    assert!(!s.quality.clean);
    assert_eq!(
        s.status,
        texjail::convert::diagnostics::StatusClass::Errors,
        "{:?}",
        s.quality
    );
    assert!(s.quality.raw_tex_samples[0].starts_with("\\nosuchmacro"));
    let page = std::fs::read_to_string(result.dir.join("index.html")).unwrap();
    assert!(page.contains("status-errors"), "header");
    assert!(page.contains("raw TeX commands (\\nosuchmacro"), "header");
}

/// pandoc never reads a local package raw (one definition it cannot
/// parse made it give up on corpus project 44's whole book); it gets the
/// package's definitions it can expand, and stand-ins for LaTeX's own
/// commands its math reader lacks, except where the document defines the
/// name itself.
#[test]
fn pandoc_gets_what_it_can_read_of_local_packages() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::package_pandoc_cannot_read_project();
    let result = convert(&ctx, project.path(), Converter::Pandoc)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let s = &result.summary;
    assert!(s.math_count >= 8, "{} {:?}", s.math_count, s.quality);
    // Only `\widebar`, whose definition pandoc cannot expand, stays TeX.
    assert!(s.quality.raw_tex_commands <= 1, "{:?}", s.quality);
    assert!(s.quality.clean, "{:?}", s.quality);
    let page = std::fs::read_to_string(result.dir.join("fragment.html")).unwrap();
    assert!(page.contains("ℝ"), "\\R from the package");
    assert!(page.contains("for all"), "\\hbox as text in math");
    assert!(page.contains("<mfrac"), "\\cfrac and \\nicefrac");
    // The document's own `\smash` (boxed) wins over the stand-in.
    assert!(
        page.contains("menclose") || page.contains("\\boxed"),
        "{page}"
    );
    assert!(
        !s.diagnostics
            .iter()
            .any(|d| d.message.contains("without expanding")),
        "{:?}",
        s.diagnostics
    );
}

/// Every step of a beamer slide reaches pandoc's page: overlay
/// specifications are taken out and the overlay commands keep their
/// content, while math's `<` stays.
#[test]
fn pandoc_shows_every_overlay_step_of_a_beamer_slide() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::beamer_overlays_project();
    let result = convert(&ctx, project.path(), Converter::Pandoc)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let text = page_text(&result.dir);
    for words in [
        "revealed claim",
        "third step",
        "uncovered words",
        "visible words",
        "first point",
        "second point",
        "block body",
    ] {
        assert!(text.contains(words), "{words}: {text}");
    }
    for spec in ["<+->", "<2>", "alert@2", "<3"] {
        assert!(!text.contains(spec), "{spec}: {text}");
    }
    let s = &result.summary;
    assert_eq!(s.quality.raw_tex_commands, 0, "{:?}", s.quality);
    assert!(s.math_count >= 2, "{}", s.math_count);
}

/// pandoc sees the definitions of a local class and of the package it
/// requires (it reads neither itself): every formula becomes MathML.
#[test]
fn pandoc_expands_macros_of_local_classes() {
    let data = tempfile::tempdir().unwrap();
    let ctx = context(data.path());
    let project = fixtures::class_macros_project();
    let result = convert(&ctx, project.path(), Converter::Pandoc)
        .unwrap_or_else(|e| panic!("{e} {:?}", e.details()));
    let s = &result.summary;
    assert!(s.quality.clean, "{:?}", s.quality);
    assert_eq!(s.quality.raw_tex_commands, 0, "{:?}", s.quality);
    assert_eq!(s.quality.dollar_signs, 0, "{:?}", s.quality);
    assert!(s.math_count >= 12, "{}", s.math_count);
    let page = std::fs::read_to_string(result.dir.join("fragment.html")).unwrap();
    assert!(page.contains("ℝ"), "\\R expanded to the double-struck R");
    assert!(page.contains("⟩"), "\\ket expanded");
    // The upload is not edited: the prelude lives in the driver's dir.
    assert!(!project.path().join(".texjail").exists());
}
