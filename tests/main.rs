//! The one integration-test binary. Each module tests one part against the
//! real thing: the real binary, the real jail on the real rootfs, a real
//! server on a loopback port.

mod diagnostics;
mod mainfile;
mod sanitize;
mod support;
