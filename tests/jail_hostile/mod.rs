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
//! Known failures against the current jail are listed in
//! `KNOWN_FAILURES.md`-style notes below, kept up to date with each run:
//!
//! (none recorded yet)

mod copy_out;
mod filesystem;
mod harness;
mod languages;
mod leaks;
mod limits;
mod network;
mod privileges;
mod processes;
mod rootless;
