//! The service does what its OpenAPI document says, where a real server
//! told them apart: requests the document calls valid are taken, those it
//! calls invalid are refused before a job exists, and every refusal has
//! the API's error shape. (`scripts/schemathesis.sh` holds the whole
//! document to the service; these pin each fix it led to.)

use std::time::Duration;

use serde_json::Value;

use super::harness::{self, Server};

/// A form with a small valid project and the given text fields.
fn form(fields: &[(&str, &str)]) -> reqwest::multipart::Form {
    let mut form = reqwest::multipart::Form::new().part(
        "project",
        reqwest::multipart::Part::bytes(harness::project_zip(&harness::nonce())).file_name("p.zip"),
    );
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    form
}

async fn post(client: &reqwest::Client, server: &Server, fields: &[(&str, &str)]) -> (u16, Value) {
    let r = client
        .post(server.url("/api/v1/convert?wait=0"))
        .multipart(form(fields))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

/// Job ids are 32 hex digits; a path segment that does not even decode
/// (not UTF-8) is no job either, and gets the same JSON 404 (it used to
/// get a plain-text 400 from the framework).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_paths_that_do_not_decode_get_a_json_404() {
    let server = Server::start(&[], &[]);
    for path in [
        "/api/v1/jobs/%ff",
        "/api/v1/jobs/%ff/events",
        "/api/v1/jobs/%C3%28",
        "/api/v1/jobs/%zz/events",
    ] {
        let r = harness::raw_get(server.addr, path);
        assert_eq!(r.status, 404, "{path}: {}", r.text());
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{path}: {:?}",
            r.headers
        );
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["error"]["code"], "not_found", "{path}: {body}");
    }
}

/// `main` is checked with the form, before a job exists (`wait=0` answers
/// 202 for any form that makes one): a name no
/// project file can have, or that is no .tex/.ltx file, is a 400
/// (`bad_main`), as the document's pattern says. Names of the right
/// shape pass whatever the project holds (the job says whether it has
/// them), and so do surrounding spaces, leading `./` and an empty value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn main_names_are_judged_with_the_form() {
    let server = Server::start(&[], &[]);
    let client = reqwest::Client::new();
    for bad in [
        "paper.txt",
        "../paper.tex",
        "a/../paper.tex",
        "./../paper.tex",
        "/etc/paper.tex",
        "C:paper.tex",
        "c:/paper.tex",
        "a\\paper.tex",
        "a//paper.tex",
        "a/./paper.tex",
        "chapters/",
        "./",
        "pa\u{202e}per.tex",
        "pa\u{7}per.tex",
        "paper.tex\u{a0}",
        "analysis.ipynb.txt",
        "../analysis.ipynb",
    ] {
        let (status, body) = post(&client, &server, &[("main", bad)]).await;
        assert_eq!(status, 400, "{bad:?}: {body}");
        assert_eq!(body["error"]["code"], "bad_main", "{bad:?}: {body}");
    }
    let long = format!("{}.tex", "é".repeat(508));
    assert_eq!(long.chars().count(), 512);
    for good in [
        "main.tex",
        " ./main.tex\n",
        "././main.tex",
        "Main.TEX",
        "paper.ltx",
        "nb/analysis.ipynb",
        "Analysis.IPYNB",
        "1:paper.tex",
        "..hidden/.tex",
        "Über Kapitel/résumé.tex",
        long.as_str(),
        "",
        " \t",
    ] {
        let (status, body) = post(&client, &server, &[("main", good)]).await;
        assert_eq!(status, 202, "{good:?}: {body}");
    }
    let too_long = format!("{}.tex", "é".repeat(509));
    let (status, body) = post(&client, &server, &[("main", &too_long)]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "bad_request", "{body}");
    harness::assert_uploads_cleaned(&server, Duration::from_secs(60));
}

/// Each text field is taken once and as sent: a repeated `main` or
/// `converter` is refused (either copy could have been meant), and a
/// converter name is one of the five exactly, as the document's enum
/// says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_fields_are_taken_once_and_as_sent() {
    let server = Server::start(&[], &[]);
    let client = reqwest::Client::new();
    for (fields, code) in [
        (
            &[("main", "main.tex"), ("main", "other.tex")][..],
            "bad_request",
        ),
        (
            &[("converter", "pandoc"), ("converter", "latexml")][..],
            "bad_request",
        ),
        (&[("converter", " pandoc")][..], "bad_converter"),
        (&[("converter", "pandoc\n")][..], "bad_converter"),
        (&[("converter", "Pandoc")][..], "bad_converter"),
        (&[("converter", "")][..], "bad_converter"),
    ] {
        let (status, body) = post(&client, &server, fields).await;
        assert_eq!(status, 400, "{fields:?}: {body}");
        assert_eq!(body["error"]["code"], code, "{fields:?}: {body}");
    }
    let (status, body) = post(&client, &server, &[("converter", "pandoc")]).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["converter_requested"], "pandoc");
    harness::assert_uploads_cleaned(&server, Duration::from_secs(60));
}
