//! `texjail serve`: opens the conversion engine and serves the API until a
//! signal; and the readiness check behind `GET /readyz` (the rootfs is
//! the one this binary was built for, and a jail can be built on it and
//! run `/bin/true` to completion).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use crate::api::{self, ReadyCheck, ServeError};
use crate::config::Config;
use crate::jail::{self, RunSpec};
use crate::pipeline::engine::JobEngine;
use crate::pipeline::Worker;
use crate::toolchain::Rootfs;

/// `texjail serve`: exit 0 after a clean shutdown, 1 when the service
/// could not start or failed.
pub fn run(config: Config) -> ExitCode {
    match serve(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("texjail: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Validates the config, opens the engine (rootfs and cache) and serves
/// until a signal. Prints the bound address on stdout.
fn serve(config: Config) -> Result<(), ServeError> {
    config
        .validate()
        .map_err(|e| ServeError::Invalid("config".into(), e.to_string()))?;
    let exe = std::env::current_exe()?;
    // A cluster's API node converts nothing: it needs neither the rootfs
    // nor the jail, and is ready when its cluster is.
    let (engine, ready): (Option<Arc<dyn Worker>>, ReadyCheck) = if config.cluster.role.converts() {
        let engine =
            JobEngine::open(&config, exe.clone()).map_err(|e| ServeError::Engine(e.to_string()))?;
        let config = config.clone();
        (
            Some(Arc::new(engine)),
            Arc::new(move || check_ready(&config, &exe)),
        )
    } else {
        (None, Arc::new(|| Ok(())))
    };
    crate::logging::init("info");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(api::serve(&config, engine, ready, |addr| {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = writeln!(out, "texjail: listening on http://{addr}");
        let _ = out.flush();
    }))
}

/// Seconds the probe run may take; a healthy jail needs milliseconds.
const PROBE_TIMEOUT_SECS: u64 = 10;

/// Ok, or the failing part (`rootfs: ...`, `jail: ...`) and why.
fn check_ready(config: &Config, exe: &Path) -> Result<(), String> {
    let rootfs = Rootfs::open(&config.rootfs).map_err(|e| format!("rootfs: {e}"))?;
    let mut limits = config.jail.clone();
    limits.timeout_secs = PROBE_TIMEOUT_SECS;
    let spec = RunSpec::new(
        jail::supervisor_beside(exe),
        rootfs.path,
        vec!["/bin/true".into()],
        limits,
    );
    let outcome = jail::run(&spec).map_err(|e| format!("jail: {e}"))?;
    if !outcome.success() {
        return Err(format!(
            "jail: /bin/true did not succeed (exit {:?}, signal {:?}, limit {:?})",
            outcome.exit_code, outcome.signal, outcome.limit
        ));
    }
    Ok(())
}
