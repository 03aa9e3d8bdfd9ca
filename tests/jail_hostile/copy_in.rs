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
