//! The one integration-test binary. Each module tests one part against the
//! real thing: the real binary, the real jail on the real rootfs, a real
//! server on a loopback port.

mod api;
mod assemble;
mod browser;
mod cluster;
mod convert;
mod diagnostics;
mod jail;
mod jail_hostile;
mod mainfile;
mod notebook;
mod run;
mod sanitize;
mod shared;
mod support;
mod unpack;
