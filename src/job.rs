//! One conversion job, start to finish, synchronously (callers on an async
//! runtime use `spawn_blocking`): unpack or import the project, compute the
//! cache key, and on a miss choose the main file and run the converter
//! chain — each attempt one jail run of a generated driver, its page
//! sanitized, rendered and measured (`convert::quality`) — and store the
//! best page. Used by `texjail convert` and by the server's pipeline alike.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::cache::{self, Cache};
use crate::config::Config;
use crate::convert::assemble::{self, Assembled, RunOutput};
use crate::convert::bounded::{self, BoundedError};
use crate::convert::diagnostics::{self, Diagnostic, Report, StatusClass};
use crate::convert::driver::{self, MainFile};
use crate::convert::mainfile::{self, MainChoice};
use crate::convert::quality::Quality;
use crate::convert::render::PageSummary;
use crate::convert::scan::{self, ProjectScan};
use crate::convert::{latexml, Converter, Options, Progress};
use crate::toolchain::Rootfs;
use crate::{jail, sanitize, unpack};

/// Everything a job needs that outlives it.
#[derive(Debug, Clone)]
pub struct Context {
    pub config: Config,
    pub rootfs: Rootfs,
    pub cache: Cache,
    /// The texjail binary: each result is assembled in a child of it
    /// (`convert::bounded`), and the jail's supervisor binary lies next to
    /// it ([`jail::supervisor_beside`]).
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

/// One converter attempt, run or skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub converter: String,
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub status: StatusClass,
    /// The converter that produced the page.
    pub converter: String,
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
}

/// A finished job.
#[derive(Debug, Clone, Serialize)]
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

/// Why a job produced no result. `Display` is safe to show users: it never
/// contains host paths.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("the upload was rejected: {0}")]
    BadArchive(unpack::UnpackError),
    #[error("no main file: {0}")]
    NoMainFile(String),
    #[error("no converter produced a page")]
    ConversionFailed {
        status: StatusClass,
        attempts: Vec<Attempt>,
        diagnostics: Vec<Diagnostic>,
    },
    #[error("the conversion ran out of time")]
    Timeout { attempts: Vec<Attempt> },
    /// The converter's page broke the budget of the post-conversion step
    /// (`limit` names the config key).
    #[error("{message}")]
    PageRefused {
        limit: &'static str,
        message: String,
        attempts: Vec<Attempt>,
    },
    #[error("the job was cancelled")]
    Cancelled,
    #[error("internal error: {0}")]
    Internal(String),
}

impl JobError {
    /// Stable machine-readable code (the API maps it to an HTTP status).
    pub fn code(&self) -> &'static str {
        match self {
            JobError::BadArchive(_) => "bad_archive",
            JobError::NoMainFile(_) => "no_main_file",
            JobError::ConversionFailed { .. } => "conversion_failed",
            JobError::Timeout { .. } => "timeout",
            JobError::PageRefused { .. } => "page_refused",
            JobError::Cancelled => "cancelled",
            JobError::Internal(_) => "internal",
        }
    }

    /// Structured details for API and `--json` error bodies.
    pub fn details(&self) -> serde_json::Value {
        match self {
            JobError::BadArchive(e) => serde_json::json!({
                "rule": e.code(),
                "entry": e.entry(),
            }),
            JobError::ConversionFailed {
                status,
                attempts,
                diagnostics,
            } => serde_json::json!({
                "status": status,
                "attempts": attempts,
                "diagnostics": diagnostics,
            }),
            JobError::Timeout { attempts } => serde_json::json!({
                "status": StatusClass::Timeout,
                "attempts": attempts,
            }),
            JobError::PageRefused {
                limit, attempts, ..
            } => serde_json::json!({
                "limit": limit,
                "attempts": attempts,
            }),
            _ => serde_json::Value::Null,
        }
    }

    /// Logs the host-side detail, returns an error whose message has none.
    fn internal(what: &str, detail: impl std::fmt::Display) -> JobError {
        tracing::error!("{what}: {detail}");
        JobError::Internal(what.to_string())
    }
}

impl From<std::io::Error> for JobError {
    fn from(e: std::io::Error) -> Self {
        JobError::internal("i/o error while assembling the result", e)
    }
}

/// A page that broke the post-conversion budget is the user's to see;
/// any other failure there is ours.
fn page_refused(err: BoundedError, attempts: Vec<Attempt>) -> JobError {
    match (err.limit(), err) {
        (Some(limit), err) => JobError::PageRefused {
            limit,
            message: err.to_string(),
            attempts,
        },
        (None, BoundedError::Cancelled) => JobError::Cancelled,
        (None, err) => JobError::internal("assembling the result failed", err),
    }
}

/// Jail runs started by this process (tests use it to prove single-flight).
static JAIL_RUNS: AtomicU64 = AtomicU64::new(0);

/// How many jail runs this process has started.
pub fn jail_runs() -> u64 {
    JAIL_RUNS.load(Ordering::SeqCst)
}

/// Runs one job. `slot` selects the jail's per-slot identity; `cancel` is
/// polled between steps.
pub fn run_job(
    ctx: &Context,
    input: &Input,
    options: &Options,
    slot: u32,
    progress: &(dyn Fn(Progress) + Sync),
    cancel: &AtomicBool,
) -> Result<JobResult, JobError> {
    let started = Instant::now();
    let _job = tracing::debug_span!("job", converter = %options.converter).entered();
    let budget = options
        .timeout
        .unwrap_or(Duration::from_secs(ctx.config.jail.timeout_secs));
    progress(Progress::Unpacking);
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

    let key = cache::cache_key(
        &project.digest,
        &options.fingerprint(Duration::from_secs(ctx.config.jail.timeout_secs)),
        &ctx.rootfs.digest,
        sanitize::POLICY_VERSION,
    );
    let mut timings = Timings {
        unpack_ms,
        ..Timings::default()
    };
    let lookup = ctx.cache.get_or_create(&key, |dest| {
        let main = tracing::debug_span!("main_file")
            .in_scope(|| main_file(&project, options.main.as_deref(), hint.as_deref()))?;
        let scan = tracing::debug_span!("scan").in_scope(|| scan::scan(&project.root, &main.file));
        let run = Conversion {
            ctx,
            root: &project.root,
            work: work.path(),
            main: MainFile::from_relative(&main.file),
            main_choice: main,
            scan,
            slot,
            progress,
            cancel,
            deadline: started + budget,
        };
        run.run(options.converter, dest, &mut timings)
    })?;
    if lookup.hit {
        progress(Progress::CacheHit);
    }
    let summary: Summary = std::fs::read(lookup.dir.join(cache::MARKER))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
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

/// A rule the upload broke is the user's to see; an I/O failure while
/// unpacking is ours (and its message names host paths), so it is logged
/// and reported as internal.
fn rejected(e: unpack::UnpackError) -> JobError {
    match e {
        unpack::UnpackError::Io { .. } => JobError::internal("cannot read the project", e),
        e => JobError::BadArchive(e),
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().try_into().unwrap_or(u64::MAX)
}

fn check_cancel(cancel: &AtomicBool) -> Result<(), JobError> {
    if cancel.load(Ordering::SeqCst) {
        Err(JobError::Cancelled)
    } else {
        Ok(())
    }
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

/// The converter chain of one cache miss.
struct Conversion<'a> {
    ctx: &'a Context,
    root: &'a Path,
    work: &'a Path,
    main: MainFile,
    main_choice: MainChoice,
    scan: ProjectScan,
    slot: u32,
    progress: &'a (dyn Fn(Progress) + Sync),
    cancel: &'a AtomicBool,
    deadline: Instant,
}

/// One attempt's outcome on the host side.
struct AttemptRun {
    output: RunOutput,
    job_out: PathBuf,
    report: Report,
    wall: Duration,
}

/// One assembled page of an attempt, a candidate for the result.
struct Page {
    converter: Converter,
    /// Where it was assembled (inside the job's work directory).
    dir: PathBuf,
    assembled: Assembled,
    report: Report,
    /// Its index in the attempts list.
    attempt: usize,
}

impl Page {
    fn with_attempt(mut self, attempt: usize) -> Self {
        self.attempt = attempt;
        self
    }

    /// A clean page beats one that is not; otherwise the smaller penalty
    /// wins. On a tie the earlier converter's page stays.
    fn better_than(&self, other: &Page) -> bool {
        let (mine, theirs) = (&self.assembled.quality, &other.assembled.quality);
        (mine.clean, std::cmp::Reverse(mine.penalty()))
            > (theirs.clean, std::cmp::Reverse(theirs.penalty()))
    }
}

/// Moves an assembled page's files (and its flat `assets/` folder) into
/// the result directory; a copy where a rename cannot cross filesystems.
fn move_contents(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&target)?;
            move_contents(&entry.path(), &target)?;
        } else if std::fs::rename(entry.path(), &target).is_err() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

impl Conversion<'_> {
    /// Runs the chain. The first clean page ends it; otherwise every
    /// converter with time left gets its turn and the page a reader would
    /// stumble over least is kept (`Quality::penalty`). Each page is
    /// assembled into its own directory under the job's work directory;
    /// the kept one is moved into `dest`.
    fn run(
        &self,
        requested: Converter,
        dest: &Path,
        timings: &mut Timings,
    ) -> Result<(), JobError> {
        let chain = requested.chain();
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut log = String::new();
        let mut last_diagnostics = Vec::new();
        let mut last_status = StatusClass::Fatal;
        let mut budget_spent = false;
        let mut refused: Option<BoundedError> = None;
        let mut best: Option<Page> = None;
        let convert_started = Instant::now();
        for (i, &converter) in chain.iter().enumerate() {
            check_cancel(self.cancel)?;
            if let Some(kept) = best.as_ref().filter(|p| p.assembled.quality.clean) {
                attempts.push(Attempt {
                    converter: converter.to_string(),
                    status: None,
                    reason: format!("not needed: {} produced a clean page", kept.converter),
                    wall_ms: 0,
                });
                continue;
            }
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            if remaining < Duration::from_secs(1) {
                attempts.push(Attempt {
                    converter: converter.to_string(),
                    status: None,
                    reason: "skipped: the job's time budget is spent".into(),
                    wall_ms: 0,
                });
                budget_spent = true;
                continue;
            }
            if let Some(reason) = unsupported(converter, &self.scan) {
                attempts.push(Attempt {
                    converter: converter.to_string(),
                    status: None,
                    reason,
                    wall_ms: 0,
                });
                continue;
            }
            let timeout = attempt_timeout(remaining, converter, i + 1 == chain.len());
            (self.progress)(Progress::Converting {
                converter: converter.to_string(),
                pass: "convert".into(),
            });
            let run = tracing::debug_span!("attempt", %converter)
                .in_scope(|| self.attempt(converter, timeout))?;
            log.push_str(&format!(
                "===== {converter} ({:?}, {} ms) =====\n{}",
                run.report.status,
                ms(run.wall),
                run.output.combined()
            ));
            let usable = run.output.html.is_some()
                && !matches!(run.report.status, StatusClass::Fatal | StatusClass::Timeout);
            let stopped_at_expl3 = run
                .output
                .log(driver::CONVERTER_LOG)
                .contains(latexml::EXPL3_STOPPED);
            let reason = match (&run.output.html, run.report.status) {
                (_, StatusClass::Timeout) => format!("timed out after {} s", timeout.as_secs()),
                _ if stopped_at_expl3 => {
                    "stopped: LaTeXML 0.8.7 cannot interpret the LaTeX3 kernel (expl3) in time"
                        .to_string()
                }
                (None, _) => "produced no page".to_string(),
                (Some(_), StatusClass::Fatal) => "stopped with a fatal error".to_string(),
                (Some(_), _) => "produced a page".to_string(),
            };
            attempts.push(Attempt {
                converter: converter.to_string(),
                status: Some(run.report.status),
                reason,
                wall_ms: ms(run.wall),
            });
            if !usable {
                last_status = run.report.status;
                last_diagnostics = run.report.diagnostics;
                continue;
            }
            let assemble_started = Instant::now();
            let page = match self.assemble_page(converter, &run) {
                Ok(page) => page,
                Err(BoundedError::Cancelled) => return Err(JobError::Cancelled),
                Err(err) if err.limit().is_some() => {
                    let last = attempts.len() - 1;
                    attempts[last].reason = format!("page refused: {err}");
                    refused = Some(err);
                    continue;
                }
                Err(err) => return Err(page_refused(err, attempts)),
            };
            timings.assemble_ms += ms(assemble_started.elapsed());
            let this = attempts.len() - 1;
            attempts[this].reason =
                format!("produced a page: {}", page.assembled.quality.describe());
            best = Some(match best.take() {
                Some(kept) if !page.better_than(&kept) => {
                    attempts[this].reason.push_str(&format!(
                        "; not kept, the page of {} was better",
                        kept.converter
                    ));
                    kept
                }
                Some(kept) => {
                    attempts[kept.attempt]
                        .reason
                        .push_str(&format!("; not kept, the page of {converter} was better"));
                    page.with_attempt(this)
                }
                None => page.with_attempt(this),
            });
        }
        timings.convert_ms = ms(convert_started.elapsed()).saturating_sub(timings.assemble_ms);
        let Some(kept) = best else {
            if let Some(err) = refused {
                return Err(page_refused(err, attempts));
            }
            return Err(if budget_spent || last_status == StatusClass::Timeout {
                JobError::Timeout { attempts }
            } else {
                JobError::ConversionFailed {
                    status: last_status,
                    attempts,
                    diagnostics: last_diagnostics,
                }
            });
        };
        (self.progress)(Progress::Storing);
        move_contents(&kept.dir, dest)?;
        let summary = Summary {
            status: kept.assembled.status,
            converter: kept.converter.to_string(),
            attempts,
            diagnostics: kept.report.diagnostics,
            missing: kept.report.missing,
            title: kept.assembled.title,
            assets: kept.assembled.assets,
            math_count: kept.assembled.math_count,
            image_count: kept.assembled.image_count,
            quality: kept.assembled.quality,
            main_file: Some(self.main_choice.clone()),
        };
        std::fs::write(dest.join("log.txt"), &log)?;
        std::fs::write(
            dest.join(cache::MARKER),
            serde_json::to_vec_pretty(&summary).map_err(std::io::Error::other)?,
        )?;
        Ok(())
    }

    /// Sanitizes and renders one attempt's page into its own directory,
    /// in the budgeted child.
    fn assemble_page(&self, converter: Converter, run: &AttemptRun) -> Result<Page, BoundedError> {
        let _assemble = tracing::debug_span!("assemble", %converter).entered();
        (self.progress)(Progress::Sanitizing);
        let dir = self.work.join(format!("page-{converter}"));
        std::fs::create_dir(&dir).map_err(|e| BoundedError::Failed(e.to_string()))?;
        let mut summary = PageSummary::from_report(converter.name(), &run.report);
        summary.quality.math_in_sources = self.scan.math_formulas;
        summary.main = Some(self.main_choice.clone());
        let request = bounded::Request {
            job_out: run.job_out.clone(),
            main_dir: self.main.dir.clone(),
            figure_dirs: self.scan.graphics_paths.clone(),
            dest: dir.clone(),
            settings: self.ctx.config.convert.clone(),
            summary,
        };
        let assembled = bounded::assemble(&self.ctx.exe, &request, self.cancel)?;
        Ok(Page {
            converter,
            dir,
            assembled,
            report: run.report.clone(),
            attempt: 0,
        })
    }

    /// One jail run of the driver for `converter`.
    fn attempt(&self, converter: Converter, timeout: Duration) -> Result<AttemptRun, JobError> {
        let job_out = self.work.join(format!("out-{converter}"));
        std::fs::create_dir(&job_out)
            .map_err(|e| JobError::internal("cannot create job dir", e))?;
        let mut limits = self.ctx.config.jail.clone();
        limits.timeout_secs = timeout.as_secs().max(1);
        limits.cpu_secs = limits.cpu_secs.min(limits.timeout_secs);
        let spec = jail::RunSpec {
            exe: jail::supervisor_beside(&self.ctx.exe),
            rootfs: self.ctx.rootfs.path.clone(),
            argv: driver::argv(converter, &self.main, &self.scan, timeout),
            env: jail_env(),
            workdir: "/job".into(),
            job_in: Some(self.root.to_path_buf()),
            job_out: Some(job_out.clone()),
            limits,
            slot: self.slot,
        };
        JAIL_RUNS.fetch_add(1, Ordering::SeqCst);
        let outcome =
            tracing::debug_span!("jail_run").in_scope(|| run_cancellable(&spec, self.cancel))?;
        // The rest of the jail run's span is start-up, copy-in and copy-out.
        tracing::debug!(
            command_ms = outcome.wall_ms,
            cpu_ms = outcome.cpu_ms,
            copied_out = outcome.copied.len(),
            "jail run ended"
        );
        let _read = tracing::debug_span!("read_output").entered();
        let output = assemble::read_output(
            &job_out,
            &self.ctx.config.convert,
            &[
                &job_out,
                self.root,
                self.work,
                &self.ctx.config.data_dir,
                &self.ctx.rootfs.path,
            ],
        );
        let timed_out = out_of_time(converter, &outcome, timeout);
        let mut report = match converter {
            Converter::Latexml | Converter::Auto => {
                let log = output.log(driver::CONVERTER_LOG);
                diagnostics::parse_latexml(if log.is_empty() {
                    output.log(driver::STDOUT_LOG)
                } else {
                    log
                })
            }
            Converter::Make4ht => diagnostics::parse_make4ht(
                output.log(driver::TEX_LOG),
                output.log(driver::CONVERTER_LOG),
            ),
            Converter::Pandoc => diagnostics::parse_pandoc(output.log(driver::CONVERTER_LOG))
                .merge(diagnostics::parse_pandoc(output.log(driver::PICTURES_LOG)))
                .merge(diagnostics::parse_pandoc(output.log(driver::FALLBACK_LOG))),
        };
        report = report.relative_to_project(&self.main.dir);
        if timed_out {
            report = report.timed_out();
        } else if output.html.is_none() {
            report.status = StatusClass::Fatal;
        }
        Ok(AttemptRun {
            output,
            job_out,
            report,
            wall: Duration::from_millis(outcome.wall_ms),
        })
    }
}

/// Why `converter` cannot convert this project at all, decided before
/// spending a jail run on it. Both refusals are measured, not guessed
/// (docs/converters.md, "LaTeXML"):
///
/// - LaTeXML 0.8.7 (the rootfs's) has no biblatex binding; it falls back
///   to raw-loading biblatex.sty, whose expl3 dependency it cannot process
///   within any reasonable budget (measured: > 4 min, then its own
///   timeout), so a biblatex document never yields a page from it.
/// - Packages known to lead into the raw LaTeX3 kernel
///   (`scan::EXPL3_PACKAGES`), which it never finishes; others are stopped
///   there by the driver (`latexml::EXPL3_STOPPED`).
/// - It interprets pgf in Perl, tens of seconds per TikZ picture, so a
///   document with many pictures can only time out
///   (`scan::LATEXML_MAX_TIKZ_PICTURES`).
fn unsupported(converter: Converter, scan: &ProjectScan) -> Option<String> {
    if converter != Converter::Latexml {
        return None;
    }
    if scan.uses_biblatex {
        return Some(
            "skipped: LaTeXML 0.8.7 cannot read biblatex documents (use make4ht or auto)".into(),
        );
    }
    if let Some(package) = scan.expl3_package {
        return Some(format!(
            "skipped: {package} needs the LaTeX3 kernel, which LaTeXML 0.8.7 cannot interpret \
             in time (use make4ht or auto)"
        ));
    }
    (scan.tikz_pictures > scan::LATEXML_MAX_TIKZ_PICTURES).then(|| {
        format!(
            "skipped: {} TikZ pictures, more than LaTeXML 0.8.7 draws in time (at most {}; \
             use make4ht or auto)",
            scan.tikz_pictures,
            scan::LATEXML_MAX_TIKZ_PICTURES
        )
    })
}

/// Whether an attempt ran out of time, told only from what the document
/// cannot write: the jail's outcome. Either the supervisor ended the run
/// at its wall-clock limit or over its CPU budget, or (LaTeXML) the driver
/// exited with [`latexml::OWN_TIMEOUT_EXIT`], which it does only when
/// `latexmlc` failed after running its own timeout, and the supervisor's
/// clock agrees the run lasted that long. The converter's log never
/// counts: a document can print `Fatal:timeout` into it.
fn out_of_time(converter: Converter, outcome: &jail::Outcome, timeout: Duration) -> bool {
    if outcome.out_of_time() {
        return true;
    }
    let own = latexml::own_timeout(timeout);
    matches!(converter, Converter::Latexml | Converter::Auto)
        && outcome.exit_code == Some(latexml::OWN_TIMEOUT_EXIT)
        && u128::from(outcome.wall_ms) >= own.as_millis()
}

/// How often a running jail checks the job's cancel flag.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// Runs the jail, killing the run when `cancel` is set.
fn run_cancellable(spec: &jail::RunSpec, cancel: &AtomicBool) -> Result<jail::Outcome, JobError> {
    let running =
        jail::spawn(spec).map_err(|e| JobError::internal("the jail failed to start", e))?;
    let killer = running.killer();
    // The watcher sleeps on a channel, not in `sleep`: the end of the run
    // wakes it at once, so the scope below never waits out a poll period
    // (it used to cost 25 ms per run on average).
    let (done, ended) = std::sync::mpsc::channel::<()>();
    let outcome = std::thread::scope(|s| {
        s.spawn(move || loop {
            if cancel.load(Ordering::SeqCst) {
                killer.kill();
                return;
            }
            match ended.recv_timeout(CANCEL_POLL) {
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                _ => return,
            }
        });
        let outcome = running.wait();
        drop(done);
        outcome
    });
    check_cancel(cancel)?;
    outcome.map_err(|e| JobError::internal("the jail failed", e))
}

/// An attempt's share of the remaining budget: the last converter gets
/// all of it; before a fallback, LaTeXML gets half (make4ht runs LaTeX
/// three times and needs the other half), make4ht four fifths (pandoc
/// takes seconds).
fn attempt_timeout(remaining: Duration, converter: Converter, last: bool) -> Duration {
    match converter {
        _ if last => remaining,
        Converter::Latexml | Converter::Auto => remaining / 2,
        Converter::Make4ht => remaining * 4 / 5,
        Converter::Pandoc => remaining,
    }
}

/// The environment of every converter run: TeX's caches in `/tmp` (which
/// lives inside `/job`), a UTF-8 locale, nothing from the host.
fn jail_env() -> Vec<(String, String)> {
    [
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("HOME", "/tmp"),
        ("TMPDIR", "/tmp"),
        ("TEXMFVAR", "/tmp/texmf-var"),
        ("LANG", "C.UTF-8"),
        ("LC_ALL", "C.UTF-8"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallbacks_keep_time_to_run() {
        let t = Duration::from_secs(300);
        assert_eq!(
            attempt_timeout(t, Converter::Latexml, false),
            Duration::from_secs(150)
        );
        assert_eq!(
            attempt_timeout(t, Converter::Make4ht, false),
            Duration::from_secs(240)
        );
        assert_eq!(attempt_timeout(t, Converter::Make4ht, true), t);
        assert_eq!(attempt_timeout(t, Converter::Latexml, true), t);
    }

    fn outcome(exit_code: Option<i32>, wall_ms: u64) -> jail::Outcome {
        jail::Outcome {
            mode: jail::Mode::Root,
            exit_code,
            signal: None,
            timed_out: false,
            cpu_exceeded: false,
            killed: false,
            limit: None,
            wall_ms,
            cpu_ms: 0,
            peak_memory_bytes: 0,
            stdout: String::new(),
            stderr: "Fatal:timeout".into(),
            stdout_truncated: false,
            stderr_truncated: false,
            copied: Vec::new(),
            skipped: Vec::new(),
            cgroup: jail::CgroupReport::default(),
            landlock: None,
        }
    }

    #[test]
    fn only_the_jail_says_an_attempt_ran_out_of_time() {
        let t = Duration::from_secs(20);
        let own_ms = latexml::own_timeout(t).as_millis() as u64;
        let code = Some(latexml::OWN_TIMEOUT_EXIT);
        // The supervisor's own verdicts, for every converter.
        for converter in [Converter::Latexml, Converter::Make4ht, Converter::Pandoc] {
            let wall = jail::Outcome {
                timed_out: true,
                killed: true,
                limit: Some(jail::LimitHit::Timeout),
                ..outcome(None, 20_000)
            };
            assert!(out_of_time(converter, &wall, t));
            let cpu = jail::Outcome {
                cpu_exceeded: true,
                killed: true,
                limit: Some(jail::LimitHit::Cpu),
                ..outcome(None, 3_000)
            };
            assert!(out_of_time(converter, &cpu, t));
            assert!(!out_of_time(converter, &outcome(Some(1), 500), t));
        }
        // LaTeXML's own timeout: the driver's code and the run's length.
        assert!(out_of_time(Converter::Latexml, &outcome(code, own_ms), t));
        assert!(!out_of_time(
            Converter::Latexml,
            &outcome(code, own_ms - 1),
            t
        ));
        assert!(!out_of_time(Converter::Make4ht, &outcome(code, own_ms), t));
        assert!(!out_of_time(
            Converter::Latexml,
            &outcome(Some(1), own_ms),
            t
        ));
        // A SIGXCPU the command got from a process of the job is no
        // verdict of the supervisor's.
        let signalled = jail::Outcome {
            exit_code: None,
            signal: Some(libc::SIGXCPU),
            limit: Some(jail::LimitHit::Cpu),
            ..outcome(None, 100)
        };
        assert!(!out_of_time(Converter::Latexml, &signalled, t));
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
            assert_eq!(err.code(), "no_main_file", "{bad}");
        }
    }

    #[test]
    fn error_codes_are_stable() {
        assert_eq!(JobError::Cancelled.code(), "cancelled");
        assert_eq!(JobError::Timeout { attempts: vec![] }.code(), "timeout");
        let err = JobError::ConversionFailed {
            status: StatusClass::Fatal,
            attempts: vec![],
            diagnostics: vec![],
        };
        assert_eq!(err.code(), "conversion_failed");
        assert_eq!(err.details()["status"], "fatal");
    }
}
