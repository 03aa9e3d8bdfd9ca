//! Jail start-up overhead: the median wall time of running `/bin/true`
//! through `texjail::jail::run` against a bare spawn of `/bin/true`, and
//! against bubblewrap with comparable isolation (`--unshare-all`, the
//! rootfs read-only, fresh /proc, /dev and a /job tmpfs) when `bwrap` is
//! installed. bubblewrap appears here only as a reference measurement.
//!
//! The jail row uses the default limits (`cgroup = auto`, so cgroup v1 as
//! root); a second row runs the same spec with `cgroup = off` to show
//! what the job cgroups cost. The first jail run of a process also starts
//! the jail's spawner (once per process, as in the service); it is timed
//! and printed on its own, before the warm-up rounds.
//!
//! The spawner prepares the next run's supervisor (namespaces, init,
//! cgroup move) while the current run runs or the service idles. The two
//! jail rows sleep 20 ms (untimed) before their run, as between a
//! service's jobs, so that preparation is done; bare spawn and bwrap need
//! none and run without a pause. The "back to back" row times a run
//! started the moment the previous one returned: what a run costs while
//! the preparation is still going on.
//!
//! Run: `cargo bench --bench jail_startup` (as root for root mode, or as
//! an ordinary user for rootless mode). `JAIL_BENCH_RUNS` sets the
//! number of runs per variant (default 300).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use texjail::jail::{self, Limits, RunSpec};

fn median_and_p90(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let median = samples[samples.len() / 2];
    let p90 = samples[samples.len() * 9 / 10];
    (median, p90)
}

fn timed(once: &mut dyn FnMut()) -> Duration {
    let start = Instant::now();
    once();
    start.elapsed()
}

/// Runs every variant once per round, interleaved, so a change in the
/// machine's load during the run affects all variants alike. A variant
/// returns the time it measured.
fn measure(
    runs: usize,
    variants: &mut [&mut dyn FnMut() -> Duration],
) -> Vec<(Duration, Duration)> {
    // Warm caches (page cache of the binaries, dentries of the rootfs).
    for _ in 0..10 {
        for once in variants.iter_mut() {
            once();
        }
    }
    let mut samples = vec![Vec::with_capacity(runs); variants.len()];
    for _ in 0..runs {
        for (once, samples) in variants.iter_mut().zip(samples.iter_mut()) {
            samples.push(once());
        }
    }
    samples.into_iter().map(median_and_p90).collect()
}

fn bwrap_path() -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join("bwrap"))
        .find(|p| p.is_file())
}

/// The untimed pause before the jail rows (see the module comment).
const PAUSE: Duration = Duration::from_millis(20);

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let runs: usize = std::env::var("JAIL_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
        .max(200);
    let rootfs = std::env::var_os("TEXJAIL_ROOTFS")
        .map(PathBuf::from)
        .unwrap_or_else(texjail::toolchain::default_rootfs_path);
    if let Err(e) = texjail::toolchain::Rootfs::open(&rootfs) {
        panic!("the benchmark needs the toolchain rootfs: {e}");
    }

    let mut bare = || {
        timed(&mut || {
            let status = Command::new("/bin/true").status().expect("spawn /bin/true");
            assert!(status.success());
        })
    };
    let spec = RunSpec::new(
        PathBuf::from(env!("CARGO_BIN_EXE_texjail-jail")),
        rootfs.clone(),
        vec!["/bin/true".into()],
        Limits::default(),
    );
    let run = |spec: &RunSpec| {
        let outcome = jail::run(spec).expect("jail run");
        assert_eq!(outcome.exit_code, Some(0), "{}", outcome.stderr);
    };
    let first_run = timed(&mut || run(&spec));
    // A pause (untimed) before the run, as between a service's jobs: the
    // next run's supervisor is prepared by then.
    let mut jailed = || {
        std::thread::sleep(PAUSE);
        timed(&mut || run(&spec))
    };
    // Two runs in a row; the second is timed.
    let mut back_to_back = || {
        run(&spec);
        timed(&mut || run(&spec))
    };
    // The same run without the job cgroups, to show what they cost.
    let mut spec_no_cgroup = spec.clone();
    spec_no_cgroup.limits.cgroup = jail::limits::CgroupMode::Off;
    let mut jailed_no_cgroup = || {
        std::thread::sleep(PAUSE);
        timed(&mut || run(&spec_no_cgroup))
    };
    let bwrap_bin = bwrap_path();
    let mut bwrapped = || {
        let bwrap = bwrap_bin.as_ref().expect("bwrap is installed");
        timed(&mut || {
            let status = Command::new(bwrap)
                .args(["--unshare-all", "--ro-bind"])
                .arg(&rootfs)
                .args([
                    "/",
                    "--proc",
                    "/proc",
                    "--dev",
                    "/dev",
                    "--tmpfs",
                    "/job",
                    "/bin/true",
                ])
                .stdin(Stdio::null())
                .status()
                .expect("spawn bwrap");
            assert!(status.success(), "bwrap failed");
        })
    };
    // `JAIL_BENCH_ONLY=jail|jail-no-cgroup|back-to-back|bwrap` runs one
    // variant alone, for profiling it with `perf stat`; the table then has
    // that row only.
    if let Ok(only) = std::env::var("JAIL_BENCH_ONLY") {
        let (median, p90) = match only.as_str() {
            "jail" => measure(runs, &mut [&mut jailed])[0],
            "jail-no-cgroup" => measure(runs, &mut [&mut jailed_no_cgroup])[0],
            "back-to-back" => measure(runs, &mut [&mut back_to_back])[0],
            "bwrap" => measure(runs, &mut [&mut bwrapped])[0],
            other => panic!(
                "JAIL_BENCH_ONLY must be jail, jail-no-cgroup, back-to-back or bwrap, not {other}"
            ),
        };
        println!("{only}: median {:.2} ms, p90 {:.2} ms", ms(median), ms(p90));
        return;
    }
    let mut variants: Vec<&mut dyn FnMut() -> Duration> = vec![
        &mut bare,
        &mut jailed,
        &mut jailed_no_cgroup,
        &mut back_to_back,
    ];
    if bwrap_bin.is_some() {
        variants.push(&mut bwrapped);
    }
    let results = measure(runs, &mut variants);
    let bare = results[0];
    let jailed = results[1];
    let jailed_no_cgroup = results[2];
    let back_to_back = results[3];
    let bwrap = results.get(4).copied();

    println!(
        "jail start-up, /bin/true, {runs} interleaved rounds ({:?} mode)",
        jail::Mode::current()
    );
    println!(
        "first jail run of this process, which starts the spawner: {:.2} ms",
        ms(first_run)
    );
    println!(
        "{:<28} {:>10} {:>10} {:>12} {:>10}",
        "variant", "median ms", "p90 ms", "overhead ms", "vs bare"
    );
    let row = |name: &str, (median, p90): (Duration, Duration)| {
        println!(
            "{:<28} {:>10.2} {:>10.2} {:>12.2} {:>9.1}x",
            name,
            ms(median),
            ms(p90),
            ms(median) - ms(bare.0),
            ms(median) / ms(bare.0)
        );
    };
    row("bare spawn", bare);
    row("texjail jail::run", jailed);
    row("  same, cgroup = off", jailed_no_cgroup);
    row("  same, back to back", back_to_back);
    match bwrap {
        Some(bwrap) => {
            row("bwrap --unshare-all", bwrap);
            println!(
                "texjail / bwrap median ratio: {:.2} (overhead ratio {:.2})",
                ms(jailed.0) / ms(bwrap.0),
                (ms(jailed.0) - ms(bare.0)) / (ms(bwrap.0) - ms(bare.0))
            );
        }
        None => println!("bwrap not installed: no reference row"),
    }
}
