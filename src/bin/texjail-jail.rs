//! `texjail-jail`: the jail's supervisor, a small binary of its own.
//!
//! Every jail run execs it (see `texjail::jail::spawn`), so it links only
//! the jail module: no argument parser, no async runtime, no web or HTML
//! code. Exec, start-up and exit of the 50 MB `texjail` binary cost
//! milliseconds on every run; this one starts in a fraction of that.
//! It reads the run spec on stdin and is not meant to be started by hand.

use std::process::ExitCode;

fn main() -> ExitCode {
    ExitCode::from(texjail::jail::supervisor::main() as u8)
}
