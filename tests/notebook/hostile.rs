//! Hostile notebooks: script and external loads in every place a notebook
//! can hold markup, host files, image bombs, huge outputs, huge and deep
//! and broken JSON. Each ends in a clean page or a clear refusal.

use serde_json::{json, Value};

use super::*;

/// A real PNG of `width`×`height` pixels, one grey: IHDR, one
/// zlib-compressed IDAT, IEND.
pub fn png(width: u32, height: u32) -> Vec<u8> {
    use std::io::Write;
    let row = 1 + width as usize; // filter byte + one grey byte per pixel
    let mut raw = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; row];
    for _ in 0..height {
        raw.write_all(&zeros).unwrap();
    }
    let idat = raw.finish().unwrap();
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]); // 8-bit greyscale
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &idat);
    chunk(b"IEND", &[]);
    out
}

const XSS_MARKDOWN: &str = r#"# Hostile

<script>alert('md')</script>
<img src=x onerror="alert('img')">
<img src="http://evil.example/track.png">
<img src="file:///etc/passwd">
<img src="../../../../etc/passwd">
![passwd](/etc/passwd)
[click](javascript:alert('link'))
[host file](file:///etc/shadow)
<a href="vbscript:msgbox">vb</a>
<iframe src="https://evil.example/"></iframe>
<object data="https://evil.example/x.swf"></object>
<base href="https://evil.example/">
<link rel="stylesheet" href="https://evil.example/x.css">
<meta http-equiv="refresh" content="0;url=https://evil.example/">
<style>@import url(https://evil.example/a.css); body { background: url(https://evil.example/b.png) }</style>
<div style="background-image: url('https://evil.example/c.png')">styled</div>
<svg><script>alert('svg')</script><image href="https://evil.example/d.png"/></svg>
<math><mtext><script>alert('math')</script></mtext></math>
<form action="https://evil.example/"><input name=x></form>

Visible marker text.
"#;

#[test]
fn markdown_markup_is_inert_and_loads_nothing() {
    let nb = notebook(vec![markdown(XSS_MARKDOWN)]);
    let done = convert_notebook(&nb);
    let page = done.page();
    assert_safe_page(&page, &done.dir());
    assert_safe_page(&done.fragment(), &done.dir());
    assert!(page.contains("Visible marker text."), "{page}");
    assert!(!page.contains("evil.example/track"), "an external image");
}

const SVG_WITH_SCRIPT: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="10" height="10" onload="alert(1)"><script>alert(2)</script><image xlink:href="https://evil.example/e.png" width="5" height="5"/><rect width="10" height="10" fill="red"/><foreignObject><iframe src="https://evil.example/"/></foreignObject></svg>"#;

#[test]
fn active_outputs_are_replaced_by_text_or_a_note() {
    let nb = notebook(vec![code(
        "show()",
        vec![
            display(json!({
                "text/html": "<script>alert('html')</script><div onclick=\"alert(1)\">clickable</div>",
                "text/plain": "PLAIN-INSTEAD-OF-SCRIPT"
            })),
            display(json!({"application/javascript": "alert('js')"})),
            display(json!({
                "application/vnd.jupyter.widget-view+json": {"model_id": "abc", "version_major": 2},
                "text/plain": "IntSlider(value=3)"
            })),
            display(
                json!({"text/html": "<b onmouseover=\"alert(1)\">bold html</b><img src=\"https://evil.example/f.png\">"}),
            ),
            display(json!({"image/svg+xml": SVG_WITH_SCRIPT})),
        ],
    )]);
    let done = convert_notebook(&nb);
    let page = done.page();
    assert_safe_page(&page, &done.dir());
    assert!(page.contains("PLAIN-INSTEAD-OF-SCRIPT"), "{page}");
    assert!(page.contains("IntSlider(value=3)"), "{page}");
    assert!(page.contains("bold html"), "{page}");
    assert!(
        page.contains("application/javascript was left out"),
        "the JavaScript output has no note: {page}"
    );
    // The SVG is an asset, and the asset itself was sanitized.
    let svgs: Vec<_> = std::fs::read_dir(done.dir().join("assets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "svg"))
        .collect();
    assert_eq!(svgs.len(), 1, "{page}");
    let svg = std::fs::read_to_string(&svgs[0])
        .unwrap()
        .to_ascii_lowercase();
    for bad in [
        "<script",
        "onload",
        "evil.example",
        "<foreignobject",
        "<iframe",
    ] {
        assert!(!svg.contains(bad), "{bad} in the SVG asset: {svg}");
    }
    assert!(svg.contains("<rect"), "the SVG lost its drawing: {svg}");
}

#[test]
fn attachments_are_checked_and_shown() {
    let good = png(4, 3);
    let mut cell =
        markdown("![ok](attachment:ok.png) ![fake](attachment:fake.png) ![svg](attachment:s.svg)");
    cell["attachments"] = json!({
        "ok.png": {"image/png": b64(&good)},
        "fake.png": {"image/png": b64(b"<script>alert(1)</script>")},
        "s.svg": {"image/svg+xml": SVG_WITH_SCRIPT},
    });
    let done = convert_notebook(&notebook(vec![cell]));
    let page = done.page();
    assert_safe_page(&page, &done.dir());
    let summary = done.summary();
    // The real PNG and the (sanitized) SVG are shown; the fake PNG is not.
    assert_eq!(summary["image_count"], 2, "{summary}");
    let assets: Vec<String> = summary["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let png_asset = assets
        .iter()
        .find(|a| a.ends_with(".png"))
        .expect("the PNG");
    assert_eq!(std::fs::read(done.dir().join(png_asset)).unwrap(), good);
    let log = std::fs::read_to_string(done.dir().join("log.txt")).unwrap();
    assert!(log.contains("not a png image"), "{log}");
}

#[test]
fn tracebacks_and_streams_keep_their_colours_and_lose_their_markup() {
    let nb = notebook(vec![code(
        "raise ValueError()",
        vec![
            json!({"output_type": "stream", "name": "stdout",
                   "text": "\u{1b}[31mred <img src=x onerror=alert(1)>\u{1b}[0m plain \u{1b}]8;;https://evil.example\u{7}osc-link\u{1b}]8;;\u{7} \u{1b}[2J\u{7}done"}),
            json!({"output_type": "error", "ename": "ValueError", "evalue": "<script>alert(1)</script>",
                   "traceback": ["\u{1b}[0;31m---------\u{1b}[0m", "\u{1b}[1;32mValueError\u{1b}[0m: <script>alert(1)</script>"]}),
        ],
    )]);
    let done = convert_notebook(&nb);
    let page = done.page();
    assert_safe_page(&page, &done.dir());
    assert!(
        page.contains(r#"<span class="ansi-red-fg">red &lt;img src=x onerror=alert(1)&gt;</span>"#),
        "{page}"
    );
    assert!(page.contains("ansi-green-fg ansi-bold"), "{page}");
    assert!(page.contains("ValueError</span>: &lt;script&gt;"), "{page}");
    assert!(page.contains("osc-link"), "{page}");
    assert!(
        !page.contains("evil.example"),
        "the OSC 8 link target survived"
    );
    assert!(
        !page.contains('\u{1b}'),
        "an escape character reached the page"
    );
}

#[test]
fn png_decompression_bombs_are_left_out() {
    // 7000×7000 greyscale: 49 million pixels (over the 40 million of
    // `convert.max_image_pixels`) in a few tens of kB.
    let bomb = png(7_000, 7_000);
    assert!(bomb.len() < 2 << 20, "the bomb is small: {}", bomb.len());
    let small = png(8, 8);
    let nb = notebook(vec![code(
        "plot()",
        vec![
            display(json!({"image/png": b64(&bomb), "text/plain": "<Figure 7000x7000>"})),
            display(json!({"image/png": b64(&small)})),
        ],
    )]);
    let done = convert_notebook(&nb);
    let page = done.page();
    assert_safe_page(&page, &done.dir());
    assert_eq!(done.summary()["image_count"], 1, "{}", done.json);
    let log = std::fs::read_to_string(done.dir().join("log.txt")).unwrap();
    assert!(log.contains("7000x7000 image is over the limit"), "{log}");
    let diagnostics = done.summary()["diagnostics"].to_string();
    assert!(diagnostics.contains("over the limit"), "{diagnostics}");
}

#[test]
fn a_40_mb_stream_is_cut_with_a_note() {
    let line = "x".repeat(99) + "\n";
    let text = line.repeat(400_000); // 40 MB
    let nb = notebook(vec![code(
        "spam()",
        vec![json!({"output_type": "stream", "name": "stdout", "text": text})],
    )]);
    let done = convert_notebook(&nb);
    let page = done.page();
    assert_safe_page(&page, &done.dir());
    assert!(page.len() < 4 << 20, "the page is {} bytes", page.len());
    assert!(
        page.contains("more characters of output left out"),
        "no note of the cut"
    );
}

#[test]
fn sixty_thousand_cells_are_refused() {
    let cells: Vec<Value> = (0..60_000)
        .map(|i| markdown(&format!("cell {i}")))
        .collect();
    let (done, _dir) = convert_bytes("many.ipynb", notebook(cells).to_string().as_bytes());
    assert_refused(&done, "60000 cells");
}

#[test]
fn json_nested_200000_deep_is_refused() {
    let mut text = String::from("{\"cells\": ");
    text.push_str(&"[".repeat(200_000));
    text.push_str(&"]".repeat(200_000));
    text.push_str(", \"nbformat\": 4}");
    let (done, _dir) = convert_bytes("deep.ipynb", text.as_bytes());
    assert_refused(&done, "nested too deeply");
}

#[test]
fn a_truncated_notebook_is_refused() {
    let nb = notebook(vec![markdown("# Cut"), code("1 + 1", vec![])]).to_string();
    let cut = &nb[..nb.len() / 2];
    let (done, _dir) = convert_bytes("cut.ipynb", cut.as_bytes());
    assert_refused(&done, "not JSON");
}

#[test]
fn json_that_is_not_a_notebook_is_refused() {
    for (text, why) in [
        (r#"{"cells": 5, "nbformat": 4}"#, "no list of cells"),
        (
            r#"{"cells": [], "nbformat": 2}"#,
            "nbformat 2 is not 3 or 4",
        ),
        (r#"{"cells": [], "metadata": {}}"#, "nbformat 'missing'"),
        (
            r#"{"cells": [{"cell_type": "markdown", "source": 7}], "nbformat": 4}"#,
            "neither a string",
        ),
    ] {
        let (done, _dir) = convert_bytes("odd.ipynb", text.as_bytes());
        assert_refused(&done, why);
    }
    // JSON without a notebook's keys is no upload texjail takes at all.
    let (done, _dir) = convert_bytes("odd.ipynb", br#"{"hello": "world"}"#);
    assert_eq!(done.code, 2, "{}", done.json);
    assert_eq!(done.json["error"], "bad_archive", "{}", done.json);
}

#[test]
fn cells_of_unknown_type_leave_a_note() {
    let nb = notebook(vec![
        json!({"cell_type": "widget", "metadata": {}, "source": "<script>alert(1)</script>"}),
        markdown("after the odd cell"),
    ]);
    let done = convert_notebook(&nb);
    let page = done.page();
    assert_safe_page(&page, &done.dir());
    assert!(
        page.contains("A cell of an unknown type was left out"),
        "{page}"
    );
    assert!(page.contains("after the odd cell"), "{page}");
}
