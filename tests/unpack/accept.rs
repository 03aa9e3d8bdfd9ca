//! What must pass: real corpus projects, a 2,000-file 50 MB project under
//! the default limits, tar's `./` notation, bare `.tex` files, project
//! directories; plus the project-root rule and the modes files get.

use std::os::unix::fs::PermissionsExt;

use texjail::unpack::{self, Format, Limits};

use super::Job;
use crate::support::archive::*;

const TEX: &[u8] = b"\\documentclass{article}\\begin{document}x\\end{document}\n";

fn mode(path: &std::path::Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn every_corpus_project_is_accepted() {
    let mut seen = 0;
    for dir in [
        "/work/shared/corpus/projects",
        "/work/shared/corpus/latexml-t",
    ] {
        let entries = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("the corpus is missing at {dir}: {e}"));
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "zip") {
                continue;
            }
            let job = Job::new();
            let project = unpack::unpack_file(&path, &job.dest(), &Limits::default())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!project.files.is_empty());
            assert!(
                project.files.iter().any(|f| f.path.ends_with(".tex")),
                "{}",
                path.display()
            );
            job.assert_contained();
            seen += 1;
        }
    }
    assert!(seen > 100, "only {seen} corpus archives found");
}

#[test]
fn a_50_mb_project_with_2000_files_passes_the_default_limits() {
    let mut zip = Zip::new();
    let mut seed = 1u32;
    for i in 0..2000 {
        // Every tenth file a 240 KB figure of noise, the rest TeX text.
        let data: Vec<u8> = if i % 10 == 0 {
            (0..240_000)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect()
        } else {
            format!("\\section{{Part {i}}}\nSome text about part {i}.\n")
                .repeat(150)
                .into_bytes()
        };
        zip.entries
            .push(ZipEntry::file(format!("paper/sec{:02}/f{i:04}.tex", i % 40), data).stored());
    }
    let bytes = zip.build();
    assert!(bytes.len() > 50_000_000, "{} bytes", bytes.len());
    let job = Job::new();
    let project = job.unpack(&bytes, &Limits::default()).unwrap();
    assert_eq!(project.files.len(), 2000);
    assert_eq!(project.root, job.dest().join("paper"));
    job.assert_contained();
}

#[test]
fn a_single_top_folder_becomes_the_project_root() {
    let job = Job::new();
    let zip = Zip::new()
        .with(ZipEntry::dir("paper/"))
        .file("paper/main.tex", TEX)
        .file("paper/figs/a.png", b"png")
        .build();
    let project = job.unpack(&zip, &Limits::default()).unwrap();
    assert_eq!(project.root, job.dest().join("paper"));
    let paths: Vec<&str> = project.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["figs/a.png", "main.tex"]);
    assert_eq!(std::fs::read(project.root.join("main.tex")).unwrap(), TEX);

    let job = Job::new();
    let zip = Zip::new()
        .file("paper/main.tex", TEX)
        .file("README", b"x")
        .build();
    let project = job.unpack(&zip, &Limits::default()).unwrap();
    assert_eq!(project.root, job.dest());
    let paths: Vec<&str> = project.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["README", "paper/main.tex"]);
}

#[test]
fn files_get_0644_or_0755_and_lose_setuid_setgid_sticky() {
    let job = Job::new();
    let zip = Zip::new()
        .with(ZipEntry::file("plain.tex", TEX).mode(S_IFREG | 0o6666))
        .with(ZipEntry::file("run.sh", b"#!/bin/sh\n").mode(S_IFREG | 0o4755))
        .with(ZipEntry::file("dos.tex", TEX))
        .with(ZipEntry::dir("d/").mode(S_IFDIR | 0o1777))
        .build();
    job.unpack(&zip, &Limits::default()).unwrap();
    assert_eq!(mode(&job.dest().join("plain.tex")), 0o644);
    assert_eq!(mode(&job.dest().join("run.sh")), 0o755);
    assert_eq!(mode(&job.dest().join("dos.tex")), 0o644);
    assert_eq!(mode(&job.dest().join("d")), 0o755);

    let job = Job::new();
    let tar = Tar::new()
        .entry(b"suid", TAR_FILE, b"x", 0o4777, b"")
        .entry(b"plain", TAR_FILE, b"x", 0o2600, b"")
        .build_gz();
    job.unpack(&tar, &Limits::default()).unwrap();
    assert_eq!(mode(&job.dest().join("suid")), 0o755);
    assert_eq!(mode(&job.dest().join("plain")), 0o644);
}

#[test]
fn tar_dot_slash_prefixes_are_accepted() {
    let job = Job::new();
    let tar = Tar::new()
        .entry(b"./", TAR_DIR, b"", 0o755, b"")
        .entry(b"./paper/", TAR_DIR, b"", 0o755, b"")
        .file("./paper/main.tex", TEX)
        .build_gz();
    let project = job.unpack(&tar, &Limits::default()).unwrap();
    assert_eq!(project.format, Format::TarGz);
    assert_eq!(project.root, job.dest().join("paper"));
    assert_eq!(project.files[0].path, "main.tex");
}

#[test]
fn tar_long_names_are_read() {
    let name = format!("paper/{}/main.tex", "long".repeat(40));
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(TEX.len() as u64);
    header.set_mode(0o644);
    builder.append_data(&mut header, &name, TEX).unwrap();
    let bytes = builder.into_inner().unwrap();
    let job = Job::new();
    let project = job.unpack(&bytes, &Limits::default()).unwrap();
    assert_eq!(project.format, Format::Tar);
    assert_eq!(project.files[0].path, name.strip_prefix("paper/").unwrap());
}

#[test]
fn a_bare_tex_file_is_a_project_of_one_file() {
    let job = Job::new();
    let project = job.unpack(TEX, &Limits::default()).unwrap();
    assert_eq!(project.format, Format::Tex);
    assert_eq!(project.root, job.dest());
    assert_eq!(project.files.len(), 1);
    assert_eq!(project.files[0].path, unpack::BARE_TEX_NAME);
    assert_eq!(std::fs::read(job.dest().join("main.tex")).unwrap(), TEX);
}

#[test]
fn nested_archives_are_stored_as_files_not_unpacked() {
    let inner = Zip::new().file("../../evil.tex", b"x").build();
    let job = Job::new();
    let zip = Zip::new()
        .file("main.tex", TEX)
        .with(ZipEntry::file("data.zip", &inner))
        .build();
    let project = job.unpack(&zip, &Limits::default()).unwrap();
    assert_eq!(project.files.len(), 2);
    assert_eq!(std::fs::read(job.dest().join("data.zip")).unwrap(), inner);
    job.assert_contained();
}

#[test]
fn directories_are_imported_under_the_same_rules() {
    let src = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(src.path().join("paper/figs")).unwrap();
    std::fs::write(src.path().join("paper/main.tex"), TEX).unwrap();
    std::fs::write(src.path().join("paper/figs/a.png"), b"png").unwrap();
    let job = Job::new();
    let project = unpack::import_dir(src.path(), &job.dest(), &Limits::default()).unwrap();
    assert_eq!(project.format, Format::Directory);
    assert_eq!(project.root, job.dest().join("paper"));
    assert_eq!(project.files.len(), 2);

    // The same tree zipped has the same digest.
    let zip = Zip::new()
        .file("paper/figs/a.png", b"png")
        .file("paper/main.tex", TEX)
        .build();
    let zipped = Job::new().unpack(&zip, &Limits::default()).unwrap();
    assert_eq!(zipped.digest, project.digest);

    std::os::unix::fs::symlink("/etc/passwd", src.path().join("paper/passwd")).unwrap();
    let job = Job::new();
    let err = unpack::import_dir(src.path(), &job.dest(), &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "link_entry", "{err}");
    job.assert_contained();
    job.assert_empty();
    std::fs::remove_file(src.path().join("paper/passwd")).unwrap();

    nix::unistd::mkfifo(
        &src.path().join("paper/pipe"),
        nix::sys::stat::Mode::from_bits_truncate(0o644),
    )
    .unwrap();
    let job = Job::new();
    let err = unpack::import_dir(src.path(), &job.dest(), &Limits::default()).unwrap_err();
    assert_eq!(err.code(), "special_file", "{err}");
    job.assert_empty();
}

/// One pax record: `"<len> <key>=<value>\n"`, where `len` counts itself.
fn pax_record(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while format!("{len}{body}").len() != len {
        len += 1;
    }
    format!("{len}{body}").into_bytes()
}

#[test]
fn tar_pax_headers_are_read() {
    let long = format!("paper/{}/main.tex", "pax".repeat(60));
    let mut records = pax_record("path", &long);
    records.extend(pax_record("size", &TEX.len().to_string()));
    records.extend(pax_record("mtime", "1700000000.5"));
    let tar = Tar::new()
        .entry(b"PaxHeaders/main.tex", b'x', &records, 0o644, b"")
        .file("short-name.tex", TEX)
        .file("paper/b.tex", b"b")
        .build();
    let job = Job::new();
    let project = job.unpack(&tar, &Limits::default()).unwrap();
    let paths: Vec<&str> = project.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(paths, ["b.tex", long.strip_prefix("paper/").unwrap()]);
}

#[test]
fn streamed_zips_with_data_descriptors_and_zip64_records_are_read() {
    let mut described = ZipEntry::file("paper/main.tex", TEX);
    described.descriptor = Some(None);
    let mut stored = ZipEntry::file("paper/fig.png", vec![9u8; 3000]).stored();
    stored.descriptor = Some(None);
    let mut zip = Zip::new().with(described).with(stored);
    zip.force_zip64 = true;
    let job = Job::new();
    let project = job.unpack(&zip.build(), &Limits::default()).unwrap();
    assert_eq!(project.files.len(), 2);
    assert_eq!(std::fs::read(project.root.join("main.tex")).unwrap(), TEX);
}
