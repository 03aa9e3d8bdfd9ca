//! The upload page, its script and style, the editor script and the
//! OpenAPI document: static files from `templates/`, compiled into the
//! binary so a deployment is one file.

use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::AppState;

const INDEX_HTML: &str = include_str!("../../templates/index.html");
const PAGE_JS: &str = include_str!("../../templates/static/page.js");
const UPLOAD_JS: &str = include_str!("../../templates/static/texjail-upload.js");
const PAGE_CSS: &str = include_str!("../../templates/static/texjail.css");
const OPENAPI_JSON: &str = include_str!("../../templates/openapi.json");

fn text(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `GET /`: the upload page. Its own CSP allows only its script and style
/// and frames from the results origin.
pub async fn index(State(state): State<AppState>) -> Response {
    let mut r = text(INDEX_HTML, "text/html; charset=utf-8");
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&state.page_csp).expect("built from a validated origin"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

pub async fn page_js() -> Response {
    text(PAGE_JS, "text/javascript; charset=utf-8")
}

/// The editor script is meant to be loaded by other origins' pages.
pub async fn upload_js() -> Response {
    let mut r = text(UPLOAD_JS, "text/javascript; charset=utf-8");
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
}

pub async fn page_css() -> Response {
    text(PAGE_CSS, "text/css; charset=utf-8")
}

pub async fn openapi() -> Response {
    text(OPENAPI_JSON, "application/json; charset=utf-8")
}

/// The upload page's CSP: its own script, style and API; frames (the
/// result iframe) only from the results origin.
pub fn page_csp(results_origin: Option<&str>) -> String {
    let frames = results_origin.unwrap_or("'self'");
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' {frames}; \
         img-src 'self' data:; frame-src {frames}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn openapi_document_is_json_and_lists_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI_JSON).expect("valid JSON");
        let paths = doc["paths"].as_object().expect("paths");
        for route in [
            "/api/v1/convert",
            "/api/v1/jobs/{id}",
            "/api/v1/jobs/{id}/events",
            "/r/{key}/",
            "/r/{key}/{file}",
            "/r/{key}.zip",
            "/healthz",
            "/readyz",
            "/metrics",
        ] {
            assert!(paths.contains_key(route), "openapi.json lacks {route}");
        }
    }
}
