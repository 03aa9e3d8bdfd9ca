//! The corpus of real notebooks (`corpus_dir`, its `MANIFEST.tsv`): each
//! converts to a clean page with no active content and no external load,
//! its math as MathML and every image it carries shown.

use super::*;

#[test]
fn every_corpus_notebook_makes_a_clean_page() {
    let dir = corpus_dir();
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv")).unwrap();
    let mut failures = Vec::new();
    let mut rows = 0;
    for line in manifest.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let (file, features) = (fields[0], fields[fields.len() - 1]);
        rows += 1;
        let done = convert_file(&dir.join(file), &[]);
        if done.code != 0 {
            failures.push(format!("{file}: exit {} {}", done.code, done.json));
            continue;
        }
        let page = done.page();
        assert_safe_page(&page, &done.dir());
        let s = done.summary();
        let q = &s["quality"];
        if s["converter"] != "notebook" || q["clean"] != true {
            failures.push(format!("{file}: not a clean notebook page: {s}"));
        }
        if q["raw_tex_commands"] != 0 || q["dollar_signs"] != 0 {
            failures.push(format!("{file}: raw TeX on the page: {q}"));
        }
        let math = s["math_count"].as_u64().unwrap();
        if features.contains("math") && math == 0 {
            failures.push(format!("{file}: math in the notebook, none on the page"));
        }
        let images = s["image_count"].as_u64().unwrap();
        if ["png", "svg", "jpeg", "attachments"]
            .iter()
            .any(|f| features.contains(f))
            && images == 0
        {
            failures.push(format!("{file}: images in the notebook, none on the page"));
        }
        // Every image the notebook carries is shown: the only images
        // missing are the ones it does not carry.
        let not_carried = images_not_carried(&std::fs::read_to_string(dir.join(file)).unwrap());
        let missing = q["missing_images"].as_u64().unwrap();
        if missing > not_carried {
            failures.push(format!(
                "{file}: {missing} images missing, {not_carried} not carried"
            ));
        }
    }
    assert_eq!(rows, 12, "the manifest lists 12 notebooks");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Images the notebook does not carry: those its markdown (markdown or
/// HTML syntax) or its HTML outputs take from a URL (the page may not load
/// them) or from a file beside it that a notebook uploaded alone lacks.
/// Attachments and `data:` images it carries.
fn images_not_carried(json_text: &str) -> u64 {
    let nb: serde_json::Value = serde_json::from_str(json_text).unwrap();
    let cells = nb["cells"]
        .as_array()
        .or_else(|| nb["worksheets"][0]["cells"].as_array())
        .cloned()
        .unwrap_or_default();
    let image = regex::Regex::new(
        r#"(?i)!\[[^\]]*\]\(\s*<?([^)\s>]*)|<img[^>]*src\s*=\s*["']?([^"'\s>]*)"#,
    )
    .unwrap();
    let not_carried = |text: &str| {
        image
            .captures_iter(text)
            .filter_map(|c| c.get(1).or(c.get(2)))
            .filter(|src| {
                !src.as_str().starts_with("attachment:") && !src.as_str().starts_with("data:")
            })
            .count() as u64
    };
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::Array(parts) => parts.iter().filter_map(|p| p.as_str()).collect(),
        other => other.as_str().unwrap_or_default().to_string(),
    };
    let mut count = 0;
    for cell in &cells {
        if cell["cell_type"] == "markdown" {
            count += not_carried(&text(&cell["source"]));
        }
        for output in cell["outputs"].as_array().into_iter().flatten() {
            // nbformat 4 keeps representations under `data`, 3 beside.
            let html = text(&output["data"]["text/html"]) + &text(&output["html"]);
            count += not_carried(&html);
        }
    }
    count
}
