//! Notebooks through the real service: the README's curl line with a
//! `.ipynb`, a hostile notebook's refusal in the one error shape, the
//! service up and no jail process left behind.

use std::time::Duration;

use serde_json::Value;

use super::*;
use crate::api::harness::{self, Server};

#[test]
fn curl_converts_a_notebook_and_refuses_a_hostile_one() {
    let server = Server::start(&[], &[]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("analysis.ipynb");
    let nb = notebook(vec![
        markdown(&format!(
            "# Served {}\n\nEnergy $E = mc^2$",
            harness::nonce()
        )),
        code(
            "print('hi')",
            vec![display(serde_json::json!({"text/plain": "hi"}))],
        ),
    ]);
    std::fs::write(&file, nb.to_string()).unwrap();
    let curl = |path: &std::path::Path| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "-F"])
            .arg(format!("project=@{}", path.display()))
            .arg(server.url("/api/v1/convert"))
            .output()
            .expect("curl is installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&out.stdout)))
    };
    // Exactly the README's line.
    let result = curl(&file);
    assert!(result.get("error").is_none(), "{result}\n{}", server.log());
    assert_eq!(result["converter"], "notebook", "{result}");
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["math_count"], 1, "{result}");
    let key = result["key"].as_str().unwrap();
    let page = harness::raw_get(server.addr, &format!("/r/{key}/")).text();
    assert!(page.contains("<math"), "{page}");
    assert!(!page.to_ascii_lowercase().contains("<script"), "{page}");
    // The same notebook again is a cache hit.
    assert_eq!(curl(&file)["cache_hit"], true);

    // JSON nested 200,000 deep: 422 in the one error shape.
    let deep = dir.path().join("deep.ipynb");
    let text = format!(
        "{{\"cells\": {}{}}}",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    std::fs::write(&deep, text).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/stderr", "-w", "%{http_code}", "-F"])
        .arg(format!("project=@{}", deep.display()))
        .arg(server.url("/api/v1/convert"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "422");
    let body: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(body["error"]["code"], "bad_notebook", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deeply"),
        "{body}"
    );
    let health = harness::raw_get(server.addr, "/healthz");
    assert_eq!(health.status, 200, "the service is still up");
    harness::assert_no_descendants(server.pid(), Duration::from_secs(5));
}

#[test]
fn curl_executes_a_notebook_and_nothing_outlives_it() {
    let server = Server::start(&[], &[]);
    let nonce = harness::nonce();
    let secret = format!("SERVER-SECRET-{nonce}");
    std::fs::create_dir_all(server.data_dir()).unwrap();
    std::fs::write(server.data_dir().join("secret.txt"), &secret).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("executed.ipynb");
    let nb = notebook(vec![
        markdown(&format!("# Executed {nonce}")),
        code("print('computed', 2 ** 10)", Vec::new()),
        code(
            &format!(
                "print(open('{}/secret.txt').read())",
                server.data_dir().display()
            ),
            Vec::new(),
        ),
        code(
            &format!(
                "import subprocess\nsubprocess.Popen(['sh', '-c', 'sleep 1000 # {nonce}'], start_new_session=True)"
            ),
            Vec::new(),
        ),
    ]);
    std::fs::write(&file, nb.to_string()).unwrap();
    let curl = |fields: &[&str]| {
        let mut cmd = std::process::Command::new("curl");
        cmd.args(["-sS", "-F"])
            .arg(format!("project=@{}", file.display()));
        for field in fields {
            cmd.args(["-F", field]);
        }
        let out = cmd
            .arg(server.url("/api/v1/convert"))
            .output()
            .expect("curl is installed");
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(&out.stdout)))
    };
    // Exactly the README's line.
    let executed = curl(&["execute=true"]);
    assert!(
        executed.get("error").is_none(),
        "{executed}\n{}",
        server.log()
    );
    let execution = &executed["execution"];
    assert_eq!(execution["executed"], true, "{executed}");
    assert_eq!(
        execution["cells_failed"],
        serde_json::json!([3]),
        "{executed}"
    );
    let key = executed["key"].as_str().unwrap();
    let page = harness::raw_get(server.addr, &format!("/r/{key}/")).text();
    assert!(page.contains("computed 1024"), "{page}");
    assert!(
        !page.contains(&secret),
        "the server's data reached the page"
    );
    // Unexecuted, the same upload is another result, without execution.
    let stored = curl(&[]);
    assert_ne!(stored["key"], executed["key"]);
    assert!(stored.get("execution").is_none(), "{stored}");
    // Again executed: the executed result from the cache.
    assert_eq!(curl(&["execute=1"])["cache_hit"], true);
    // A cell limit needs execute; a bad value is refused before any job.
    for fields in [
        &["cell_timeout=2"][..],
        &["execute=yes"],
        &["execute=true", "cell_timeout=0"],
    ] {
        let refused = curl(fields);
        assert_eq!(
            refused["error"]["code"], "bad_request",
            "{fields:?}: {refused}"
        );
    }
    let health = harness::raw_get(server.addr, "/healthz");
    assert_eq!(health.status, 200, "the service is still up");
    harness::assert_no_descendants(server.pid(), Duration::from_secs(5));
    harness::assert_no_mounts_under(&server.data_dir());
    let left: Vec<String> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(&nonce) && c.contains("sleep"))
        .collect();
    assert!(left.is_empty(), "left running: {left:?}");
}
