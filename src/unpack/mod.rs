//! Safe project intake: validates an uploaded archive entry by entry and
//! unpacks it into a job directory, or rejects it whole.

pub mod limits;

pub use limits::Limits;
