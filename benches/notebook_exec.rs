//! Executing a notebook: texjail against `jupyter nbconvert --to html
//! --execute` run directly in the rootfs, in one run.
//!
//! The notebook: 20 small cells (numpy, pandas, sympy, prints, a table,
//! one matplotlib figure), written by this benchmark.
//!
//! - texjail: `texjail convert NB -o OUT --no-cache --execute`, as users
//!   get it (unpack, the jail run of the executor, the pre-pass and
//!   pandoc, the budgeted sanitizer and page, storing);
//! - nbconvert: `python3 -m nbconvert --to html --execute` with `chroot
//!   ROOTFS` in a private mount namespace (the rootfs bind-mounted
//!   read-only, a tmpfs on /job and /tmp, as `benches/convert.rs` does
//!   it): no jail, no sanitizer, the kernel on TCP over the host's
//!   loopback. Both get matplotlib's prebuilt font cache.
//!
//! Variants alternate and swap order every iteration so load on the
//! machine hits both alike. The table shows each variant's median, fastest
//! and slowest wall time and the ratio of medians (target: texjail ≤ 1.2 ×
//! nbconvert).
//! Run: `cargo bench --bench notebook_exec` as root (the reference needs
//! mount namespaces). `NOTEBOOK_EXEC_BENCH_ITERS` (default 5) sets runs
//! per variant.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_texjail");

fn rootfs() -> PathBuf {
    std::env::var_os("TEXJAIL_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(texjail::toolchain::default_rootfs_path)
}

/// The benchmark's notebook: 20 small code cells.
fn notebook() -> Value {
    let sources = [
        "import numpy as np",
        "import pandas as pd",
        "x = np.arange(1_000)\nprint(x.sum())",
        "y = x ** 2\ny[:10]",
        "print('mean', y.mean(), 'std', round(float(y.std()), 3))",
        "df = pd.DataFrame({'n': range(10), 'square': [i * i for i in range(10)]})",
        "df.head()",
        "df.describe()",
        "df['cube'] = df['n'] ** 3\ndf.tail(3)",
        "total = int(df['cube'].sum())\ntotal",
        "words = 'the quick brown fox jumps over the lazy dog'.split()\nsorted(words)",
        "{w: len(w) for w in words}",
        "import math\n[round(math.sin(i / 10), 4) for i in range(8)]",
        "m = np.eye(4) * 3\nnp.linalg.inv(m)",
        "import sympy\nsympy.factor(sympy.Symbol('t') ** 2 - 1)",
        "for i in range(5):\n    print(i, i ** 2)",
        "s = pd.Series(np.linspace(0, 1, 5))\ns",
        "import matplotlib.pyplot as plt\nplt.plot(x[:50], y[:50])\nplt.title('squares')\nplt.show()",
        "fib = [0, 1]\nfor _ in range(20):\n    fib.append(fib[-1] + fib[-2])\nfib[-1]",
        "print('done')",
    ];
    let cells: Vec<Value> = sources
        .iter()
        .enumerate()
        .map(|(i, source)| {
            json!({"cell_type": "code", "id": format!("c{i}"), "metadata": {},
                   "execution_count": null, "outputs": [], "source": source})
        })
        .collect();
    json!({
        "cells": cells,
        "metadata": {
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"},
            "language_info": {"name": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5
    })
}

/// One texjail conversion with execution.
fn run_texjail(nb: &Path) -> Duration {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let result = out.path().join("result");
    let started = Instant::now();
    let output = Command::new(BIN)
        .env("TEXJAIL_DATA_DIR", data.path())
        .env("TEXJAIL_ROOTFS", rootfs())
        .args(["convert", "--no-cache", "--execute", "--json", "-o"])
        .arg(&result)
        .arg(nb)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let wall = started.elapsed();
    assert!(output.status.success(), "texjail failed");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    let execution = &json["summary"]["execution"];
    assert_eq!(execution["executed"], true, "{execution}");
    assert_eq!(execution["cells_run"], 20, "{execution}");
    assert_eq!(execution["cells_failed"], json!([]), "{execution}");
    wall
}

/// One `nbconvert --execute`, chrooted, no jail.
fn run_nbconvert(nb: &Path) -> Duration {
    let src = tempfile::tempdir().unwrap();
    std::fs::copy(nb, src.path().join("nb.ipynb")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mnt = tempfile::tempdir().unwrap();
    // Everything below happens in a private mount namespace: nothing is
    // mounted on, or written into, the shared rootfs itself.
    let setup = r#"set -e
mount --make-rprivate /
mount --bind "$ROOTFS" "$MNT"
mount -o remount,bind,ro "$MNT"
mount -t tmpfs -o size=1g none "$MNT/job"
mount -t proc proc "$MNT/proc"
mount --bind /dev "$MNT/dev"
cp -r "$SRC"/. "$MNT/job/"
mkdir -p "$MNT/job/tmp/mpl"
mount --bind "$MNT/job/tmp" "$MNT/tmp"
set +e
chroot "$MNT" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp TMPDIR=/tmp \
  LANG=C.UTF-8 LC_ALL=C.UTF-8 MPLCONFIGDIR=/tmp/mpl /bin/sh -c \
  'cp /usr/share/texjail/matplotlib/* /tmp/mpl/ 2>/dev/null; cd /job && python3 -m nbconvert --to html --execute --output-dir /job/out nb.ipynb'
status=$?
cp -r "$MNT/job/out" "$OUT/"
exit $status
"#;
    let started = Instant::now();
    let status = Command::new("unshare")
        .args(["--mount", "--pid", "--fork", "sh", "-c", setup])
        .env("ROOTFS", rootfs())
        .env("MNT", mnt.path())
        .env("SRC", src.path())
        .env("OUT", out.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run unshare");
    let wall = started.elapsed();
    assert!(status.success(), "nbconvert --execute failed");
    let page = std::fs::read_to_string(out.path().join("out/nb.html")).unwrap();
    assert!(
        page.contains("done"),
        "nbconvert's page lacks the last output"
    );
    wall
}

fn stats(mut samples: Vec<Duration>) -> (Duration, Duration, Duration) {
    samples.sort();
    (
        samples[samples.len() / 2],
        samples[0],
        samples[samples.len() - 1],
    )
}

fn main() {
    let iters: usize = std::env::var("NOTEBOOK_EXEC_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let nb = dir.path().join("bench.ipynb");
    std::fs::write(&nb, notebook().to_string()).unwrap();
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "executing a notebook of 20 cells: texjail --execute vs nbconvert --execute (chroot), {iters} runs each, rootfs {}",
        rootfs().display()
    );
    println!("load before: {}", load().trim());
    let (mut t, mut n) = (Vec::new(), Vec::new());
    for i in 0..iters {
        if i % 2 == 0 {
            t.push(run_texjail(&nb));
            n.push(run_nbconvert(&nb));
        } else {
            n.push(run_nbconvert(&nb));
            t.push(run_texjail(&nb));
        }
    }
    let (tm, tmin, tmax) = stats(t);
    let (nm, nmin, nmax) = stats(n);
    println!(
        "{:<28} {:>10} {:>10} {:>10}",
        "variant", "median", "fastest", "slowest"
    );
    for (name, (m, min, max)) in [
        ("texjail convert --execute", (tm, tmin, tmax)),
        ("nbconvert --execute chroot", (nm, nmin, nmax)),
    ] {
        println!(
            "{name:<28} {:>8}ms {:>8}ms {:>8}ms",
            m.as_millis(),
            min.as_millis(),
            max.as_millis()
        );
    }
    println!(
        "ratio of medians (texjail / nbconvert): {:.2}  (fastest: {:.2}; target ≤ 1.2)",
        tm.as_secs_f64() / nm.as_secs_f64(),
        tmin.as_secs_f64() / nmin.as_secs_f64()
    );
    println!("load after: {}", load().trim());
}
