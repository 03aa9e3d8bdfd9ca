//! Copy-out takes only single-link regular files: symlinks and hard links
//! to host files, symlinked directories, FIFOs and sockets are skipped with
//! a reason, size caps hold, and a job that wrecks `/job` itself (chmod,
//! rm, mv, mount over it, a swap race during copy-out) ends cleanly without
//! touching the host. The harness checks every run for links and special
//! files in `--out`; these tests check what was skipped and why.

use std::os::unix::fs::PermissionsExt;

use super::harness::{Canary, Jail, Ran};

/// `path` was skipped with a non-empty reason and is absent from `--out`.
fn assert_skipped(ran: &Ran, path: &str) {
    let skipped = ran.skipped();
    let reason = skipped.get(path);
    assert!(
        reason.is_some_and(|r| !r.trim().is_empty()),
        "{path:?} is not in `skipped` with a reason{}",
        ran.describe()
    );
    assert!(
        std::fs::symlink_metadata(ran.out.path().join(path)).is_err(),
        "{path:?} was skipped but exists in --out{}",
        ran.describe()
    );
    assert!(
        !ran.copied().contains_key(path),
        "{path:?} is both skipped and copied{}",
        ran.describe()
    );
}

fn assert_copied(ran: &Ran, path: &str, contents: &str) {
    let got = std::fs::read_to_string(ran.out.path().join(path));
    assert_eq!(
        got.ok().as_deref(),
        Some(contents),
        "{path:?} was not copied out intact{}",
        ran.describe()
    );
}

#[test]
fn symlinks_to_host_files_are_skipped() {
    let canary = Canary::plant();
    let script = format!(
        r#"cd /job
echo ok > real.txt
ln -s /etc/passwd out.html
ln -s '{canary}' canary.html
ln -s ../../../../../../etc/shadow relative.html
ln -s real.txt inner.html
ln -s /proc/self/root/etc/passwd magic.html
ln -s nowhere dangling.html
echo PROBE-END"#,
        canary = canary.world_readable().display()
    );
    let ran = Jail::sh(&script).run();
    ran.assert_completed("PROBE-END");
    assert_copied(&ran, "real.txt", "ok\n");
    for link in [
        "out.html",
        "canary.html",
        "relative.html",
        "inner.html",
        "magic.html",
        "dangling.html",
    ] {
        assert_skipped(&ran, link);
    }
    ran.assert_secret_absent(&canary.secret);
}

#[test]
fn hard_links_are_skipped() {
    let script = r#"cd /job
echo shared > a.txt
ln a.txt b.txt
ln /etc/passwd passwd-hard 2>/dev/null || echo "no cross-mount link (fine)"
ln /usr/bin/perl perl-hard 2>/dev/null || true
echo single > single.txt
echo PROBE-END"#;
    let ran = Jail::sh(script).run();
    ran.assert_completed("PROBE-END");
    assert_skipped(&ran, "a.txt");
    assert_skipped(&ran, "b.txt");
    assert_copied(&ran, "single.txt", "single\n");
    for name in ["passwd-hard", "perl-hard"] {
        assert!(
            std::fs::symlink_metadata(ran.out.path().join(name)).is_err(),
            "{name} was copied out{}",
            ran.describe()
        );
    }
}

#[test]
fn symlinked_directories_are_not_followed() {
    let canary = Canary::plant();
    let script = format!(
        r#"cd /job
ln -s / rootdir
ln -s /etc etcdir
ln -s '{canary_dir}' canarydir
mkdir -p d/e
echo keep > d/keep.txt
ln -s /root d/rootlink
ln -s .. d/up
ln -s /job d/self
ln -s ../.. d/e/upup
echo PROBE-END"#,
        canary_dir = canary.dir().display()
    );
    let ran = Jail::sh(&script).run();
    ran.assert_completed("PROBE-END");
    assert_copied(&ran, "d/keep.txt", "keep\n");
    for link in [
        "rootdir",
        "etcdir",
        "canarydir",
        "d/rootlink",
        "d/up",
        "d/self",
        "d/e/upup",
    ] {
        assert_skipped(&ran, link);
    }
    assert_eq!(
        ran.out_files(),
        vec!["d/keep.txt".to_string()],
        "--out holds more than the one real file{}",
        ran.describe()
    );
    ran.assert_secret_absent(&canary.secret);
}

#[test]
fn fifos_and_sockets_are_skipped() {
    // A FIFO nobody writes would block a naive copy-out forever.
    let script = r#"cd /job
mkfifo pipe
python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.bind("/job/sock")'
echo fine > plain.txt
echo PROBE-END"#;
    let ran = Jail::sh(script).run();
    ran.assert_completed("PROBE-END");
    assert_skipped(&ran, "pipe");
    assert_skipped(&ran, "sock");
    assert_copied(&ran, "plain.txt", "fine\n");
}

#[test]
fn copy_out_size_caps_hold() {
    let file_cap = 64 * 1024;
    let total_cap = 100 * 1024;
    let script = r#"cd /job
head -c 200000 /dev/zero > big.bin
head -c 60000 /dev/zero > a.bin
head -c 60000 /dev/zero > b.bin
head -c 60000 /dev/zero > c.bin
echo PROBE-END"#;
    let ran = Jail::sh(script)
        .limit("COPY_OUT_FILE_BYTES", file_cap)
        .limit("COPY_OUT_TOTAL_BYTES", total_cap)
        .run();
    ran.assert_completed("PROBE-END");
    assert_skipped(&ran, "big.bin");
    let total: u64 = ran.copied().values().sum();
    assert!(
        total <= total_cap,
        "{total} bytes copied out with COPY_OUT_TOTAL_BYTES={total_cap}{}",
        ran.describe()
    );
    let skipped = ran.skipped();
    let over_total = ["a.bin", "b.bin", "c.bin"]
        .iter()
        .filter(|p| skipped.contains_key(**p))
        .count();
    assert!(
        over_total >= 2,
        "three 60 kB files fit a 100 kB total cap?{}",
        ran.describe()
    );
}

#[test]
fn wrecking_job_contents_leaves_the_host_job_dir_alone() {
    // The harness checks that the host --job directory is unchanged; here
    // the job deletes, rewrites and renames everything it was given.
    let script = r#"cd /job
cat input.tex > /dev/null || echo "ESCAPED:no input copied in"
echo evil > input.tex
rm -rf /job/* /job/.[!.]*
mv /job /job-moved 2>/dev/null
echo PROBE-END"#;
    let ran = Jail::sh(script)
        .file("input.tex", b"\\documentclass{article}original\n")
        .file("sub/figure.txt", b"original figure\n")
        .run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
}

#[test]
fn chmod_000_on_job_ends_cleanly() {
    let script = r#"cd /job
mkdir -p sub
echo x > sub/file
chmod 000 sub/file sub
chmod 000 /job
echo PROBE-END"#;
    let ran = Jail::sh(script).file("input.tex", b"original\n").run();
    ran.assert_completed("PROBE-END");
    // Modes the job set cannot hide its files from the Outcome: each one is
    // either copied intact or skipped with a reason.
    for (path, contents) in [("input.tex", "original\n"), ("sub/file", "x\n")] {
        if ran.copied().contains_key(path) {
            assert_copied(&ran, path, contents);
        } else {
            assert_skipped(&ran, path);
        }
    }
}

#[test]
fn replacing_or_mounting_over_job_ends_cleanly() {
    let script = r#"cd /
mv /job /job-away 2>/dev/null && echo "moved /job"
rmdir /job 2>/dev/null
ln -sT /etc /job 2>/dev/null && echo "ESCAPED:replaced /job with a symlink"
mount -t tmpfs none /job 2>/dev/null && echo "ESCAPED:mounted over /job"
mount --bind /etc /job 2>/dev/null && echo "ESCAPED:bound /etc over /job"
echo PROBE-END"#;
    let ran = Jail::sh(script).run();
    ran.assert_completed("PROBE-END");
    ran.assert_no_escape();
    for name in ran.out_files() {
        assert!(
            !["passwd", "shadow", "hostname", "group"].contains(&name.as_str()),
            "/etc content came out as {name}{}",
            ran.describe()
        );
    }
}

#[test]
fn swapping_directories_for_symlinks_during_copy_out_gets_nothing() {
    // A leftover process flips d between a real directory and a symlink to
    // /etc while copy-out walks it. Nothing of /etc may come out, and the
    // flipper must be dead before copy-out begins or be harmless.
    let script = r#"cd /job
mkdir d; echo mine > d/passwd
( while :; do mv d d.real; ln -s /etc d; rm d; mv d.real d; done ) </dev/null >/dev/null 2>&1 &
sleep 0.3
echo PROBE-END"#;
    let ran = Jail::sh(script).timeout(10).run();
    ran.assert_completed("PROBE-END");
    // The only file the job made says "mine"; anything else came from /etc.
    for name in ran.out_files() {
        let data = std::fs::read(ran.out.path().join(&name)).unwrap();
        assert_eq!(
            data,
            b"mine\n",
            "{name} holds content the job did not write (from /etc?){}",
            ran.describe()
        );
    }
}

#[test]
fn deeply_nested_directories_end_cleanly_and_are_accounted_for() {
    // Deeper than PATH_MAX: a recursive or path-based copy-out either
    // overflows or fails; the run must still end with an Outcome that
    // says what happened to the deep file.
    let script = r#"cd /job
i=0
while [ $i -lt 2500 ]; do mkdir x && cd x || break; i=$((i+1)); done
echo deep > deep.txt
echo "DEPTH=$i"
echo PROBE-END"#;
    let ran = Jail::sh(script).timeout(60).run();
    ran.assert_completed("PROBE-END");
    let accounted = ran.copied().keys().any(|p| p.ends_with("deep.txt"))
        || ran.skipped().keys().any(|p| p.starts_with("x/"));
    assert!(
        accounted,
        "the deep file is neither copied nor skipped{}",
        ran.describe()
    );
}

#[test]
fn hostile_file_names_keep_the_outcome_honest() {
    let script = r#"cd /job
printf 'nl\n' > "$(printf 'new\nline')"
printf 'bad\n' > "$(printf 'bad\377utf8')"
printf 'dash\n' > ./-rf
printf 'back\n' > 'back\slash'
printf 'long\n' > "$(head -c 255 /dev/zero | tr '\0' n)"
printf 'ok\n' > plain.txt
echo PROBE-END"#;
    // The harness checks that every file in --out is listed in `copied`
    // under its own name and size, so a lossy or escaped name in the
    // Outcome shows up as a mismatch.
    let ran = Jail::sh(script).run();
    ran.assert_completed("PROBE-END");
    assert_copied(&ran, "plain.txt", "ok\n");
    let accounted = ran.copied().len() + ran.skipped().len();
    assert_eq!(
        accounted,
        6,
        "six files were made; copied + skipped do not add up{}",
        ran.describe()
    );
}

#[test]
fn a_sparse_giant_file_does_not_fill_the_host_disk() {
    // 20 GiB of apparent size costs the tmpfs nothing; copying it out
    // naively would write 20 GiB onto the host.
    let script = r#"truncate -s 20G /job/sparse || echo "NOTE:truncate refused"
ls -ls /job/sparse
echo PROBE-END"#;
    let ran = Jail::sh(script)
        .limit("FILE_SIZE_BYTES", 64 << 30)
        .limit("COPY_OUT_FILE_BYTES", 8 << 20)
        .run();
    ran.assert_completed("PROBE-END");
    let written: u64 = walkdir::WalkDir::new(ran.out.path())
        .into_iter()
        .filter_map(|e| e.ok())
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum();
    assert!(
        written <= 8 << 20,
        "{written} bytes were copied out with COPY_OUT_FILE_BYTES=8 MiB{}",
        ran.describe()
    );
    if !ran.stdout().contains("NOTE:truncate refused") {
        assert_skipped(&ran, "sparse");
    }
}

#[test]
fn binary_garbage_on_stdout_keeps_the_outcome_valid_json() {
    // The harness parses the Outcome; this checks it kept the text around
    // the garbage.
    let script = r#"printf 'before\000\377\376\033[2J\033]0;title\007'
head -c 4096 /dev/urandom
printf '\nPROBE-END\n'"#;
    let ran = Jail::sh(script).run();
    ran.assert_completed("PROBE-END");
    assert!(
        ran.stdout().starts_with("before"),
        "the output before the garbage was lost{}",
        ran.describe()
    );
}

#[test]
fn copied_files_carry_no_special_modes() {
    // A setuid file created by the job and copied out by a root supervisor
    // must not land on the host as a setuid (or world-writable) file.
    let script = r#"cd /job
printf '#!/bin/sh\nid\n' > suid.sh
chmod 4755 suid.sh
printf 'x\n' > sgid.txt; chmod 2777 sgid.txt
printf 'x\n' > sticky.txt; chmod 1777 sticky.txt
mkdir open; chmod 1777 open; printf 'x\n' > open/inside.txt
ls -la /job
echo PROBE-END"#;
    let ran = Jail::sh(script).run();
    ran.assert_completed("PROBE-END");
    for entry in walkdir::WalkDir::new(ran.out.path()).min_depth(1) {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode();
        assert_eq!(
            mode & 0o7000,
            0,
            "{} came out with special mode bits {:o}{}",
            entry.path().display(),
            mode,
            ran.describe()
        );
        assert_eq!(
            mode & 0o002,
            0,
            "{} came out world-writable ({:o}){}",
            entry.path().display(),
            mode,
            ran.describe()
        );
    }
    assert!(
        ran.copied().contains_key("suid.sh"),
        "the probe file was not copied out: nothing was checked{}",
        ran.describe()
    );
}
