//! Serves finished results from `<data_dir>/results/<key>/`: the page, the
//! fragment, assets, the log and a zip bundle. Every response carries the
//! sandboxing headers; content types come from an allowlist and anything
//! else is an attachment; no path component may be a symlink.

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
        Ok(ResultPath::File { key, file }) => {
            let dir = state.results_dir.clone();
            let etag = format!("\"{key}\"");
            if headers
                .get(header::IF_NONE_MATCH)
                .is_some_and(|v| v.as_bytes() == etag.as_bytes())
            {
                let mut r = StatusCode::NOT_MODIFIED.into_response();
                r.headers_mut()
                    .insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex"));
                r
            } else {
                match tokio::task::spawn_blocking(move || open_result_file(&dir, &key, &file)).await
                {
                    Ok(Ok(found)) => file_response(found, &etag).await,
                    Ok(Err(e)) => e.into_response(),
                    Err(e) => ApiError::internal("result read task", e).into_response(),
                }
            }
        }
        Ok(ResultPath::Bundle { key }) => {
            let dir = state.results_dir.clone();
            let name = format!("{key}.zip");
            match tokio::task::spawn_blocking(move || bundle(&dir, &key)).await {
                Ok(Ok(bytes)) => {
                    let mut r = bytes.into_response();
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
                    r
                }
                Ok(Err(e)) => e.into_response(),
                Err(e) => ApiError::internal("bundle task", e).into_response(),
            }
        }
    };
    add_result_headers(response.headers_mut());
    response
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

/// The content type for an allowed extension; None means "attachment".
fn content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    Some(match ext.as_str() {
        "html" => "text/html; charset=utf-8",
        "txt" | "log" => "text/plain; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json; charset=utf-8",
        "svg" => "image/svg+xml; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        _ => return None,
    })
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

async fn file_response(found: Found, etag: &str) -> Response {
    let Found {
        mut file,
        len,
        content_type,
        attachment_name,
    } = found;
    let body = if len <= READ_WHOLE_MAX {
        let read = tokio::task::spawn_blocking(move || {
            let mut bytes = Vec::with_capacity(len as usize);
            file.read_to_end(&mut bytes).map(|_| bytes)
        })
        .await;
        match read {
            Ok(Ok(bytes)) => Body::from(bytes),
            Ok(Err(e)) => return ApiError::internal("read result file", e).into_response(),
            Err(e) => return ApiError::internal("read task", e).into_response(),
        }
    } else {
        let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
        Body::from_stream(stream)
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

/// Zips the servable files of a result (regular files only; symlinks and
/// anything else are left out).
fn bundle(results: &Path, key: &str) -> Result<Vec<u8>, ApiError> {
    let root = results.join(key);
    let meta = std::fs::symlink_metadata(&root).map_err(|_| not_found())?;
    if !meta.file_type().is_dir() {
        return Err(not_found());
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    let mut entries: Vec<_> = walkdir::WalkDir::new(&root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .collect();
    entries.retain(|e| e.depth() >= 1);
    for entry in entries {
        let rel = entry.path().strip_prefix(&root).expect("under root");
        let Some(rel) = rel.to_str() else { continue };
        if result_path::parse(&format!("{key}/{rel}")).is_err() {
            continue;
        }
        let found = open_result_file(results, key, rel)?;
        let mut file = found.file;
        zip.start_file(rel, options)
            .map_err(|e| ApiError::internal("zip entry", e))?;
        std::io::copy(&mut file, &mut zip).map_err(|e| ApiError::internal("zip copy", e))?;
    }
    let cursor = zip
        .finish()
        .map_err(|e| ApiError::internal("zip finish", e))?;
    Ok(cursor.into_inner())
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
        let zip = bundle(dir.path(), KEY).unwrap();
        let archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        let mut names: Vec<_> = archive.file_names().map(str::to_string).collect();
        names.sort();
        assert_eq!(names, ["assets/data.bin", "assets/fig.png", "index.html"]);
        assert!(bundle(dir.path(), "fedcba9876543210fedcba9876543210").is_err());
    }
}
