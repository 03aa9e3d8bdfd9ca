//! `texjail inspect` as a user runs it: verdict, file list, digest, exit
//! status, limits from the environment, and no files left behind.

use super::inspect_json;
use crate::support::archive::*;

const TEX: &[u8] = b"\\documentclass{article}\\begin{document}x\\end{document}\n";

#[test]
fn accepted_archive_exits_0_with_files_and_digest() {
    let zip = Zip::new()
        .file("paper/main.tex", TEX)
        .file("paper/b.tex", b"bb")
        .build();
    let run = inspect_json(&zip, &[]);
    assert_eq!(run.status, Some(0));
    assert_eq!(run.json["verdict"], "accepted");
    assert_eq!(run.json["format"], "zip");
    assert_eq!(run.json["root"], "paper");
    assert_eq!(run.json["files"][0]["path"], "b.tex");
    assert_eq!(run.json["files"][0]["size"], 2);
    assert_eq!(run.json["digest"].as_str().unwrap().len(), 64);
    assert!(run.tmp_left.is_empty(), "inspect left {:?}", run.tmp_left);
}

#[test]
fn rejected_archive_exits_2_naming_rule_and_entry() {
    let zip = Zip::new()
        .file("paper/main.tex", TEX)
        .file("../evil.tex", b"x")
        .build();
    let run = inspect_json(&zip, &[]);
    assert_eq!(run.status, Some(2));
    assert_eq!(run.json["code"], "path_traversal");
    assert_eq!(run.json["entry"], "../evil.tex");
    assert!(run.tmp_left.is_empty(), "inspect left {:?}", run.tmp_left);
}

#[test]
fn limits_come_from_the_environment() {
    let zip = Zip::new().file("main.tex", TEX).build();
    let run = inspect_json(&zip, &[("TEXJAIL_UNPACK_MAX_ENTRY_BYTES", "10")]);
    assert_eq!(run.status, Some(2));
    assert_eq!(run.json["code"], "entry_too_large");
    assert!(run.json["message"]
        .as_str()
        .unwrap()
        .contains("max_entry_bytes"));
}

#[test]
fn text_output_names_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upload");
    std::fs::write(&path, Zip::new().file("paper/main.tex", TEX).build()).unwrap();
    let out = crate::support::texjail()
        .arg("inspect")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("accepted: zip, 1 files"), "{text}");
    assert!(text.contains("main.tex"), "{text}");

    std::fs::write(
        &path,
        Tar::new().entry(b"dev", TAR_CHAR, b"", 0o644, b"").build(),
    )
    .unwrap();
    let out = crate::support::texjail()
        .arg("inspect")
        .arg(&path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.starts_with("rejected (special_file): entry \"dev\""),
        "{text}"
    );
}
