//! Results shared between the nodes of a service: the [`ResultStore`]
//! seam. A node keeps every result it serves in its local cache
//! (`cache`); a shared store makes a result one node stored readable by
//! the others, which copy it into their own cache on first use (a
//! read-through copy, so a cached page stays a local file). The embedded
//! default, [`LocalResults`], shares nothing: the data dir is the store.
//! [`store::SharedResults`] keeps results on object storage (S3, Azure
//! Blob Storage) or in a directory every node mounts.

pub mod store;

use std::io;
use std::path::Path;

use futures::future::BoxFuture;

/// Where finished results are shared. Both calls are idempotent: results
/// are content-addressed, so two nodes publishing one key publish the same
/// bytes.
pub trait ResultStore: Send + Sync + 'static {
    /// Makes the finished result in `dir` (named `key`) readable by every
    /// node. A result is readable whole or not at all.
    fn publish<'a>(&'a self, key: &'a str, dir: &'a Path) -> BoxFuture<'a, io::Result<()>>;

    /// Copies result `key` into `results/<key>` (the local cache's
    /// directory) when the shared store has it and this node does not;
    /// returns whether the result is local now. The copy appears whole
    /// (written aside, then renamed into place).
    fn fetch<'a>(&'a self, key: &'a str, results: &'a Path) -> BoxFuture<'a, io::Result<bool>>;
}

/// The embedded default: results live in the data dir and nowhere else.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocalResults;

impl ResultStore for LocalResults {
    fn publish<'a>(&'a self, _key: &'a str, _dir: &'a Path) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn fetch<'a>(&'a self, key: &'a str, results: &'a Path) -> BoxFuture<'a, io::Result<bool>> {
        let here = results.join(key).join(crate::cache::MARKER).is_file();
        Box::pin(async move { Ok(here) })
    }
}
