//! texjail turns uploaded LaTeX projects into safe HTML.
//!
//! The crate is one library with one binary (`src/main.rs`). Data flows one
//! way: intake → unpack → cache lookup → jail run(s) → copy-out → sanitize →
//! cache → serve. See ARCHITECTURE.md for the code map and the invariants.
//!
//! `unsafe` is denied crate-wide (Cargo.toml `[lints]`); the single
//! allowance is the `jail` module, where every block carries `// SAFETY:`.

pub mod api;
pub mod cache;
pub mod cli;
pub mod config;
pub mod convert;
#[allow(unsafe_code)]
pub mod jail;
pub mod job;
pub mod logging;
pub mod metrics;
pub mod pipeline;
pub mod run;
pub mod sanitize;
pub mod shared;
pub mod toolchain;
pub mod unpack;
