//! Results on object storage (the `object_store` crate): an
//! S3-compatible bucket, an Azure Blob container, or a directory every
//! node mounts.
//!
//! Layout under the configured prefix: `results/<key>/<n>`, the result's
//! files numbered in the order of its manifest, then
//! `results/<key>.json`, the manifest (each file's path in the result),
//! written last: a result whose manifest exists is whole. Object names
//! never carry a file name of the result, so no name needs escaping.
//! Beside them wait a cluster's uploads (`uploads/<job id>`) and the
//! program runs an API node hands to a worker (`runs/<request id>`).
//! Credentials, region and the like come from each service's standard
//! variables: `AWS_*` for S3 (`AmazonS3Builder::from_env`), `AZURE_*` for
//! Azure (`MicrosoftAzureBuilder::from_env`).

use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::{self, StreamExt, TryStreamExt};
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, PutPayload, RetryConfig};
use serde::{Deserialize, Serialize};

use super::ResultStore;

/// The `[shared]` config section (`TEXJAIL_SHARED_<NAME>`): where the
/// nodes of a cluster share results. An empty bucket shares nothing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where to share, as a URL instead of the `s3_*` keys:
    /// `s3://bucket/prefix` (with `s3_endpoint` for a server other than
    /// AWS), `az://container/prefix` (Azure Blob Storage, the account
    /// from `AZURE_STORAGE_ACCOUNT_NAME`) or `file:///srv/texjail-shared`
    /// (a directory every node mounts, written by rename like an object
    /// store).
    pub url: String,
    /// The S3 bucket; empty keeps results in the data dir only.
    pub s3_bucket: String,
    /// The S3 endpoint URL for a service other than AWS (an
    /// S3-compatible server); empty uses AWS (or `AWS_ENDPOINT`).
    pub s3_endpoint: String,
    /// A prefix for every object name, so services can share a bucket.
    pub s3_prefix: String,
}

impl Settings {
    /// Whether results (and a cluster's uploads) are shared at all.
    pub fn enabled(&self) -> bool {
        !self.url.is_empty() || !self.s3_bucket.is_empty()
    }

    /// The offending key and why.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.url.is_empty() {
            return Ok(());
        }
        if !self.s3_bucket.is_empty() {
            return Err((
                "shared.url".into(),
                "set either shared.url or shared.s3_bucket, not both".into(),
            ));
        }
        match Location::parse(&self.url) {
            Some(_) => Ok(()),
            None => Err((
                "shared.url".into(),
                format!(
                    "'{}' is not a store this build knows: s3://bucket/prefix, az://container/prefix or file:///absolute/dir",
                    self.url
                ),
            )),
        }
    }
}

/// A `shared.url`, taken apart.
#[derive(Debug, PartialEq, Eq)]
enum Location<'a> {
    S3 { bucket: &'a str, prefix: &'a str },
    Azure { container: &'a str, prefix: &'a str },
    Directory(&'a str),
}

impl Location<'_> {
    fn parse(url: &str) -> Option<Location<'_>> {
        let (scheme, rest) = url.split_once("://")?;
        if scheme == "file" {
            return rest.starts_with('/').then_some(Location::Directory(rest));
        }
        let rest = rest.trim_end_matches('/');
        let (top, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if top.is_empty() {
            return None;
        }
        match scheme {
            "s3" => Some(Location::S3 {
                bucket: top,
                prefix,
            }),
            "az" => Some(Location::Azure {
                container: top,
                prefix,
            }),
            _ => None,
        }
    }
}

/// Objects sent or fetched at once for one result.
const PARALLEL: usize = 8;

/// How long one call retries a store that does not answer.
const RETRY_WINDOW: Duration = Duration::from_secs(5);

/// An outage is reported within seconds: a job is announced done after
/// its result is shared, and a page is served after its copy is fetched.
fn retry() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: RETRY_WINDOW,
    }
}

fn client_options() -> ClientOptions {
    ClientOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(30))
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    files: Vec<PathBuf>,
}

pub struct SharedResults {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl SharedResults {
    /// The store `settings` name, with the credentials of the environment
    /// (`AWS_*` or `AZURE_*`); plain `http://` endpoints are allowed (a
    /// server on the private network, an emulator).
    pub fn open(settings: &Settings) -> io::Result<SharedResults> {
        let location = if settings.url.is_empty() {
            Location::S3 {
                bucket: &settings.s3_bucket,
                prefix: &settings.s3_prefix,
            }
        } else {
            Location::parse(&settings.url).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("'{}' is not a store this build knows", settings.url),
                )
            })?
        };
        match location {
            Location::Directory(dir) => {
                std::fs::create_dir_all(dir)?;
                let store = LocalFileSystem::new_with_prefix(dir).map_err(io::Error::other)?;
                Ok(SharedResults::new(store, ""))
            }
            Location::S3 { bucket, prefix } => {
                let settings = Settings {
                    url: String::new(),
                    s3_bucket: bucket.into(),
                    s3_prefix: prefix.into(),
                    s3_endpoint: settings.s3_endpoint.clone(),
                };
                SharedResults::open_s3(AmazonS3Builder::from_env(), &settings)
            }
            Location::Azure { container, prefix } => {
                SharedResults::open_azure(MicrosoftAzureBuilder::from_env(), container, prefix)
            }
        }
    }

    /// An S3 store on `settings.s3_bucket`, with credentials and options
    /// from `builder` instead of the environment.
    pub fn open_s3(builder: AmazonS3Builder, settings: &Settings) -> io::Result<SharedResults> {
        let mut builder = builder
            .with_bucket_name(&settings.s3_bucket)
            .with_retry(retry())
            .with_client_options(client_options())
            // After the client options, which would reset it.
            .with_allow_http(true);
        if !settings.s3_endpoint.is_empty() {
            builder = builder
                .with_endpoint(&settings.s3_endpoint)
                .with_virtual_hosted_style_request(false);
        }
        let store = builder.build().map_err(io::Error::other)?;
        Ok(SharedResults::new(store, &settings.s3_prefix))
    }

    /// An Azure Blob store on `container`, with credentials and options
    /// from `builder` instead of the environment.
    pub fn open_azure(
        builder: MicrosoftAzureBuilder,
        container: &str,
        prefix: &str,
    ) -> io::Result<SharedResults> {
        let store = builder
            .with_container_name(container)
            .with_retry(retry())
            .with_client_options(client_options())
            .with_allow_http(true)
            .build()
            .map_err(|e| {
                io::Error::other(format!(
                    "az://{container}: {e} (the account and its credentials come from \
                     AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY, or other \
                     AZURE_* variables)"
                ))
            })?;
        Ok(SharedResults::new(store, prefix))
    }

    fn new(store: impl ObjectStore, prefix: &str) -> SharedResults {
        SharedResults {
            store: Arc::new(store),
            prefix: prefix.trim_matches('/').to_string(),
        }
    }

    fn object(&self, name: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        }
    }

    async fn publish_result(&self, key: &str, dir: &Path) -> io::Result<()> {
        let manifest = self.object(&format!("results/{key}.json"));
        if self.store.head(&manifest).await.is_ok() {
            return Ok(());
        }
        let root = dir.to_path_buf();
        let files = tokio::task::spawn_blocking(move || regular_files(&root))
            .await
            .map_err(io::Error::other)??;
        stream::iter(files.clone().into_iter().enumerate())
            .map(|(n, file)| async move {
                let bytes = tokio::fs::read(dir.join(file)).await?;
                self.store
                    .put(
                        &self.object(&format!("results/{key}/{n}")),
                        PutPayload::from(bytes),
                    )
                    .await
                    .map_err(io::Error::other)
            })
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<_>>()
            .await?;
        let body = serde_json::to_vec(&Manifest { files }).map_err(io::Error::other)?;
        self.store
            .put(&manifest, PutPayload::from(body))
            .await
            .map_err(io::Error::other)?;
        Ok(())
    }

    async fn fetch_result(&self, key: &str, results: &Path) -> io::Result<bool> {
        if results.join(key).join(crate::cache::MARKER).is_file() {
            return Ok(true);
        }
        let manifest = match self
            .store
            .get(&self.object(&format!("results/{key}.json")))
            .await
        {
            Ok(got) => got.bytes().await.map_err(io::Error::other)?,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(e) => return Err(io::Error::other(e)),
        };
        let manifest: Manifest = serde_json::from_slice(&manifest).map_err(io::Error::other)?;
        let aside = results.join(".tmp");
        tokio::fs::create_dir_all(&aside).await?;
        let tmp = tempfile::Builder::new()
            .prefix("fetch.")
            .tempdir_in(&aside)?;
        if let Some(bad) = manifest.files.iter().find(|f| !is_plain_relative(f)) {
            return Err(io::Error::other(format!(
                "result {key}: refused file name {}",
                bad.display()
            )));
        }
        let into = tmp.path();
        stream::iter(manifest.files.clone().into_iter().enumerate())
            .map(|(n, file)| async move {
                let bytes = self
                    .store
                    .get(&self.object(&format!("results/{key}/{n}")))
                    .await
                    .map_err(io::Error::other)?
                    .bytes()
                    .await
                    .map_err(io::Error::other)?;
                let target = into.join(&file);
                if let Some(parent) = target.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                tokio::fs::write(&target, &bytes).await
            })
            .buffer_unordered(PARALLEL)
            .try_collect::<Vec<_>>()
            .await?;
        if !tmp.path().join(crate::cache::MARKER).is_file() {
            return Err(io::Error::other(format!("result {key} has no marker")));
        }
        let dest = results.join(key);
        match std::fs::rename(tmp.path(), &dest) {
            Ok(()) => {
                let _ = tmp.keep();
                Ok(true)
            }
            // Another request copied it first.
            Err(_) if dest.join(crate::cache::MARKER).is_file() => Ok(true),
            Err(e) => Err(e),
        }
    }
}

/// What waits in the store for a worker: uploads (`uploads/<job id>`),
/// written by the API node that accepted the job before it is queued,
/// read by the worker that takes it, deleted when the job ends; and the
/// program runs an API node hands to a worker (`runs/<request id>`),
/// deleted once answered.
impl SharedResults {
    pub async fn put_upload(&self, id: &str, file: &Path) -> io::Result<()> {
        let bytes = tokio::fs::read(file).await?;
        self.put_waiting(&format!("uploads/{id}"), bytes).await
    }

    /// Writes job `id`'s upload to `dest`; false when there is none.
    pub async fn get_upload(&self, id: &str, dest: &Path) -> io::Result<bool> {
        match self.get_waiting(&format!("uploads/{id}")).await? {
            Some(bytes) => {
                tokio::fs::write(dest, &bytes).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    pub async fn delete_upload(&self, id: &str) -> io::Result<()> {
        self.delete_waiting(&format!("uploads/{id}")).await
    }

    pub async fn put_run_request(&self, id: &str, body: Vec<u8>) -> io::Result<()> {
        self.put_waiting(&format!("runs/{id}"), body).await
    }

    /// The body of run request `id`; `None` when there is none.
    pub async fn get_run_request(&self, id: &str) -> io::Result<Option<Vec<u8>>> {
        Ok(self
            .get_waiting(&format!("runs/{id}"))
            .await?
            .map(|b| b.to_vec()))
    }

    pub async fn delete_run_request(&self, id: &str) -> io::Result<()> {
        self.delete_waiting(&format!("runs/{id}")).await
    }

    async fn put_waiting(&self, name: &str, bytes: Vec<u8>) -> io::Result<()> {
        self.store
            .put(&self.object(name), PutPayload::from(bytes))
            .await
            .map_err(io::Error::other)?;
        Ok(())
    }

    async fn get_waiting(&self, name: &str) -> io::Result<Option<bytes::Bytes>> {
        match self.store.get(&self.object(name)).await {
            Ok(got) => Ok(Some(got.bytes().await.map_err(io::Error::other)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(io::Error::other(e)),
        }
    }

    async fn delete_waiting(&self, name: &str) -> io::Result<()> {
        match self.store.delete(&self.object(name)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(io::Error::other(e)),
        }
    }
}

impl ResultStore for SharedResults {
    fn publish<'a>(&'a self, key: &'a str, dir: &'a Path) -> BoxFuture<'a, io::Result<()>> {
        Box::pin(self.publish_result(key, dir))
    }

    fn fetch<'a>(&'a self, key: &'a str, results: &'a Path) -> BoxFuture<'a, io::Result<bool>> {
        Box::pin(self.fetch_result(key, results))
    }
}

/// Every regular file under `root`, relative, links not followed, the
/// marker last.
fn regular_files(root: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(false) {
        let entry = entry.map_err(io::Error::other)?;
        if entry.file_type().is_file() {
            let rel = entry
                .path()
                .strip_prefix(root)
                .map_err(io::Error::other)?
                .to_path_buf();
            files.push(rel);
        }
    }
    files.sort_by_key(|f| f == Path::new(crate::cache::MARKER));
    Ok(files)
}

/// A relative path of normal components only.
fn is_plain_relative(path: &Path) -> bool {
    path.components().count() > 0 && path.components().all(|c| matches!(c, Component::Normal(_)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_url_names_s3_azure_or_a_directory_and_nothing_else() {
        let with = |url: &str| Settings {
            url: url.into(),
            ..Settings::default()
        };
        for good in [
            "s3://results",
            "s3://results/texjail",
            "az://results/texjail/",
            "file:///srv/shared",
        ] {
            assert_eq!(with(good).validate(), Ok(()), "{good}");
            assert!(with(good).enabled());
        }
        for bad in [
            "gs://results",
            "s3://",
            "az:///texjail",
            "file://relative",
            "results",
            "ftp://x/y",
        ] {
            let (key, message) = with(bad).validate().unwrap_err();
            assert_eq!(key, "shared.url");
            assert!(message.contains("s3://bucket/prefix"), "{message}");
        }
        let both = Settings {
            s3_bucket: "results".into(),
            ..with("s3://results")
        };
        assert!(both.validate().unwrap_err().1.contains("not both"));
        assert!(!Settings::default().enabled());
    }

    #[test]
    fn an_azure_store_without_an_account_names_the_variables() {
        let Err(refused) = SharedResults::open_azure(MicrosoftAzureBuilder::new(), "results", "")
        else {
            panic!("opened an Azure store without an account");
        };
        let message = refused.to_string();
        assert!(message.starts_with("az://results: "), "{message}");
        assert!(message.contains("AZURE_STORAGE_ACCOUNT_NAME"), "{message}");
    }

    #[test]
    fn a_url_names_the_top_level_and_a_prefix() {
        assert_eq!(
            Location::parse("az://results/a/b/"),
            Some(Location::Azure {
                container: "results",
                prefix: "a/b"
            })
        );
        assert_eq!(
            Location::parse("s3://results"),
            Some(Location::S3 {
                bucket: "results",
                prefix: ""
            })
        );
        assert_eq!(
            Location::parse("file:///srv/x"),
            Some(Location::Directory("/srv/x"))
        );
    }

    #[tokio::test]
    async fn a_shared_directory_holds_results_and_uploads_like_a_bucket() {
        let shared = tempfile::tempdir().unwrap();
        let store = SharedResults::open(&Settings {
            url: format!("file://{}", shared.path().join("store").display()),
            ..Settings::default()
        })
        .unwrap();
        let made = tempfile::tempdir().unwrap();
        let key = "ab".repeat(32);
        let dir = made.path().join(&key);
        std::fs::create_dir_all(dir.join("assets")).unwrap();
        std::fs::write(dir.join("index.html"), "<p>page</p>").unwrap();
        std::fs::write(dir.join("assets/fig.png"), [1u8, 2, 3]).unwrap();
        std::fs::write(dir.join(crate::cache::MARKER), "{}").unwrap();
        store.publish(&key, &dir).await.unwrap();
        let other = tempfile::tempdir().unwrap();
        assert!(store.fetch(&key, other.path()).await.unwrap());
        assert_eq!(
            std::fs::read(other.path().join(&key).join("assets/fig.png")).unwrap(),
            [1u8, 2, 3]
        );
        assert!(!store.fetch(&"cd".repeat(32), other.path()).await.unwrap());

        let upload = made.path().join("project");
        std::fs::write(&upload, b"PK...").unwrap();
        store.put_upload("job1", &upload).await.unwrap();
        let back = other.path().join("back");
        assert!(store.get_upload("job1", &back).await.unwrap());
        assert_eq!(std::fs::read(&back).unwrap(), b"PK...");
        store.delete_upload("job1").await.unwrap();
        assert!(!store.get_upload("job1", &back).await.unwrap());
        store.delete_upload("job1").await.unwrap();
    }

    #[test]
    fn only_plain_relative_names_are_written() {
        assert!(is_plain_relative(Path::new("assets/fig.png")));
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./a"] {
            assert!(!is_plain_relative(Path::new(bad)), "{bad}");
        }
    }
}
