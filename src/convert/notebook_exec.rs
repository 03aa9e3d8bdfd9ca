//! Executing a notebook before it is rendered (`execute=true`): one more
//! step of the notebook's jail run, ahead of the pre-pass
//! (`notebook_execute.py`, nbclient and an IPython kernel from the
//! rootfs). The kernel and its client talk over ZeroMQ's `ipc` transport,
//! unix sockets in the jail's private `/tmp` (the jail has no usable
//! network, and landlock forbids TCP). Each cell has a time limit, the
//! notebook the rest of the job's; outputs are capped per cell and per
//! notebook; memory is the lower of the jail's and
//! `convert.notebook_execute_memory_bytes`. After the step every process
//! the kernel left is killed and every file outside the driver's
//! directory removed, so the pre-pass renders the executed notebook with
//! the tmpfs to itself.
//!
//! What ran comes back as [`Execution`] (`result.json`'s `execution`),
//! read from the report the executor writes. The notebook's own code runs
//! with the executor's uid, so like the page the report is the
//! notebook's to shape: the host reads it with a size cap into bounded,
//! typed fields, and it changes nothing but this result's description.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::driver::WORK_DIR;
use super::shell::quote;
use super::Settings;

/// The executor, run in the jail as `python3 -I -c`.
pub const EXECUTOR: &str = include_str!("notebook_execute.py");

/// The executed notebook, relative to `/job`.
pub const EXECUTED: &str = ".texjail/executed.ipynb";
/// The executor's report, relative to `/job`.
pub const REPORT: &str = ".texjail/execution.json";
/// The executor's own log (nbclient's warnings, its errors).
pub const EXECUTE_LOG: &str = ".texjail/execute.log";

/// Largest report read back; a larger one counts as none.
const MAX_REPORT_BYTES: u64 = 1 << 20;
/// Most cell numbers kept in each list of the report.
const MAX_LISTED_CELLS: usize = 10_000;
/// Most characters kept of the report's note.
const MAX_NOTE_CHARS: usize = 300;

/// What a request asks of the execution; `None` takes the configured
/// ceiling, and a value over it is lowered to it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execute {
    pub cell_timeout_secs: Option<u64>,
    /// Memory of the run (per process and for the job), raised to
    /// [`MIN_MEMORY_BYTES`].
    pub memory_bytes: Option<u64>,
}

/// The least memory a request may ask for: a kernel with numpy needs
/// about this much address space to start.
pub const MIN_MEMORY_BYTES: u64 = 512 << 20;

impl Execute {
    /// The part of the cache key execution contributes.
    pub fn fingerprint(&self) -> String {
        let limit = |value: Option<u64>| value.map_or("default".to_string(), |v| v.to_string());
        format!(
            "execute=cell_timeout:{},memory:{}",
            limit(self.cell_timeout_secs),
            limit(self.memory_bytes)
        )
    }
}

/// The limits of one execution step, the request's ask within the
/// configured ceilings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub cell_timeout_secs: u64,
    /// Seconds the executor may take in all, leaving the rest of the
    /// run's `timeout` for the pre-pass and pandoc.
    pub budget_secs: u64,
    pub cell_output_bytes: u64,
    pub total_output_bytes: u64,
    /// The run's memory: the request's within the configured ceiling
    /// (the jail's own ceiling applies on top).
    pub memory_bytes: u64,
}

impl Plan {
    pub fn new(ask: &Execute, settings: &Settings, timeout: Duration) -> Plan {
        let ceiling = settings.notebook_cell_timeout_secs.max(1);
        let total = timeout.as_secs().max(1);
        Plan {
            cell_timeout_secs: ask
                .cell_timeout_secs
                .map_or(ceiling, |t| t.clamp(1, ceiling)),
            budget_secs: total.saturating_sub(render_reserve(total)).max(1),
            cell_output_bytes: settings.notebook_max_output_bytes.max(1),
            total_output_bytes: settings.notebook_execute_output_bytes.max(1),
            memory_bytes: ask
                .memory_bytes
                .map_or(settings.notebook_execute_memory_bytes, |m| {
                    m.max(MIN_MEMORY_BYTES)
                        .min(settings.notebook_execute_memory_bytes)
                }),
        }
    }
}

/// Seconds of a run of `total` kept for rendering after the executor: a
/// fifth, between 5 and 30 s (the pre-pass and pandoc take about a second).
fn render_reserve(total: u64) -> u64 {
    (total / 5).clamp(5, 30).min(total / 2)
}

/// The driver's execution step, run in the notebook's directory
/// (`notebook` is its quoted name): the executor, then every process it
/// left killed (`kill -KILL -1` spares only the shell and the jail's
/// init), then, when it wrote the executed notebook, every file but the
/// driver's removed. The kernel's environment: matplotlib's inline
/// backend and a config directory in `/tmp`, Jupyter's and IPython's
/// directories in `/tmp`, one thread per numerical library.
pub fn script(notebook: &str, plan: &Plan) -> String {
    format!(
        "HOME=/tmp MPLBACKEND=module://matplotlib_inline.backend_inline \
         MPLCONFIGDIR=/tmp/.texjail-matplotlib JUPYTER_RUNTIME_DIR=/tmp/.texjail-jupyter/runtime \
         JUPYTER_CONFIG_DIR=/tmp/.texjail-jupyter/config JUPYTER_DATA_DIR=/tmp/.texjail-jupyter/data \
         IPYTHONDIR=/tmp/.texjail-ipython OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
         python3 -I -c {executor} {notebook} /job/{EXECUTED} /job/{REPORT} {cell} {budget} \
         {cell_output} {total_output} </dev/null >/job/{EXECUTE_LOG} 2>&1\n\
         kill -KILL -1 2>/dev/null\n\
         if [ -s /job/{EXECUTED} ]; then cd /job || exit 90; \
         find /job /tmp -mindepth 1 -maxdepth 1 ! -path /job/{WORK_DIR} -exec rm -rf {{}} + 2>/dev/null; fi\n",
        executor = quote(EXECUTOR),
        cell = plan.cell_timeout_secs,
        budget = plan.budget_secs,
        cell_output = plan.cell_output_bytes,
        total_output = plan.total_output_bytes,
    )
}

/// What execution did, as `result.json` (`execution`) and the API say it.
/// Cells are numbered from 1 in the notebook's order, all cells counted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Execution {
    /// The kernel that ran the cells (`python3`), or the one the notebook
    /// asks for when it was not executed.
    pub kernel: Option<String>,
    /// Whether the page shows the outputs of this run (false: the
    /// outputs stored in the notebook, and `note` says why).
    pub executed: bool,
    /// Code cells started.
    pub cells_run: usize,
    /// Cells that raised (their traceback is on the page).
    pub cells_failed: Vec<usize>,
    /// Cells stopped at their time limit.
    pub cells_timed_out: Vec<usize>,
    /// Code cells not run: the notebook's time ran out, or the kernel died.
    pub cells_not_run: Vec<usize>,
    /// Cells whose output went past a cap and was cut.
    pub outputs_cut: Vec<usize>,
    /// The cell time limit in force.
    pub cell_timeout_secs: u64,
    pub note: Option<String>,
}

impl Execution {
    /// The execution of a run whose executor left no readable report.
    fn missing(plan: &Plan) -> Execution {
        Execution {
            cell_timeout_secs: plan.cell_timeout_secs,
            note: Some(
                "not executed: the executor left no report (it ran out of time or memory)".into(),
            ),
            ..Execution::default()
        }
    }
}

/// Reads the report a run left in `job_out` (the copy of `/job`); whether
/// the executed notebook is what the page shows is told by the report
/// and the file both.
pub fn read_report(job_out: &Path, plan: &Plan) -> Execution {
    let Some(mut execution) = read_capped(&job_out.join(REPORT))
        .and_then(|bytes| serde_json::from_slice::<Execution>(&bytes).ok())
    else {
        return Execution::missing(plan);
    };
    execution.cell_timeout_secs = plan.cell_timeout_secs;
    execution.executed &= job_out.join(EXECUTED).is_file();
    for list in [
        &mut execution.cells_failed,
        &mut execution.cells_timed_out,
        &mut execution.cells_not_run,
        &mut execution.outputs_cut,
    ] {
        list.truncate(MAX_LISTED_CELLS);
    }
    execution.kernel = execution
        .kernel
        .map(|k| k.chars().filter(|c| !c.is_control()).take(100).collect());
    execution.note = execution.note.map(|n| {
        n.chars()
            .filter(|c| !c.is_control())
            .take(MAX_NOTE_CHARS)
            .collect()
    });
    execution
}

fn read_capped(path: &Path) -> Option<Vec<u8>> {
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_REPORT_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= MAX_REPORT_BYTES).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_lowers_the_cell_limit_and_never_raises_it() {
        let settings = Settings::default();
        let t = Duration::from_secs(300);
        let ceiling = settings.notebook_cell_timeout_secs;
        assert_eq!(
            Plan::new(&Execute::default(), &settings, t).cell_timeout_secs,
            ceiling
        );
        let low = Execute {
            cell_timeout_secs: Some(2),
            ..Execute::default()
        };
        assert_eq!(Plan::new(&low, &settings, t).cell_timeout_secs, 2);
        let high = Execute {
            cell_timeout_secs: Some(100_000),
            ..Execute::default()
        };
        assert_eq!(Plan::new(&high, &settings, t).cell_timeout_secs, ceiling);
        let zero = Execute {
            cell_timeout_secs: Some(0),
            memory_bytes: Some(0),
        };
        assert_eq!(Plan::new(&zero, &settings, t).cell_timeout_secs, 1);
        assert_eq!(
            Plan::new(&zero, &settings, t).memory_bytes,
            MIN_MEMORY_BYTES
        );
        let memory = |m| {
            Plan::new(
                &Execute {
                    memory_bytes: Some(m),
                    ..Execute::default()
                },
                &settings,
                t,
            )
            .memory_bytes
        };
        assert_eq!(memory(1 << 30), 1 << 30);
        assert_eq!(memory(u64::MAX), settings.notebook_execute_memory_bytes);
        assert_eq!(
            Plan::new(&Execute::default(), &settings, t).memory_bytes,
            settings.notebook_execute_memory_bytes
        );
    }

    #[test]
    fn the_executor_leaves_time_to_render() {
        assert_eq!(render_reserve(300), 30);
        assert_eq!(render_reserve(60), 12);
        assert_eq!(render_reserve(20), 5);
        assert_eq!(render_reserve(4), 2);
        let plan = Plan::new(
            &Execute::default(),
            &Settings::default(),
            Duration::from_secs(1),
        );
        assert_eq!(plan.budget_secs, 1);
    }

    #[test]
    fn the_step_is_valid_sh() {
        let plan = Plan::new(
            &Execute::default(),
            &Settings::default(),
            Duration::from_secs(60),
        );
        let s = script("'a b.ipynb'", &plan);
        assert!(super::super::shell::parses_as_sh(&s), "{s}");
    }

    #[test]
    fn reports_are_read_bounded_and_missing_ones_say_so() {
        let dir = tempfile::tempdir().unwrap();
        let plan = Plan::new(
            &Execute::default(),
            &Settings::default(),
            Duration::from_secs(60),
        );
        let missing = read_report(dir.path(), &plan);
        assert!(!missing.executed);
        assert!(missing.note.unwrap().contains("no report"));
        std::fs::create_dir_all(dir.path().join(".texjail")).unwrap();
        let report = serde_json::json!({
            "kernel": "python3\u{1b}[31m",
            "executed": true,
            "cells_run": 3,
            "cells_failed": [2],
            "cells_timed_out": [3],
            "cells_not_run": [],
            "outputs_cut": [],
            "note": "x".repeat(5000),
        });
        std::fs::write(dir.path().join(REPORT), report.to_string()).unwrap();
        let read = read_report(dir.path(), &plan);
        // No executed notebook: the page shows the stored outputs.
        assert!(!read.executed);
        assert_eq!(read.kernel.as_deref(), Some("python3[31m"));
        assert_eq!(read.note.unwrap().len(), MAX_NOTE_CHARS);
        std::fs::write(dir.path().join(EXECUTED), "{}").unwrap();
        let read = read_report(dir.path(), &plan);
        assert!(read.executed);
        assert_eq!(
            (read.cells_failed, read.cells_timed_out),
            (vec![2], vec![3])
        );
        std::fs::write(dir.path().join(REPORT), vec![b' '; 2 << 20]).unwrap();
        assert!(read_report(dir.path(), &plan)
            .note
            .unwrap()
            .contains("no report"));
    }
}
