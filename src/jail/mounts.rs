//! The jail's filesystem, built in two steps.
//!
//! The supervisor ([`stage`]), inside its own private mount namespace,
//! turns the rootfs directory into a read-only `nosuid,nodev` bind mount
//! and mounts on top of its empty `/job`, `/tmp` and `/dev` directories: a
//! fresh size- and inode-capped tmpfs that holds both `/job` and `/tmp`,
//! and a tiny read-only `/dev` with five device nodes. Mounting over the
//! rootfs's own directories means no staging directory exists on the host,
//! and because the namespace is private nothing appears in the host's mount
//! table: everything vanishes when the supervisor exits, even on a crash.
//!
//! The namespace init ([`enter_root`]), already in the new pid namespace
//! (and its net, ipc and uts namespaces), takes a mount namespace of its
//! own once the staging is done (a copy of the staged one, so the
//! supervisor's view is not changed), mounts a `/proc` that shows only the
//! jail's processes, and pivots into the new root, detaching the old one.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::statvfs::{statvfs, FsFlags};
use std::os::unix::fs::PermissionsExt;

use super::{JailError, Limits};

/// Device nodes the jail gets, bind-mounted from the host's `/dev`.
pub const DEVICES: [&str; 5] = ["null", "zero", "full", "random", "urandom"];

/// What the supervisor keeps of the staged filesystem.
pub struct Staged {
    /// The new root (the rootfs path, now a private read-only mount).
    pub root: PathBuf,
    /// The job tmpfs's own root: `job/` and `tmp/` live in it.
    pub tmpfs: OwnedFd,
    /// The tmpfs's `job/` directory, seen as `/job` inside the jail.
    pub job: OwnedFd,
}

fn failed(what: &str, target: &Path, e: nix::Error) -> JailError {
    JailError::Setup(format!("{what} {}: {e}", target.display()))
}

/// Makes every mount of the current (new) mount namespace private, so no
/// mount made here propagates back to the host.
pub fn make_private() -> Result<(), JailError> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| failed("cannot make mounts private at", Path::new("/"), e))
}

/// Flags a bind remount must keep: inside a user namespace the kernel
/// refuses to clear flags locked by the mount's owner.
fn locked_flags(path: &Path) -> MsFlags {
    let Ok(st) = statvfs(path) else {
        return MsFlags::empty();
    };
    let mut flags = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if st.flags().contains(fs) {
            flags |= ms;
        }
    }
    flags
}

/// Bind-mounts `source` on `target` (recursively) and remounts the bind
/// read-only, `nosuid`, `nodev` plus `extra`.
fn bind_read_only(source: &Path, target: &Path, extra: MsFlags) -> Result<(), JailError> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| failed("cannot bind-mount", target, e))?;
    let flags = MsFlags::MS_BIND
        | MsFlags::MS_REMOUNT
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | extra
        | locked_flags(target);
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
        .map_err(|e| failed("cannot remount read-only", target, e))
}

fn bind(source: &Path, target: &Path) -> Result<(), JailError> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| failed("cannot bind-mount", target, e))
}

fn open_dir(path: &Path) -> Result<OwnedFd, JailError> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(path)
        .map(OwnedFd::from)
        .map_err(|e| JailError::Setup(format!("cannot open {}: {e}", path.display())))
}

/// Builds the jail's filesystem under `rootfs` in the current private
/// mount namespace. `owner` (root mode) owns `/job` and `/tmp`'s files.
pub fn stage(
    rootfs: &Path,
    limits: &Limits,
    owner: Option<(u32, u32)>,
) -> Result<Staged, JailError> {
    let root = rootfs.to_path_buf();
    for dir in ["job", "tmp", "dev", "proc"] {
        if !root.join(dir).is_dir() {
            return Err(JailError::Setup(format!(
                "rootfs {} has no /{dir} directory to mount on",
                root.display()
            )));
        }
    }
    // 1. The rootfs: a read-only, nosuid, nodev bind of itself, which also
    //    makes it a mount point, as pivot_root requires.
    bind_read_only(&root, &root, MsFlags::empty())?;

    // 2. The job tmpfs, capped in bytes and inodes. Its root holds `job/`
    //    and `tmp/`, so the job's scratch files count against the same caps.
    let job_mount = root.join("job");
    let mut options = format!(
        "size={},nr_inodes={},mode=0755",
        limits.tmpfs_bytes.max(4096),
        limits.tmpfs_inodes.max(16)
    );
    if let Some((uid, gid)) = owner {
        options.push_str(&format!(",uid={uid},gid={gid}"));
    }
    mount(
        Some("texjail-job"),
        &job_mount,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options.as_str()),
    )
    .map_err(|e| failed("cannot mount the job tmpfs on", &job_mount, e))?;
    let tmpfs = open_dir(&job_mount)?;
    // Nothing of the job exists yet, so plain paths are safe here.
    for (name, mode) in [("job", 0o755), ("tmp", 0o1777)] {
        let dir = job_mount.join(name);
        let io =
            |e: std::io::Error| JailError::Setup(format!("cannot create {}: {e}", dir.display()));
        std::fs::create_dir(&dir).map_err(io)?;
        // mkdir's mode is filtered by the umask; the sticky /tmp needs it whole.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).map_err(io)?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::lchown(&dir, Some(uid), Some(gid)).map_err(io)?;
        }
    }
    let job = open_dir(&job_mount.join("job"))?;
    bind(&job_mount.join("tmp"), &root.join("tmp"))?;
    // Stacked over the tmpfs's root: the jail sees only `job/` as /job.
    bind(&job_mount.join("job"), &job_mount)?;

    // 3. /dev: a tiny tmpfs with the five harmless devices, then read-only.
    stage_dev(&root.join("dev"))?;
    Ok(Staged { root, tmpfs, job })
}

fn stage_dev(dev: &Path) -> Result<(), JailError> {
    mount(
        Some("texjail-dev"),
        dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("size=64k,nr_inodes=64,mode=0755"),
    )
    .map_err(|e| failed("cannot mount tmpfs on", dev, e))?;
    for name in DEVICES {
        let node = dev.join(name);
        std::fs::File::create(&node)
            .map_err(|e| JailError::Setup(format!("cannot create {}: {e}", node.display())))?;
        bind(&Path::new("/dev").join(name), &node)?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        std::os::unix::fs::symlink(target, dev.join(link))
            .map_err(|e| JailError::Setup(format!("cannot create /dev/{link}: {e}")))?;
    }
    mount(
        None::<&str>,
        dev,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
        Some("size=64k,nr_inodes=64,mode=0755"),
    )
    .map_err(|e| failed("cannot remount read-only", dev, e))
}

/// Run by the namespace init: a mount namespace of its own, a fresh
/// `/proc` for the new pid namespace, then `pivot_root` into `root` with
/// the old root detached. Afterwards the host's filesystem is unreachable.
pub fn enter_root(root: &Path) -> Result<(), JailError> {
    use nix::sched::CloneFlags;
    // Its own mount namespace, a copy of the staged one, so the pivot
    // leaves the supervisor's view alone.
    nix::sched::unshare(CloneFlags::CLONE_NEWNS)
        .map_err(|e| JailError::Setup(format!("cannot unshare the mount namespace: {e}")))?;
    let proc_dir = root.join("proc");
    mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        Some("hidepid=invisible,subset=pid"),
    )
    .map_err(|e| failed("cannot mount proc on", &proc_dir, e))?;
    nix::unistd::chdir(root).map_err(|e| failed("cannot chdir to", root, e))?;
    // pivot_root(".", ".") stacks the old root under the new one; detaching
    // "." afterwards removes it without needing a directory to park it in.
    nix::unistd::pivot_root(".", ".").map_err(|e| failed("cannot pivot_root into", root, e))?;
    umount2(".", MntFlags::MNT_DETACH)
        .map_err(|e| failed("cannot detach the old root", root, e))?;
    nix::unistd::chdir("/").map_err(|e| failed("cannot chdir to", Path::new("/"), e))?;
    Ok(())
}
