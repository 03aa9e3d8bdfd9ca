//! Converters: log diagnostics and main-file detection.

pub mod diagnostics;
pub mod mainfile;
