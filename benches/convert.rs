//! What the jail and the pipeline cost around a real conversion.
//!
//! 1. End to end: `texjail convert --no-cache --converter X` on each sample
//!    against the reference — the same driver script, run directly with
//!    `chroot ROOTFS` in a private mount namespace (rootfs bind-mounted
//!    read-only, tmpfs on /job and /tmp), i.e. the converter without the
//!    jail, the unpacking, the sanitizer or the cache. Both run the same
//!    passes (bibliography pre-pass, figure pre-pass, converter): the
//!    script, main file and scan are the job's own. Target: ratio ≤ 1.05.
//!    Variants alternate (and swap order every iteration) so load on the
//!    machine hits both alike; besides the ratio of medians the table
//!    shows the spread of the per-iteration ratios, the ratio of the
//!    fastest runs (interference from other load only ever slows a run,
//!    so the fastest is the closest to its own cost) and the ratio of CPU
//!    time (user + system of every process of the run), which drifts far
//!    less than wall-clock time on a shared machine. LaTeXML on a biblatex
//!    sample is skipped: the job declines it without running the jail.
//! 2. Cache hit: `texjail convert` of an already converted 2 MB project,
//!    against spawning `texjail --version` (process start-up alone).
//!    Target: under 50 ms.
//!
//! Runs and medians are measured in this run; nothing is assumed. The
//! load average is printed before and after the table: on a shared
//! machine the per-iteration ratios swing by ±20 % in both wall and CPU
//! time (contention inflates CPU time too), so a figure means little
//! without the load it was taken under.
//! Run: `cargo bench --bench convert` as root (the reference needs mount
//! namespaces). `CONVERT_BENCH_ITERS` (default 3) sets end-to-end runs per
//! variant; `CONVERT_BENCH_CONVERTERS` (default `pandoc,make4ht,latexml`)
//! and `CONVERT_BENCH_SAMPLES` (default: every sample) narrow the matrix.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use texjail::convert::driver::{self, MainFile};
use texjail::convert::{mainfile, scan, Converter};

const BIN: &str = env!("CARGO_BIN_EXE_texjail");

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Wall-clock and CPU time (user + system of every descendant) of one run.
#[derive(Clone, Copy)]
struct Cost {
    wall: Duration,
    cpu: Duration,
}

/// CPU time of this process's waited-for descendants so far.
fn children_cpu() -> Duration {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    let t = |tv: nix::sys::time::TimeVal| {
        Duration::from_secs(tv.tv_sec() as u64) + Duration::from_micros(tv.tv_usec() as u64)
    };
    t(usage.user_time()) + t(usage.system_time())
}

/// Runs `f` (which waits for the processes it starts) and measures it.
fn measure(f: impl FnOnce()) -> Cost {
    let cpu = children_cpu();
    let start = Instant::now();
    f();
    Cost {
        wall: start.elapsed(),
        cpu: children_cpu() - cpu,
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn main() {
    let rootfs = std::env::var_os("TEXJAIL_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(texjail::toolchain::default_rootfs_path);
    if let Err(e) = texjail::toolchain::Rootfs::open(&rootfs) {
        eprintln!("convert bench needs the toolchain rootfs: {e}");
        std::process::exit(1);
    }
    let iters: usize = std::env::var("CONVERT_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let data = tempfile::tempdir().expect("data dir");
    let samples_root = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples");
    let wanted = env_list("CONVERT_BENCH_SAMPLES", "");
    let mut samples: Vec<PathBuf> = std::fs::read_dir(&samples_root)
        .expect("samples/")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .filter(|p| {
            wanted.is_empty()
                || wanted
                    .iter()
                    .any(|w| p.file_name().is_some_and(|n| n == w.as_str()))
        })
        .collect();
    samples.sort();

    println!("load average before: {}", load_average());
    println!(
        "end to end: texjail convert --no-cache vs the same driver via chroot (median of {iters}, \
         runs interleaved; pair = min..max of the per-iteration ratios; best = ratio of the \
         fastest runs, which interference from other load can only slow; cpu = ratio of median \
         CPU time, user + system of all processes)"
    );
    println!(
        "{:<12} {:<8} {:>8} {:>9} {:>7} {:>13} {:>6} {:>6}",
        "sample", "conv", "jail_s", "chroot_s", "ratio", "pair", "best", "cpu"
    );
    let mut ratios = Vec::new();
    let mut best_ratios = Vec::new();
    for converter in env_list("CONVERT_BENCH_CONVERTERS", "pandoc,make4ht,latexml") {
        let converter: Converter = converter.parse().expect("converter name");
        for sample in &samples {
            let name = sample.file_name().unwrap().to_string_lossy().into_owned();
            if converter == Converter::Latexml && project_scan(sample).1.uses_biblatex {
                // The job declines it without a jail run (see `convert::latexml::declines`).
                println!("{name:<12} {converter:<8} skipped: LaTeXML cannot read biblatex");
                continue;
            }
            let mut jail = Vec::new();
            let mut direct = Vec::new();
            // Alternate, and swap which goes first each time, so drift
            // (other load on the machine) hits both alike.
            for i in 0..iters {
                if i % 2 == 0 {
                    jail.push(run_texjail(sample, converter, data.path()));
                    direct.push(run_chroot(&rootfs, sample, converter));
                } else {
                    direct.push(run_chroot(&rootfs, sample, converter));
                    jail.push(run_texjail(sample, converter, data.path()));
                }
            }
            let pairs: Vec<f64> = jail
                .iter()
                .zip(&direct)
                .map(|(j, d)| secs(j.wall) / secs(d.wall))
                .collect();
            let lo = pairs.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = pairs.iter().cloned().fold(0.0, f64::max);
            let cpu = secs(median(jail.iter().map(|c| c.cpu).collect()))
                / secs(median(direct.iter().map(|c| c.cpu).collect()));
            let (j, d) = (
                median(jail.iter().map(|c| c.wall).collect()),
                median(direct.iter().map(|c| c.wall).collect()),
            );
            let ratio = secs(j) / secs(d);
            ratios.push(ratio);
            let fastest = |costs: &[Cost]| costs.iter().map(|c| c.wall).min().unwrap_or_default();
            let best = secs(fastest(&jail)) / secs(fastest(&direct));
            best_ratios.push(best);
            println!(
                "{name:<12} {converter:<8} {:>8.2} {:>9.2} {ratio:>7.3} {:>13} {best:>6.3} {cpu:>6.3}",
                secs(j),
                secs(d),
                format!("{lo:.2}..{hi:.2}"),
            );
        }
    }
    if !ratios.is_empty() {
        let geo = |r: &[f64]| (r.iter().map(|r| r.ln()).sum::<f64>() / r.len() as f64).exp();
        println!(
            "geometric mean ratio: {:.3} (target ≤ 1.05); of the fastest runs: {:.3}",
            geo(&ratios),
            geo(&best_ratios)
        );
    }
    println!("load average after: {}", load_average());

    cache_hit(data.path());
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// One `texjail convert --no-cache` run; panics when it fails.
fn run_texjail(sample: &Path, converter: Converter, data: &Path) -> Cost {
    let out = tempfile::tempdir().unwrap();
    let mut status = None;
    let cost = measure(|| {
        status = Some(
            Command::new(BIN)
                .env("TEXJAIL_DATA_DIR", data)
                .args([
                    "convert",
                    "--no-cache",
                    "--converter",
                    converter.name(),
                    "-o",
                ])
                .arg(out.path().join("r"))
                .arg(sample)
                .stdout(Stdio::null())
                .status()
                .expect("run texjail"),
        )
    });
    assert!(
        status.is_some_and(|s| s.success()),
        "texjail convert {} failed",
        sample.display()
    );
    cost
}

/// The main file and scan of a sample, as the job computes them.
fn project_scan(sample: &Path) -> (String, scan::ProjectScan) {
    let files: Vec<String> = walkdir::WalkDir::new(sample)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(sample)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    let main = mainfile::detect(sample, &files, None, None)
        .expect("main file")
        .file;
    let scan = scan::scan(sample, &main);
    (main, scan)
}

/// The reference: the same driver, chrooted, no jail. The copy in and out
/// are included, as the jail's are.
fn run_chroot(rootfs: &Path, sample: &Path, converter: Converter) -> Cost {
    let (main, scan) = project_scan(sample);
    let script = driver::script(
        converter,
        &MainFile::from_relative(&main),
        &scan,
        Duration::from_secs(600),
        &texjail::convert::Settings::default(),
        None,
    );
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
mkdir -p "$MNT/job/tmp"
mount --bind "$MNT/job/tmp" "$MNT/tmp"
set +e
chroot "$MNT" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/tmp TMPDIR=/tmp \
  TEXMFVAR=/tmp/texmf-var LANG=C.UTF-8 LC_ALL=C.UTF-8 /bin/sh -c "$SCRIPT"
cp -r "$MNT/job/." "$OUT/"
"#;
    let mut status = None;
    let cost = measure(|| {
        status = Some(
            Command::new("unshare")
                .args(["--mount", "--pid", "--fork", "sh", "-c", setup])
                .env("ROOTFS", rootfs)
                .env("MNT", mnt.path())
                .env("SRC", sample)
                .env("OUT", out.path())
                .env("SCRIPT", &script)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("run unshare"),
        )
    });
    assert!(status.is_some_and(|s| s.success()), "reference run failed");
    assert!(
        out.path()
            .join(driver::OUT_DIR)
            .join("index.html")
            .is_file(),
        "reference produced no page for {}",
        sample.display()
    );
    cost
}

/// A cache hit on a 2 MB project through the CLI, against process start-up.
fn cache_hit(data: &Path) {
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("main.tex"),
        "\\documentclass{article}\\begin{document}Hit $x$.\\end{document}\n",
    )
    .unwrap();
    // 2 MB that does not compress: a realistic figure payload.
    let mut noise = Vec::with_capacity(2 << 20);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    while noise.len() < 2 << 20 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(project.path().join("data.bin"), &noise).unwrap();
    let zip_path = project.path().join("project.zip");
    {
        let file = std::fs::File::create(&zip_path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let opts = zip::write::SimpleFileOptions::default();
        for name in ["main.tex", "data.bin"] {
            zip.start_file(name, opts).unwrap();
            zip.write_all(&std::fs::read(project.path().join(name)).unwrap())
                .unwrap();
        }
        zip.finish().unwrap();
    }
    let size = std::fs::metadata(&zip_path).unwrap().len();
    let convert = |out: &Path| {
        let start = Instant::now();
        let output = Command::new(BIN)
            .env("TEXJAIL_DATA_DIR", data)
            .args(["convert", "--json", "--converter", "pandoc", "-o"])
            .arg(out)
            .arg(&zip_path)
            .output()
            .expect("run texjail");
        let elapsed = start.elapsed();
        assert!(output.status.success(), "texjail convert failed");
        let v: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        (elapsed, v["cache_hit"].as_bool().unwrap())
    };
    let outs = tempfile::tempdir().unwrap();
    let (_, first_hit) = convert(&outs.path().join("first"));
    assert!(!first_hit, "first conversion must be a miss");
    let runs = 30;
    let mut hits = Vec::new();
    let mut startup = Vec::new();
    for i in 0..runs {
        let (t, hit) = convert(&outs.path().join(i.to_string()));
        assert!(hit, "repeat conversion must be a cache hit");
        hits.push(t);
        let start = Instant::now();
        Command::new(BIN)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        startup.push(start.elapsed());
    }
    let (h, s) = (median(hits), median(startup));
    println!(
        "\ncache hit, {:.1} MB zip, median of {runs}: {:.1} ms (target < 50 ms); \
         texjail --version {:.1} ms; ratio {:.2}",
        size as f64 / 1e6,
        secs(h) * 1e3,
        secs(s) * 1e3,
        secs(h) / secs(s)
    );
}
