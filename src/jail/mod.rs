//! The jail: runs an untrusted command inside namespaces, a read-only
//! rootfs, a size-capped tmpfs, rlimits, dropped privileges, landlock and
//! seccomp. This module is the crate's only home of `unsafe`; it knows
//! nothing about TeX.

pub mod limits;
pub mod probe;

pub use limits::Limits;
