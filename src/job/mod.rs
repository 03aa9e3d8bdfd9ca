//! One conversion job, start to finish, synchronously (callers on an async
//! runtime use `spawn_blocking`): unpack or import the project, compute the
//! cache key, and on a miss choose the main file and run the converter
//! chain — each attempt one jail run of a generated driver, its page
//! sanitized, rendered and measured (`convert::quality`) — and store the
//! best page. Used by `texjail convert` and by the server's pipeline alike.
//!
//! This file holds the job's inputs and results and its start-to-finish
//! steps; `chain` runs the converters of a cache miss and keeps the best
//! page, `attempt` runs one converter in the jail, and `error` says why a
//! job produced nothing. What each converter needs, declines or is given
//! of the budget is the converters' own policy (`crate::convert`).

mod attempt;
mod chain;
mod error;
mod failed_attempts;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use error::{Details, ErrorCode, Failure, JobError};
// The parts of the converters' vocabulary a job's callers speak.
pub use crate::convert::diagnostics::StatusClass;
pub use crate::convert::notebook_exec::{Execute, Execution};
pub use crate::convert::{Converter, Options};

use crate::cache::{self, Cache};
use crate::config::Config;
use crate::convert::diagnostics::Diagnostic;
use crate::convert::driver::MainFile;
use crate::convert::mainfile::{self, MainChoice};
use crate::convert::quality::Quality;
use crate::convert::{notebook, scan};
use crate::toolchain::Rootfs;
use crate::{sanitize, unpack};
use chain::Conversion;
pub use failed_attempts::FailedAttempts;

/// Everything a job needs that outlives it.
#[derive(Debug, Clone)]
pub struct Context {
    pub config: Config,
    pub rootfs: Rootfs,
    pub cache: Cache,
    /// Attempts that made no page, so a repeated upload skips them.
    pub failed: FailedAttempts,
    /// The texjail binary: each result is assembled in a child of it
    /// (`convert::bounded`), and the jail's supervisor binary lies next to
    /// it ([`crate::jail::supervisor_beside`]).
    pub exe: PathBuf,
}

impl Context {
    /// Opens the configured rootfs and the result cache under
    /// `<data_dir>/results`.
    pub fn open(config: Config, exe: PathBuf) -> Result<Context, JobError> {
        let rootfs = Rootfs::open(&config.rootfs).map_err(|e| {
            JobError::internal(
                "the toolchain rootfs is missing or stale (run `texjail doctor`)",
                e,
            )
        })?;
        let cache = Cache::open(&config.data_dir.join("results"), config.cache.max_bytes)
            .map_err(|e| JobError::internal("cannot open the result cache", e))?;
        Ok(Context {
            failed: FailedAttempts::open(&config.data_dir),
            config,
            rootfs,
            cache,
            exe,
        })
    }
}

/// What to convert.
#[derive(Debug, Clone)]
pub enum Input {
    /// A `.zip` or `.tar.gz` upload; `name` is its original file name (its
    /// stem helps main-file detection).
    Archive { path: PathBuf, name: Option<String> },
    /// A directory already on disk (imported with the same rules).
    Directory(PathBuf),
}

/// A stage a job reports while it runs: the CLI's progress line, the
/// server's job status and its server-sent events (named by
/// [`Stage::name`], the `stage` tag).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    Unpacking,
    CacheHit,
    Converting {
        converter: Converter,
        pass: String,
    },
    Sanitizing,
    /// A first page is ready while the faithful one is being made.
    Preview(Preview),
    Storing,
}

/// A preview page: stored in the cache under `key` (a result of its own,
/// `Options::preview_fingerprint`), the converter that made it, and what a
/// reader meets on it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    pub key: String,
    pub converter: Converter,
    pub status: StatusClass,
    pub quality: Quality,
}

impl Stage {
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Unpacking => "unpacking",
            Stage::CacheHit => "cache_hit",
            Stage::Converting { .. } => "converting",
            Stage::Sanitizing => "sanitizing",
            Stage::Preview(_) => "preview",
            Stage::Storing => "storing",
        }
    }
}

/// One converter attempt, run or skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub converter: Converter,
    /// `None` when the attempt did not run.
    pub status: Option<StatusClass>,
    pub reason: String,
    pub wall_ms: u64,
}

/// Where the time went.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timings {
    pub unpack_ms: u64,
    pub convert_ms: u64,
    pub assemble_ms: u64,
    pub total_ms: u64,
}

/// The stored description of a result (`result.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub status: StatusClass,
    /// The converter that produced the page.
    pub converter: Converter,
    pub attempts: Vec<Attempt>,
    pub diagnostics: Vec<Diagnostic>,
    pub missing: Vec<String>,
    pub title: Option<String>,
    pub assets: Vec<String>,
    pub math_count: usize,
    pub image_count: usize,
    /// What a reader meets on the page (`convert::quality`).
    #[serde(default)]
    pub quality: Quality,
    /// The main file and how it was chosen.
    #[serde(default)]
    pub main_file: Option<MainChoice>,
    /// What executing a notebook did (`execute`); absent when it was not
    /// asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Execution>,
}

/// A finished job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobResult {
    pub key: String,
    pub cache_hit: bool,
    pub project_digest: String,
    /// The result directory in the cache.
    #[serde(skip)]
    pub dir: PathBuf,
    pub summary: Summary,
    pub timings_ms: Timings,
}

/// Jail runs started by this process (tests use it to prove single-flight).
pub(crate) static JAIL_RUNS: AtomicU64 = AtomicU64::new(0);

/// A jail slot lent to a job while the server has it idle: the preview
/// then runs beside the chain instead of before it. It goes back to the
/// pool when dropped.
pub struct SpareSlot {
    pub slot: u32,
    give_back: Option<Box<dyn FnOnce() + Send>>,
}

impl SpareSlot {
    pub fn new(slot: u32, give_back: impl FnOnce() + Send + 'static) -> SpareSlot {
        SpareSlot {
            slot,
            give_back: Some(Box::new(give_back)),
        }
    }
}

impl Drop for SpareSlot {
    fn drop(&mut self) {
        if let Some(give_back) = self.give_back.take() {
            give_back();
        }
    }
}

/// Who lends idle slots: the server's pipeline.
pub trait SlotLender: Sync {
    /// An idle slot, when one is free and no job waits for it.
    fn lend(&self) -> Option<SpareSlot>;
}

/// The jail slots a job may use: its own, which selects the jail's
/// per-slot identity, and a lender of idle ones (none from the command
/// line).
#[derive(Clone, Copy)]
pub struct Slots<'a> {
    pub own: u32,
    pub lender: Option<&'a dyn SlotLender>,
}

impl Slots<'static> {
    /// Only the job's own slot.
    pub fn only(own: u32) -> Slots<'static> {
        Slots { own, lender: None }
    }
}

/// How many jail runs this process has started.
pub fn jail_runs() -> u64 {
    JAIL_RUNS.load(Ordering::SeqCst)
}

/// Runs one job in `slots`; `cancel` is polled between steps.
pub fn run_job(
    ctx: &Context,
    input: &Input,
    options: &Options,
    slots: Slots<'_>,
    progress: &(dyn Fn(Stage) + Sync),
    cancel: &AtomicBool,
) -> Result<JobResult, JobError> {
    let started = Instant::now();
    let _job = tracing::debug_span!("job", converter = %options.converter).entered();
    let budget = options
        .timeout
        .unwrap_or(Duration::from_secs(ctx.config.jail.timeout_secs));
    progress(Stage::Unpacking);
    let jobs = ctx.config.data_dir.join("jobs");
    std::fs::create_dir_all(&jobs).map_err(|e| JobError::internal("cannot create job dir", e))?;
    let work = tempfile::Builder::new()
        .prefix("job.")
        .tempdir_in(&jobs)
        .map_err(|e| JobError::internal("cannot create job dir", e))?;
    let project_dir = work.path().join("project");
    std::fs::create_dir(&project_dir)
        .map_err(|e| JobError::internal("cannot create job dir", e))?;
    let unpack_span = tracing::debug_span!("unpack").entered();
    let (project, hint) = match input {
        Input::Archive { path, name } => (
            unpack::unpack_file(path, &project_dir, &ctx.config.unpack).map_err(rejected)?,
            name.clone(),
        ),
        Input::Directory(dir) => (
            unpack::import_dir(dir, &project_dir, &ctx.config.unpack).map_err(rejected)?,
            None,
        ),
    };
    drop(unpack_span);
    let unpack_ms = ms(started.elapsed());
    check_cancel(cancel)?;

    let key = result_key(&project.digest, options, &ctx.config, &ctx.rootfs.digest);
    let mut timings = Timings {
        unpack_ms,
        ..Timings::default()
    };
    let lookup = ctx.cache.get_or_create(&key, |dest| {
        let (main, converter) = tracing::debug_span!("main_file").in_scope(|| {
            main_and_converter(
                &project,
                options.converter,
                options.main.as_deref(),
                hint.as_deref(),
            )
        })?;
        let scan = if converter == Converter::Notebook {
            // A notebook has no TeX: nothing for the TeX steps of a driver.
            scan::ProjectScan::default()
        } else {
            tracing::debug_span!("scan").in_scope(|| scan::scan(&project.root, &main.file))
        };
        let preview_key = options.preview.then(|| {
            cache::cache_key(
                &project.digest,
                &options.preview_fingerprint(Duration::from_secs(ctx.config.jail.timeout_secs)),
                &ctx.rootfs.digest,
                sanitize::POLICY_VERSION,
            )
        });
        let run = Conversion {
            preview_key,
            project_digest: &project.digest,
            execute: options.execute,
            ctx,
            root: &project.root,
            work: work.path(),
            main: MainFile::from_relative(&main.file),
            main_choice: main,
            scan,
            slots,
            progress,
            cancel,
            deadline: started + budget,
        };
        run.run(converter, dest, &mut timings)
    })?;
    if lookup.hit {
        progress(Stage::CacheHit);
    }
    let summary = read_summary(&lookup.dir)
        .ok_or_else(|| JobError::Internal("a cached result has no readable summary".into()))?;
    tracing::debug_span!("cleanup").in_scope(|| drop(work));
    timings.total_ms = ms(started.elapsed());
    Ok(JobResult {
        key,
        cache_hit: lookup.hit,
        project_digest: project.digest.clone(),
        dir: lookup.dir,
        summary,
        timings_ms: timings,
    })
}

/// The key of the result `options` make of the project with `digest`,
/// on the toolchain with `rootfs_digest`.
fn result_key(digest: &str, options: &Options, config: &Config, rootfs_digest: &str) -> String {
    cache::cache_key(
        digest,
        &options.fingerprint(Duration::from_secs(config.jail.timeout_secs)),
        rootfs_digest,
        sanitize::POLICY_VERSION,
    )
}

fn read_summary(dir: &Path) -> Option<Summary> {
    std::fs::read(dir.join(cache::MARKER))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// What a cluster's API node learns of an upload before it queues the
/// job: the upload broke no rule (else the error), and the key of its
/// result, found without the rootfs (this binary's toolchain digest).
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub key: String,
    pub project_digest: String,
    pub unpack_ms: u64,
}

/// Unpacks `archive` into a scratch directory under `<data_dir>/jobs` with
/// the job's rules and computes its result's key; nothing runs.
pub fn probe(config: &Config, archive: &Path, options: &Options) -> Result<Probe, JobError> {
    let started = Instant::now();
    let jobs = config.data_dir.join("jobs");
    std::fs::create_dir_all(&jobs).map_err(|e| JobError::internal("cannot create job dir", e))?;
    let work = tempfile::Builder::new()
        .prefix("probe.")
        .tempdir_in(&jobs)
        .map_err(|e| JobError::internal("cannot create job dir", e))?;
    let project = unpack::unpack_file(archive, work.path(), &config.unpack).map_err(rejected)?;
    Ok(Probe {
        key: result_key(
            &project.digest,
            options,
            config,
            &crate::toolchain::expected_digest(),
        ),
        project_digest: project.digest,
        unpack_ms: ms(started.elapsed()),
    })
}

/// The finished result `probe` names, when `results` (a cache directory)
/// holds it.
pub fn cached_result(results: &Path, probe: &Probe) -> Option<JobResult> {
    let dir = results.join(&probe.key);
    let summary = read_summary(&dir)?;
    crate::cache::mark_used(results, &probe.key);
    Some(JobResult {
        key: probe.key.clone(),
        cache_hit: true,
        project_digest: probe.project_digest.clone(),
        dir,
        summary,
        timings_ms: Timings {
            unpack_ms: probe.unpack_ms,
            total_ms: probe.unpack_ms,
            ..Timings::default()
        },
    })
}

/// A rule the upload broke is the user's to see; an I/O failure while
/// unpacking is ours (and its message names host paths), so it is logged
/// and reported as internal.
fn rejected(e: unpack::UnpackError) -> JobError {
    match e {
        unpack::UnpackError::Io { .. } => JobError::internal("cannot read the project", e),
        e => JobError::BadArchive(e),
    }
}

pub(crate) fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

pub(crate) fn check_cancel(cancel: &AtomicBool) -> Result<(), JobError> {
    if cancel.load(Ordering::SeqCst) {
        Err(JobError::Cancelled)
    } else {
        Ok(())
    }
}

/// The main file and the converter chain a project gets. A notebook
/// (`--main` naming a `.ipynb`, the `notebook` converter asked for, or a
/// project without `.tex` files holding a notebook) is converted by
/// `Notebook`, whatever TeX converter was asked for; everything else is
/// TeX and goes to the converter asked for.
fn main_and_converter(
    project: &unpack::Project,
    requested: Converter,
    explicit: Option<&str>,
    archive_name: Option<&str>,
) -> Result<(MainChoice, Converter), JobError> {
    let notebooks: Vec<&str> = project
        .files
        .iter()
        .map(|f| f.path.as_str())
        .filter(|p| notebook::is_notebook_path(p))
        .collect();
    let has_tex = project.files.iter().any(|f| {
        let p = f.path.to_ascii_lowercase();
        p.ends_with(".tex") || p.ends_with(".ltx")
    });
    let wants_notebook = match explicit {
        Some(main) => notebook::is_notebook_path(main),
        None => requested == Converter::Notebook || (!has_tex && !notebooks.is_empty()),
    };
    if !wants_notebook {
        if requested == Converter::Notebook {
            return Err(JobError::NoMainFile(
                "the notebook converter needs a .ipynb main file".into(),
            ));
        }
        return Ok((main_file(project, explicit, archive_name)?, requested));
    }
    let choice = notebook_main(&notebooks, explicit, archive_name)?;
    Ok((choice, Converter::Notebook))
}

/// The notebook to convert: `--main` when given (a notebook of the
/// project), else the one named like the upload, else the one nearest the
/// root (the first by name among equals).
fn notebook_main(
    notebooks: &[&str],
    explicit: Option<&str>,
    archive_name: Option<&str>,
) -> Result<MainChoice, JobError> {
    let candidates = || notebooks.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    if let Some(main) = explicit {
        // As for a .tex main file, `./notebook.ipynb` names `notebook.ipynb`.
        let main = main.trim_start_matches("./");
        if !notebooks.contains(&main) {
            return Err(JobError::NoMainFile(format!(
                "the requested notebook `{main}` is not in the project; candidates: {}",
                candidates().join(", ")
            )));
        }
        return Ok(MainChoice {
            file: main.to_string(),
            automatic: false,
            others: Vec::new(),
            reason: "the notebook was given".into(),
        });
    }
    let mut ranked = candidates();
    if ranked.is_empty() {
        return Err(JobError::NoMainFile(
            "the project has no .ipynb file".into(),
        ));
    }
    let stem = archive_name.map(|name| {
        let lower = name.to_ascii_lowercase();
        [".tar.gz", ".tgz", ".zip", ".tar", ".ipynb"]
            .iter()
            .find(|ext| lower.ends_with(*ext))
            .map_or(name, |ext| &name[..name.len() - ext.len()])
            .to_string()
    });
    let named_like_upload = |path: &str| {
        let file = path.rsplit('/').next().unwrap_or(path);
        stem.as_deref()
            .is_some_and(|stem| file.strip_suffix(".ipynb") == Some(stem))
    };
    ranked.sort_by_key(|p| (!named_like_upload(p), p.matches('/').count(), p.clone()));
    let file = ranked.remove(0);
    let reason = if ranked.is_empty() {
        "the project's only notebook"
    } else if named_like_upload(&file) {
        "the notebook named like the upload"
    } else {
        "the notebook nearest the project's root"
    };
    Ok(MainChoice {
        file,
        automatic: true,
        others: ranked,
        reason: reason.into(),
    })
}

/// The main file: `--main` when given (it must be a file of the project),
/// otherwise detection.
fn main_file(
    project: &unpack::Project,
    explicit: Option<&str>,
    archive_name: Option<&str>,
) -> Result<MainChoice, JobError> {
    let files: Vec<String> = project.files.iter().map(|f| f.path.clone()).collect();
    let stem = archive_name.map(|name| {
        let lower = name.to_ascii_lowercase();
        [".tar.gz", ".tgz", ".zip", ".tar", ".tex"]
            .iter()
            .find(|ext| lower.ends_with(*ext))
            .map_or(name, |ext| &name[..name.len() - ext.len()])
    });
    mainfile::detect(&project.root, &files, explicit, stem)
        .map_err(|e| JobError::NoMainFile(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(files: &[&str]) -> (unpack::Project, tempfile::TempDir, tempfile::TempDir) {
        let src = tempfile::tempdir().unwrap();
        for file in files {
            let path = src.path().join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "{}").unwrap();
        }
        let dest = tempfile::tempdir().unwrap();
        let project =
            unpack::import_dir(src.path(), dest.path(), &unpack::Limits::default()).unwrap();
        (project, src, dest)
    }

    #[test]
    fn notebooks_go_to_the_notebook_converter() {
        let (p, _s, _d) = project(&["deep/a/x.ipynb", "b.ipynb", "report.ipynb", "data.csv"]);
        let choose = |requested, explicit, name| {
            main_and_converter(&p, requested, explicit, name)
                .map(|(main, converter)| (main.file, converter))
        };
        // Named like the upload, else nearest the root, else by name.
        assert_eq!(
            choose(Converter::Auto, None, Some("report.zip")).unwrap(),
            ("report.ipynb".into(), Converter::Notebook)
        );
        assert_eq!(
            choose(Converter::Latexml, None, None).unwrap(),
            ("b.ipynb".into(), Converter::Notebook)
        );
        assert_eq!(
            choose(Converter::Auto, Some("deep/a/x.ipynb"), None).unwrap(),
            ("deep/a/x.ipynb".into(), Converter::Notebook)
        );
        assert_eq!(
            choose(Converter::Notebook, Some("././b.ipynb"), None).unwrap(),
            ("b.ipynb".into(), Converter::Notebook)
        );
        let err = choose(Converter::Auto, Some("missing.ipynb"), None).unwrap_err();
        assert_eq!(err.code(), ErrorCode::NoMainFile);
        // A project with TeX is TeX unless a notebook is asked for.
        let (p, _s, _d) = project(&["paper.tex", "extra.ipynb"]);
        let (main, converter) = main_and_converter(&p, Converter::Auto, None, None).unwrap();
        assert_eq!(
            (main.file.as_str(), converter),
            ("paper.tex", Converter::Auto)
        );
        let (main, converter) = main_and_converter(&p, Converter::Notebook, None, None).unwrap();
        assert_eq!(
            (main.file.as_str(), converter),
            ("extra.ipynb", Converter::Notebook)
        );
        let (p, _s, _d) = project(&["paper.tex"]);
        let err = main_and_converter(&p, Converter::Notebook, None, None).unwrap_err();
        assert_eq!(err.code(), ErrorCode::NoMainFile);
    }

    #[test]
    fn explicit_main_must_be_a_project_file() {
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("a.tex"), "").unwrap();
        std::fs::write(src.path().join("notes.txt"), "").unwrap();
        let dest = tempfile::tempdir().unwrap();
        let project =
            unpack::import_dir(src.path(), dest.path(), &unpack::Limits::default()).unwrap();
        assert_eq!(
            main_file(&project, Some("a.tex"), None).unwrap().file,
            "a.tex"
        );
        for bad in ["b.tex", "../a.tex", "/etc/passwd", "", ".", "notes.txt"] {
            let err = main_file(&project, Some(bad), None).unwrap_err();
            assert_eq!(err.code(), ErrorCode::NoMainFile, "{bad}");
        }
    }
}
