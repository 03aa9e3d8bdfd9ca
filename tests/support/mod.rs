//! Helpers shared by the integration tests.

#![allow(dead_code)]

pub mod archive;

use std::path::PathBuf;
use std::process::Command;

/// The `texjail` binary cargo built for this test run.
pub fn texjail_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_texjail"))
}

/// The jail's supervisor binary cargo built for this test run.
pub fn supervisor_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_texjail-jail"))
}

/// A `texjail` command with a clean `TEXJAIL_*` environment.
pub fn texjail() -> Command {
    let mut cmd = Command::new(texjail_bin());
    for (key, _) in std::env::vars() {
        if key.starts_with("TEXJAIL_") && key != "TEXJAIL_ROOTFS" {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// The finished rootfs the jail tests run on. Fails (never skips) when it
/// is missing: these tests exist to run the real toolchain.
pub fn rootfs() -> PathBuf {
    let path = std::env::var_os("TEXJAIL_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(texjail::toolchain::default_rootfs_path);
    if let Err(e) = texjail::toolchain::Rootfs::open(&path) {
        panic!("the integration tests need the toolchain rootfs: {e}");
    }
    path
}
