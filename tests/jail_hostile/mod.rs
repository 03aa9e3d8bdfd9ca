//! The hostile jail suite: every test is one attempt by a job to get out of
//! `texjail jail-run` (read or write outside `/job`, reach the network or
//! the host's processes, gain privilege, outlive the run, exhaust a
//! resource, smuggle host content through copy-out) and asserts that the
//! jail contained it, on the real rootfs, with the real binary.
//!
//! Each probe script reports a successful step as an `ESCAPED:` line and
//! ends with a sentinel, so a probe that silently broke cannot pass; where
//! the host can observe the attempt (a listener, a process, a file, the
//! mount table) the test checks the host side too. `harness` checks after
//! every run that `--out` holds only single-link regular files listed in
//! `copied`, that no process of the run's uids remains and that nothing
//! was left mounted or in jail-run's temp space.
//!
//! Run: `cargo test --test main jail_hostile` (as root; the rootless tests
//! drop to uid 65534 themselves).
//!
//! Known failures against the jail as of this suite's last commit (the
//! tests stay strict; the jail is to be fixed):
//!
//! The memory findings hold for the default configuration (`cgroup =
//! "off"`); the same bombs under `cgroup = "v1"` (`limits::with_cgroup`)
//! pass, so the fix may be to make that the default where it is available.
//!
//! - `limits::memory_bomb_is_stopped_by_the_memory_limit` and
//!   `rootless::rootless_memory_bomb_is_stopped`: the memory limit is
//!   RLIMIT_AS only, so Python gets MemoryError and exits 1; the Outcome
//!   says `"limit": null` instead of `"memory"`.
//! - `limits::memory_limit_holds_across_many_processes`: RLIMIT_AS is per
//!   process; six children of one job held 810 MiB together under a
//!   256 MiB limit. A per-job limit (memory cgroup) is missing.
//! - `limits::memfd_memory_is_bounded_by_the_memory_limit`: a job held
//!   1 GiB in memfds (written, never mapped) under a 256 MiB limit; neither
//!   RLIMIT_AS nor the job tmpfs cap sees that memory.
//! - `copy_out::hostile_file_names_keep_the_outcome_honest`: a file whose
//!   name is not UTF-8 is copied out under its raw name but listed in
//!   `copied` under a lossy name (U+FFFD) that does not exist in `--out`.
//! - `limits::cpu_limit_holds_across_processes`: CPU_SECS is per process
//!   (RLIMIT_CPU); three children of 0.8 s each used 2.4 s under
//!   `CPU_SECS=1` and the run ended normally. Only the wall timeout bounds
//!   a job's total CPU.
//! - `limits::endless_stdout_is_capped_and_stopped` and
//!   `limits::endless_stderr_is_capped_and_stopped`: output beyond
//!   OUTPUT_BYTES is truncated correctly, but the job keeps running (and
//!   jail-run keeps draining gigabytes) until the wall timeout; the Outcome
//!   says `"timeout"`, not `"output"`.
//! - `processes::mountinfo_does_not_name_the_rootfs_host_path`: the jail's
//!   `/proc/self/mountinfo` shows the rootfs's host path
//!   (`/var/cache/texjail/rootfs-…`) as the root mount's source.

mod canary;
mod copy_in;
mod copy_out;
mod filesystem;
mod harness;
mod host;
mod languages;
mod leaks;
mod limits;
mod network;
mod privileges;
mod processes;
mod ran;
mod rootless;
