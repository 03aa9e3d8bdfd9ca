//! Speed of the content layer, as ratios against references measured in
//! the same run (absolute times depend on the machine and its load).
//!
//! - sanitize: `sanitize_html` on real LaTeXML output vs ammonia's default
//!   `clean` on the same input (our policy adds a tokenizer pre-pass, URL
//!   resolution and attribute filters).
//! - worst case: a 4 MiB document at the deepest accepted nesting vs the
//!   same bytes of flat paragraphs.
//! - diagnostics: `parse_latexml` on a 100,000-line log vs just splitting
//!   it into lines.
//!
//! Run: `cargo bench --bench content` (`CONTENT_BENCH_ARTICLE_ONLY=1` runs
//! the first part only, for a profiler).

use std::hint::black_box;
use std::time::{Duration, Instant};

use texjail::convert::diagnostics::parse_latexml;
use texjail::sanitize::{sanitize_html, MAX_DEPTH};

/// MathML and SVG element names for the reference policy.
const FOREIGN_TAGS: [&str; 30] = [
    "math",
    "mi",
    "mn",
    "mo",
    "mtext",
    "mrow",
    "mfrac",
    "msqrt",
    "mroot",
    "mstyle",
    "msub",
    "msup",
    "msubsup",
    "munder",
    "mover",
    "munderover",
    "mtable",
    "mtr",
    "mtd",
    "semantics",
    "annotation",
    "mspace",
    "mpadded",
    "svg",
    "g",
    "path",
    "text",
    "rect",
    "line",
    "circle",
];

/// Median time of `runs` calls.
fn median(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn report(name: &str, ours: Duration, reference: Duration, reference_name: &str) {
    println!(
        "{name:<12} {:>10.3} ms   reference ({reference_name}) {:>10.3} ms   ratio {:.2}",
        ours.as_secs_f64() * 1e3,
        reference.as_secs_f64() * 1e3,
        ours.as_secs_f64() / reference.as_secs_f64()
    );
}

fn main() {
    let article = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/latexml-article.html"
    ))
    .expect("fixture");
    let resolve = |p: &str| Some(format!("assets/{p}"));

    let ours = median(41, || {
        black_box(sanitize_html(black_box(&article), &resolve));
    });
    let reference = median(41, || {
        black_box(ammonia::clean(black_box(&article)));
    });
    report("sanitize", ours, reference, "ammonia::clean");

    // A fairer reference: ammonia keeping MathML and SVG as we do (its
    // default policy drops them, and with them most of the work).
    let mut foreign = ammonia::Builder::default();
    foreign
        .add_tags(FOREIGN_TAGS)
        .add_generic_attributes(["id", "class", "style"]);
    let reference = median(41, || {
        black_box(foreign.clean(black_box(&article)).to_string());
    });
    report("sanitize", ours, reference, "ammonia + MathML/SVG tags");
    let title = median(41, || {
        black_box(texjail::sanitize::extract_title(black_box(&article)));
    });
    report("title", title, reference, "ammonia + MathML/SVG tags");
    let tiny = median(101, || {
        black_box(sanitize_html(black_box("<p>x</p>"), &resolve));
    });
    report("fixed cost", tiny, reference, "ammonia + MathML/SVG tags");

    // `CONTENT_BENCH_ARTICLE_ONLY=1` stops here, for profiling.
    if std::env::var_os("CONTENT_BENCH_ARTICLE_ONLY").is_some() {
        return;
    }
    let unit = format!(
        "{}x{}",
        "<div>".repeat(MAX_DEPTH - 1),
        "</div>".repeat(MAX_DEPTH - 1)
    );
    let deep = unit.repeat((4 << 20) / unit.len());
    let flat = "<p>xxxxxx</p>".repeat(deep.len() / 13);
    let ours = median(5, || {
        black_box(sanitize_html(black_box(&deep), &resolve));
    });
    let reference = median(5, || {
        black_box(sanitize_html(black_box(&flat), &resolve));
    });
    report("worst case", ours, reference, "flat 4 MiB");

    let mut log = String::new();
    for i in 0..100_000 {
        match i % 4 {
            0 => log.push_str(&format!(
                "Warning:undefined:\\foo{i} The token is not defined. at main.tex; line {i} col 3\n"
            )),
            1 => log.push_str(
                "(Loading /usr/share/perl5/LaTeXML/Package/amsmath.sty.ltxml... 0.01 sec)\n",
            ),
            2 => log.push_str("\tat main.tex; line 3 col 11 - line 3 col 11\n"),
            _ => log.push_str("Error:expected:} Gullet->readBalanced ran out of input.\n"),
        }
    }
    log.push_str("Conversion complete: 25000 warnings; 25000 errors\n");
    let ours = median(11, || {
        black_box(parse_latexml(black_box(&log)));
    });
    let reference = median(11, || {
        black_box(black_box(&log).lines().count());
    });
    report("diagnostics", ours, reference, "lines().count()");
}
