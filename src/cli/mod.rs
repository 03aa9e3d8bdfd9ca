//! The command-line front-ends `src/main.rs` dispatches to, one module per
//! command: each turns its flags and the `Config` into a call of the
//! library and prints the outcome. Nothing below imports them.

pub mod convert;
pub mod corpus;
pub mod doctor;
pub mod inspect;
pub mod jail_run;
pub mod run;
pub mod serve;
