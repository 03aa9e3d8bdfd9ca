//! The post-conversion budget: a converter page that makes sanitizing slow
//! or huge is stopped by the limits of the `texjail __assemble` child, the
//! calling process carries on, and nothing is written outside the result.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use texjail::convert::assemble::Assembled;
use texjail::convert::bounded::{self, BoundedError, Request};
use texjail::convert::diagnostics::StatusClass;
use texjail::convert::driver::OUT_DIR;
use texjail::convert::render::PageSummary;
use texjail::convert::Settings;

use crate::support;

/// Attributes on the hidden tag: html5ever needs minutes for them (its
/// duplicate check is quadratic); the pre-scan would refuse them in
/// microseconds if it saw the tag.
const HUGE: usize = 200_000;

/// A tag of `count` distinct attributes, hidden from the attribute
/// pre-scan: inside `<mi>` (an HTML integration point in MathML) the
/// parser reads `<style>` as raw text, so `<a x="` in it is text and the
/// `<p>` after it a real tag; the pre-scan, which models only `<svg>` and
/// `<math>`, stays in MathML, reads `x="` as opening a value and skips
/// the tag (as html5ever's tokenizer on its own does too).
fn hidden_tag_page(count: usize) -> String {
    let attrs: String = (0..count).map(|i| format!(" a{i}")).collect();
    format!("<p>before</p><math><mi><style><a x=\"</style><p{attrs}>\"</p></mi></math>")
}

/// A copy-out holding `page` as the converter's page.
fn job_out(page: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(OUT_DIR)).unwrap();
    std::fs::write(dir.path().join(OUT_DIR).join("index.html"), page).unwrap();
    dir
}

fn request(job_out: &Path, dest: &Path, settings: Settings) -> Request {
    Request {
        job_out: job_out.to_path_buf(),
        main_dir: String::new(),
        figure_dirs: Vec::new(),
        dest: dest.to_path_buf(),
        settings,
        summary: PageSummary {
            status: StatusClass::Ok,
            converter: "make4ht".into(),
            warnings: 0,
            errors: 0,
            missing: vec![],
            quality: Default::default(),
            main: None,
            execution: None,
        },
    }
}

fn run(page: &str, settings: Settings) -> (Result<Assembled, BoundedError>, Duration) {
    let job = job_out(page);
    let dest = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let got = bounded::assemble(
        &support::texjail_bin(),
        &request(job.path(), dest.path(), settings),
        &AtomicBool::new(false),
    );
    (got, started.elapsed())
}

/// Names under `dir`, recursively, relative to it.
fn tree(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(at) = stack.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            names.push(path.strip_prefix(dir).unwrap().display().to_string());
            if path.is_dir() {
                stack.push(path);
            }
        }
    }
    names.sort();
    names
}

#[test]
fn a_normal_page_is_assembled_by_the_child_into_the_result_only() {
    let job = job_out("<title>T</title><h1>T</h1><p>x <math><mi>y</mi></math></p>");
    let before = tree(job.path());
    let dest = tempfile::tempdir().unwrap();
    let assembled = bounded::assemble(
        &support::texjail_bin(),
        &request(job.path(), dest.path(), Settings::default()),
        &AtomicBool::new(false),
    )
    .unwrap();
    assert_eq!(assembled.title.as_deref(), Some("T"));
    assert_eq!(assembled.math_count, 1);
    assert_eq!(tree(dest.path()), ["assets", "fragment.html", "index.html"]);
    assert_eq!(tree(job.path()), before, "the copy-out is left as it was");
}

#[test]
fn a_tag_hidden_from_the_prescan_is_stopped_by_the_time_budget() {
    let settings = Settings {
        assemble_timeout_secs: 3,
        ..Settings::default()
    };
    let (got, took) = run(&hidden_tag_page(HUGE), settings.clone());
    let err = got.unwrap_err();
    assert!(matches!(err, BoundedError::Timeout { secs: 3 }), "{err:?}");
    assert_eq!(err.limit(), Some("convert.assemble_timeout_secs"));
    assert!(err.to_string().contains("took longer than 3 s"), "{err}");
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
    // The caller is fine and the next page goes through.
    let (got, _) = run("<p>next</p>", settings);
    assert!(got.is_ok(), "{got:?}");
}

/// The same page with a few attributes converts: the time budget, not
/// the page's shape, is what refused it.
#[test]
fn the_hidden_tag_shape_itself_is_accepted_when_small() {
    let (got, took) = run(&hidden_tag_page(50), Settings::default());
    assert!(got.is_ok(), "{got:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn a_page_that_needs_too_much_memory_is_stopped() {
    // One 40 MiB attribute value: under every size cap, but the page is
    // copied by each pass (read, tokenized, parsed, serialized, rendered).
    let page = format!("<p title=\"{}\">x</p>", "x".repeat(40 << 20));
    let settings = Settings {
        assemble_memory_bytes: 128 << 20,
        assemble_timeout_secs: 60,
        ..Settings::default()
    };
    let (got, took) = run(&page, settings);
    let err = got.unwrap_err();
    assert!(
        matches!(err, BoundedError::Memory { bytes } if bytes == 128 << 20),
        "{err:?}"
    );
    assert_eq!(err.limit(), Some("convert.assemble_memory_bytes"));
    assert!(err.to_string().contains("128 MiB"), "{err}");
    assert!(took < Duration::from_secs(60), "{took:?}");
}

#[test]
fn cancelling_kills_the_child_at_once() {
    let job = job_out(&hidden_tag_page(HUGE));
    let dest = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(false);
    let started = Instant::now();
    let got = std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(500));
            cancel.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        bounded::assemble(
            &support::texjail_bin(),
            &request(job.path(), dest.path(), Settings::default()),
            &cancel,
        )
    });
    assert!(matches!(got, Err(BoundedError::Cancelled)), "{got:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// End to end: make4ht writes the hidden-tag page from `\HCode`, in the
/// real jail; the job fails with the named limit within the budget, exit
/// code 1, and nothing is stored or left behind.
#[test]
fn an_hcode_page_that_stalls_the_parser_fails_the_job_within_the_budget() {
    let data = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::write(project.path().join("main.tex"), HCODE_TEX).unwrap();
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let run = support::texjail()
        .env("TEXJAIL_DATA_DIR", data.path())
        .env("TEXJAIL_ROOTFS", support::rootfs())
        .env("TEXJAIL_CONVERT_ASSEMBLE_TIMEOUT_SECS", "3")
        .args(["convert", "--json", "--converter", "make4ht", "-o"])
        .arg(out.path().join("r"))
        .arg(project.path())
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|_| {
        panic!(
            "no JSON: {}\n{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        )
    });
    assert_eq!(run.status.code(), Some(1), "{v}");
    assert_eq!(v["error"], "page_refused", "{v}");
    assert_eq!(
        v["details"]["limit"], "convert.assemble_timeout_secs",
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap().contains("longer than 3 s"),
        "{v}"
    );
    // The attempt says its page was made and refused, and why.
    assert_eq!(
        v["details"]["attempts"][0]["reason"],
        "page refused: sanitizing the converter output took longer than 3 s; the page was refused",
        "{v}"
    );
    // The converter's run, then at most the budget (and a margin for
    // unpacking and start-up).
    let converting =
        Duration::from_millis(v["details"]["attempts"][0]["wall_ms"].as_u64().unwrap());
    let took = started.elapsed();
    assert!(
        took < converting + Duration::from_secs(3 + 3),
        "{took:?} for a {converting:?} conversion"
    );
    assert!(!out.path().join("r").exists(), "nothing written on failure");
    // No result stored, no job directory left behind.
    for sub in ["results", "jobs"] {
        let dir = data.path().join(sub);
        let left: Vec<_> = std::fs::read_dir(&dir)
            .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        let left: Vec<_> = left
            .into_iter()
            .filter(|n| !n.to_string_lossy().starts_with('.'))
            .collect();
        assert!(left.is_empty(), "{sub}/ holds {left:?}");
    }
}

/// 200,000 distinct attributes on one tag written with `\HCode` behind the
/// `<mi><style><a x="` of `hidden_tag_page`, 50 to a chunk (building a
/// chunk costs the square of its length).
pub const HCODE_TEX: &str = r#"\documentclass{article}
\begin{document}
Before.
\HCode{<math><mi><style><a x="</style><p}%
\newcount\hcN \newcount\hcK \hcN=0
\def\hcChunk{}
\loop
  \edef\hcChunk{\hcChunk\space a\the\hcN}%
  \advance\hcN by 1
  \hcK=\hcN \divide\hcK by 50 \multiply\hcK by 50
  \ifnum\hcK=\hcN \HCode{\hcChunk}\def\hcChunk{}\fi
\ifnum\hcN<200000 \repeat
\HCode{>"</p></mi></math>}
After.
\end{document}
"#;
