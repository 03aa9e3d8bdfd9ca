//! What a reader of a notebook's page meets: math as MathML, highlighted
//! code, outputs by MIME priority, hidden parts hidden, a table of
//! contents, nbformat 3, and a notebook in a zip with its figures.

use serde_json::json;

use super::hostile::png;
use super::*;

#[test]
fn math_code_outputs_and_contents() {
    let nb = notebook(vec![
        markdown("# First part\n\nInline $x^2$ and\n$$\n\\frac{a}{b}\n- c\n$$\n\\begin{align}\ny &= 1 \\\\\nz &= 2\n\\end{align}\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n## Second part\n"),
        code(
            "def f(x):\n    return x  # comment",
            vec![
                display(json!({"text/latex": "$$\\alpha + \\beta$$", "text/plain": "alpha+beta"})),
                display(json!({"text/markdown": "**strong output**", "text/plain": "x"})),
                display(json!({"text/plain": "<just text & more>"})),
                display(json!({"text/html": "<table><tr><td>cell-html</td></tr></table>", "image/png": b64(&png(2, 2))})),
            ],
        ),
    ]);
    let done = convert_notebook(&nb);
    let page = done.page();
    assert_safe_page(&page, &done.dir());
    let summary = done.summary();
    assert_eq!(summary["status"], "ok", "{summary}");
    assert_eq!(summary["title"], "First part", "{summary}");
    // $x^2$, the $$ block with a line starting with `-`, align, the
    // text/latex output.
    assert_eq!(summary["math_count"], 4, "{page}");
    assert_eq!(summary["quality"]["raw_tex_commands"], 0, "{summary}");
    assert!(
        page.contains("<table") && page.contains("<td>1</td>"),
        "{page}"
    );
    assert!(page.contains("<strong>strong output</strong>"), "{page}");
    assert!(page.contains("&lt;just text &amp; more&gt;"), "{page}");
    // text/html wins over the PNG.
    assert!(page.contains("cell-html"), "{page}");
    assert_eq!(summary["image_count"], 0, "{summary}");
    // Highlighted by the kernel's language.
    assert!(page.contains(r#"class="sourceCode python"#), "{page}");
    assert!(page.contains(r#"<span class="kw">def</span>"#), "{page}");
    // The table of contents links the headings.
    assert!(page.contains(r##"href="#second-part""##), "{page}");
}

#[test]
fn hidden_inputs_and_outputs_and_removed_cells_stay_hidden() {
    let tagged = |tags: &[&str], src: &str, out: &str| {
        let mut cell = code(
            src,
            vec![json!({"output_type": "stream", "name": "stdout", "text": out})],
        );
        cell["metadata"] = json!({"tags": tags});
        cell
    };
    let mut hidden_source = code(
        "SECRET_SOURCE_3",
        vec![display(json!({"text/plain": "SHOWN_OUTPUT_3"}))],
    );
    hidden_source["metadata"] = json!({"jupyter": {"source_hidden": true}});
    let mut hidden_outputs = code(
        "SHOWN_SOURCE_4",
        vec![display(json!({"text/plain": "SECRET_OUTPUT_4"}))],
    );
    hidden_outputs["metadata"] = json!({"jupyter": {"outputs_hidden": true}});
    let mut removed_md = markdown("SECRET_MARKDOWN_5");
    removed_md["metadata"] = json!({"tags": ["remove-cell"]});
    let nb = notebook(vec![
        tagged(&["remove-input"], "SECRET_SOURCE_1", "SHOWN_OUTPUT_1"),
        tagged(&["hide-input"], "SECRET_SOURCE_2", "SHOWN_OUTPUT_2"),
        tagged(&["remove-output"], "SHOWN_SOURCE_6", "SECRET_OUTPUT_6"),
        tagged(&["remove-cell"], "SECRET_SOURCE_7", "SECRET_OUTPUT_7"),
        hidden_source,
        hidden_outputs,
        removed_md,
    ]);
    let done = convert_notebook(&nb);
    let page = done.page();
    assert_safe_page(&page, &done.dir());
    assert!(!page.contains("SECRET_"), "{page}");
    for shown in [
        "SHOWN_OUTPUT_1",
        "SHOWN_OUTPUT_2",
        "SHOWN_OUTPUT_3",
        "SHOWN_SOURCE_4",
        "SHOWN_SOURCE_6",
    ] {
        assert!(page.contains(shown), "{shown} missing: {page}");
    }
}

#[test]
fn nbformat_3_is_upgraded() {
    let nb = json!({
        "metadata": {"name": "old"},
        "nbformat": 3,
        "nbformat_minor": 0,
        "worksheets": [{"cells": [
            {"cell_type": "heading", "level": 1, "metadata": {}, "source": ["Old ", "notebook"]},
            {"cell_type": "markdown", "metadata": {}, "source": "Energy $E = mc^2$"},
            {"cell_type": "code", "collapsed": false, "input": "print(42)", "language": "python", "metadata": {},
             "prompt_number": 1, "outputs": [
                {"output_type": "stream", "stream": "stdout", "text": "FORTY-TWO\n"},
                {"output_type": "pyout", "prompt_number": 1, "metadata": {}, "png": b64(&png(3, 3)), "text": "<Figure>"},
                {"output_type": "pyerr", "ename": "E", "evalue": "v", "traceback": ["TRACE-LINE"]}
            ]}
        ]}]
    });
    let done = convert_notebook(&nb);
    let page = done.page();
    assert_safe_page(&page, &done.dir());
    assert_eq!(done.summary()["title"], "Old notebook");
    assert_eq!(done.summary()["math_count"], 1);
    assert_eq!(done.summary()["image_count"], 1);
    for text in ["FORTY-TWO", "TRACE-LINE", "print"] {
        assert!(page.contains(text), "{text}: {page}");
    }
}

/// A PNG signature and an IHDR claiming 100000x100000 pixels.
fn bomb_header() -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    bytes.extend(100_000u32.to_be_bytes());
    bytes.extend(100_000u32.to_be_bytes());
    bytes.extend([8, 0, 0, 0, 0]);
    bytes
}

#[test]
fn a_notebook_in_a_zip_shows_the_figures_its_markdown_links() {
    let nb = notebook(vec![markdown(
        "# Zipped\n\n![plot](figures/plot.png)\n\n![outside](../secret.png)\n\n![bomb](figures/bomb.png)",
    )]);
    let zip = crate::api::harness::zip_of(&[
        ("analysis/report.ipynb", nb.to_string().as_bytes()),
        ("analysis/figures/plot.png", &png(5, 5)),
        // A linked file claiming 100000x100000 pixels is no figure.
        ("analysis/figures/bomb.png", &bomb_header()),
        ("secret.png", &png(6, 6)),
        (
            "notes/other.ipynb",
            notebook(vec![markdown("other")]).to_string().as_bytes(),
        ),
    ]);
    let (done, _dir) = convert_bytes("report.zip", &zip);
    assert_eq!(done.code, 0, "{}", done.json);
    let page = done.page();
    assert_safe_page(&page, &done.dir());
    let summary = done.summary();
    assert_eq!(summary["converter"], "notebook");
    assert_eq!(
        summary["main_file"]["file"], "analysis/report.ipynb",
        "{summary}"
    );
    assert_eq!(summary["image_count"], 1, "{summary}");
    assert_eq!(summary["quality"]["missing_images"], 2, "{summary}");
}
