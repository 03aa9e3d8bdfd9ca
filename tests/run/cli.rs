//! `texjail run` from the terminal: output passed through, the exit code
//! mirroring the program's, `--json`, `--stdin`, `--file` and `--out`.

use crate::support;

#[test]
fn texjail_run_passes_output_through_and_mirrors_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("prog.py");
    std::fs::write(
        &script,
        "import sys\nprint(open('extra.txt').read().strip(), sys.stdin.read().strip(), sys.argv[1:])\nopen('made.txt', 'w').write('made')\nsys.exit(3)\n",
    )
    .unwrap();
    let extra = dir.path().join("extra.txt");
    std::fs::write(&extra, "from a file").unwrap();
    let stdin = dir.path().join("stdin.txt");
    std::fs::write(&stdin, "from stdin").unwrap();
    let out = dir.path().join("out");
    let rootfs = support::rootfs();
    let output = support::texjail()
        .env("TEXJAIL_ROOTFS", &rootfs)
        .arg("run")
        .arg(&script)
        .arg("--file")
        .arg(&extra)
        .arg("--stdin")
        .arg(&stdin)
        .arg("--out")
        .arg(&out)
        .args(["--", "a1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "from a file from stdin ['a1']\n"
    );
    assert_eq!(
        std::fs::read_to_string(out.join("made.txt")).unwrap(),
        "made"
    );
    assert!(!out.join("extra.txt").exists(), "inputs are not outputs");

    let output = support::texjail()
        .env("TEXJAIL_ROOTFS", &rootfs)
        .args(["run", "--json", "--timeout", "1"])
        .arg(&script)
        .output()
        .unwrap();
    // The program fails (no extra.txt), --json exits 0 with the answer.
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["exit_code"], 1, "{answer}");
    assert!(answer["stderr"]
        .as_str()
        .unwrap()
        .contains("FileNotFoundError"));

    std::fs::write(&script, "while True: pass\n").unwrap();
    let output = support::texjail()
        .env("TEXJAIL_ROOTFS", &rootfs)
        .args(["run", "--timeout", "1"])
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(124), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("timeout"));

    let output = support::texjail()
        .env("TEXJAIL_ROOTFS", &rootfs)
        .arg("run")
        .arg(&script)
        .arg("--file")
        .arg(&script)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "a file given twice: {output:?}"
    );
}
