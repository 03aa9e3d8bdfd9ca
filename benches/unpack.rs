//! Unpack benchmark (`cargo bench --bench unpack`).
//!
//! 1. A generated 50 MB project (2,000 files: TeX-like text and
//!    incompressible figure bytes, deflated) is unpacked by
//!    `unpack::unpack_file` and by `/usr/bin/unzip -q`, alternately, each
//!    into a fresh directory; the ratio of the medians is reported
//!    (target: unzip time / our time >= 1).
//! 2. An overlapping-entry bomb, a single-entry ratio bomb and a tar.gz
//!    ratio bomb are rejected in-process (target: under 100 ms) and by a
//!    real `texjail inspect` child, whose peak memory (`VmHWM`, reported
//!    by the child) must stay under 64 MiB.

#[allow(dead_code)]
#[path = "../tests/support/archive.rs"]
mod archive;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use flate2::write::{DeflateEncoder, GzEncoder};
use flate2::Compression;
use texjail::unpack::{self, Limits};

const RUNS: usize = 7;
const BOMB_RUNS: usize = 5;

fn main() {
    let work = tempfile::tempdir().expect("temporary directory");
    println!("texjail unpack benchmark (median of {RUNS} runs, same machine, same run)");
    bombs(work.path());
    project(work.path());
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fresh_dir(base: &Path, name: &str) -> PathBuf {
    let dir = base.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).expect("create dir");
    dir
}

/// A small deterministic generator, so every run builds the same project.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
}

const WORDS: &[&str] = &[
    "the",
    "of",
    "theorem",
    "\\emph{proof}",
    "let",
    "$x_i$",
    "we",
    "show",
    "that",
    "\\cite{key}",
    "lemma",
    "holds",
    "for",
    "all",
    "$n \\ge 1$",
    "and",
    "hence",
    "\\ref{eq:main}",
    "bound",
    "is",
    "tight",
    "since",
    "\\begin{equation}",
    "\\end{equation}",
    "convex",
    "function",
    "where",
];

fn tex_like(rng: &mut Lcg, bytes: usize) -> Vec<u8> {
    let mut out = String::with_capacity(bytes + 64);
    while out.len() < bytes {
        let word = WORDS[rng.next() as usize % WORDS.len()];
        out.push_str(word);
        out.push(if rng.next() % 12 == 0 { '\n' } else { ' ' });
        if rng.next() % 97 == 0 {
            out.push_str(&format!("{}", rng.next()));
        }
    }
    out.into_bytes()
}

fn figure_like(rng: &mut Lcg, bytes: usize) -> Vec<u8> {
    (0..bytes).map(|_| rng.next() as u8).collect()
}

/// ~2,000 files under one top folder; about 50 MB zipped with deflate.
fn build_project(path: &Path) -> (usize, u64) {
    let mut rng = Lcg(42);
    let file = std::fs::File::create(path).expect("create project zip");
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    let mut raw = 0u64;
    let files = 2000;
    for i in 0..files {
        let (name, data) = if i % 10 == 0 {
            let len = 200_000 + (rng.next() % 40_000) as usize;
            (
                format!("paper/figures/fig{i:04}.png"),
                figure_like(&mut rng, len),
            )
        } else {
            let len = 8_000 + (rng.next() % 24_000) as usize;
            (
                format!("paper/sections/part{:02}/sec{i:04}.tex", i % 25),
                tex_like(&mut rng, len),
            )
        };
        raw += data.len() as u64;
        zip.start_file(name, options).expect("start file");
        zip.write_all(&data).expect("write file");
    }
    zip.finish().expect("finish zip");
    (files, raw)
}

/// CPU time (user + system) used so far by this process or by its
/// waited-for children.
fn cpu(who: nix::sys::resource::UsageWho) -> Duration {
    let usage = nix::sys::resource::getrusage(who).expect("getrusage");
    let tv =
        |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    tv(usage.user_time()) + tv(usage.system_time())
}

fn project(work: &Path) {
    use nix::sys::resource::UsageWho::{RUSAGE_CHILDREN, RUSAGE_SELF};
    let archive = work.join("project.zip");
    let (files, raw) = build_project(&archive);
    let size = std::fs::metadata(&archive).expect("stat").len();
    println!(
        "\nproject: {files} files, {:.1} MB zip, {:.1} MB unpacked",
        size as f64 / 1e6,
        raw as f64 / 1e6
    );
    // Unpack onto tmpfs when there is one: the comparison is between
    // unpackers, not of the shared disk's writeback throttling.
    let shm = Path::new("/dev/shm");
    let out_base = if shm.is_dir() {
        tempfile::tempdir_in(shm).expect("tmpfs directory")
    } else {
        tempfile::tempdir().expect("temporary directory")
    };
    let out = out_base.path();
    println!("  unpacking into {}", out.display());
    let limits = Limits::default();
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut ours_cpu, mut theirs_cpu) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let dest = fresh_dir(out, "unzip-out");
        let cpu_before = cpu(RUSAGE_CHILDREN);
        let start = Instant::now();
        let status = Command::new("/usr/bin/unzip")
            .arg("-q")
            .arg(&archive)
            .arg("-d")
            .arg(&dest)
            .status()
            .expect("/usr/bin/unzip is needed for the reference measurement");
        theirs.push(start.elapsed());
        theirs_cpu.push(cpu(RUSAGE_CHILDREN) - cpu_before);
        assert!(status.success(), "unzip failed");
        std::fs::remove_dir_all(&dest).expect("clean up");

        let dest = fresh_dir(out, "texjail-out");
        let cpu_before = cpu(RUSAGE_SELF);
        let start = Instant::now();
        let project =
            unpack::unpack_file(&archive, &dest, &limits).expect("the project is accepted");
        ours.push(start.elapsed());
        ours_cpu.push(cpu(RUSAGE_SELF) - cpu_before);
        assert_eq!(project.files.len(), files);
        std::fs::remove_dir_all(&dest).expect("clean up");
    }
    let (ours, theirs) = (median(ours), median(theirs));
    let (ours_cpu, theirs_cpu) = (median(ours_cpu), median(theirs_cpu));
    let ratio = theirs.as_secs_f64() / ours.as_secs_f64();
    let cpu_ratio = theirs_cpu.as_secs_f64() / ours_cpu.as_secs_f64();
    println!("                                wall ms   cpu ms (user+sys)");
    println!(
        "  unzip -q                    {:8.1}  {:8.1}",
        ms(theirs),
        ms(theirs_cpu)
    );
    println!(
        "  unpack::unpack_file         {:8.1}  {:8.1}   (also validates, hashes, digests)",
        ms(ours),
        ms(ours_cpu)
    );
    println!(
        "  ratio unzip/texjail         {ratio:8.2}  {cpu_ratio:8.2}   target >= 1.00 (wall): {}",
        if ratio >= 1.0 { "met" } else { "NOT MET" }
    );
    let (wall, report) = inspect(&archive);
    println!(
        "  texjail inspect (child)     {:8.1} ms wall, peak RSS {:.1} MiB, verdict {}",
        ms(wall),
        report["peak_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        report["verdict"]
    );
}

/// Runs `texjail inspect --json` and returns its wall time and report.
fn inspect(archive: &Path) -> (Duration, serde_json::Value) {
    let start = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_texjail"))
        .arg("inspect")
        .arg("--json")
        .arg(archive)
        .output()
        .expect("run texjail inspect");
    let wall = start.elapsed();
    let report = serde_json::from_slice(&output.stdout).expect("inspect prints JSON");
    (wall, report)
}

/// 100 MiB of zeros deflated into a single entry with honest headers
/// (under `max_entry_bytes`, so the ratio rule is the one that fires).
fn ratio_bomb_zip() -> (Vec<u8>, u64) {
    let len: u64 = 100 << 20;
    let (compressed, crc) = zeros(len, 0, |w| {
        Box::new(DeflateEncoder::new(w, Compression::best()))
    });
    let mut entry = archive::ZipEntry::file("paper/zeros.tex", b"");
    entry.raw_data = Some(compressed);
    entry.declared = Some((crc, len as u32));
    (archive::Zip::new().with(entry).build(), len)
}

/// A tar.gz holding one 1 GiB file of zeros.
fn ratio_bomb_tar_gz() -> (Vec<u8>, u64) {
    let len: u64 = 1 << 30;
    let mut header = tar::Header::new_ustar();
    header.set_path("paper/zeros.tex").expect("path");
    header.set_size(len);
    header.set_mode(0o644);
    header.set_cksum();
    // Tar data is followed by two zero blocks (the size is block-aligned).
    let (gz, _) = zeros(len, 1024, |w| {
        let mut enc = GzEncoder::new(w, Compression::best());
        enc.write_all(header.as_bytes()).expect("header");
        Box::new(enc)
    });
    (gz, len)
}

type Encoder = Box<dyn FinishWrite>;

trait FinishWrite: Write {
    fn finish_boxed(self: Box<Self>) -> Vec<u8>;
}

impl FinishWrite for DeflateEncoder<Vec<u8>> {
    fn finish_boxed(self: Box<Self>) -> Vec<u8> {
        self.finish().expect("deflate")
    }
}

impl FinishWrite for GzEncoder<Vec<u8>> {
    fn finish_boxed(self: Box<Self>) -> Vec<u8> {
        self.finish().expect("gzip")
    }
}

/// Streams `len` zero bytes (then `trailer` more, outside the CRC) through
/// an encoder; returns the output and the CRC-32 of the `len` zeros.
fn zeros(len: u64, trailer: usize, encoder: impl FnOnce(Vec<u8>) -> Encoder) -> (Vec<u8>, u32) {
    let chunk = vec![0u8; 1 << 20];
    let mut enc = encoder(Vec::new());
    let mut crc = flate2::Crc::new();
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        enc.write_all(&chunk[..n]).expect("compress");
        crc.update(&chunk[..n]);
        left -= n as u64;
    }
    enc.write_all(&chunk[..trailer]).expect("compress");
    (enc.finish_boxed(), crc.sum())
}

fn bombs(work: &Path) {
    println!("\nbombs (target: rejected in < 100 ms and < 64 MiB peak RSS)");
    let fifield = archive::fifield_bomb(1000, 1 << 20);
    // Sum over entries of (later local headers + kernel).
    let fifield_out: u64 = {
        let header = 30 + "f00000.tex".len() as u64;
        (0..1000u64).map(|i| (999 - i) * header + (1 << 20)).sum()
    };
    let (zip_bomb, zip_out) = ratio_bomb_zip();
    let (tgz_bomb, tgz_out) = ratio_bomb_tar_gz();
    let cases = [
        (
            "overlapping (Fifield) zip",
            fifield,
            fifield_out,
            "overlapping_entries",
        ),
        (
            "single-entry ratio zip",
            zip_bomb,
            zip_out,
            "ratio_exceeded",
        ),
        (
            "ratio tar.gz (streamed)",
            tgz_bomb,
            tgz_out,
            "ratio_exceeded",
        ),
    ];
    let limits = Limits::default();
    for (what, bytes, expands_to, code) in cases {
        let path = work.join("bomb.bin");
        std::fs::write(&path, &bytes).expect("write bomb");
        let mut times = Vec::new();
        for _ in 0..BOMB_RUNS {
            let dest = fresh_dir(work, "bomb-out");
            let start = Instant::now();
            let err = unpack::unpack_file(&path, &dest, &limits).expect_err("a bomb was accepted");
            times.push(start.elapsed());
            assert_eq!(err.code(), code, "{what}: {err}");
            assert_eq!(
                std::fs::read_dir(&dest).expect("list").count(),
                0,
                "bomb left files"
            );
        }
        let took = median(times);
        let (wall, report) = inspect(&path);
        assert_eq!(
            report["code"], code,
            "{what}: inspect said {}",
            report["message"]
        );
        let rss_mib = report["peak_rss_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0;
        let met = ms(took) < 100.0 && rss_mib < 64.0;
        println!(
            "  {what:<27} {:>7.1} kB -> {:>6.2} GB: {code} in {:6.2} ms in-process, inspect child {:6.1} ms wall, peak RSS {rss_mib:5.1} MiB  target: {}",
            bytes.len() as f64 / 1e3,
            expands_to as f64 / 1e9,
            ms(took),
            ms(wall),
            if met { "met" } else { "NOT MET" }
        );
    }
}
