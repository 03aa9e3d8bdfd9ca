//! The converter chain of one cache miss: each converter with time left
//! gets its attempt, each page is assembled in the budgeted child and
//! measured, the first clean page ends the chain, and the best page is
//! stored with its summary.
//!
//! When the job asks for a preview, pandoc makes it on the project without
//! the steps that take it seconds (figures rasterized, TikZ pictures
//! drawn): a page in about a second where LaTeXML and make4ht take tens
//! of seconds. It is stored under a key of its own and announced as
//! [`Stage::Preview`]. It runs beside the chain when the server lends the
//! job an idle slot (an idle core: the first page then costs the final
//! page nothing), and before the chain, in the job's own slot, when every
//! slot is busy (a second process per job would then slow every other
//! job's final page, while the preview's second is small beside it).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::attempt::AttemptRun;
use super::error::page_refused;
use super::{check_cancel, failed_attempts, ms, Attempt, Context, JobError, Summary, Timings};
use super::{Preview, Slots, Stage};
use crate::cache;
use crate::convert::assemble::Assembled;
use crate::convert::bounded::{self, BoundedError};
use crate::convert::diagnostics::{Report, StatusClass};
use crate::convert::driver::MainFile;
use crate::convert::mainfile::MainChoice;
use crate::convert::quality::Quality;
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
    pub slots: Slots<'a>,
    pub progress: &'a (dyn Fn(Stage) + Sync),
    pub cancel: &'a AtomicBool,
    pub deadline: Instant,
    /// Where a preview is stored, when the job wants one.
    pub preview_key: Option<String>,
    /// The upload's content hash (part of each attempt's key).
    pub project_digest: &'a str,
    /// Execute a notebook before rendering it.
    pub execute: Option<convert::notebook_exec::Execute>,
}

/// A preview page showing this many raw TeX commands reads as source, not
/// as a page: it is not announced.
pub const PREVIEW_RAW_TEX_LIMIT: usize = 100;

/// Whether a preview page is worth showing: not one that reads as source.
fn worth_announcing(quality: &Quality) -> bool {
    quality.raw_tex_commands < PREVIEW_RAW_TEX_LIMIT
}

/// The share of the job's budget the preview may take: its pandoc needs
/// a second or two; one that needs more makes no preview.
const PREVIEW_SHARE: u32 = 4;

/// Where an attempt runs: the jail slot, the name of its directories in
/// the job's work directory, and who hears its stages. The chain's
/// attempts share the job's slot; the preview may run beside them in a
/// lent one.
pub(super) struct Lane<'l> {
    pub slot: u32,
    pub label: &'l str,
    pub progress: &'l (dyn Fn(Stage) + Sync),
}

/// One converter's turn: its attempt as the attempts list shows it, its
/// log, and what came of it.
struct Turn {
    attempt: Attempt,
    log: String,
    outcome: Outcome,
}

enum Outcome {
    /// The run ended with no usable page.
    NoPage {
        status: StatusClass,
        diagnostics: Vec<crate::convert::diagnostics::Diagnostic>,
    },
    /// The page broke a limit of the budgeted child.
    Refused(BoundedError),
    /// The budgeted child failed otherwise.
    Failed(BoundedError),
    Page(Box<Page>),
}

/// One assembled page of an attempt, a candidate for the result.
struct Page {
    converter: Converter,
    /// Where it was assembled (inside the job's work directory).
    dir: PathBuf,
    assembled: Assembled,
    report: Report,
    /// What executing the notebook did, when it was asked for.
    execution: Option<convert::notebook_exec::Execution>,
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

/// Copies a page's files into a result directory (the preview's).
fn copy_contents(from: &Path, to: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            std::fs::create_dir_all(&target)?;
            copy_contents(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

fn read_summary(dir: &Path) -> Option<Summary> {
    let bytes = std::fs::read(dir.join(cache::MARKER)).ok()?;
    serde_json::from_slice(&bytes).ok()
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
        let key = match &self.preview_key {
            Some(key) if chain.len() > 1 && chain.contains(&Converter::Pandoc) => key,
            _ => return self.run_chain(chain, dest, timings),
        };
        if let Some(dir) = self.ctx.cache.result_dir(key) {
            if let Some(summary) = read_summary(&dir) {
                self.announce(key, &summary.quality, summary.status);
            }
            return self.run_chain(chain, dest, timings);
        }
        match self.slots.lender.and_then(|lender| lender.lend()) {
            Some(spare) => std::thread::scope(|s| {
                s.spawn(move || {
                    let lane = Lane {
                        slot: spare.slot,
                        label: "preview",
                        // The job's stages are the chain's.
                        progress: &|_| {},
                    };
                    self.preview(key, &lane);
                });
                self.run_chain(chain, dest, timings)
            }),
            None => {
                let lane = Lane {
                    slot: self.slots.own,
                    label: "preview",
                    progress: self.progress,
                };
                self.preview(key, &lane);
                self.run_chain(chain, dest, timings)
            }
        }
    }

    /// Runs `chain` in the job's own slot.
    fn run_chain(
        &self,
        chain: &[Converter],
        dest: &Path,
        timings: &mut Timings,
    ) -> Result<(), JobError> {
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
            let execution = self.execute.as_ref().map(|e| e.fingerprint());
            let key = failed_attempts::attempt_key(
                self.project_digest,
                converter,
                &self.main_choice.file,
                execution.as_deref().unwrap_or(""),
                &self.ctx.rootfs.digest,
            );
            if let Some(failed) = self.ctx.failed.recall(&key, timeout) {
                attempts.push(Attempt {
                    converter,
                    status: Some(failed.status),
                    reason: format!("skipped: on this upload before, {}", failed.reason),
                    wall_ms: 0,
                });
                last_status = failed.status;
                continue;
            }
            let lane = Lane {
                slot: self.slots.own,
                label: converter.name(),
                progress: self.progress,
            };
            let turn = self.turn(converter, timeout, &self.scan, &lane, timings)?;
            log.push_str(&turn.log);
            attempts.push(turn.attempt);
            let this = attempts.len() - 1;
            let page = match turn.outcome {
                Outcome::NoPage {
                    status,
                    diagnostics,
                } => {
                    if failed_attempts::worth_remembering(status) {
                        let failure = failed_attempts::Failure {
                            status,
                            reason: attempts[this].reason.clone(),
                            timeout_ms: ms(timeout),
                        };
                        self.ctx.failed.remember(&key, &failure);
                    }
                    last_status = status;
                    last_diagnostics = diagnostics;
                    continue;
                }
                Outcome::Refused(err) => {
                    refused = Some(err);
                    continue;
                }
                Outcome::Failed(err) => return Err(page_refused(err, attempts)),
                Outcome::Page(page) => *page,
            };
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
        self.write_summary(&kept, attempts, &log, dest)
    }

    /// Writes `log.txt` and `result.json` of a result whose page is `page`.
    fn write_summary(
        &self,
        page: &Page,
        attempts: Vec<Attempt>,
        log: &str,
        dest: &Path,
    ) -> Result<(), JobError> {
        let summary = Summary {
            status: page.assembled.status,
            converter: page.converter,
            attempts,
            diagnostics: page.report.diagnostics.clone(),
            missing: page.report.missing.clone(),
            title: page.assembled.title.clone(),
            assets: page.assembled.assets.clone(),
            math_count: page.assembled.math_count,
            image_count: page.assembled.image_count,
            quality: page.assembled.quality.clone(),
            main_file: Some(self.main_choice.clone()),
            execution: page.execution.clone(),
        };
        std::fs::write(dest.join("log.txt"), log)?;
        std::fs::write(
            dest.join(cache::MARKER),
            serde_json::to_vec_pretty(&summary).map_err(std::io::Error::other)?,
        )?;
        Ok(())
    }

    /// The preview: pandoc on the project without the steps that take it
    /// seconds (figures rasterized by Ghostscript, TikZ pictures drawn by
    /// LaTeX), with a quarter of the budget left. Its page is stored under
    /// `key` and announced unless it reads as source. The final page does
    /// not depend on it: a preview that fails is logged and left out.
    fn preview(&self, key: &str, lane: &Lane) {
        let scan = ProjectScan {
            vector_figures: Vec::new(),
            pictures: Vec::new(),
            ..self.scan.clone()
        };
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let timeout = (remaining / PREVIEW_SHARE).max(Duration::from_secs(1));
        let turn = match self.turn(
            Converter::Pandoc,
            timeout,
            &scan,
            lane,
            &mut Timings::default(),
        ) {
            Ok(turn) => turn,
            Err(err) => {
                tracing::warn!(%err, "no preview");
                return;
            }
        };
        let Outcome::Page(page) = &turn.outcome else {
            return;
        };
        if !worth_announcing(&page.assembled.quality) {
            return;
        }
        let stored = self.ctx.cache.get_or_create(key, |dest| {
            copy_contents(&page.dir, dest)?;
            self.write_summary(page, vec![turn.attempt.clone()], &turn.log, dest)
        });
        match stored {
            Ok(_) => self.announce(key, &page.assembled.quality, page.assembled.status),
            Err(err) => tracing::warn!(%err, "the preview could not be stored"),
        }
    }

    fn announce(&self, key: &str, quality: &Quality, status: StatusClass) {
        (self.progress)(Stage::Preview(Preview {
            key: key.to_owned(),
            converter: Converter::Pandoc,
            status,
            quality: quality.clone(),
        }));
    }

    /// One converter's attempt on the project as `scan` describes it, in
    /// `lane`, and, when it made one, its page.
    fn turn(
        &self,
        converter: Converter,
        timeout: Duration,
        scan: &ProjectScan,
        lane: &Lane,
        timings: &mut Timings,
    ) -> Result<Turn, JobError> {
        (lane.progress)(Stage::Converting {
            converter,
            pass: "convert".into(),
        });
        let run = tracing::debug_span!("attempt", %converter)
            .in_scope(|| self.attempt(converter, timeout, scan, lane))?;
        // The status is the jail's report of the driver's, which the
        // pre-pass sets; a notebook cannot reach the pre-pass's exit.
        if converter == Converter::Notebook
            && run.exit_code == Some(notebook::NOT_A_NOTEBOOK_EXIT)
            && !run.report.status.eq(&StatusClass::Timeout)
        {
            return Err(JobError::BadNotebook(notebook::refusal(&run.output)));
        }
        let log = format!(
            "===== {converter} ({:?}, {} ms) =====\n{}",
            run.report.status,
            ms(run.wall),
            run.output.combined()
        );
        let usable = run.output.html.is_some()
            && !matches!(run.report.status, StatusClass::Fatal | StatusClass::Timeout);
        let mut attempt = Attempt {
            converter,
            status: Some(run.report.status),
            reason: convert::run_reason(&run.output, run.report.status, timeout),
            wall_ms: ms(run.wall),
        };
        if !usable {
            let outcome = Outcome::NoPage {
                status: run.report.status,
                diagnostics: run.report.diagnostics,
            };
            return Ok(Turn {
                attempt,
                log,
                outcome,
            });
        }
        let assemble_started = Instant::now();
        let outcome = match self.assemble_page(converter, &run, lane) {
            Ok(page) => {
                attempt.reason = format!("produced a page: {}", page.assembled.quality.describe());
                Outcome::Page(Box::new(page))
            }
            Err(BoundedError::Cancelled) => return Err(JobError::Cancelled),
            Err(err) if err.limit().is_some() => {
                attempt.reason = format!("page refused: {err}");
                Outcome::Refused(err)
            }
            Err(err) => Outcome::Failed(err),
        };
        timings.assemble_ms += ms(assemble_started.elapsed());
        Ok(Turn {
            attempt,
            log,
            outcome,
        })
    }

    /// Sanitizes and renders one attempt's page into its own directory,
    /// in the budgeted child.
    fn assemble_page(
        &self,
        converter: Converter,
        run: &AttemptRun,
        lane: &Lane,
    ) -> Result<Page, BoundedError> {
        let _assemble = tracing::debug_span!("assemble", %converter).entered();
        (lane.progress)(Stage::Sanitizing);
        let dir = self.work.join(format!("page-{}", lane.label));
        std::fs::create_dir(&dir).map_err(|e| BoundedError::Failed(e.to_string()))?;
        let mut summary = PageSummary::from_report(converter.name(), &run.report);
        summary.quality.math_in_sources = self.scan.math_formulas;
        summary.main = Some(self.main_choice.clone());
        summary.execution = run.execution.clone();
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
            execution: run.execution.clone(),
            attempt: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_preview_that_reads_as_source_is_not_announced() {
        let with = |raw| Quality {
            raw_tex_commands: raw,
            ..Quality::default()
        };
        assert!(worth_announcing(&with(0)));
        assert!(worth_announcing(&with(PREVIEW_RAW_TEX_LIMIT - 1)));
        assert!(!worth_announcing(&with(PREVIEW_RAW_TEX_LIMIT)));
        assert!(!worth_announcing(&with(10 * PREVIEW_RAW_TEX_LIMIT)));
    }
}
