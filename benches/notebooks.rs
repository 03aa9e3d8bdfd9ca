//! Notebooks: texjail against `jupyter nbconvert --to html`, both on the
//! same rootfs, in one run.
//!
//! For each notebook of the corpus (`NOTEBOOK_CORPUS`, default
//! `/work/shared/corpus/notebooks`; not a `TEXJAIL_` name, which texjail
//! would take for a setting), without execution:
//!
//! - texjail: `texjail convert NB -o OUT --no-cache` (unpack, the jail run
//!   of the pre-pass and pandoc, the budgeted sanitizer and page, storing);
//! - nbconvert: `texjail jail-run -- python3 -m nbconvert --to html` (the
//!   same jail, nbconvert 6 from the rootfs, its default `lab` template).
//!
//! Variants alternate and swap order every iteration so load on the
//! machine hits both alike. The table shows each notebook's median wall
//! time for both, their ratio (target: texjail ≤ 0.5 × nbconvert), the
//! page weight (texjail: `index.html` plus its assets; nbconvert: its one
//! HTML file, images inline) and how many resources nbconvert's page loads
//! from another origin (texjail's load none: its tests assert it). A
//! notebook nbconvert fails on is shown as failed and left out of the
//! totals.
//! Run: `cargo bench --bench notebooks` as root. `NOTEBOOK_BENCH_ITERS`
//! (default 3) sets runs per variant.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_texjail");

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn corpus() -> Vec<PathBuf> {
    let dir = std::env::var_os("NOTEBOOK_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/corpus/notebooks"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the notebook corpus is missing at {} ({e})", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no notebooks in {}", dir.display());
    files
}

fn rootfs() -> PathBuf {
    std::env::var_os("TEXJAIL_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(texjail::toolchain::default_rootfs_path)
}

/// Bytes of every regular file under `dir`.
fn weight(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

/// One texjail conversion; the page weight of its result.
fn run_texjail(nb: &Path) -> (Duration, u64) {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let result = out.path().join("result");
    let started = Instant::now();
    let status = Command::new(BIN)
        .env("TEXJAIL_DATA_DIR", data.path())
        .env("TEXJAIL_ROOTFS", rootfs())
        .args(["convert", "--no-cache", "-o"])
        .arg(&result)
        .arg(nb)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let wall = started.elapsed();
    assert!(status.success(), "texjail failed on {}", nb.display());
    let page = std::fs::metadata(result.join("index.html")).unwrap().len();
    (wall, page + weight(&result.join("assets")))
}

/// One nbconvert conversion in the jail; its page's weight and the
/// resources it loads from another origin (Debian's nbconvert takes
/// require.js and MathJax from `file:///usr/share/javascript`, upstream's
/// from a CDN). `None` when nbconvert fails (nbconvert 6.5 cannot read an
/// SVG output that starts with an XML declaration: corpus notebook 03).
fn run_nbconvert(nb: &Path) -> Option<(Duration, u64, usize)> {
    let job = tempfile::tempdir().unwrap();
    std::fs::copy(nb, job.path().join("nb.ipynb")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let status = Command::new(BIN)
        .args(["jail-run", "--timeout", "600", "--rootfs"])
        .arg(rootfs())
        .arg("--job")
        .arg(job.path())
        .arg("--out")
        .arg(out.path())
        .args([
            "--",
            "python3",
            "-m",
            "nbconvert",
            "--to",
            "html",
            "--output-dir",
            "/job/nbc",
            "/job/nb.ipynb",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let wall = started.elapsed();
    if !status.success() {
        return None;
    }
    let page = std::fs::read_to_string(out.path().join("nbc/nb.html")).unwrap();
    let external =
        regex::Regex::new(r#"<(?:script|link|img)[^>]*(?:src|href)="(?:https?:|file:)?//"#)
            .unwrap()
            .find_iter(&page)
            .count();
    Some((wall, page.len() as u64, external))
}

fn main() {
    let iters: usize = std::env::var("NOTEBOOK_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "notebooks: texjail vs nbconvert --to html, {iters} runs each, rootfs {}",
        rootfs().display()
    );
    println!("load before: {}", load().trim());
    println!(
        "{:<44} {:>10} {:>10} {:>6} {:>12} {:>12} {:>9}",
        "notebook", "texjail", "nbconvert", "ratio", "texjail B", "nbconvert B", "nbc ext."
    );
    let (mut sum_t, mut sum_n) = (Duration::ZERO, Duration::ZERO);
    let (mut weight_t, mut weight_n) = (0u64, 0u64);
    for nb in corpus() {
        let (mut t, mut n) = (Vec::new(), Vec::new());
        let (mut wt, mut wn, mut ext) = (0, 0, 0);
        let mut nbconvert_failed = false;
        for i in 0..iters {
            let mut texjail = || {
                let (wall, w) = run_texjail(&nb);
                t.push(wall);
                wt = w;
            };
            let mut nbconvert = || match run_nbconvert(&nb) {
                Some((wall, w, e)) => {
                    n.push(wall);
                    (wn, ext) = (w, e);
                }
                None => nbconvert_failed = true,
            };
            if i % 2 == 0 {
                texjail();
                nbconvert();
            } else {
                nbconvert();
                texjail();
            }
        }
        let name = nb.file_name().unwrap().to_string_lossy().into_owned();
        if nbconvert_failed {
            // Left out of the totals: there is nothing to compare with.
            println!(
                "{name:<44} {:>8}ms {:>10} {:>6} {:>12} {:>12}",
                median(t).as_millis(),
                "failed",
                "-",
                wt,
                "-"
            );
            continue;
        }
        let (mt, mn) = (median(t), median(n));
        sum_t += mt;
        sum_n += mn;
        weight_t += wt;
        weight_n += wn;
        println!(
            "{name:<44} {:>8}ms {:>8}ms {:>6.2} {:>12} {:>12} {:>9}",
            mt.as_millis(),
            mn.as_millis(),
            mt.as_secs_f64() / mn.as_secs_f64(),
            wt,
            wn,
            ext
        );
    }
    println!(
        "{:<44} {:>8}ms {:>8}ms {:>6.2} {:>12} {:>12}",
        "total (medians, both converted)",
        sum_t.as_millis(),
        sum_n.as_millis(),
        sum_t.as_secs_f64() / sum_n.as_secs_f64(),
        weight_t,
        weight_n
    );
    println!("load after: {}", load().trim());
}
