//! Whether conversions can run right now (`GET /readyz`): the rootfs is
//! the one this binary was built for, and a jail can be built on it and run
//! `/bin/true` to completion.

use std::path::Path;

use crate::config::Config;
use crate::jail::{self, RunSpec};
use crate::toolchain::Rootfs;

/// Seconds the probe run may take; a healthy jail needs milliseconds.
const PROBE_TIMEOUT_SECS: u64 = 10;

/// Ok, or the failing part (`rootfs: ...`, `jail: ...`) and why.
pub fn check(config: &Config, exe: &Path) -> Result<(), String> {
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
