//! The converter chain of one cache miss: each converter with time left
//! gets its attempt, each page is assembled in the budgeted child and
//! measured, the first clean page ends the chain, and the best page is
//! stored with its summary.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::attempt::AttemptRun;
use super::error::page_refused;
use super::Stage;
use super::{check_cancel, ms, Attempt, Context, JobError, Summary, Timings};
use crate::cache;
use crate::convert::assemble::Assembled;
use crate::convert::bounded::{self, BoundedError};
use crate::convert::diagnostics::{Report, StatusClass};
use crate::convert::driver::MainFile;
use crate::convert::mainfile::MainChoice;
use crate::convert::render::PageSummary;
use crate::convert::scan::ProjectScan;
use crate::convert::{self, notebook, Converter};

/// The converter chain of one cache miss.
pub(super) struct Conversion<'a> {
    pub ctx: &'a Context,
    pub root: &'a Path,
    pub work: &'a Path,
    pub main: MainFile,
    pub main_choice: MainChoice,
    pub scan: ProjectScan,
    pub slot: u32,
    pub progress: &'a (dyn Fn(Stage) + Sync),
    pub cancel: &'a AtomicBool,
    pub deadline: Instant,
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
    pub fn run(
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
                    converter,
                    status: None,
                    reason: format!("not needed: {} produced a clean page", kept.converter),
                    wall_ms: 0,
                });
                continue;
            }
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            if remaining < Duration::from_secs(1) {
                attempts.push(Attempt {
                    converter,
                    status: None,
                    reason: "skipped: the job's time budget is spent".into(),
                    wall_ms: 0,
                });
                budget_spent = true;
                continue;
            }
            if let Some(reason) = converter.declines(&self.scan) {
                attempts.push(Attempt {
                    converter,
                    status: None,
                    reason,
                    wall_ms: 0,
                });
                continue;
            }
            let timeout = converter.time_share(remaining, i + 1 == chain.len());
            (self.progress)(Stage::Converting {
                converter,
                pass: "convert".into(),
            });
            let run = tracing::debug_span!("attempt", %converter)
                .in_scope(|| self.attempt(converter, timeout))?;
            // The status is the jail's report of the driver's, which the
            // pre-pass sets; a notebook cannot reach the pre-pass's exit.
            if converter == Converter::Notebook
                && run.exit_code == Some(notebook::NOT_A_NOTEBOOK_EXIT)
                && !run.report.status.eq(&StatusClass::Timeout)
            {
                return Err(JobError::BadNotebook(notebook::refusal(&run.output)));
            }
            log.push_str(&format!(
                "===== {converter} ({:?}, {} ms) =====\n{}",
                run.report.status,
                ms(run.wall),
                run.output.combined()
            ));
            let usable = run.output.html.is_some()
                && !matches!(run.report.status, StatusClass::Fatal | StatusClass::Timeout);
            let reason = convert::run_reason(&run.output, run.report.status, timeout);
            attempts.push(Attempt {
                converter,
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
        (self.progress)(Stage::Storing);
        move_contents(&kept.dir, dest)?;
        let summary = Summary {
            status: kept.assembled.status,
            converter: kept.converter,
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
        (self.progress)(Stage::Sanitizing);
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
}
