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
//! Where the attempts live: `filesystem` (canaries, writes, devices,
//! /proc and /sys), `network`, `processes` (host and sibling processes,
//! daemons, supervisor death, /proc leaks), `privileges` (ptrace, mount,
//! namespaces, setuid, capabilities, seccomp incl. i386, inherited and
//! leaked descriptors, TIOCSTI), `limits` (every bomb, with and without
//! cgroups), `copy_in`/`copy_out` (links, special files, names, sizes,
//! modes, races), `languages` (the same from Python and Perl), `rootless`
//! (a representative set started as uid 65534) and `leaks` (the host after
//! a series of hostile runs). `harness`, `ran`, `host` and `canary` are the
//! shared machinery.
//!
//! Run: `cargo test --test main jail_hostile` as root (the rootless tests
//! drop to uid 65534 themselves). The host needs the built rootfs, cgroup
//! v1 `memory` and `pids` hierarchies for `limits::with_cgroup`, and IA32
//! emulation for the i386 probe (its control fails loudly without it).
//!
//! Known failures against the jail (default configuration, `cgroup =
//! "off"`) at this suite's last commit; the tests stay strict, the jail is
//! to be fixed. The same memory and CPU bombs under `cgroup = "v1"`
//! (`limits::with_cgroup`) pass, so one fix is to make that the default
//! where it is available.
//!
//! - `limits::memory_bomb_is_stopped_by_the_memory_limit` and
//!   `rootless::rootless_memory_bomb_is_stopped`: the memory limit is
//!   RLIMIT_AS only, so Python gets MemoryError and exits 1; the Outcome
//!   says `"limit": null` instead of `"memory"`.
//! - `limits::memory_limit_holds_across_many_processes`: RLIMIT_AS is per
//!   process; six children of one job held ~800 MiB together under a
//!   256 MiB limit.
//! - `limits::socket_buffers_are_bounded_by_the_memory_limit`: four
//!   processes parked ~430 MiB of kernel memory in unread socketpair
//!   buffers under a 256 MiB limit (with the default 1024 files x 256
//!   processes the bound is tens of GiB).
//! - `limits::cpu_limit_holds_for_short_lived_children_the_kernel_reaps`:
//!   without cgroups the job-wide CPU budget is sampled every 200 ms; sixty
//!   40 ms children reaped by the kernel (SIGCHLD ignored) live and die
//!   between samples, and used 2.5 s under `CPU_SECS=1` with the run
//!   ending normally. Under `cgroup = "v1"` (cpuacct) the same job is
//!   stopped (`limits::with_cgroup`).
//! - `processes::mountinfo_does_not_name_the_rootfs_host_path`: the jail's
//!   `/proc/self/mountinfo` shows the rootfs's host path
//!   (`/var/cache/texjail/rootfs-...`) as the root mount's source.
//!
//! Failures seen earlier and fixed in the jail since (kept as regression
//! tests): endless stdout/stderr ran until the wall timeout instead of
//! stopping at `"output"`, also when the writer ignored the closed pipe;
//! CPU_SECS was per process only, then lost children the kernel reaps; a
//! non-UTF-8 file name was listed under a lossy name in `copied`; memfd
//! memory escaped the memory limit.

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
