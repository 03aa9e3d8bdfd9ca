//! Diagnostic logging for the long-running commands (`serve`, `convert`):
//! `tracing` events and spans to stderr, filtered by `RUST_LOG`.
//!
//! Every phase of a job is a span, and spans report their duration when
//! they close, so `RUST_LOG=texjail=debug texjail convert ...` shows where
//! a job's time went (unpack, detection, each jail run, copy-out reading,
//! assembly, store, ...).

use tracing_subscriber::fmt::format::FmtSpan;
use tracing_subscriber::EnvFilter;

/// Installs the stderr subscriber; `default` is the filter used when
/// `RUST_LOG` is unset or invalid. A second call is a no-op.
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::CLOSE)
        .with_writer(std::io::stderr)
        .try_init();
}
