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
pub(super) const OPENAPI_JSON: &str = include_str!("../../templates/openapi.json");

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
    use serde_json::Value;

    fn doc() -> Value {
        serde_json::from_str(super::OPENAPI_JSON).expect("valid JSON")
    }

    #[test]
    fn openapi_document_is_json_and_lists_every_route() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().expect("paths");
        for route in [
            "/api/v1/convert",
            "/api/v1/jobs/{id}",
            "/api/v1/jobs/{id}/events",
            "/api/v1/openapi.json",
            "/r/{key}",
            "/r/{key}/",
            "/r/{key}/{file}",
            "/r/{key}/assets/{asset}",
            "/r/{key}.zip",
            "/healthz",
            "/readyz",
            "/metrics",
        ] {
            assert!(paths.contains_key(route), "openapi.json lacks {route}");
        }
    }

    /// Every error an operation documents has the one error shape (but
    /// `/readyz`'s 503, which says which part is not ready), and every
    /// link leads to an operation the document has.
    #[test]
    fn errors_share_one_shape_and_links_resolve() {
        let doc = doc();
        let mut ids = Vec::new();
        let mut targets = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                ids.push(op["operationId"].as_str().expect("operationId").to_string());
                for (status, response) in op["responses"].as_object().unwrap() {
                    let code: u16 = status.parse().unwrap();
                    if code >= 400 && path != "/readyz" {
                        assert_eq!(
                            response["content"]["application/json"]["schema"]["$ref"],
                            "#/components/schemas/Error",
                            "{method} {path} {status}"
                        );
                    }
                    if let Some(links) = response["links"].as_object() {
                        for link in links.values() {
                            targets.push(link["operationId"].as_str().unwrap().to_string());
                        }
                    }
                }
            }
        }
        assert!(!targets.is_empty(), "the document has no links");
        for target in targets {
            assert!(
                ids.contains(&target),
                "a link names {target}, which is no operation"
            );
        }
    }
}
