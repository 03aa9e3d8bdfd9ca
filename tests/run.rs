//! Program runs end to end: `POST /api/v1/run` on a real `texjail serve`
//! on a loopback port, running real Python in the real jail on the real
//! rootfs, and `texjail run` from the terminal. The hostile cases each
//! try to break out or exhaust something and assert the named limit or
//! the clean error, that nothing leaked, that nothing is left running and
//! that the service still answers.

mod api;
mod cli;
pub mod harness;
mod hostile;
mod load;
