//! Service metrics in the Prometheus text format (`GET /metrics`): jobs by
//! outcome and converter, job durations, queue depth, cache hits and
//! misses, jail kills by reason, refused requests. A handful of series
//! behind one mutex is all this needs; no metrics crate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the job duration histogram's buckets.
const DURATION_BUCKETS: [f64; 13] = [
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];

/// Counter families: name and help text.
const COUNTERS: [(&str, &str); 6] = [
    (
        "texjail_jobs_total",
        "Finished jobs by outcome and converter.",
    ),
    (
        "texjail_cache_hits_total",
        "Jobs answered from the result cache.",
    ),
    ("texjail_cache_misses_total", "Jobs that had to convert."),
    (
        "texjail_jail_kills_total",
        "Jobs whose jails were killed, by reason.",
    ),
    (
        "texjail_requests_refused_total",
        "Requests refused before a job existed, by reason.",
    ),
    (
        "texjail_pages_total",
        "Pages produced, by quality: clean, or showing raw TeX or errors.",
    ),
];

#[derive(Default)]
struct Histogram {
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
pub struct Metrics {
    /// `(family, label text)` → value, e.g. `("texjail_jobs_total", "outcome=\"ok\"")`.
    counters: Mutex<BTreeMap<(&'static str, String), u64>>,
    /// Label text (converter) → histogram.
    durations: Mutex<BTreeMap<String, Histogram>>,
    pub queue_depth: AtomicI64,
    pub running: AtomicI64,
    pub slots: AtomicI64,
    /// A cluster's jobs that no worker has taken yet (0 for a node on its own).
    pub cluster_pending: AtomicI64,
}

/// Label values come from our own code (codes, converter names), but quote
/// them properly anyway so a surprising value cannot break the format.
fn label(name: &str, value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("{name}=\"{escaped}\"")
}

impl Metrics {
    pub fn new() -> Metrics {
        Metrics::default()
    }

    fn add(&self, family: &'static str, labels: String) {
        let mut counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        *counters.entry((family, labels)).or_default() += 1;
    }

    /// A job ended: `outcome` is its status class or error code.
    pub fn job_finished(&self, outcome: &str, converter: &str, took: Duration) {
        self.add(
            "texjail_jobs_total",
            format!(
                "{},{}",
                label("outcome", outcome),
                label("converter", converter)
            ),
        );
        let mut durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        let h = durations.entry(label("converter", converter)).or_default();
        let secs = took.as_secs_f64();
        for (bound, count) in DURATION_BUCKETS.iter().zip(h.buckets.iter_mut()) {
            if secs <= *bound {
                *count += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// A page was served from a conversion or the cache; `clean` as
    /// `convert::quality` measures it.
    pub fn page_quality(&self, clean: bool) {
        let quality = if clean { "clean" } else { "not_clean" };
        self.add("texjail_pages_total", label("quality", quality));
    }

    pub fn cache_lookup(&self, hit: bool) {
        let family = if hit {
            "texjail_cache_hits_total"
        } else {
            "texjail_cache_misses_total"
        };
        self.add(family, String::new());
    }

    pub fn jail_killed(&self, reason: &str) {
        self.add("texjail_jail_kills_total", label("reason", reason));
    }

    pub fn refused(&self, reason: &str) {
        self.add("texjail_requests_refused_total", label("reason", reason));
    }

    /// The current value of one counter series (for tests).
    pub fn counter(&self, family: &str, labels: &str) -> u64 {
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        counters
            .iter()
            .filter(|((f, l), _)| *f == family && l == labels)
            .map(|(_, v)| *v)
            .sum()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = self.counters.lock().unwrap_or_else(|e| e.into_inner());
        for (family, help) in COUNTERS {
            let _ = writeln!(out, "# HELP {family} {help}\n# TYPE {family} counter");
            let mut any = false;
            for ((f, labels), value) in counters.iter() {
                if *f == family {
                    any = true;
                    if labels.is_empty() {
                        let _ = writeln!(out, "{family} {value}");
                    } else {
                        let _ = writeln!(out, "{family}{{{labels}}} {value}");
                    }
                }
            }
            // Plain counters start at 0; labelled ones appear with their first label set.
            if !any && family.starts_with("texjail_cache") {
                let _ = writeln!(out, "{family} 0");
            }
        }
        drop(counters);
        let family = "texjail_job_duration_seconds";
        let _ = writeln!(
            out,
            "# HELP {family} Wall-clock time of finished jobs, slot to result.\n# TYPE {family} histogram"
        );
        let durations = self.durations.lock().unwrap_or_else(|e| e.into_inner());
        for (labels, h) in durations.iter() {
            for (bound, count) in DURATION_BUCKETS.iter().zip(h.buckets.iter()) {
                let _ = writeln!(out, "{family}_bucket{{{labels},le=\"{bound}\"}} {count}");
            }
            let _ = writeln!(out, "{family}_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
            let _ = writeln!(out, "{family}_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "{family}_count{{{labels}}} {}", h.count);
        }
        drop(durations);
        for (family, help, value) in [
            (
                "texjail_queue_depth",
                "Jobs waiting for a slot.",
                &self.queue_depth,
            ),
            (
                "texjail_cluster_queue_pending",
                "Jobs in the cluster's shared queue that no worker has taken.",
                &self.cluster_pending,
            ),
            (
                "texjail_jobs_running",
                "Jobs holding a slot.",
                &self.running,
            ),
            ("texjail_slots", "Conversion slots.", &self.slots),
        ] {
            let _ = writeln!(
                out,
                "# HELP {family} {help}\n# TYPE {family} gauge\n{family} {}",
                value.load(Ordering::Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_gauges() {
        let m = Metrics::new();
        m.job_finished("ok", "pandoc", Duration::from_millis(300));
        m.job_finished("ok", "pandoc", Duration::from_secs(20));
        m.cache_lookup(true);
        m.jail_killed("timeout");
        m.page_quality(true);
        m.page_quality(false);
        m.page_quality(false);
        m.queue_depth.store(3, Ordering::Relaxed);
        let text = m.render();
        assert!(
            text.contains("texjail_jobs_total{outcome=\"ok\",converter=\"pandoc\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("texjail_job_duration_seconds_bucket{converter=\"pandoc\",le=\"0.5\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("texjail_job_duration_seconds_bucket{converter=\"pandoc\",le=\"30\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("texjail_job_duration_seconds_count{converter=\"pandoc\"} 2"),
            "{text}"
        );
        assert!(text.contains("texjail_cache_hits_total 1"), "{text}");
        assert!(text.contains("texjail_cache_misses_total 0"), "{text}");
        assert!(
            text.contains("texjail_jail_kills_total{reason=\"timeout\"} 1"),
            "{text}"
        );
        assert!(text.contains("texjail_queue_depth 3"), "{text}");
        assert!(
            text.contains("texjail_pages_total{quality=\"clean\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("texjail_pages_total{quality=\"not_clean\"} 2"),
            "{text}"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(label("a", "x\"y\\z\n"), "a=\"x\\\"y\\\\z\\n\"");
    }
}
