//! The HTTP service end to end: the real `texjail serve` binary on a
//! loopback port, converting real projects in the real jail on the real
//! rootfs. Raw-socket requests are used where an HTTP client would
//! normalize the hostile path before sending it.

mod auth;
mod bundle;
mod contract;
mod convert_flow;
pub mod harness;
mod limits;
mod load;
mod ops;
mod recovery;
mod results_safety;
