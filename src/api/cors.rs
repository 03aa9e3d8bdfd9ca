//! Cross-origin access to the API for the editors listed in
//! `service.cors_origins` (an editor's "Upload TeX" button calls the API
//! from its own origin), by tower-http's [`CorsLayer`]. Any other origin
//! gets no `Access-Control-Allow-Origin`, so browsers keep it out; every
//! API response says it varies with the origin, allowed or not, so no cache
//! hands one origin's answer to another. Results under `/r/` are public by
//! key and set their own headers; pages and scripts have none to set.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use tower::{Layer, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::Settings;

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// What an API response depends on besides its route: the request's
/// origin and, for `OPTIONS`, whether and what it asks as a preflight.
const VARY: [HeaderName; 3] = [
    header::ORIGIN,
    header::ACCESS_CONTROL_REQUEST_METHOD,
    header::ACCESS_CONTROL_REQUEST_HEADERS,
];

/// The API's CORS rules: the listed origins (exactly as a browser sends
/// them, see [`Settings::validate`]) may send `GET` and `POST` with
/// `Authorization` and `Content-Type`; no credentials, no exposed headers.
pub fn layer(settings: &Settings) -> CorsLayer {
    let origins: Vec<HeaderValue> = settings
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .filter(|o| o != "*")
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .max_age(PREFLIGHT_MAX_AGE)
        .vary(VARY)
}

/// Applies `cors` to requests under `/api/`. Outside the routes, so it
/// also answers preflights no route takes. An `OPTIONS` request without
/// `Access-Control-Request-Method` is no preflight: the routes answer it
/// (405 with `Allow`, as for any method a route does not take).
pub async fn for_api(State(cors): State<CorsLayer>, request: Request, next: Next) -> Response {
    if !request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    if request.method() == Method::OPTIONS
        && !request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let mut response = next.run(request).await;
        let vary = VARY.each_ref().map(HeaderName::as_str).join(", ");
        response.headers_mut().append(
            header::VARY,
            HeaderValue::from_str(&vary).expect("header names"),
        );
        return response;
    }
    match cors.layer(next).oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}
