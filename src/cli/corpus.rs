//! `texjail corpus DIR...`: converts every project archive in the given
//! folders with `auto` (or another converter) and prints a table —
//! project, status class, whether the page is clean, raw TeX commands in
//! its text, converter used, time, images, math, the main file chosen —
//! with totals per status class. `make corpus` runs it on the shared
//! corpus. At most `jobs` conversions run at once, each in its own jail
//! slot.
//!
//! Projects are uploaded as a person uploads them: whole, naming no main
//! file. A folder's `MANIFEST.tsv` main files are shown beside the
//! detected one (`main≠` flags a difference), and passed like `--main`
//! only on request (`--manifest-main`).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::process::ExitCode;

use super::convert::{EXIT_BAD_INPUT, EXIT_INTERNAL};
use crate::config::Config;
use crate::convert::{Converter, Options};
use crate::job::{self, Context, Input};

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub project: String,
    /// The status class, or the job error's code.
    pub status: String,
    pub converter: String,
    pub seconds: f64,
    pub images: usize,
    pub math: usize,
    pub cache_hit: bool,
    /// The page is clean (`convert::quality`).
    pub clean: bool,
    /// Raw TeX commands in the page's visible text.
    pub raw_tex: usize,
    /// The main file converted ("-" when none was found).
    pub main: String,
    /// The manifest names another main file.
    pub main_differs: bool,
}

/// A project to convert and, when the folder's `MANIFEST.tsv` names it,
/// its main file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub path: PathBuf,
    pub manifest_main: Option<String>,
}

/// Archives (`.zip`, `.tar.gz`, `.tgz`, `.tex`) directly inside `dirs`,
/// sorted by name within each folder, with main files from each folder's
/// `MANIFEST.tsv` (columns `zip_file` or `zip`, and `main_tex_in_zip` or
/// `main_tex`).
pub fn projects(dirs: &[PathBuf]) -> std::io::Result<Vec<Entry>> {
    let mut all = Vec::new();
    for dir in dirs {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                let name = p.to_string_lossy().to_ascii_lowercase();
                [".zip", ".tar.gz", ".tgz", ".tex"]
                    .iter()
                    .any(|ext| name.ends_with(ext))
            })
            .collect();
        found.sort();
        let mains = manifest_mains(&dir.join("MANIFEST.tsv"));
        all.extend(found.into_iter().map(|path| {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Entry {
                manifest_main: mains.get(&name).cloned(),
                path,
            }
        }));
    }
    Ok(all)
}

/// Archive name → main file, from a corpus manifest (empty when absent).
fn manifest_mains(path: &Path) -> BTreeMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return BTreeMap::new();
    };
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let Some(header) = lines.next() else {
        return BTreeMap::new();
    };
    let columns: Vec<&str> = header.split('\t').collect();
    let find = |names: &[&str]| columns.iter().position(|c| names.contains(c));
    let (Some(zip), Some(main)) = (
        find(&["zip_file", "zip"]),
        find(&["main_tex_in_zip", "main_tex"]),
    ) else {
        return BTreeMap::new();
    };
    lines
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            let (z, m) = (fields.get(zip)?, fields.get(main)?);
            (!z.is_empty() && !m.is_empty()).then(|| (z.to_string(), m.to_string()))
        })
        .collect()
}

/// How the corpus is converted.
#[derive(Debug, Clone, Copy)]
pub struct Run {
    pub converter: Converter,
    pub timeout: Duration,
    pub jobs: usize,
    /// Pass each manifest's main file like `--main` (a user names none).
    pub manifest_main: bool,
}

/// Converts every project, `run.jobs` at a time; returns rows in input
/// order.
pub fn convert_all(ctx: &Context, projects: &[Entry], run: Run) -> Vec<Row> {
    let jobs = run.jobs;
    let next = AtomicUsize::new(0);
    let rows: Mutex<Vec<Option<Row>>> = Mutex::new(vec![None; projects.len()]);
    let cancel = AtomicBool::new(false);
    std::thread::scope(|s| {
        for slot in 0..jobs.max(1) {
            let (next, rows, cancel) = (&next, &rows, &cancel);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(entry) = projects.get(i) else { return };
                let row = convert_one(ctx, entry, run, slot as u32, cancel);
                eprintln!(
                    "[{}/{}] {} {} {} {:.1}s raw={} main={}",
                    i + 1,
                    projects.len(),
                    row.project,
                    row.status,
                    row.converter,
                    row.seconds,
                    row.raw_tex,
                    row.main
                );
                rows.lock().unwrap_or_else(|e| e.into_inner())[i] = Some(row);
            });
        }
    });
    rows.into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

fn convert_one(ctx: &Context, entry: &Entry, run: Run, slot: u32, cancel: &AtomicBool) -> Row {
    let path = &entry.path;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let input = Input::Archive {
        path: path.to_path_buf(),
        name: Some(name.clone()),
    };
    let options = Options {
        converter: run.converter,
        main: entry.manifest_main.clone().filter(|_| run.manifest_main),
        timeout: Some(run.timeout),
        preview: false,
        execute: None,
    };
    let started = Instant::now();
    let outcome = job::run_job(
        ctx,
        &input,
        &options,
        job::Slots::only(slot),
        &|_| {},
        cancel,
    );
    let seconds = started.elapsed().as_secs_f64();
    match outcome {
        Ok(result) => Row {
            project: name,
            status: result.summary.status.name().to_string(),
            converter: result.summary.converter.to_string(),
            seconds,
            images: result.summary.image_count,
            math: result.summary.math_count,
            cache_hit: result.cache_hit,
            clean: result.summary.quality.clean,
            raw_tex: result.summary.quality.raw_tex_commands,
            main_differs: result.summary.main_file.as_ref().is_some_and(|m| {
                entry
                    .manifest_main
                    .as_ref()
                    .is_some_and(|wanted| *wanted != m.file)
            }),
            main: result
                .summary
                .main_file
                .map_or_else(|| "-".to_owned(), |m| m.file),
        },
        Err(e) => Row {
            project: name,
            status: e.code().name().to_string(),
            converter: "-".into(),
            seconds,
            images: 0,
            math: 0,
            cache_hit: false,
            clean: false,
            raw_tex: 0,
            main: "-".into(),
            main_differs: false,
        },
    }
}

/// The table and its totals, as printed.
pub fn render(title: &str, rows: &[Row]) -> String {
    let width = rows
        .iter()
        .map(|r| r.project.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut out = String::new();
    let _ = writeln!(out, "## {title}\n");
    let _ = writeln!(
        out,
        "{:<width$}  {:<17}  {:<5}  {:>6}  {:<9}  {:>8}  {:>6}  {:>6}  main",
        "project", "status", "clean", "raw", "converter", "time_s", "images", "math"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<width$}  {:<17}  {:<5}  {:>6}  {:<9}  {:>8.1}  {:>6}  {:>6}  {}{}{}",
            r.project,
            r.status,
            if r.clean { "yes" } else { "no" },
            r.raw_tex,
            r.converter,
            r.seconds,
            r.images,
            r.math,
            r.main,
            if r.main_differs { " (main≠)" } else { "" },
            if r.cache_hit { "  (cached)" } else { "" }
        );
    }
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_converter: BTreeMap<&str, usize> = BTreeMap::new();
    for r in rows {
        *by_status.entry(&r.status).or_default() += 1;
        *by_converter.entry(&r.converter).or_default() += 1;
    }
    let total_s: f64 = rows.iter().map(|r| r.seconds).sum();
    let with_html = rows.iter().filter(|r| r.converter != "-").count();
    let _ = writeln!(
        out,
        "\ntotal: {} projects, {} with HTML, {:.0} s, {} images, {} math",
        rows.len(),
        with_html,
        total_s,
        rows.iter().map(|r| r.images).sum::<usize>(),
        rows.iter().map(|r| r.math).sum::<usize>()
    );
    let join = |m: &BTreeMap<&str, usize>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let clean = rows.iter().filter(|r| r.clean).count();
    let _ = writeln!(
        out,
        "clean: {clean} of {} ({:.0} %)",
        rows.len(),
        100.0 * clean as f64 / rows.len().max(1) as f64
    );
    let _ = writeln!(out, "status: {}", join(&by_status));
    let _ = writeln!(out, "converter: {}", join(&by_converter));
    out
}

/// `texjail corpus DIR...`: one table per folder.
pub fn run(config: Config, dirs: &[PathBuf], run: Run) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("texjail corpus: cannot find the texjail binary: {e}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    let ctx = match Context::open(config, exe) {
        Ok(ctx) => ctx,
        Err(e) => {
            eprintln!("texjail corpus: {e}");
            return ExitCode::from(EXIT_INTERNAL);
        }
    };
    for dir in dirs {
        let projects = match projects(std::slice::from_ref(dir)) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("texjail corpus: cannot list {}: {e}", dir.display());
                return ExitCode::from(EXIT_BAD_INPUT);
            }
        };
        let rows = convert_all(&ctx, &projects, run);
        println!("{}", render(&dir.display().to_string(), &rows));
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_totals_count_status_classes_and_converters() {
        let row = |p: &str, s: &str, c: &str| Row {
            project: p.into(),
            status: s.into(),
            converter: c.into(),
            seconds: 1.0,
            images: 2,
            math: 3,
            cache_hit: false,
            clean: s == "ok",
            raw_tex: 0,
            main: "main.tex".into(),
            main_differs: false,
        };
        let text = render(
            "t",
            &[
                row("a.zip", "ok", "latexml"),
                row("b.zip", "warnings", "latexml"),
                row("c.zip", "timeout", "-"),
            ],
        );
        assert!(text.contains("total: 3 projects, 2 with HTML, 3 s, 6 images, 9 math"));
        assert!(text.contains("status: ok 1, timeout 1, warnings 1"));
        assert!(text.contains("clean: 1 of 3 (33 %)"), "{text}");
        assert!(text.contains("converter: - 1, latexml 2"));
    }

    #[test]
    fn projects_lists_archives_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.zip", "a.tar.gz", "notes.tsv", "c.tex"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        std::fs::write(
            dir.path().join("MANIFEST.tsv"),
            "# comment\nid\tzip_file\tmain_tex_in_zip\n1\tb.zip\tslides.tex\n",
        )
        .unwrap();
        let found = projects(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = found
            .iter()
            .map(|e| e.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["a.tar.gz", "b.zip", "c.tex"]);
        assert_eq!(found[0].manifest_main, None);
        assert_eq!(found[1].manifest_main.as_deref(), Some("slides.tex"));
    }
}
