//! Copy-in: the caller's job directory becomes the content of `/job`.
//! Only directories and regular files are taken; links, devices, fifos
//! and sockets are left out, and no link in the source is ever followed.

use std::fs::File;
use std::io;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::JailError;

/// Copies the tree under `src` into `dest` (the staged `/job`). In root
/// mode `owner` owns every copy so the command can change its files.
/// Returns the number of entries left out.
pub fn copy_tree(src: &Path, dest: &Path, owner: Option<(u32, u32)>) -> Result<usize, JailError> {
    let mut left_out = 0;
    let fail = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        JailError::Setup(format!("copy-in: {what} {}: {e}", path.display()))
    };
    for entry in walkdir::WalkDir::new(src).follow_links(false).min_depth(1) {
        let entry = entry.map_err(|e| fail("cannot read", src, &e))?;
        let rel = entry
            .path()
            .strip_prefix(src)
            .expect("walkdir yields paths under its root");
        let target = dest.join(rel);
        let kind = entry.file_type();
        if kind.is_dir() {
            std::fs::create_dir(&target).map_err(|e| fail("cannot create", &target, &e))?;
        } else if kind.is_file() {
            let mode = entry
                .metadata()
                .map_err(|e| fail("cannot stat", entry.path(), &e))?
                .permissions()
                .mode()
                & 0o755;
            copy_file(entry.path(), &target, mode).map_err(|e| {
                if e.raw_os_error() == Some(libc::ENOSPC) {
                    JailError::Setup(format!(
                        "copy-in: the job's files do not fit the job tmpfs (tmpfs_bytes/tmpfs_inodes) at {}",
                        rel.display()
                    ))
                } else {
                    fail("cannot copy", entry.path(), &e)
                }
            })?;
        } else {
            left_out += 1;
            continue;
        }
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::lchown(&target, Some(uid), Some(gid))
                .map_err(|e| fail("cannot chown", &target, &e))?;
        }
    }
    Ok(left_out)
}

fn copy_file(src: &Path, dest: &Path, mode: u32) -> io::Result<()> {
    let mut from = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(src)?;
    if !from.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut to = File::options()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(dest)?;
    io::copy(&mut from, &mut to)?;
    // create_new's mode passes through the umask; set the intended bits.
    to.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(())
}
