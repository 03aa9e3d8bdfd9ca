//! What the jail and the pipeline cost around a real conversion.
//!
//! 1. End to end: `texjail convert --no-cache --converter X` on each sample
//!    against the reference — the same driver script, run directly with
//!    `chroot ROOTFS` in a private mount namespace (rootfs bind-mounted
//!    read-only, tmpfs on /job and /tmp), i.e. the converter without the
//!    jail, the unpacking, the sanitizer or the cache. Target: ratio ≤ 1.05.
//! 2. Cache hit: `texjail convert` of an already converted 2 MB project,
//!    against spawning `texjail --version` (process start-up alone).
//!    Target: under 50 ms.
//!
//! Runs and medians are measured in this run; nothing is assumed.
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

    println!(
        "end to end: texjail convert --no-cache vs the same driver via chroot (median of {iters})"
    );
    println!(
        "{:<12} {:<8} {:>10} {:>10} {:>7}",
        "sample", "conv", "jail_s", "chroot_s", "ratio"
    );
    let mut ratios = Vec::new();
    for converter in env_list("CONVERT_BENCH_CONVERTERS", "pandoc,make4ht,latexml") {
        let converter: Converter = converter.parse().expect("converter name");
        for sample in &samples {
            let name = sample.file_name().unwrap().to_string_lossy().into_owned();
            let mut jail = Vec::new();
            let mut direct = Vec::new();
            // Alternate so drift (other load on the machine) hits both alike.
            for _ in 0..iters {
                jail.push(run_texjail(sample, converter, data.path()));
                direct.push(run_chroot(&rootfs, sample, converter));
            }
            let (j, d) = (median(jail), median(direct));
            let ratio = secs(j) / secs(d);
            ratios.push(ratio);
            println!(
                "{name:<12} {converter:<8} {:>10.2} {:>10.2} {ratio:>7.3}",
                secs(j),
                secs(d)
            );
        }
    }
    if !ratios.is_empty() {
        let geo = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
        println!("geometric mean ratio: {geo:.3} (target ≤ 1.05)");
    }

    cache_hit(data.path());
}

/// One `texjail convert --no-cache` run; panics when it fails.
fn run_texjail(sample: &Path, converter: Converter, data: &Path) -> Duration {
    let out = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let status = Command::new(BIN)
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
        .expect("run texjail");
    let elapsed = start.elapsed();
    assert!(
        status.success(),
        "texjail convert {} failed",
        sample.display()
    );
    elapsed
}

/// The reference: the same driver, chrooted, no jail. The copy in and out
/// are included, as the jail's are.
fn run_chroot(rootfs: &Path, sample: &Path, converter: Converter) -> Duration {
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
    let main = mainfile::detect(sample, &files, None, None).expect("main file");
    let scan = scan::scan(sample, &main);
    let script = driver::script(
        converter,
        &MainFile::from_relative(&main),
        &scan,
        Duration::from_secs(600),
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
    let start = Instant::now();
    let status = Command::new("unshare")
        .args(["--mount", "--pid", "--fork", "sh", "-c", setup])
        .env("ROOTFS", rootfs)
        .env("MNT", mnt.path())
        .env("SRC", sample)
        .env("OUT", out.path())
        .env("SCRIPT", &script)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run unshare");
    let elapsed = start.elapsed();
    assert!(status.success(), "reference run failed");
    assert!(
        out.path()
            .join(driver::OUT_DIR)
            .join("index.html")
            .is_file(),
        "reference produced no page for {}",
        sample.display()
    );
    elapsed
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
