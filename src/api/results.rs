//! Serves finished results from `<data_dir>/results/<key>/`: the page, the
//! fragment, assets, the log and the zip bundle (built when the result was
//! stored). Every response carries the sandboxing headers; content types
//! are guessed from the name (`mime_guess`) and served inline only when
//! the allowlist has them, anything else is an attachment; no path
//! component may be a symlink. A read (the bundle's too) is a use of the
//! result: it keeps the result from eviction ([`cache::mark_used`]).

use std::fs::File;
use std::io::Read;
use std::path::Path;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::result_path::{self, ResultPath};
use super::AppState;
use crate::cache;

/// The CSP every result response carries: the document is sandboxed (an
/// opaque origin, no scripts), loads nothing but its own images and styles.
pub const RESULT_CSP: &str =
    "sandbox; default-src 'none'; img-src 'self' data:; style-src 'self' 'unsafe-inline'";

/// Files larger than this are streamed instead of read whole.
const READ_WHOLE_MAX: u64 = 1 << 20;

/// `GET /r/{*path}`.
pub async fn serve_result(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let raw = uri.path().strip_prefix("/r/").unwrap_or("");
    let mut response = match result_path::parse(raw) {
        Err(rule) => ApiError::bad_request("bad_path", format!("refused result path: {rule}"))
            .into_response(),
        Ok(ResultPath::Bare { key }) => {
            let mut r = StatusCode::PERMANENT_REDIRECT.into_response();
            r.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&format!("/r/{key}/")).expect("hex key is a valid header"),
            );
            r
        }
        Ok(ResultPath::File { key, file }) => serve_file(&state, key, file, &headers).await,
        // The zip was built when the result was stored (see
        // `cache::BUNDLE` for why): served like any other result file,
        // streamed from disk, under its download name.
        Ok(ResultPath::Bundle { key }) => {
            let name = format!("{key}.zip");
            let mut r = serve_file(&state, key, cache::BUNDLE.to_owned(), &headers).await;
            if r.status() == StatusCode::OK {
                let h = r.headers_mut();
                h.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/zip"),
                );
                h.insert(
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
                        .expect("hex"),
                );
            }
            r
        }
    };
    add_result_headers(response.headers_mut());
    response
}

/// One file of a result: 304 when the client has it (the key is a content
/// hash), else the file, read whole when small, streamed when large.
/// Either way the request is a use of the result ([`cache::mark_used`]).
async fn serve_file(state: &AppState, key: String, file: String, headers: &HeaderMap) -> Response {
    let dir = state.results_dir.clone();
    let etag = format!("\"{key}\"");
    if headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    {
        // The client has the bytes and is still using them.
        tokio::task::spawn_blocking(move || cache::mark_used(&dir, &key));
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut()
            .insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
        return r;
    }
    // A result another node stored is copied here on first use.
    if !dir.join(&key).join(cache::MARKER).is_file() {
        if let Err(e) = state.shared.fetch(&key, &dir).await {
            tracing::warn!(%key, "cannot fetch a shared result: {e}");
        }
    }
    // Open and (for small files) read in one trip to the blocking pool.
    let opened = tokio::task::spawn_blocking(move || read_result_file(&dir, &key, &file));
    match opened.await {
        Ok(Ok(loaded)) => file_response(loaded, &etag),
        Ok(Err(e)) => e.into_response(),
        Err(e) => ApiError::internal("result read task", e).into_response(),
    }
}

/// Headers on every `/r/` response, errors included.
pub fn add_result_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(RESULT_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Results are public by key and carry no credentials: an editor on
    // another origin may fetch the fragment and embed the assets.
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("cross-origin"),
    );
    h.remove(header::SET_COOKIE);
}

/// A result file opened for serving.
pub struct Found {
    file: File,
    len: u64,
    content_type: &'static str,
    /// Set for types outside the allowlist: sent as an attachment.
    attachment_name: Option<String>,
}

/// The types a result file may be served as inline, each with the
/// `Content-Type` sent for it (text types say their charset). Any other
/// type is sent as `application/octet-stream`, an attachment.
const INLINE_TYPES: [(&str, &str); 9] = [
    ("text/html", "text/html; charset=utf-8"),
    ("text/plain", "text/plain; charset=utf-8"),
    ("text/css", "text/css; charset=utf-8"),
    ("application/json", "application/json; charset=utf-8"),
    ("image/svg+xml", "image/svg+xml; charset=utf-8"),
    ("image/png", "image/png"),
    ("image/jpeg", "image/jpeg"),
    ("image/gif", "image/gif"),
    ("image/webp", "image/webp"),
];

/// The content type of a result file, from its name: `mime_guess`'s
/// first guess for the extension, when [`INLINE_TYPES`] allows that type;
/// None means "attachment". Only the guess is looked up, so no name can
/// reach a type outside the list (`x.xhtml`, `x.js`, `x.svg.xml`, a name
/// without extension are all attachments).
fn content_type(name: &str) -> Option<&'static str> {
    let guess = mime_guess::from_path(name).first()?;
    INLINE_TYPES
        .iter()
        .find(|(essence, _)| *essence == guess.essence_str())
        .map(|(_, header)| *header)
}

fn not_found() -> ApiError {
    ApiError::not_found("no such result or result file")
}

/// Opens `results/<key>/<file>` with `openat2(RESOLVE_BENEATH |
/// RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)`: the kernel refuses a
/// symlink at any component (key directory included) and any escape from
/// the results directory, in one step with no check-then-open race. Only
/// regular files are served.
pub fn open_result_file(results: &Path, key: &str, file: &str) -> Result<Found, ApiError> {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    let root = rustix::fs::open(
        results,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| ApiError::internal("open results directory", e))?;
    let fd = rustix::fs::openat2(
        &root,
        format!("{key}/{file}"),
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|_| not_found())?;
    let opened = File::from(fd);
    let meta = opened
        .metadata()
        .map_err(|e| ApiError::internal("fstat result file", e))?;
    if !meta.file_type().is_file() {
        return Err(not_found());
    }
    let name = file.rsplit('/').next().unwrap_or(file);
    let content_type = content_type(name);
    Ok(Found {
        file: opened,
        len: meta.len(),
        content_type: content_type.unwrap_or("application/octet-stream"),
        attachment_name: content_type.is_none().then(|| attachment_name(name)),
    })
}

/// Opens and loads a result file (on a blocking thread), and records the
/// read as a use of the result for the cache's eviction
/// ([`cache::mark_used`]: at most one write a minute per result).
fn read_result_file(results: &Path, key: &str, file: &str) -> Result<Loaded, ApiError> {
    let loaded = open_result_file(results, key, file).and_then(Loaded::load)?;
    cache::mark_used(results, key);
    Ok(loaded)
}

/// A file name safe inside a quoted Content-Disposition parameter.
fn attachment_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() {
        "download".into()
    } else {
        safe
    }
}

/// A result file ready to send: small ones already read, large ones open.
struct Loaded {
    len: u64,
    content_type: &'static str,
    attachment_name: Option<String>,
    content: Content,
}

enum Content {
    Bytes(Vec<u8>),
    Stream(File),
}

impl Loaded {
    /// Reads files up to `READ_WHOLE_MAX` (called on a blocking thread).
    fn load(found: Found) -> Result<Loaded, ApiError> {
        let Found {
            mut file,
            len,
            content_type,
            attachment_name,
        } = found;
        let content = if len <= READ_WHOLE_MAX {
            let mut bytes = Vec::with_capacity(len as usize);
            file.read_to_end(&mut bytes)
                .map_err(|e| ApiError::internal("read result file", e))?;
            Content::Bytes(bytes)
        } else {
            Content::Stream(file)
        };
        Ok(Loaded {
            len,
            content_type,
            attachment_name,
            content,
        })
    }
}

fn file_response(loaded: Loaded, etag: &str) -> Response {
    let Loaded {
        len,
        content_type,
        attachment_name,
        content,
    } = loaded;
    let body = match content {
        Content::Bytes(bytes) => Body::from(bytes),
        Content::Stream(file) => Body::from_stream(tokio_util::io::ReaderStream::new(
            tokio::fs::File::from_std(file),
        )),
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(header::ETAG, HeaderValue::from_str(etag).expect("hex"));
    // The key is a content hash: the bytes behind a URL never change.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    if let Some(name) = attachment_name {
        h.insert(
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).expect("sanitized"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    fn result_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path().join(KEY);
        std::fs::create_dir_all(r.join("assets")).unwrap();
        std::fs::write(r.join("index.html"), "<p>hi</p>").unwrap();
        std::fs::write(r.join("assets/fig.png"), b"\x89PNG").unwrap();
        std::fs::write(r.join("assets/data.bin"), b"\0\0").unwrap();
        dir
    }

    #[test]
    fn opens_regular_files_with_allowlisted_types() {
        let dir = result_dir();
        let page = open_result_file(dir.path(), KEY, "index.html")
            .ok()
            .unwrap();
        assert_eq!(page.content_type, "text/html; charset=utf-8");
        assert!(page.attachment_name.is_none());
        let bin = open_result_file(dir.path(), KEY, "assets/data.bin")
            .ok()
            .unwrap();
        assert_eq!(bin.content_type, "application/octet-stream");
        assert_eq!(bin.attachment_name.as_deref(), Some("data.bin"));
    }

    /// A read through `/r/`, of a page or of the bundle, counts as a use:
    /// eviction then takes the result nobody read.
    #[test]
    fn a_read_keeps_the_result_from_eviction() {
        use crate::cache::{cache_key, Cache, MARKER};
        for file in ["index.html", cache::BUNDLE] {
            let tmp = tempfile::tempdir().unwrap();
            let cache = Cache::open(tmp.path(), 2500).unwrap();
            let key = |n: u8| cache_key(&n.to_string(), "o", "t", "p");
            let store = |n: u8| {
                cache
                    .get_or_create::<std::io::Error>(&key(n), |d| {
                        std::fs::write(d.join("index.html"), vec![b'x'; 1000])?;
                        std::fs::write(d.join(MARKER), "{}")
                    })
                    .unwrap()
            };
            for n in [1, 2] {
                let stored = store(n);
                let age = std::time::Duration::from_secs(3600 / u64::from(n));
                std::fs::File::options()
                    .append(true)
                    .open(stored.dir.join(MARKER))
                    .unwrap()
                    .set_modified(std::time::SystemTime::now() - age)
                    .unwrap();
            }
            // 1 is the least recently used until it is read.
            let read = read_result_file(tmp.path(), &key(1), file).ok().unwrap();
            let len = std::fs::metadata(tmp.path().join(key(1)).join(file))
                .unwrap()
                .len();
            assert_eq!(read.len, len, "{file}");
            store(3);
            assert!(
                tmp.path().join(key(1)).is_dir(),
                "the result whose {file} was read was evicted"
            );
            assert!(!tmp.path().join(key(2)).exists(), "{file}");
        }
    }

    #[test]
    fn content_types_come_from_mime_guess_within_the_allowlist() {
        for (name, want) in [
            ("index.html", Some("text/html; charset=utf-8")),
            ("fragment.html", Some("text/html; charset=utf-8")),
            ("log.txt", Some("text/plain; charset=utf-8")),
            ("result.json", Some("application/json; charset=utf-8")),
            ("style.css", Some("text/css; charset=utf-8")),
            ("001-fig.png", Some("image/png")),
            ("002-FIG.PNG", Some("image/png")),
            ("003-photo.jpg", Some("image/jpeg")),
            ("003-photo.jpeg", Some("image/jpeg")),
            ("004-anim.gif", Some("image/gif")),
            ("005-pic.webp", Some("image/webp")),
            ("006-drawing.svg", Some("image/svg+xml; charset=utf-8")),
            // Hostile names: whatever they end with, a type outside the
            // allowlist is an attachment, never guessed into one inside it.
            ("evil.xhtml", None),
            ("evil.xht", None),
            ("evil.js", None),
            ("evil.mjs", None),
            ("evil.html.js", None),
            ("evil.svg.xml", None),
            ("evil.xml", None),
            ("evil.xsl", None),
            ("evil.pdf", None),
            ("evil.swf", None),
            ("evil.wasm", None),
            ("evil.html.", None),
            ("evil.html ", None),
            ("evil.svg;.png.exe", None),
            ("noext", None),
            ("", None),
        ] {
            assert_eq!(content_type(name), want, "{name:?}");
        }
        // An HTML name is HTML only because the allowlist has text/html
        // (the page and the fragment); SVG is the one image type that is
        // markup, and it is served as SVG only under an SVG name.
        for name in ["x.html", "x.png.html", "x.svg.html"] {
            assert_eq!(content_type(name), Some("text/html; charset=utf-8"));
        }
        for name in ["x.svg", "x.html.svg"] {
            assert_eq!(content_type(name), Some("image/svg+xml; charset=utf-8"));
        }
        // The allowlist is of types: other names of an allowed type are
        // served as that type (result files are named by the assembly,
        // which writes none of these).
        for (name, want) in [
            ("a.htm", "text/html; charset=utf-8"),
            ("a.text", "text/plain; charset=utf-8"),
            ("a.jpe", "image/jpeg"),
            ("a.svgz", "image/svg+xml; charset=utf-8"),
        ] {
            assert_eq!(content_type(name), Some(want), "{name}");
        }
    }

    #[test]
    fn refuses_symlinked_files_directories_and_keys() {
        let dir = result_dir();
        let r = dir.path().join(KEY);
        std::os::unix::fs::symlink("/etc/passwd", r.join("assets/passwd.png")).unwrap();
        std::os::unix::fs::symlink("/etc", r.join("assets/etc")).unwrap();
        std::os::unix::fs::symlink(&r, dir.path().join("fedcba9876543210fedcba9876543210"))
            .unwrap();
        for (key, file) in [
            (KEY, "assets/passwd.png"),
            (KEY, "assets/etc/passwd"),
            ("fedcba9876543210fedcba9876543210", "index.html"),
            (KEY, "assets"),
        ] {
            let err = open_result_file(dir.path(), key, file).err().unwrap();
            assert_eq!(err.status, StatusCode::NOT_FOUND, "{key}/{file}");
        }
        // The bundle leaves the links out, and is itself opened like any
        // result file: never through a symlinked key or as a link.
        crate::cache::write_bundle(&r).unwrap();
        let found = open_result_file(dir.path(), KEY, cache::BUNDLE)
            .ok()
            .unwrap();
        let archive = zip::ZipArchive::new(found.file).unwrap();
        let mut names: Vec<_> = archive.file_names().map(str::to_string).collect();
        names.sort();
        assert_eq!(names, ["assets/data.bin", "assets/fig.png", "index.html"]);
        let err = open_result_file(
            dir.path(),
            "fedcba9876543210fedcba9876543210",
            cache::BUNDLE,
        )
        .err()
        .unwrap();
        assert_eq!(err.status, StatusCode::NOT_FOUND);
        std::fs::rename(r.join(cache::BUNDLE), dir.path().join("real.zip")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("real.zip"), r.join(cache::BUNDLE)).unwrap();
        let err = open_result_file(dir.path(), KEY, cache::BUNDLE)
            .err()
            .unwrap();
        assert_eq!(err.status, StatusCode::NOT_FOUND);
    }
}
