//! One attempt: a jail run of the converter's driver, killed when the
//! job is cancelled, its output read back and its diagnostics parsed, and
//! whether it ran out of time, told from the jail's outcome.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::chain::{Conversion, Lane};
use super::{check_cancel, JobError, JAIL_RUNS};
use crate::convert::assemble::{self, RunOutput};
use crate::convert::diagnostics::{Report, StatusClass};
use crate::convert::notebook_exec::{self, Execution};
use crate::convert::scan::ProjectScan;
use crate::convert::{driver, Converter};
use crate::jail;

/// One attempt's outcome on the host side.
pub(super) struct AttemptRun {
    pub output: RunOutput,
    pub job_out: PathBuf,
    pub report: Report,
    pub wall: Duration,
    /// The driver's exit status, from the jail's outcome.
    pub exit_code: Option<i32>,
    /// What executing the notebook did, when it was asked for.
    pub execution: Option<Execution>,
}

impl Conversion<'_> {
    /// One jail run of the driver for `converter`, on the project as
    /// `scan` describes it, in `lane`.
    pub(super) fn attempt(
        &self,
        converter: Converter,
        timeout: Duration,
        scan: &ProjectScan,
        lane: &Lane,
    ) -> Result<AttemptRun, JobError> {
        let job_out = self.work.join(format!("out-{}", lane.label));
        std::fs::create_dir(&job_out)
            .map_err(|e| JobError::internal("cannot create job dir", e))?;
        let mut limits = self.ctx.config.jail.clone();
        limits.timeout_secs = timeout.as_secs().max(1);
        limits.cpu_secs = limits.cpu_secs.min(limits.timeout_secs);
        let settings = &self.ctx.config.convert;
        let plan = match (converter, &self.execute) {
            (Converter::Notebook, Some(ask)) => {
                let plan = notebook_exec::Plan::new(ask, settings, timeout);
                limits.memory_bytes = limits.memory_bytes.min(plan.memory_bytes);
                Some(plan)
            }
            _ => None,
        };
        let spec = jail::RunSpec {
            exe: jail::supervisor_beside(&self.ctx.exe),
            rootfs: self.ctx.rootfs.path.clone(),
            argv: driver::argv(
                converter,
                &self.main,
                scan,
                timeout,
                settings,
                plan.as_ref(),
            ),
            env: driver::env(),
            workdir: "/job".into(),
            job_in: Some(self.root.to_path_buf()),
            job_out: Some(job_out.clone()),
            limits,
            slot: lane.slot,
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
        let mut report = converter.diagnose(&output, &self.main.name);
        report = report.relative_to_project(&self.main.dir);
        if timed_out {
            report = report.timed_out();
        } else if output.html.is_none() {
            report.status = StatusClass::Fatal;
        }
        let execution = plan
            .as_ref()
            .map(|plan| notebook_exec::read_report(&job_out, plan));
        Ok(AttemptRun {
            output,
            job_out,
            report,
            wall: Duration::from_millis(outcome.wall_ms),
            exit_code: outcome.exit_code,
            execution,
        })
    }
}

/// Whether an attempt ran out of time, told only from what the document
/// cannot write: the jail's outcome. Either the supervisor ended the run
/// at its wall-clock limit or over its CPU budget, or the converter's
/// driver reports its own timeout by exit code and the supervisor's clock
/// agrees the run lasted that long (`Converter::stopped_by_own_timeout`).
/// The converter's log never counts: a document can print
/// `Fatal:timeout` into it.
fn out_of_time(converter: Converter, outcome: &jail::Outcome, timeout: Duration) -> bool {
    outcome.out_of_time()
        || converter.stopped_by_own_timeout(
            outcome.exit_code,
            Duration::from_millis(outcome.wall_ms),
            timeout,
        )
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::latexml;

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
}
