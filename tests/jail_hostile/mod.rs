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
//! (a representative set started as uid 65534), `spawner` (its death,
//! concurrent requests, the caller's exit) and `leaks` (the host after a
//! series of hostile runs). `harness`, `ran`, `host` and `canary` are the
//! shared machinery.
//!
//! Run: `cargo test --test main jail_hostile` as root (the rootless tests
//! drop to uid 65534 themselves). The host needs the built rootfs, cgroup
//! v1 `memory` and `pids` hierarchies for `limits::with_cgroup`, and IA32
//! emulation for the i386 probe (its control fails loudly without it).
//!
//! The memory, socket-buffer and short-lived-children CPU bombs hold by
//! default because `cgroup = "auto"` uses cgroup v1 where it works (root,
//! hierarchies mounted); without cgroups the memory bomb is still named by
//! its resident set reaching the address-space cap. The rootfs's host path
//! in mountinfo is a documented limitation (docs/jail.md);
//! `processes::mountinfo_names_no_host_path_but_the_rootfs_root` holds the
//! line around it.
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
mod spawner;
