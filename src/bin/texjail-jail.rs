//! `texjail-jail`: the jail's spawner and supervisors, a small binary of
//! its own.
//!
//! A process that runs jails executes it once (see
//! `texjail::jail::spawner`); it then forks one supervisor per run. It
//! links only the jail module: no argument parser, no async runtime, no
//! web or HTML code. It serves requests on its stdin, a socket, and is not
//! meant to be started by hand.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(texjail::jail::spawner::serve() as u8)
}
