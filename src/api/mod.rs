//! The HTTP service: routes, the shared state, and `serve`, which binds the
//! listener and shuts down gracefully. Handlers live in one file per area;
//! [`app`] builds the router so tests can drive it with or without a socket.
//!
//! Routes: the upload page and scripts (`/`, `/static/*`), the JSON API
//! under `/api/v1`, results under `/r/`, and `/healthz`, `/readyz`,
//! `/metrics`.

pub mod auth;
pub mod convert;
pub mod cors;
pub mod error;
pub mod health;
pub mod jobs;
pub mod pages;
pub mod result_path;
pub mod results;
pub mod run;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::config::service::Settings;
pub use health::ReadyCheck;

use crate::config::origin::Origin;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::{self, Cluster, Pipeline, Worker};
use crate::run::service::Runs;
use crate::shared::store::SharedResults;
use crate::shared::{LocalResults, ResultStore};
use error::ApiError;

/// Everything a handler may use; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pipeline: Pipeline,
    pub settings: Arc<Settings>,
    pub metrics: Arc<Metrics>,
    pub tokens: Option<Arc<auth::Tokens>>,
    /// `<data_dir>/results`: finished results by key.
    pub results_dir: PathBuf,
    /// `<data_dir>/uploads`: one temporary directory per upload.
    pub uploads_dir: PathBuf,
    /// Prefix of result URLs: empty (same origin) or the results origin.
    pub results_base: String,
    pub results_origin: Option<Origin>,
    pub page_csp: String,
    pub ready: ReadyCheck,
    pub ready_cache: Arc<health::ReadyCache>,
    /// Uploads being received at once are capped at slots + queue: more
    /// could never become jobs, and each one takes disk space.
    pub upload_permits: Arc<tokio::sync::Semaphore>,
    /// Program runs: their own slots, queue and uids.
    pub runs: Arc<Runs>,
    /// Results shared with other nodes, copied into `results_dir` on first use.
    pub shared: Arc<dyn ResultStore>,
    /// The cluster this node is one of, if any.
    pub cluster: Option<Arc<Cluster>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("invalid setting {0}: {1}")]
    Invalid(String, String),
    #[error("cannot prepare the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tokens(#[from] auth::TokenError),
    #[error("refusing to listen on {0} without API tokens: set service.api_token_file (--api-token-file), or service.allow_anonymous = true to serve anyone")]
    AnonymousOnPublicAddress(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the conversion engine: {0}")]
    Engine(String),
    #[error("cannot join the cluster: {0}")]
    Cluster(String),
    #[error("server error: {0}")]
    Io(#[from] std::io::Error),
}

impl AppState {
    /// Prepares the data directory (removing uploads a crashed run left
    /// behind), loads tokens and starts the pipeline of a node on its own.
    /// Needs a tokio runtime.
    pub fn new(
        config: &Config,
        worker: Arc<dyn Worker>,
        ready: ReadyCheck,
    ) -> Result<AppState, ServeError> {
        AppState::build(config, Some(worker), ready, None)
    }

    /// [`AppState::new`] for a node of `cluster` (when given), whose
    /// engine is `worker` (none on an API node).
    fn build(
        config: &Config,
        worker: Option<Arc<dyn Worker>>,
        ready: ReadyCheck,
        cluster: Option<(Arc<Cluster>, Arc<SharedResults>)>,
    ) -> Result<AppState, ServeError> {
        let settings = config.service.clone();
        settings
            .validate()
            .map_err(|(k, m)| ServeError::Invalid(k, m))?;
        let results_dir = config.data_dir.join("results");
        let uploads_dir = config.data_dir.join("uploads");
        prepare_dirs(&results_dir, &uploads_dir)?;
        let runs_dir = config.data_dir.join("runs");
        prepare_dirs(&results_dir, &runs_dir)?;
        let runs = Arc::new(Runs::new(
            crate::run::Runner::new(config, &std::env::current_exe()?, runs_dir),
            crate::cache::Cache::open(&results_dir, config.cache.max_bytes).map_err(|source| {
                ServeError::DataDir {
                    path: results_dir.clone(),
                    source,
                }
            })?,
        ));
        let tokens = if settings.api_token_file.as_os_str().is_empty() {
            None
        } else {
            Some(Arc::new(auth::Tokens::load(&settings.api_token_file)?))
        };
        let results_origin = (!settings.results_origin.is_empty())
            .then(|| Origin::parse(&settings.results_origin))
            .flatten();
        let results_base = results_origin
            .as_ref()
            .map(Origin::as_url)
            .unwrap_or_default();
        let metrics = Arc::new(Metrics::new());
        // Scratch directories of jobs the last run of the service left
        // (it was killed): their jails died with it.
        sweep_dir(&config.data_dir.join("jobs")).map_err(|source| ServeError::DataDir {
            path: config.data_dir.join("jobs"),
            source,
        })?;
        let limits = pipeline::Limits {
            slots: settings.effective_slots(),
            queue_capacity: settings.queue_capacity as usize,
            job_timeout: Duration::from_secs(settings.job_timeout_secs),
            retention: Duration::from_secs(settings.job_retention_secs),
        };
        let node_of = cluster.as_ref().map(|(cluster, _)| cluster.clone());
        let (pipeline, shared): (Pipeline, Arc<dyn ResultStore>) = match (cluster, worker) {
            (Some((cluster, s3)), worker) => (
                Pipeline::clustered(worker, limits, metrics.clone(), s3.clone(), cluster),
                s3,
            ),
            (None, Some(worker)) => {
                let queue_dir = config.data_dir.join("queue");
                let store =
                    pipeline::DiskStore::open(&queue_dir, &results_dir).map_err(|source| {
                        ServeError::DataDir {
                            path: queue_dir.clone(),
                            source,
                        }
                    })?;
                let shared: Arc<dyn ResultStore> = if !config.shared.enabled() {
                    Arc::new(LocalResults)
                } else {
                    Arc::new(open_shared(config)?)
                };
                let pipeline = Pipeline::with_store(
                    worker,
                    limits,
                    metrics.clone(),
                    Arc::new(store),
                    shared.clone(),
                );
                (pipeline, shared)
            }
            (None, None) => {
                return Err(ServeError::Engine(
                    "a node on its own needs a conversion engine".into(),
                ))
            }
        };
        let upload_permits = Arc::new(tokio::sync::Semaphore::new(
            (settings.effective_slots() + settings.queue_capacity).max(1) as usize,
        ));
        Ok(AppState {
            shared,
            cluster: node_of,
            runs,
            upload_permits,
            pipeline,
            metrics,
            tokens,
            results_dir,
            uploads_dir,
            page_csp: pages::page_csp(results_origin.as_ref().map(|o| o.as_url()).as_deref()),
            results_base,
            results_origin,
            ready,
            ready_cache: Arc::default(),
            settings: Arc::new(settings),
        })
    }
}

fn open_shared(config: &Config) -> Result<SharedResults, ServeError> {
    SharedResults::open(&config.shared)
        .map_err(|e| ServeError::Invalid("shared".into(), e.to_string()))
}

/// Removes everything in `dir` (creating it when missing).
fn sweep_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        tracing::info!(
            "removing a job directory left by an earlier run: {}",
            path.display()
        );
        let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
    }
    Ok(())
}

fn prepare_dirs(results: &Path, uploads: &Path) -> Result<(), ServeError> {
    let err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ServeError::DataDir { path, source }
    };
    std::fs::create_dir_all(results).map_err(err(results))?;
    std::fs::create_dir_all(uploads).map_err(err(uploads))?;
    for entry in std::fs::read_dir(uploads).map_err(err(uploads))? {
        let path = entry.map_err(err(uploads))?.path();
        tracing::info!("removing upload left by an earlier run: {}", path.display());
        let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
    }
    Ok(())
}

/// The whole router; a cluster's worker serves only its health, readiness
/// and metrics.
pub fn app(state: AppState) -> Router {
    if !state.pipeline.role().serves_api() {
        return Router::new()
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz))
            .route("/metrics", get(health::metrics))
            .fallback(|| async {
                ApiError::not_found(
                    "this node is a cluster's worker (cluster.role = worker): it serves no API",
                )
            })
            .layer(middleware::from_fn(no_cookies))
            .with_state(state);
    }
    let limit = usize::try_from(state.settings.max_upload_bytes).unwrap_or(usize::MAX);
    let api = Router::new().route(
        "/api/v1/convert",
        post(convert::convert).layer(DefaultBodyLimit::max(limit)),
    );
    // A cluster's API node has no jail: its workers run the programs.
    let api = api
        .route(
            "/api/v1/run",
            post(run::run).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/run/environment", get(run::environment));
    let api = api
        .route("/api/v1/jobs/{id}", get(jobs::get_job))
        .route("/api/v1/jobs/{id}/events", get(jobs::job_events))
        .route("/metrics", get(health::metrics))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/", get(pages::index))
        .route("/static/page.js", get(pages::page_js))
        .route("/static/texjail.css", get(pages::page_css))
        .route("/static/texjail-upload.js", get(pages::upload_js))
        .route("/api/v1/openapi.json", get(pages::openapi))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/r/{*path}", get(results::serve_result))
        .merge(api)
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            cors::layer(&state.settings),
            cors::for_api,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), split_origins))
        .layer(middleware::from_fn(no_cookies))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// With a separate results origin, results are served only there and
/// nothing else is: user content never shares an origin with the page.
async fn split_origins(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(origin) = &state.results_origin else {
        return next.run(request).await;
    };
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let on_results_host = origin.matches_host(host);
    let is_result = request.uri().path().starts_with("/r/");
    match (is_result, on_results_host) {
        (true, false) => {
            let target = format!("{}{}", origin.as_url(), request.uri().path());
            match HeaderValue::from_str(&target) {
                Ok(location) => {
                    let mut r = StatusCode::PERMANENT_REDIRECT.into_response();
                    r.headers_mut().insert(header::LOCATION, location);
                    results::add_result_headers(r.headers_mut());
                    r
                }
                Err(_) => ApiError::bad_request("bad_path", "refused result path").into_response(),
            }
        }
        (false, true) => ApiError::not_found("this origin serves results only").into_response(),
        _ => next.run(request).await,
    }
}

/// The service sets no cookies, whatever a handler or layer might add.
async fn no_cookies(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().remove(header::SET_COOKIE);
    response
}

/// Binds the configured address and serves until SIGINT/SIGTERM, then
/// stops accepting, lets running jobs finish for the grace period, kills
/// what is left and removes the uploads. `on_listening` gets the bound
/// address (the port is real even when 0 was asked for).
pub async fn serve(
    config: &Config,
    worker: Option<Arc<dyn Worker>>,
    ready: ReadyCheck,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let settings = &config.service;
    settings
        .validate()
        .map_err(|(k, m)| ServeError::Invalid(k, m))?;
    let addr: SocketAddr = settings.listen.parse().expect("validated");
    if !addr.ip().is_loopback()
        && settings.api_token_file.as_os_str().is_empty()
        && !settings.allow_anonymous
    {
        return Err(ServeError::AnonymousOnPublicAddress(addr));
    }
    let cluster = if config.cluster.enabled() {
        let s3 = Arc::new(open_shared(config)?);
        let cluster = Cluster::open(config, s3.clone()).await.map_err(|e| {
            ServeError::Cluster(format!(
                "{e} (cluster.nats_url = {})",
                config.cluster.nats_url_shown()
            ))
        })?;
        Some((Arc::new(cluster), s3))
    } else {
        None
    };
    let state = AppState::build(config, worker, ready, cluster)?;
    if let Some(cluster) = &state.cluster {
        if cluster.role.converts() {
            tokio::spawn(cluster.clone().serve_runs(run::answerer(state.clone())));
        }
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: settings.listen.clone(),
            source,
        })?;
    let bound = listener.local_addr()?;
    tracing::info!("listening on http://{bound}");
    on_listening(bound);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let pipeline = state.pipeline.clone();
    let grace = Duration::from_secs(settings.shutdown_grace_secs);
    let uploads = state.uploads_dir.clone();
    let drain = {
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _ = stop.wait_for(|s| *s).await;
            // Jobs end (done or cancelled), so waiting requests answer and
            // their connections can close.
            let report = pipeline.shutdown(grace, Duration::from_secs(30)).await;
            tracing::info!(?report, "pipeline stopped");
        })
    };
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!(
            "shutting down: no new connections; running jobs get {} s",
            grace.as_secs()
        );
        stop_tx.send_replace(true);
    });
    let mut stop = stop_rx.clone();
    let server = axum::serve(listener, app(state)).with_graceful_shutdown(async move {
        let _ = stop.wait_for(|s| *s).await;
    });
    // A connection that never finishes (a stalled upload) must not hold
    // the process forever: past the grace and kill periods, stop waiting.
    let mut stop = stop_rx.clone();
    let deadline = async move {
        let _ = stop.wait_for(|s| *s).await;
        tokio::time::sleep(grace + Duration::from_secs(40)).await;
    };
    tokio::select! {
        served = server => served?,
        _ = deadline => tracing::warn!("connections still open after the shutdown deadline; closing them"),
    }
    // Connections are closed; wait for the pipeline (bounded by its own timers).
    let _ = drain.await;
    let _ = prepare_dirs(&config.data_dir.join("results"), &uploads);
    let _ = prepare_dirs(
        &config.data_dir.join("results"),
        &config.data_dir.join("runs"),
    );
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
