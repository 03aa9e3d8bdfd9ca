//! Main-file detection on the real corpus: whole projects and LaTeXML's
//! own test documents, each unzipped into a temporary directory.

use std::io::Read;
use std::path::{Path, PathBuf};

use texjail::convert::mainfile::detect;

/// The shared corpus beside the checkout.
fn corpus() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    assert!(
        path.join("projects/MANIFEST.tsv").is_file(),
        "the main-file tests need the corpus at {}",
        path.display()
    );
    path
}

/// Writes every file entry of `zip` under `dir`; returns the relative
/// paths, as the unpacker would list them.
fn unzip(zip: &Path, dir: &Path) -> Vec<String> {
    let file = std::fs::File::open(zip).unwrap_or_else(|e| panic!("{}: {e}", zip.display()));
    let mut archive = zip::ZipArchive::new(file).expect("readable zip");
    let mut files = Vec::new();
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i).expect("zip entry");
        if entry.is_dir() {
            continue;
        }
        let relative = entry.enclosed_name().expect("corpus entries stay inside");
        let target = dir.join(&relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        std::fs::write(&target, bytes).unwrap();
        files.push(relative.to_string_lossy().into_owned());
    }
    files
}

/// Rows of a MANIFEST.tsv as (zip, main) using the named columns.
fn manifest(path: &Path, main_column: &str) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let (zip_col, main_col) = (
        column(header.iter().find(|h| h.starts_with("zip")).unwrap()),
        column(main_column),
    );
    // A row can be broken across lines inside a cell (tokenize-percent's
    // class column is): a line whose first cell is not a zip continues
    // the previous row.
    let mut rows: Vec<String> = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        match rows.last_mut() {
            Some(last)
                if !line
                    .split('\t')
                    .nth(zip_col)
                    .unwrap_or_default()
                    .ends_with(".zip") =>
            {
                last.push_str(line)
            }
            _ => rows.push(line.to_owned()),
        }
    }
    rows.iter()
        .map(|l| {
            let cells: Vec<&str> = l.split('\t').collect();
            (cells[zip_col].to_owned(), cells[main_col].to_owned())
        })
        .collect()
}

fn stem(zip: &str) -> &str {
    zip.strip_suffix(".zip").unwrap_or(zip)
}

/// Every project's main file, named explicitly, is taken as named and
/// reported as chosen by the user. (Detection without a name is checked
/// on the same projects by `convert::mainfile`'s unit tests.)
#[test]
fn corpus_projects_take_an_explicit_main_file() {
    let dir = corpus().join("projects");
    let rows = manifest(&dir.join("MANIFEST.tsv"), "main_tex_in_zip");
    assert!(rows.len() >= 23, "corpus projects listed: {}", rows.len());
    for (zip, main) in rows {
        let tmp = tempfile::tempdir().unwrap();
        let files = unzip(&dir.join(&zip), tmp.path());
        let chosen =
            detect(tmp.path(), &files, Some(&main), None).unwrap_or_else(|e| panic!("{zip}: {e}"));
        assert_eq!(chosen.file, main, "{zip}");
        assert!(!chosen.automatic && chosen.others.is_empty(), "{zip}");
    }
}

#[test]
fn latexml_test_documents() {
    let dir = corpus().join("latexml-t");
    let rows = manifest(&dir.join("MANIFEST.tsv"), "main_tex");
    assert!(rows.len() > 300, "latexml-t rows: {}", rows.len());
    let mut wrong = Vec::new();
    for (zip, main) in &rows {
        let tmp = tempfile::tempdir().unwrap();
        let files = unzip(&dir.join(zip), tmp.path());
        match detect(tmp.path(), &files, None, Some(stem(zip))) {
            Ok(found) if &found.file == main => {}
            other => wrong.push(format!("{zip}: expected {main}, got {other:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} wrong:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
}
