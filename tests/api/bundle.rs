//! The zip bundle of a large result under concurrent downloads: the
//! server's memory grows by far less than one copy per download, and every
//! download is the whole, valid zip.

use std::collections::BTreeMap;
use std::io::Read;

use futures::StreamExt;
use serde_json::Value;

use super::harness::{self, Server};

/// Incompressible figures of this size each, `FIGURES` of them: 42 MiB.
const FIGURE_BYTES: usize = 14 << 20;
const FIGURES: usize = 3;
const DOWNLOADS: usize = 20;

/// A `kB` field of `/proc/<pid>/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kb * 1024
}

/// A PNG signature, the IHDR of a 64x64 image and random bytes: a figure
/// the assembly keeps and no compressor can shrink.
fn random_png(len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\0\x40\0\0\0\x40".to_vec();
    let header = bytes.len();
    bytes.resize(len, 0);
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut bytes[header..])
        .unwrap();
    bytes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_bundle_downloads_stay_small_in_memory_and_complete() {
    let server = Server::start(&[], &[]);
    let client = reqwest::Client::new();
    let figures: Vec<Vec<u8>> = (0..FIGURES).map(|_| random_png(FIGURE_BYTES)).collect();
    let mut tex = format!(
        "\\documentclass{{article}}\n\\usepackage{{graphicx}}\n\\begin{{document}}\nRun {}.\n",
        harness::nonce()
    );
    let names: Vec<String> = (0..FIGURES).map(|i| format!("fig{i}.png")).collect();
    for name in &names {
        tex.push_str(&format!("\\includegraphics{{{name}}}\n"));
    }
    tex.push_str("\\end{document}\n");
    let mut files: Vec<(&str, &[u8])> = vec![("main.tex", tex.as_bytes())];
    for (name, bytes) in names.iter().zip(&figures) {
        files.push((name, bytes));
    }
    let zip = harness::zip_stored(&files);
    let r = harness::upload(&client, &server, "", zip, Some("pandoc")).await;
    let result: Value = r.json().await.unwrap();
    let key = result["key"]
        .as_str()
        .unwrap_or_else(|| panic!("no result: {result}\n{}", server.log()))
        .to_string();
    let dir = server.data_dir().join("results").join(&key);
    let assets: Vec<&str> = result["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(assets.len(), FIGURES, "{result}");
    // One download first, the reference the others are compared with
    // (checked below to be a whole, valid zip of the result).
    let url = server.url(&format!("/r/{key}.zip"));
    let bundle = client
        .get(&url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let total = (FIGURES * FIGURE_BYTES) as u64;
    assert!(bundle.len() as u64 > total, "{} bytes", bundle.len());

    // The peak from here on: clear the high-water mark (`5` resets
    // VmHWM), or, where the kernel refuses, start from it.
    let pid = server.pid();
    let before = if std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok() {
        status_bytes(pid, "VmRSS")
    } else {
        status_bytes(pid, "VmHWM")
    };
    let bundle = std::sync::Arc::new(bundle);
    let downloads = (0..DOWNLOADS).map(|_| {
        let client = client.clone();
        let url = url.clone();
        let bundle = std::sync::Arc::clone(&bundle);
        tokio::spawn(async move {
            let r = client.get(&url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let headers = r.headers().clone();
            // Compared with the reference as the bytes arrive: the test
            // keeps no copy either.
            let mut at = 0usize;
            let mut same = true;
            let mut body = r.bytes_stream();
            while let Some(chunk) = body.next().await {
                let chunk = chunk.unwrap();
                let end = at + chunk.len();
                same &= bundle.get(at..end) == Some(&chunk[..]);
                at = end;
            }
            (headers, at, same)
        })
    });
    let got: Vec<_> = futures::future::join_all(downloads)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let peak = status_bytes(pid, "VmHWM");
    let growth = peak.saturating_sub(before);
    eprintln!(
        "{DOWNLOADS} downloads of a {} MiB bundle: server RSS {} MiB -> peak {} MiB (+{} MiB)",
        bundle.len() >> 20,
        before >> 20,
        peak >> 20,
        growth >> 20
    );
    assert!(
        growth < 3 * total,
        "{DOWNLOADS} concurrent downloads grew the server by {} MiB ({} MiB of figures)",
        growth >> 20,
        total >> 20
    );

    // Every download is the reference, byte for byte, with today's
    // headers...
    for (headers, len, same) in &got {
        assert_eq!(headers["content-type"], "application/zip");
        assert_eq!(
            headers["content-disposition"],
            format!("attachment; filename=\"{key}.zip\"")
        );
        assert_eq!(headers["content-length"], bundle.len().to_string());
        assert_eq!(*len, bundle.len());
        assert!(same, "a download differs from the first one");
    }
    // ... and that is a valid zip of exactly the result's files,
    // the figures as uploaded.
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(&bundle[..])).unwrap();
    let mut entries = BTreeMap::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        entries.insert(entry.name().to_string(), bytes);
    }
    let mut on_disk = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&dir) {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(&dir).unwrap().to_str().unwrap();
        // The bundle itself and the store's recorded size are not in it.
        if entry.file_type().is_file() && rel != "bundle.zip" && rel != ".size" {
            on_disk.insert(rel.to_string(), std::fs::read(entry.path()).unwrap());
        }
    }
    assert_eq!(
        entries.keys().collect::<Vec<_>>(),
        on_disk.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &on_disk {
        assert!(entries[name] == *bytes, "{name} differs in the bundle");
    }
    // The size the store recorded for eviction counts the bundle too,
    // and `/r/` never serves the file it is kept in.
    let recorded: u64 = std::fs::read_to_string(dir.join(".size"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let files: u64 = on_disk.values().map(|b| b.len() as u64).sum();
    assert_eq!(recorded, files + bundle.len() as u64);
    for path in [".size", "%2esize", "assets/../.size"] {
        let r = client
            .get(server.url(&format!("/r/{key}/{path}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "/r/{key}/{path}");
    }
    let mut zipped: Vec<&Vec<u8>> = assets.iter().map(|a| &entries[*a]).collect();
    let mut uploaded: Vec<&Vec<u8>> = figures.iter().collect();
    zipped.sort();
    uploaded.sort();
    assert!(
        zipped == uploaded,
        "the figures in the bundle are not the uploaded ones"
    );
}
