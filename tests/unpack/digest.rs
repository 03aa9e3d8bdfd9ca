//! The project digest ignores format, entry order, timestamps and
//! compression, and changes with any byte of content.

use texjail::unpack::Limits;

use super::{inspect_json, Job};
use crate::support::archive::*;

fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "paper/main.tex",
            b"\\documentclass{article}\\input{sec}\n".to_vec(),
        ),
        ("paper/sec.tex", b"\\section{A}\n".repeat(500)),
        (
            "paper/figs/plot.png",
            (0..5000u32).map(|i| (i * 7 % 251) as u8).collect(),
        ),
    ]
}

fn digest_of(bytes: &[u8]) -> String {
    Job::new().unpack(bytes, &Limits::default()).unwrap().digest
}

#[test]
fn one_tree_has_one_digest_in_every_archive_form() {
    let files = files();
    let deflated = files
        .iter()
        .fold(Zip::new(), |z, (n, d)| z.file(n, d))
        .build();
    let stored = files
        .iter()
        .fold(Zip::new(), |z, (n, d)| {
            z.with(ZipEntry::file(n, d).stored())
        })
        .build();
    let reordered = files
        .iter()
        .rev()
        .fold(Zip::new().with(ZipEntry::dir("paper/")), |z, (n, d)| {
            z.file(n, d)
        })
        .build();
    let tar = files
        .iter()
        .fold(Tar::new(), |t, (n, d)| t.file(n, d))
        .build();
    let tar_gz = gzip(&tar);
    let expected = digest_of(&deflated);
    assert_eq!(expected.len(), 64);
    for (what, bytes) in [
        ("stored zip", &stored),
        ("reordered zip", &reordered),
        ("tar", &tar),
        ("tar.gz", &tar_gz),
    ] {
        assert_eq!(digest_of(bytes), expected, "{what}");
    }
    // The digest inspect prints is the same one.
    let report = inspect_json(&tar_gz, &[]);
    assert_eq!(report.json["digest"], expected.as_str());
}

#[test]
fn one_changed_byte_or_name_changes_the_digest() {
    let files = files();
    let base = digest_of(
        &files
            .iter()
            .fold(Zip::new(), |z, (n, d)| z.file(n, d))
            .build(),
    );
    let mut changed = files.clone();
    changed[1].1[100] ^= 1;
    let other = digest_of(
        &changed
            .iter()
            .fold(Zip::new(), |z, (n, d)| z.file(n, d))
            .build(),
    );
    assert_ne!(base, other);
    let mut renamed = files.clone();
    renamed[1].0 = "paper/sec2.tex";
    let other = digest_of(
        &renamed
            .iter()
            .fold(Zip::new(), |z, (n, d)| z.file(n, d))
            .build(),
    );
    assert_ne!(base, other);
}
