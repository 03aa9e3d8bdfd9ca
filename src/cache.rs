//! The result cache: a content-addressed directory store.
//!
//! Layout: `<dir>/<key>/{index.html, fragment.html, log.txt, result.json,
//! assets/..., bundle.zip, .size}` for finished results, `<dir>/.tmp/`
//! for results being written (renamed into place atomically, so a reader
//! sees a whole result or none), `<dir>/.locks/<key>` for the
//! cross-process single-flight lock while a job holds it. Only sanitized
//! output is ever written here (the builder closure is the job runner's
//! assembly step); `bundle.zip`, the result's other files in one zip, and
//! `.size`, the result's size, are written by the store itself once the
//! builder is done ([`write_bundle`], then the size).
//!
//! Single flight: a per-key mutex serializes builders inside one process,
//! a `flock` on the key's lock file across processes; whoever gets the lock
//! second finds the result and reports a hit. The holder removes the lock
//! file when done ([`KeyLock`] says why that stays exclusive), so the
//! directory holds only the locks of jobs running now.
//!
//! Eviction: after each insert, while the store is above `max_bytes`, the
//! least recently used result (mtime of its `result.json`, touched on every
//! hit and every `/r/` read, at most once a minute: [`mark_used`]) is
//! removed — renamed into `.tmp` first so readers never see half. Each
//! result's size is counted once, when it is stored, and kept in its
//! `.size` file (a name `/r/` never serves), so eviction reads one small
//! file per result instead of walking every result's tree.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `[cache]` config section (`TEXJAIL_CACHE_<NAME>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Size bound of the result store; least recently used results are
    /// evicted above it.
    pub max_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { max_bytes: 2 << 30 }
    }
}

/// The file whose presence marks a finished result, and whose mtime is its
/// last use.
pub const MARKER: &str = "result.json";

/// The zip of a result's other files, inside the result directory.
///
/// It is built once, when the result is stored, rather than for each
/// download: a download is then one more result file, opened with
/// `openat2` and streamed from disk in small chunks with its length
/// known, so N concurrent downloads cost N small buffers, no compression
/// CPU and no thread held by a slow client. (Zipping per request kept the
/// whole zip in memory per download; streaming it instead would still
/// compress once per download and hold a blocking thread for as long as
/// the client reads.) The price is disk, at most the result's size again,
/// and it is counted in `max_bytes` like every file of the result (its
/// [`SIZE_FILE`] includes it). Being inside the result directory, it
/// appears with the result (one rename) and is evicted with it.
pub const BUNDLE: &str = "bundle.zip";

/// The file of a result holding its size in bytes (decimal), written once
/// when the result is stored, after its [`BUNDLE`] (so the size counts
/// the bundle too). Its leading dot keeps it out of `/r/` and of the
/// bundle.
pub const SIZE_FILE: &str = ".size";

/// A result's last use is recorded at most this often: a result read many
/// times a second costs one `stat` per read and one write a minute.
pub const USE_RESOLUTION: Duration = Duration::from_secs(60);

/// Records a use of result `key` in the store at `results` for eviction:
/// sets the mtime of its `result.json` to now, unless that was done less
/// than [`USE_RESOLUTION`] ago. Returns whether the result exists. Failing
/// to record a use is harmless (the result is only evicted sooner).
pub fn mark_used(results: &Path, key: &str) -> bool {
    if !is_key(key) {
        return false;
    }
    let marker = results.join(key).join(MARKER);
    let Ok(meta) = fs::symlink_metadata(&marker) else {
        return false;
    };
    if !meta.is_file() {
        return false;
    }
    let now = SystemTime::now();
    let recent = meta
        .modified()
        .ok()
        .and_then(|used| now.duration_since(used).ok())
        .is_some_and(|age| age < USE_RESOLUTION);
    if !recent {
        if let Ok(file) = fs::File::options().append(true).open(&marker) {
            let _ = file.set_modified(now);
        }
    }
    true
}

/// The cache key: sha256 over each input, length-prefixed so no two input
/// tuples can collide by shifting bytes between fields. (`v2`: results
/// carry their [`BUNDLE`]; `v1` results, stored without one, are never
/// looked up again and age out.)
pub fn cache_key(
    project_digest: &str,
    options_fingerprint: &str,
    toolchain_digest: &str,
    policy_version: &str,
) -> String {
    let mut hash = Sha256::new();
    hash.update(b"texjail-result-v2\0");
    for part in [
        project_digest,
        options_fingerprint,
        toolchain_digest,
        policy_version,
    ] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    hex::encode(hash.finalize())
}

/// What `get_or_create` found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookup {
    pub dir: PathBuf,
    /// True when the result existed (or another builder made it while this
    /// caller waited); false when this caller's builder ran.
    pub hit: bool,
}

/// A directory store of finished results. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    max_bytes: u64,
    in_flight: Arc<Mutex<HashMap<String, Arc<Mutex<()>>>>>,
}

impl Cache {
    /// Opens (creating) the store at `dir`, and removes the lock files
    /// nobody holds (left by a crash, or by versions that never removed
    /// them).
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<Cache> {
        fs::create_dir_all(dir.join(".tmp"))?;
        fs::create_dir_all(dir.join(".locks"))?;
        let cache = Cache {
            dir: dir.to_path_buf(),
            max_bytes,
            in_flight: Arc::default(),
        };
        cache.sweep_locks()?;
        Ok(cache)
    }

    fn lock_path(&self, key: &str) -> PathBuf {
        self.dir.join(".locks").join(key)
    }

    /// Removes every lock file no job holds now, by the lock's own rules:
    /// only a holder removes a lock file.
    fn sweep_locks(&self) -> io::Result<()> {
        for entry in fs::read_dir(self.dir.join(".locks"))? {
            let name = entry?.file_name();
            let Some(key) = name.to_str().filter(|k| is_key(k)) else {
                continue;
            };
            // Dropping the lock removes its file.
            drop(KeyLock::try_acquire(self.lock_path(key))?);
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of a finished result, touched as used ([`mark_used`]);
    /// `None` when there is none (or the key is not a key).
    pub fn result_dir(&self, key: &str) -> Option<PathBuf> {
        mark_used(&self.dir, key).then(|| self.dir.join(key))
    }

    /// Returns the finished result for `key`, building it with `build` when
    /// there is none. `build` gets an empty directory to fill; on success
    /// it is renamed into place, on error it is removed and the error
    /// returned. Concurrent callers with the same key run `build` once.
    pub fn get_or_create<E: From<io::Error>>(
        &self,
        key: &str,
        build: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<Lookup, E> {
        if !is_key(key) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "malformed cache key").into());
        }
        if let Some(dir) = self.result_dir(key) {
            return Ok(Lookup { dir, hit: true });
        }
        let key_lock = {
            let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key.to_string()).or_default().clone()
        };
        let result = {
            let _in_process = key_lock.lock().unwrap_or_else(|e| e.into_inner());
            self.build_locked(key, build)
        };
        // Forget the key's mutex once nobody else holds a reference to it.
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if Arc::strong_count(&key_lock) == 2 {
            map.remove(key);
        }
        result
    }

    fn build_locked<E: From<io::Error>>(
        &self,
        key: &str,
        build: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<Lookup, E> {
        let _lock = KeyLock::acquire(self.lock_path(key))?;
        if let Some(dir) = self.result_dir(key) {
            return Ok(Lookup { dir, hit: true });
        }
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{key}."))
            .tempdir_in(self.dir.join(".tmp"))?;
        build(tmp.path())?;
        if !tmp.path().join(MARKER).is_file() {
            return Err(io::Error::other("result has no result.json").into());
        }
        let _store = tracing::debug_span!("store").entered();
        write_bundle(tmp.path())?;
        // Last, so the recorded size counts every file, the bundle too.
        fs::write(tmp.path().join(SIZE_FILE), dir_size(tmp.path()).to_string())?;
        let dir = self.dir.join(key);
        let tmp = tmp.keep();
        if let Err(e) = fs::rename(&tmp, &dir) {
            let _ = fs::remove_dir_all(&tmp);
            return Err(e.into());
        }
        self.evict(key)?;
        Ok(Lookup { dir, hit: false })
    }

    /// Removes least recently used results until the store fits
    /// `max_bytes`; never the one just written (`keep`).
    fn evict(&self, keep: &str) -> io::Result<()> {
        let mut entries = Vec::new();
        let mut total = 0u64;
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !is_key(name) {
                continue;
            }
            let Ok(used) = fs::metadata(entry.path().join(MARKER)).and_then(|m| m.modified())
            else {
                continue;
            };
            let size = recorded_size(&entry.path());
            total += size;
            entries.push((used, name.to_string(), size));
        }
        if total <= self.max_bytes {
            return Ok(());
        }
        entries.sort();
        for (_, name, size) in entries {
            if total <= self.max_bytes {
                break;
            }
            if name == keep {
                continue;
            }
            let doomed = tempfile::Builder::new()
                .prefix("evicted.")
                .tempdir_in(self.dir.join(".tmp"))?
                .keep();
            if fs::rename(self.dir.join(&name), doomed.join(&name)).is_ok() {
                total = total.saturating_sub(size);
            }
            let _ = fs::remove_dir_all(&doomed);
        }
        Ok(())
    }
}

/// Writes `<result>/bundle.zip`: every regular file of the result (links
/// and anything else left out, never followed), sorted by path. Images
/// already compressed are stored as they are, the rest deflated. Memory
/// stays small whatever the result's size: the zip is written to disk as
/// it is built.
pub fn write_bundle(result: &Path) -> io::Result<()> {
    use std::io::{BufWriter, Write};
    use std::os::unix::fs::OpenOptionsExt;
    use zip::write::SimpleFileOptions;
    use zip::CompressionMethod;

    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(result)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(io::Error::other)?;
        if entry.depth() == 0 || !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(result)
            .map_err(io::Error::other)?;
        // Names are the store's own (ASCII); one that is not UTF-8 would
        // not be a servable name either.
        let Some(name) = rel.to_str() else { continue };
        if name != BUNDLE && name != SIZE_FILE {
            files.push((name.to_owned(), entry.path().to_path_buf()));
        }
    }
    let bundle = fs::File::create_new(result.join(BUNDLE))?;
    let mut zip = zip::ZipWriter::new(BufWriter::new(bundle));
    for (name, path) in files {
        let mut file = fs::File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)?;
        let len = file.metadata()?.len();
        let ext = name.rsplit_once('.').map_or("", |(_, e)| e);
        let method = if ["png", "jpg", "jpeg", "gif", "webp"].contains(&ext) {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .unix_permissions(0o644)
            .large_file(len >= u64::from(u32::MAX));
        zip.start_file(name, options).map_err(io::Error::other)?;
        io::copy(&mut file, &mut zip)?;
    }
    let mut out = zip.finish().map_err(io::Error::other)?;
    out.flush()
}

/// The size recorded for the result in `dir` when it was stored. A result
/// stored before sizes were recorded is measured once and recorded now.
fn recorded_size(dir: &Path) -> u64 {
    if let Some(size) = fs::read_to_string(dir.join(SIZE_FILE))
        .ok()
        .and_then(|text| text.trim().parse().ok())
    {
        return size;
    }
    let size = dir_size(dir);
    let _ = fs::write(dir.join(SIZE_FILE), size.to_string());
    size
}

/// The cross-process lock of one key: an exclusive `flock` on
/// `.locks/<key>`, whose file its holder removes when done.
///
/// Removing the file races with a waiter that opened it earlier: once
/// the holder unlocks, that waiter holds a lock on a file no longer at
/// the path, while a newcomer creates a new file there and locks it too.
/// So a locker that got the lock checks that the path still names the
/// file it locked (same device and inode) and starts over if not, and
/// the holder removes the file before it unlocks. Whoever holds the lock
/// of the file at the path is then the only holder: a file leaves the
/// path only while locked, and never comes back.
struct KeyLock {
    path: PathBuf,
    _flock: Flock<fs::File>,
}

impl KeyLock {
    /// Waits for the lock of `path`, creating the file when missing.
    fn acquire(path: PathBuf) -> io::Result<KeyLock> {
        loop {
            let file = fs::File::options()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)?;
            let flock = Flock::lock(file, FlockArg::LockExclusive)
                .map_err(|(_, errno)| io::Error::from(errno))?;
            if still_at(&flock, &path)? {
                return Ok(KeyLock {
                    path,
                    _flock: flock,
                });
            }
        }
    }

    /// The lock of an existing `path` if nobody holds it now.
    fn try_acquire(path: PathBuf) -> io::Result<Option<KeyLock>> {
        let file = match fs::File::options().read(true).write(true).open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let flock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(flock) => flock,
            Err((_, nix::errno::Errno::EWOULDBLOCK)) => return Ok(None),
            Err((_, errno)) => return Err(errno.into()),
        };
        // Built only when it is the file at the path: dropping a lock
        // removes the file at the path.
        if still_at(&flock, &path)? {
            Ok(Some(KeyLock {
                path,
                _flock: flock,
            }))
        } else {
            Ok(None)
        }
    }
}

impl Drop for KeyLock {
    fn drop(&mut self) {
        // Before the unlock (the field is dropped after this body).
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether `path` names the file `locked` is open on.
fn still_at(locked: &fs::File, path: &Path) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let held = locked.metadata()?;
    match fs::symlink_metadata(path) {
        Ok(there) => Ok(there.dev() == held.dev() && there.ino() == held.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Keys are 64 lowercase hex digits; anything else never touches the disk.
fn is_key(key: &str) -> bool {
    key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn dir_size(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(|m| m.is_file())
        .map(|m| m.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn key(n: u8) -> String {
        cache_key(&n.to_string(), "o", "t", "p")
    }

    fn write_result(dir: &Path, bytes: usize) -> io::Result<()> {
        fs::write(dir.join("index.html"), vec![b'x'; bytes])?;
        fs::write(dir.join(MARKER), "{}")
    }

    fn bundle_len(dir: &Path) -> u64 {
        fs::metadata(dir.join(BUNDLE)).unwrap().len()
    }

    #[test]
    fn key_depends_on_every_input_and_resists_shifting() {
        let base = cache_key("a", "b", "c", "d");
        assert_eq!(base.len(), 64);
        assert_ne!(base, cache_key("A", "b", "c", "d"));
        assert_ne!(base, cache_key("a", "B", "c", "d"));
        assert_ne!(base, cache_key("a", "b", "C", "d"));
        assert_ne!(base, cache_key("a", "b", "c", "D"));
        assert_ne!(cache_key("ab", "", "c", "d"), cache_key("a", "b", "c", "d"));
    }

    #[test]
    fn second_lookup_is_a_hit_and_does_not_build() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path(), 1 << 20).unwrap();
        let first = cache
            .get_or_create::<io::Error>(&key(1), |d| write_result(d, 10))
            .unwrap();
        assert!(!first.hit);
        assert!(first.dir.join("index.html").is_file());
        let second = cache
            .get_or_create::<io::Error>(&key(1), |_| panic!("built twice"))
            .unwrap();
        assert!(second.hit);
        assert_eq!(first.dir, second.dir);
    }

    #[test]
    fn failed_build_leaves_nothing_behind() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path(), 1 << 20).unwrap();
        let err = cache
            .get_or_create::<io::Error>(&key(2), |d| {
                fs::write(d.join("index.html"), "half")?;
                Err(io::Error::other("converter failed"))
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "converter failed");
        assert!(cache.result_dir(&key(2)).is_none());
        assert_eq!(fs::read_dir(tmp.path().join(".tmp")).unwrap().count(), 0);
        // A result without its marker is not a result either.
        assert!(cache
            .get_or_create::<io::Error>(&key(2), |d| fs::write(d.join("index.html"), "x"))
            .is_err());
        assert!(cache.result_dir(&key(2)).is_none());
    }

    #[test]
    fn malformed_keys_never_reach_the_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path(), 1 << 20).unwrap();
        for bad in [
            "../etc",
            "",
            ".tmp",
            &"A".repeat(64),
            &format!("{}/", key(1)),
        ] {
            assert!(cache.result_dir(bad).is_none());
            assert!(cache
                .get_or_create::<io::Error>(bad, |_| panic!("built for {bad}"))
                .is_err());
        }
    }

    #[test]
    fn concurrent_identical_keys_build_once() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path(), 1 << 20).unwrap();
        let builds = AtomicUsize::new(0);
        let hits: Vec<bool> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        cache
                            .get_or_create::<io::Error>(&key(3), |d| {
                                builds.fetch_add(1, Ordering::SeqCst);
                                std::thread::sleep(Duration::from_millis(100));
                                write_result(d, 10)
                            })
                            .unwrap()
                            .hit
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        assert_eq!(hits.iter().filter(|h| !**h).count(), 1);
    }

    #[test]
    fn two_cache_handles_on_one_dir_build_once() {
        // Separate `Cache` values share no in-process map: only the flock
        // serializes them, as between two processes.
        let tmp = tempfile::tempdir().unwrap();
        let builds = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    let cache = Cache::open(tmp.path(), 1 << 20).unwrap();
                    cache
                        .get_or_create::<io::Error>(&key(4), |d| {
                            builds.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(100));
                            write_result(d, 10)
                        })
                        .unwrap();
                });
            }
        });
        assert_eq!(builds.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn stored_results_carry_a_bundle_of_their_regular_files() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.png"), "SECRET").unwrap();
        let cache = Cache::open(tmp.path(), 1 << 20).unwrap();
        let got = cache
            .get_or_create::<io::Error>(&key(6), |d| {
                write_result(d, 1000)?;
                fs::create_dir(d.join("assets"))?;
                fs::write(d.join("assets/001-a.png"), b"\x89PNG\r\n\x1a\nrest")?;
                std::os::unix::fs::symlink(
                    outside.path().join("secret.png"),
                    d.join("assets/002-link.png"),
                )?;
                std::os::unix::fs::symlink(outside.path(), d.join("assets/dir"))
            })
            .unwrap();
        let bundle = fs::File::open(got.dir.join(BUNDLE)).unwrap();
        let mut zip = zip::ZipArchive::new(bundle).unwrap();
        let names: Vec<String> = zip.file_names().map(str::to_owned).collect();
        assert_eq!(names, ["assets/001-a.png", "index.html", "result.json"]);
        for name in &names {
            let mut entry = zip.by_name(name).unwrap();
            let mut bytes = Vec::new();
            io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            assert_eq!(bytes, fs::read(got.dir.join(name)).unwrap(), "{name}");
            let method = if name.ends_with(".png") {
                zip::CompressionMethod::Stored
            } else {
                zip::CompressionMethod::Deflated
            };
            assert_eq!(entry.compression(), method, "{name}");
        }
        // Counted in the result's recorded size like its other files.
        let files = 1000 + 2 + 12;
        assert_eq!(recorded_size(&got.dir), files + bundle_len(&got.dir));
    }

    #[test]
    fn eviction_removes_least_recently_used_first() {
        let tmp = tempfile::tempdir().unwrap();
        // Room for two 1000-byte results, not three.
        let cache = Cache::open(tmp.path(), 2500).unwrap();
        for n in [1, 2] {
            cache
                .get_or_create::<io::Error>(&key(n), |d| write_result(d, 1000))
                .unwrap();
        }
        // Make 1 older than 2, then use 1 so 2 becomes the oldest.
        let old = SystemTime::now() - Duration::from_secs(60);
        for n in [1, 2] {
            fs::File::options()
                .append(true)
                .open(tmp.path().join(key(n)).join(MARKER))
                .unwrap()
                .set_modified(old - Duration::from_secs(n as u64))
                .unwrap();
        }
        assert!(cache.result_dir(&key(1)).is_some());
        cache
            .get_or_create::<io::Error>(&key(3), |d| write_result(d, 1000))
            .unwrap();
        assert!(cache.result_dir(&key(1)).is_some(), "recently used kept");
        assert!(cache.result_dir(&key(2)).is_none(), "least recent evicted");
        assert!(cache.result_dir(&key(3)).is_some(), "new result kept");
        assert_eq!(fs::read_dir(tmp.path().join(".tmp")).unwrap().count(), 0);
    }

    fn lock_files(root: &Path) -> Vec<String> {
        fs::read_dir(root.join(".locks"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Sets the last use of result `n` to `age` ago.
    fn used_ago(root: &Path, n: u8, age: Duration) {
        fs::File::options()
            .append(true)
            .open(root.join(key(n)).join(MARKER))
            .unwrap()
            .set_modified(SystemTime::now() - age)
            .unwrap();
    }

    fn last_use(root: &Path, n: u8) -> SystemTime {
        fs::metadata(root.join(key(n)).join(MARKER))
            .unwrap()
            .modified()
            .unwrap()
    }

    #[test]
    fn lock_files_are_gone_after_use() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path(), 1 << 20).unwrap();
        cache
            .get_or_create::<io::Error>(&key(1), |d| write_result(d, 10))
            .unwrap();
        assert_eq!(
            lock_files(tmp.path()),
            Vec::<String>::new(),
            "after a build"
        );
        let _ = cache.get_or_create::<io::Error>(&key(2), |_| Err(io::Error::other("failed")));
        assert_eq!(
            lock_files(tmp.path()),
            Vec::<String>::new(),
            "after a failure"
        );
        // Waiters that find the result under the lock remove it too.
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    Cache::open(tmp.path(), 1 << 20)
                        .unwrap()
                        .get_or_create::<io::Error>(&key(3), |d| {
                            std::thread::sleep(Duration::from_millis(100));
                            write_result(d, 10)
                        })
                        .unwrap();
                });
            }
        });
        assert_eq!(lock_files(tmp.path()), Vec::<String>::new(), "after hits");
    }

    /// Holders remove the lock file while others wait on it: still one
    /// holder at a time, and no file left at the end.
    #[test]
    fn a_lock_stays_exclusive_while_its_file_comes_and_goes() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join(key(1));
        let holders = AtomicUsize::new(0);
        let rounds = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for _ in 0..200 {
                        let lock = KeyLock::acquire(path.clone()).unwrap();
                        assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                        std::thread::yield_now();
                        holders.fetch_sub(1, Ordering::SeqCst);
                        rounds.fetch_add(1, Ordering::SeqCst);
                        drop(lock);
                    }
                });
            }
        });
        assert_eq!(rounds.load(Ordering::SeqCst), 1600);
        assert!(!path.exists());
    }

    #[test]
    fn opening_sweeps_the_locks_nobody_holds() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path(), 1 << 20).unwrap();
        fs::write(cache.lock_path(&key(1)), "").unwrap();
        let held = KeyLock::acquire(cache.lock_path(&key(2))).unwrap();
        Cache::open(tmp.path(), 1 << 20).unwrap();
        assert_eq!(lock_files(tmp.path()), [key(2)], "a held lock is kept");
        drop(held);
        assert_eq!(lock_files(tmp.path()), Vec::<String>::new());
    }

    #[test]
    fn the_size_is_recorded_once_and_eviction_reads_only_it() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path(), 5000).unwrap();
        let first = cache
            .get_or_create::<io::Error>(&key(1), |d| write_result(d, 1000))
            .unwrap();
        // index.html, result.json's "{}" and the bundle of both.
        assert_eq!(
            fs::read_to_string(first.dir.join(SIZE_FILE)).unwrap(),
            (1002 + bundle_len(&first.dir)).to_string()
        );
        // Bytes added behind the cache's back are not walked: by the
        // recorded sizes the store still fits.
        fs::write(first.dir.join("unrecorded"), vec![0u8; 100_000]).unwrap();
        cache
            .get_or_create::<io::Error>(&key(2), |d| write_result(d, 1000))
            .unwrap();
        assert!(
            cache.result_dir(&key(1)).is_some(),
            "evicted by its tree's size"
        );
        // ...and the recorded size is what eviction goes by.
        fs::write(first.dir.join(SIZE_FILE), "100000").unwrap();
        used_ago(tmp.path(), 1, Duration::from_secs(600));
        cache
            .get_or_create::<io::Error>(&key(3), |d| write_result(d, 1000))
            .unwrap();
        assert!(
            cache.result_dir(&key(1)).is_none(),
            "kept despite its recorded size"
        );
        assert!(cache.result_dir(&key(2)).is_some());
        assert!(cache.result_dir(&key(3)).is_some());
    }

    #[test]
    fn a_result_stored_without_a_size_is_measured_once() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path(), 1 << 20).unwrap();
        let old = cache
            .get_or_create::<io::Error>(&key(1), |d| write_result(d, 10))
            .unwrap();
        fs::remove_file(old.dir.join(SIZE_FILE)).unwrap();
        cache
            .get_or_create::<io::Error>(&key(2), |d| write_result(d, 10))
            .unwrap();
        assert_eq!(
            fs::read_to_string(old.dir.join(SIZE_FILE)).unwrap(),
            (12 + bundle_len(&old.dir)).to_string()
        );
    }

    #[test]
    fn uses_are_recorded_at_most_once_a_minute() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path(), 1 << 20).unwrap();
        cache
            .get_or_create::<io::Error>(&key(1), |d| write_result(d, 10))
            .unwrap();
        used_ago(tmp.path(), 1, Duration::from_secs(30));
        let before = last_use(tmp.path(), 1);
        assert!(mark_used(tmp.path(), &key(1)));
        assert_eq!(last_use(tmp.path(), 1), before, "touched twice in a minute");
        used_ago(tmp.path(), 1, USE_RESOLUTION + Duration::from_secs(1));
        assert!(mark_used(tmp.path(), &key(1)));
        let age = SystemTime::now()
            .duration_since(last_use(tmp.path(), 1))
            .unwrap_or_default();
        assert!(age < Duration::from_secs(5), "{age:?}");
        assert!(!mark_used(tmp.path(), &key(9)), "no such result");
        assert!(!mark_used(tmp.path(), "../x"));
    }

    /// A read of a result (what `/r/` does through `mark_used`) keeps it
    /// from being the one evicted.
    #[test]
    fn a_read_counts_as_use_for_eviction() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path(), 2500).unwrap();
        for n in [1, 2] {
            cache
                .get_or_create::<io::Error>(&key(n), |d| write_result(d, 1000))
                .unwrap();
        }
        used_ago(tmp.path(), 1, Duration::from_secs(3600));
        used_ago(tmp.path(), 2, Duration::from_secs(1800));
        assert!(mark_used(tmp.path(), &key(1)));
        cache
            .get_or_create::<io::Error>(&key(3), |d| write_result(d, 1000))
            .unwrap();
        assert!(
            tmp.path().join(key(1)).is_dir(),
            "the read result was evicted"
        );
        assert!(!tmp.path().join(key(2)).exists(), "least recent kept");
    }

    #[test]
    fn a_result_larger_than_the_bound_is_still_served_once() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = Cache::open(tmp.path(), 10).unwrap();
        let got = cache
            .get_or_create::<io::Error>(&key(5), |d| write_result(d, 1000))
            .unwrap();
        assert!(got.dir.join("index.html").is_file());
    }
}
