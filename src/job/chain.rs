//! The converter chain of one cache miss: each converter with time left
//! gets its attempt, each page is assembled in the budgeted child and
//! measured, the first clean page ends the chain, and the best page is
//! stored with its summary.
//!
//! When the job asks for a preview, pandoc (seconds, where LaTeXML and
//! make4ht take tens of seconds) runs first: its page is stored under the
//! cache key a `converter=pandoc` job would have, announced as
//! [`Stage::Preview`], and reused as pandoc's turn in the chain, so pandoc
//! never runs twice. It runs before the chain, not beside it: a server
//! runs one job per core, and a second process per job would slow every
//! other job's final page.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::attempt::AttemptRun;
use super::error::page_refused;
use super::{check_cancel, ms, Attempt, Context, JobError, Summary, Timings};
use super::{Preview, Stage};
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
    pub slot: u32,
    pub progress: &'a (dyn Fn(Stage) + Sync),
    pub cancel: &'a AtomicBool,
    pub deadline: Instant,
    /// Where a preview is stored, when the job wants one.
    pub preview_key: Option<String>,
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

/// The share of the job's budget the preview may take: pandoc needs
/// seconds; one that needs more has its turn again in the chain.
const PREVIEW_SHARE: u32 = 4;

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

/// Copies a page's files into a result directory (the preview's; the
/// page stays where it is for the chain).
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
        let mut attempts: Vec<Attempt> = Vec::new();
        let mut log = String::new();
        let mut last_diagnostics = Vec::new();
        let mut last_status = StatusClass::Fatal;
        let mut budget_spent = false;
        let mut refused: Option<BoundedError> = None;
        let mut best: Option<Page> = None;
        let convert_started = Instant::now();
        let mut preview = match (&self.preview_key, chain.contains(&Converter::Pandoc)) {
            (Some(key), true) if chain.len() > 1 => self.preview(key, timings)?,
            _ => None,
        };
        for (i, &converter) in chain.iter().enumerate() {
            check_cancel(self.cancel)?;
            let turn = match preview.take_if(|turn| turn.attempt.converter == converter) {
                // A preview that ran out of its share gets its turn again.
                Some(turn) if turn.attempt.status == Some(StatusClass::Timeout) => {
                    attempts.push(turn.attempt);
                    log.push_str(&turn.log);
                    None
                }
                Some(turn) => Some(turn),
                None => None,
            };
            let turn = match turn {
                Some(turn) => turn,
                None => {
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
                    self.turn(converter, timeout, timings)?
                }
            };
            log.push_str(&turn.log);
            attempts.push(turn.attempt);
            let this = attempts.len() - 1;
            let page = match turn.outcome {
                Outcome::NoPage {
                    status,
                    diagnostics,
                } => {
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

    /// pandoc's turn, run ahead of the chain: its page is stored as the
    /// result a `converter=pandoc` job would get (`key`) and announced,
    /// unless it reads as source. A stored one is announced at once.
    fn preview(&self, key: &str, timings: &mut Timings) -> Result<Option<Turn>, JobError> {
        if let Some(dir) = self.ctx.cache.result_dir(key) {
            if let Some(summary) = read_summary(&dir) {
                self.announce(key, &summary.quality, summary.status);
            }
            return Ok(None);
        }
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let timeout = (remaining / PREVIEW_SHARE).max(Duration::from_secs(1));
        let turn = self.turn(Converter::Pandoc, timeout, timings)?;
        let Outcome::Page(page) = &turn.outcome else {
            return Ok(Some(turn));
        };
        if !worth_announcing(&page.assembled.quality) {
            return Ok(Some(turn));
        }
        let stored = self.ctx.cache.get_or_create(key, |dest| {
            copy_contents(&page.dir, dest)?;
            self.write_summary(page, vec![turn.attempt.clone()], &turn.log, dest)
        });
        match stored {
            Ok(_) => self.announce(key, &page.assembled.quality, page.assembled.status),
            // The final page does not depend on the preview: say why there
            // is none and go on.
            Err(err) => tracing::warn!(%err, "the preview could not be stored"),
        }
        Ok(Some(turn))
    }

    fn announce(&self, key: &str, quality: &Quality, status: StatusClass) {
        (self.progress)(Stage::Preview(Preview {
            key: key.to_owned(),
            converter: Converter::Pandoc,
            status,
            quality: quality.clone(),
        }));
    }

    /// One converter's attempt and, when it made one, its page.
    fn turn(
        &self,
        converter: Converter,
        timeout: Duration,
        timings: &mut Timings,
    ) -> Result<Turn, JobError> {
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
        let outcome = match self.assemble_page(converter, &run) {
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
    fn assemble_page(&self, converter: Converter, run: &AttemptRun) -> Result<Page, BoundedError> {
        let _assemble = tracing::debug_span!("assemble", %converter).entered();
        (self.progress)(Stage::Sanitizing);
        let dir = self.work.join(format!("page-{converter}"));
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
