//! Executed notebooks (`texjail convert --execute`): the cells run in the
//! jail's kernel and the page shows what they printed and drew, marks
//! the cells that raised or timed out, and `result.json`'s `execution`
//! lists them; a notebook of another kernel is rendered as uploaded and
//! says why.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::*;

/// A code cell with no stored output.
pub fn cell(source: &str) -> Value {
    code(source, Vec::new())
}

/// One executed conversion and how long it took.
pub struct Executed {
    pub converted: Converted,
    pub wall: Duration,
}

impl Executed {
    pub fn execution(&self) -> &Value {
        &self.converted.summary()["execution"]
    }

    /// The page's text (tags dropped, entities of `<>&"'` decoded).
    pub fn text(&self) -> String {
        let page = self.converted.page();
        let tags = regex::Regex::new(r"<[^>]*>").unwrap();
        tags.replace_all(&page, "")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    /// The numbers of a list in `execution`.
    pub fn cells(&self, list: &str) -> Vec<u64> {
        self.execution()[list]
            .as_array()
            .unwrap_or_else(|| panic!("no {list} in {}", self.execution()))
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect()
    }
}

/// A private data dir holding `secret.txt` (its text is `secret`).
pub fn data_dir(secret: &str) -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("secret.txt"), secret).unwrap();
    data
}

/// Runs `texjail convert NB -o OUT --json --no-cache --execute ARGS` with
/// a private data dir holding `secret.txt` (its text is `secret`).
pub fn execute(nb: &Value, args: &[&str], secret: &str) -> Executed {
    execute_with(data_dir(secret), nb, args, &[])
}

/// [`execute`] with the data dir `data` and `env` (`TEXJAIL_*` settings).
pub fn execute_with(
    data: tempfile::TempDir,
    nb: &Value,
    args: &[&str],
    env: &[(&str, &str)],
) -> Executed {
    let out = tempfile::tempdir().unwrap();
    let input = tempfile::tempdir().unwrap();
    let file = input.path().join("run.ipynb");
    std::fs::write(&file, nb.to_string()).unwrap();
    let started = Instant::now();
    let output: Output = support::texjail()
        .env("TEXJAIL_ROOTFS", support::rootfs())
        .env("TEXJAIL_DATA_DIR", data.path())
        .arg("convert")
        .arg(&file)
        .arg("-o")
        .arg(out.path().join("result"))
        .args(["--json", "--no-cache", "--execute"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("texjail runs");
    let wall = started.elapsed();
    let json: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
        panic!(
            "not JSON: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    Executed {
        converted: Converted {
            code: output.status.code().unwrap_or(-1),
            json,
            out,
            _data: data,
        },
        wall,
    }
}

/// Asserts a page was made by executing the notebook.
pub fn assert_executed(done: &Executed) {
    assert_eq!(done.converted.code, 0, "{}", done.converted.json);
    assert_eq!(done.converted.summary()["converter"], "notebook");
    assert_eq!(
        done.execution()["executed"],
        true,
        "{}\n{}",
        done.execution(),
        std::fs::read_to_string(done.converted.dir().join("log.txt")).unwrap_or_default()
    );
    assert_eq!(done.execution()["kernel"], "python3");
    assert_safe_page(&done.converted.page(), &done.converted.dir());
}

/// Files under `dir`, relative.
fn files(dir: &Path) -> Vec<String> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn executed_outputs_a_figure_and_an_exception_appear() {
    let nb = notebook(vec![
        markdown("# Executed"),
        code(
            "print('printed', 6 * 7)",
            vec![json!({"output_type": "stream", "name": "stdout", "text": "STALE-OUTPUT"})],
        ),
        cell(
            "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.title('a figure')\nplt.show()",
        ),
        cell("x = 21\nx * 2 + 0.5"),
        cell("raise ValueError('raised on purpose')"),
        cell("print('after the exception', x)"),
    ]);
    let done = execute(&nb, &[], "unused");
    assert_executed(&done);
    let text = done.text();
    assert!(text.contains("printed 42"), "{text}");
    assert!(
        !text.contains("STALE-OUTPUT"),
        "a stored output stayed: {text}"
    );
    assert!(text.contains("42.5"), "an execute_result: {text}");
    assert!(text.contains("ValueError: raised on purpose"), "{text}");
    assert!(text.contains("after the exception 21"), "{text}");
    // The exception is marked on its cell and listed.
    assert_eq!(done.cells("cells_failed"), [5]);
    assert!(done.cells("cells_timed_out").is_empty());
    assert_eq!(done.execution()["cells_run"], 5);
    let page = done.converted.page();
    assert!(page.contains("nb-raised"), "{page}");
    assert!(page.contains("This cell raised an exception."), "{page}");
    // The page's summary says what ran.
    assert!(
        page.contains("executed: 5 cells run, 1 raised"),
        "no execution line in the summary: {page}"
    );
    // The figure is a PNG asset of the result, shown on the page.
    let pngs: Vec<String> = files(&done.converted.dir().join("assets"))
        .into_iter()
        .filter(|f| f.ends_with(".png"))
        .collect();
    assert_eq!(pngs.len(), 1, "{pngs:?}");
    let png = std::fs::read(done.converted.dir().join("assets").join(&pngs[0])).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    assert!(page.contains(&format!("assets/{}", pngs[0])), "{page}");
    assert_eq!(done.converted.summary()["image_count"], 1);
}

#[test]
fn a_cell_past_its_limit_is_marked_and_the_rest_still_runs() {
    let nb = notebook(vec![
        cell("import time\nwhile True:\n    time.sleep(0.05)"),
        cell("print('the next', 'cell ran')"),
    ]);
    let done = execute(&nb, &["--cell-timeout", "2"], "unused");
    assert_executed(&done);
    assert_eq!(done.cells("cells_timed_out"), [1]);
    assert_eq!(done.execution()["cell_timeout_secs"], 2);
    let text = done.text();
    assert!(text.contains("the next cell ran"), "{text}");
    assert!(
        text.contains("ran past its time limit of 2 s"),
        "the cell is not marked: {text}"
    );
    assert!(done.wall < Duration::from_secs(30), "{:?}", done.wall);
}

#[test]
fn a_notebook_of_another_kernel_renders_unexecuted_with_a_note() {
    let mut nb = notebook(vec![code(
        "print(\"from R\")",
        vec![json!({"output_type": "stream", "name": "stdout", "text": "STORED-R-OUTPUT"})],
    )]);
    nb["metadata"] = json!({
        "kernelspec": {"name": "ir", "language": "R", "display_name": "R"},
        "language_info": {"name": "R"}
    });
    let done = execute(&nb, &[], "unused");
    assert_eq!(done.converted.code, 0, "{}", done.converted.json);
    let execution = done.execution();
    assert_eq!(execution["executed"], false, "{execution}");
    assert_eq!(execution["kernel"], "ir", "{execution}");
    assert_eq!(execution["cells_run"], 0, "{execution}");
    let note = execution["note"].as_str().unwrap();
    assert!(
        note.contains("not executed") && note.contains("ir"),
        "{note}"
    );
    assert!(done.text().contains("STORED-R-OUTPUT"));
}

#[test]
fn without_execute_nothing_runs_and_the_result_has_no_execution() {
    let nb = notebook(vec![code(
        "print('would run')",
        vec![json!({"output_type": "stream", "name": "stdout", "text": "STORED-ONLY"})],
    )]);
    let done = convert_notebook(&nb);
    assert!(done.summary().get("execution").is_none(), "{}", done.json);
    let page = done.page();
    assert!(page.contains("STORED-ONLY"), "{page}");
    assert!(!page.contains("would run\n"), "{page}");
}

#[test]
fn a_request_lowers_the_memory_of_the_run() {
    let nb = notebook(vec![
        cell("big = bytearray(400 << 20)\nprint('big', 'allocated')"),
        cell("small = bytearray(20 << 20)\nprint('small', 'allocated')"),
    ]);
    let done = execute(&nb, &["--memory", &(512u64 << 20).to_string()], "unused");
    assert_executed(&done);
    let text = done.text();
    assert_eq!(done.cells("cells_failed"), [1], "{text}");
    assert!(text.contains("MemoryError"), "{text}");
    assert!(text.contains("small allocated"), "{text}");
    assert!(!text.contains("big allocated"), "{text}");
}

#[test]
fn cells_past_the_notebooks_time_are_not_run_and_the_page_is_made() {
    // A 12 s job keeps 5 s for rendering: 7 s for ten cells of 1.5 s.
    let mut cells = vec![cell("import time")];
    cells.extend((0..10).map(|i| cell(&format!("time.sleep(1.5)\nprint('slept', {i})"))));
    let nb = notebook(cells);
    let done = execute(&nb, &["--timeout", "12"], "unused");
    assert_executed(&done);
    let not_run = done.cells("cells_not_run");
    assert!(!not_run.is_empty(), "{}", done.execution());
    assert_eq!(*not_run.last().unwrap(), 11, "{}", done.execution());
    assert!(
        done.cells("cells_timed_out").len() <= 1,
        "{}",
        done.execution()
    );
    let note = done.execution()["note"].as_str().unwrap_or_default();
    assert!(note.contains("time ran out"), "{note}");
    let text = done.text();
    assert!(text.contains("slept 0"), "{text}");
    assert!(text.contains("was not run"), "{text}");
    assert!(done.wall < Duration::from_secs(20), "{:?}", done.wall);
}
