//! Copy-in treats the host's `--job` directory as untrusted too: a symlink
//! there (to a host file or directory) must not bring host content into
//! the jail, and a FIFO must not stall the run. The unpacker should never
//! produce either; this is the jail's own line of defence.

use super::harness::{Canary, Jail};

#[test]
fn host_symlinks_in_the_job_dir_bring_no_host_content_in() {
    let canary = Canary::plant();
    let script = r#"ls -la /job
for f in /job/leak /job/leakdir/* /job/rootdir/etc/hostname /job/relative; do
  cat "$f" 2>/dev/null
done
echo PROBE-END"#;
    let ran = Jail::sh(script)
        .file("main.tex", b"\\documentclass{article}\n")
        .host_symlink("leak", canary.world_readable())
        .host_symlink("leakdir", canary.dir())
        .host_symlink("rootdir", std::path::Path::new("/"))
        .host_symlink(
            "relative",
            &std::path::Path::new("../..").join(canary.world_readable().strip_prefix("/").unwrap()),
        )
        .run();
    ran.assert_completed("PROBE-END");
    ran.assert_secret_absent(&canary.secret);
    assert!(
        ran.stdout().contains("main.tex"),
        "the job's real file was not copied in{}",
        ran.describe()
    );
}

#[test]
fn a_fifo_in_the_job_dir_does_not_stall_the_run() {
    let ran = Jail::sh("ls -la /job; echo PROBE-END")
        .file("main.tex", b"x\n")
        .host_fifo("pipe")
        .timeout(10)
        .run();
    ran.assert_completed("PROBE-END");
    assert!(
        !ran.flag("timed_out"),
        "copy-in blocked on the FIFO until the timeout{}",
        ran.describe()
    );
}

#[test]
fn a_job_larger_than_its_tmpfs_is_refused_by_name() {
    // Copy-in into a capped tmpfs: jail-run must refuse with an error that
    // names the limit, run nothing and leave nothing behind.
    let _host = super::harness::hold_host_shared();
    let base = super::harness::next_uid_base();
    let job = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(job.path().join("big.bin"), vec![7u8; 2 << 20]).unwrap();
    let marker = format!("mustnotrun{}", super::harness::token());
    let output = crate::support::texjail()
        .env("TEXJAIL_ROOTFS", crate::support::rootfs())
        .env("TEXJAIL_JAIL_UID_BASE", base.to_string())
        .env("TEXJAIL_JAIL_TMPFS_BYTES", (1u64 << 20).to_string())
        .args(["jail-run", "--json", "--timeout", "20", "--job"])
        .arg(job.path())
        .arg("--out")
        .arg(out.path())
        .args(["--", "/bin/sh", "-c"])
        .arg(format!("echo {marker} > /job/ran.txt; echo {marker}"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(3),
        "jail-run did not fail as a jail failure (exit 3)\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(
        stderr.contains("tmpfs_bytes"),
        "the error does not name the limit: {stderr}"
    );
    assert!(
        !stdout.contains(&marker),
        "the command ran anyway: {stdout}"
    );
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "a refused run wrote to --out"
    );
    let left = super::harness::wait_until_empty(|| {
        super::harness::processes_with_uid_in(base, super::harness::UID_BLOCK)
    });
    assert!(left.is_empty(), "a refused run left processes: {left:?}");
}
