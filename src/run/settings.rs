//! The `[run]` config section (`TEXJAIL_RUN_<NAME>`): the ceilings of a
//! program run. A request may ask for less (`timeout_secs`,
//! `memory_bytes`), never for more; everything else is fixed here. Runs
//! have slots, a queue and uids of their own, so a short program never
//! waits behind a long conversion and never shares a uid (and with it
//! RLIMIT_NPROC) with one.

use serde::{Deserialize, Serialize};

use crate::jail::Limits;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Longest wall-clock time a run may ask for; also its CPU seconds.
    pub timeout_secs: u64,
    /// Most address space per process a run may ask for (RLIMIT_AS, and
    /// the job's cgroup memory cap).
    pub memory_bytes: u64,
    /// Bytes of stdout and of stderr kept (each); more ends the run.
    pub output_bytes: u64,
    /// All input files and stdin together, decoded.
    pub max_input_bytes: u64,
    /// Largest file the program may write (RLIMIT_FSIZE) and the copy-out
    /// take back.
    pub max_file_bytes: u64,
    /// All files the program leaves in `/job`, taken back together.
    pub max_output_bytes: u64,
    /// Size of the run's tmpfs (`/job` and `/tmp`).
    pub tmpfs_bytes: u64,
    /// Processes of the run's uid (RLIMIT_NPROC, and the cgroup's pids cap).
    pub processes: u64,
    /// Runs at once; 0 means one per CPU.
    pub slots: u32,
    /// Runs that may wait for a slot; one more is refused with 503.
    pub queue_capacity: u32,
    /// Root mode: run slot N runs as uid/gid `uid_base + N`, a range apart
    /// from the conversions' (`jail.uid_base`).
    pub uid_base: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timeout_secs: 30,
            memory_bytes: 2 << 30,
            output_bytes: 1 << 20,
            max_input_bytes: 16 << 20,
            max_file_bytes: 64 << 20,
            max_output_bytes: 128 << 20,
            tmpfs_bytes: 256 << 20,
            processes: 64,
            slots: 0,
            queue_capacity: 32,
            uid_base: 210_000,
        }
    }
}

impl Settings {
    /// Slots to run: the configured number, or the CPU count.
    pub fn effective_slots(&self) -> u32 {
        if self.slots > 0 {
            return self.slots;
        }
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    }

    /// Checks values that parse but make no sense; the message names the key.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let invalid = |key: &str, message: &str| Err((format!("run.{key}"), message.into()));
        for (key, value) in [
            ("timeout_secs", self.timeout_secs),
            ("memory_bytes", self.memory_bytes),
            ("output_bytes", self.output_bytes),
            ("max_input_bytes", self.max_input_bytes),
            ("max_file_bytes", self.max_file_bytes),
            ("max_output_bytes", self.max_output_bytes),
            ("tmpfs_bytes", self.tmpfs_bytes),
            ("processes", self.processes),
        ] {
            if value == 0 {
                return invalid(key, "must be at least 1");
            }
        }
        if self.uid_base == 0 {
            return invalid("uid_base", "must be a non-zero uid");
        }
        Ok(())
    }

    /// The jail limits of one run: the conversions' hardening (`jail`:
    /// cgroup and landlock modes, open files, hostname) with this
    /// section's ceilings, lowered to what the request asked for.
    pub fn limits(&self, jail: &Limits, asked: Asked) -> Limits {
        let timeout_secs = asked
            .timeout_secs
            .map_or(self.timeout_secs, |t| t.clamp(1, self.timeout_secs));
        let memory_bytes = asked
            .memory_bytes
            .map_or(self.memory_bytes, |m| m.min(self.memory_bytes));
        Limits {
            timeout_secs,
            cpu_secs: timeout_secs,
            memory_bytes,
            file_size_bytes: self.max_file_bytes,
            processes: self.processes,
            tmpfs_bytes: self.tmpfs_bytes,
            tmpfs_inodes: jail.tmpfs_inodes.min(16_384),
            output_bytes: self.output_bytes,
            copy_out_file_bytes: self.max_file_bytes,
            copy_out_total_bytes: self.max_output_bytes,
            uid_base: self.uid_base,
            ..jail.clone()
        }
    }
}

/// What a request asked for; `None` takes the ceiling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked {
    pub timeout_secs: Option<u64>,
    pub memory_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_lowers_the_ceilings_and_never_raises_them() {
        let settings = Settings::default();
        let jail = Limits::default();
        let low = settings.limits(
            &jail,
            Asked {
                timeout_secs: Some(2),
                memory_bytes: Some(100 << 20),
            },
        );
        assert_eq!((low.timeout_secs, low.cpu_secs), (2, 2));
        assert_eq!(low.memory_bytes, 100 << 20);
        let high = settings.limits(
            &jail,
            Asked {
                timeout_secs: Some(100_000),
                memory_bytes: Some(u64::MAX),
            },
        );
        assert_eq!(high.timeout_secs, settings.timeout_secs);
        assert_eq!(high.memory_bytes, settings.memory_bytes);
        let zero = settings.limits(
            &jail,
            Asked {
                timeout_secs: Some(0),
                memory_bytes: None,
            },
        );
        assert_eq!(zero.timeout_secs, 1);
        // The run's own uid range and caps, the jail's hardening modes.
        assert_eq!(high.uid_base, settings.uid_base);
        assert_eq!(high.processes, settings.processes);
        assert_eq!(high.landlock, jail.landlock);
        assert_eq!(high.cgroup, jail.cgroup);
    }

    #[test]
    fn zero_ceilings_are_invalid_and_named() {
        let bad = Settings {
            output_bytes: 0,
            ..Settings::default()
        };
        assert_eq!(bad.validate().unwrap_err().0, "run.output_bytes");
        assert!(Settings::default().validate().is_ok());
    }
}
