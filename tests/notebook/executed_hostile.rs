//! Hostile executed notebooks: cells that read host files, open sockets,
//! fork without end, loop forever ignoring interrupts, flood their output,
//! allocate 64 GiB, fill the disk or leave a daemon. Each ends in a page
//! (or a clear error), nothing of the host on it, nothing left running.

use std::net::TcpListener;
use std::time::Duration;

use super::execution::{assert_executed, cell, data_dir, execute, execute_with};
use super::*;
use crate::api::harness;

/// Processes on the host whose command line holds `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if entry.file_name().to_string_lossy().parse::<u32>().is_err() {
            continue;
        }
        let cmd = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains(marker) {
            found.push(format!("{} {cmd}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

#[test]
fn host_files_and_the_network_stay_out_of_reach() {
    let secret = format!("SECRET-{}", harness::nonce());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let shadow = std::fs::read_to_string("/etc/shadow").unwrap_or_default();
    let root_entry = shadow.lines().next().unwrap_or("").to_string();
    let data = data_dir(&secret);
    let data_path = data.path().display().to_string();
    let data_guess = "import os\nfor d in [os.environ.get('TEXJAIL_DATA_DIR', ''), '/var/lib/texjail', '/tmp', '/job', '/']:\n    try:\n        print(d, sorted(os.listdir(d))[:20])\n    except Exception as e:\n        print(d, type(e).__name__)";
    let nb = notebook(vec![
        cell("print(open('/etc/shadow').read())"),
        cell(data_guess),
        cell(&format!("print(open('{data_path}/secret.txt').read())")),
        cell(&format!(
            "import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=3)\nprint('CONNECTED-LOCAL')"
        )),
        cell("import socket\ns = socket.create_connection(('1.1.1.1', 53), timeout=3)\nprint('CONNECTED-OUT')"),
        cell("import urllib.request\nprint(urllib.request.urlopen('http://example.com', timeout=3).read()[:100])"),
        cell("import socket\ns = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)\nprint('NETLINK')"),
        cell("print('still', 'running')"),
    ]);
    let done = execute_with(data, &nb, &["--cell-timeout", "10"], &[]);
    assert_executed(&done);
    let text = done.text();
    assert!(text.contains("still running"), "{text}");
    assert!(
        !text.contains(&secret),
        "the data dir's secret reached the page"
    );
    if root_entry.len() > 10 {
        assert!(
            !text.contains(&root_entry),
            "the host's /etc/shadow reached the page"
        );
    }
    for marker in ["CONNECTED-LOCAL", "CONNECTED-OUT", "NETLINK"] {
        assert!(!text.contains(&format!("\n{marker}")), "{marker}: {text}");
    }
    // Every hostile cell raised; the listing cell and the last did not.
    assert_eq!(done.cells("cells_failed"), [1, 3, 4, 5, 6, 7], "{text}");
    assert!(
        listener.accept().is_err(),
        "the notebook reached a host socket"
    );
}

#[test]
fn a_fork_bomb_is_stopped_and_nothing_outlives_the_run() {
    let marker = format!("forkbomb{}", harness::nonce());
    let nb = notebook(vec![
        cell(&format!(
            "import os\n# {marker}\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass"
        )),
        cell("print('after the', 'bomb')"),
    ]);
    // RLIMIT_NPROC counts per uid: the bomb gets a uid no other test's
    // jail uses, as each slot of a service has its own.
    let base = 600_000 + (u32::from_str_radix(&marker[8..12], 16).unwrap() % 4096) * 64;
    let done = execute_with(
        data_dir("unused"),
        &nb,
        &["--cell-timeout", "3", "--timeout", "40"],
        &[("TEXJAIL_JAIL_UID_BASE", &base.to_string())],
    );
    assert_eq!(done.converted.code, 0, "{}", done.converted.json);
    assert!(done.converted.dir().join("index.html").is_file());
    let execution = done.execution();
    let stopped: Vec<u64> = ["cells_timed_out", "cells_failed", "cells_not_run"]
        .iter()
        .flat_map(|list| done.cells(list))
        .collect();
    assert!(stopped.contains(&1), "the bomb is not marked: {execution}");
    assert!(done.wall < Duration::from_secs(60), "{:?}", done.wall);
    assert!(
        processes_with(&marker).is_empty(),
        "{:?}",
        processes_with(&marker)
    );
}

#[test]
fn a_loop_that_ignores_interrupts_ends_at_the_notebooks_limit() {
    let nb = notebook(vec![
        cell("print('fir' + 'st', 'cell')"),
        cell("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass"),
        cell("print('queued', 'behind')"),
    ]);
    let done = execute(&nb, &["--cell-timeout", "2", "--timeout", "20"], "unused");
    assert_executed(&done);
    assert!(
        done.cells("cells_timed_out").contains(&2),
        "{}",
        done.execution()
    );
    assert!(done.text().contains("first cell"));
    assert!(done.wall < Duration::from_secs(30), "{:?}", done.wall);
}

#[test]
fn an_output_flood_is_capped() {
    let nb = notebook(vec![
        cell("print('x' * (40 << 20))"),
        cell("for i in range(300000):\n    print(i)"),
        cell("print('after the', 'flood')"),
    ]);
    let done = execute(&nb, &["--cell-timeout", "20"], "unused");
    assert_executed(&done);
    let cut = done.cells("outputs_cut");
    assert!(cut.contains(&1) && cut.contains(&2), "{}", done.execution());
    let page = std::fs::metadata(done.converted.dir().join("index.html"))
        .unwrap()
        .len();
    assert!(page < 4 << 20, "a page of {page} bytes");
    assert!(done.text().contains("after the flood"));
    assert!(done.converted.page().contains("nb-output-cut"));
}

#[test]
fn allocating_64_gib_and_filling_the_disk_fail_their_cells_only() {
    let nb = notebook(vec![
        cell("import numpy as np\na = np.ones(64 << 30, dtype=np.uint8)"),
        cell("b = bytearray(64 << 30)"),
        cell("i = 0\nwhile True:\n    with open('fill-%d' % i, 'wb') as f:\n        f.write(b'\\0' * (64 << 20))\n    i += 1"),
        cell("print('after the disk ' + 'filled up')"),
    ]);
    let done = execute(&nb, &["--cell-timeout", "30"], "unused");
    assert_executed(&done);
    assert_eq!(
        done.cells("cells_failed"),
        [1, 2, 3],
        "{}",
        done.execution()
    );
    let text = done.text();
    assert!(text.contains("MemoryError"), "{text}");
    assert!(text.contains("No space left on device"), "{text}");
    assert!(text.contains("after the disk filled up"), "{text}");
    // The files the cell wrote stayed in the jail.
    let files = walkdir::WalkDir::new(done.converted.dir())
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("fill-"))
        .count();
    assert_eq!(files, 0);
}

#[test]
fn a_daemon_the_notebook_leaves_does_not_outlive_the_run() {
    let marker = format!("daemon{}", harness::nonce());
    let nb = notebook(vec![
        cell(&format!(
            "import subprocess, sys\nsubprocess.Popen(['sh', '-c', 'sleep 1000 # {marker}'], start_new_session=True)\n\
             subprocess.Popen([sys.executable, '-c', 'import os, time\\nif os.fork(): os._exit(0)\\nos.setsid()\\nwhile True: time.sleep(1) # {marker}'])\n\
             print('daemons', 'started')"
        )),
        cell("import time\ntime.sleep(1)\nprint('done')"),
    ]);
    let done = execute(&nb, &[], "unused");
    assert_executed(&done);
    assert!(done.text().contains("daemons started"));
    assert!(
        done.cells("cells_failed").is_empty(),
        "{}",
        done.execution()
    );
    assert!(
        processes_with(&marker).is_empty(),
        "left running: {:?}",
        processes_with(&marker)
    );
}

#[test]
fn json_nested_200000_deep_is_refused_when_executed_too() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("deep.ipynb");
    let text = format!(
        "{{\"cells\": {}{}}}",
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    std::fs::write(&file, text).unwrap();
    let done = convert_file(&file, &["--execute"]);
    assert_refused(&done, "nested too deeply");
}

#[test]
fn a_cell_that_kills_the_executor_leaves_the_notebook_as_uploaded() {
    let nb = notebook(vec![
        code(
            "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)",
            vec![
                serde_json::json!({"output_type": "stream", "name": "stdout", "text": "STORED-BEFORE"}),
            ],
        ),
        cell("print('never', 'run')"),
    ]);
    let done = execute(&nb, &[], "unused");
    assert_eq!(done.converted.code, 0, "{}", done.converted.json);
    let execution = done.execution();
    assert_eq!(execution["executed"], false, "{execution}");
    let note = execution["note"].as_str().unwrap_or_default();
    assert!(note.contains("stopped before the end"), "{note}");
    let text = done.text();
    assert!(text.contains("STORED-BEFORE"), "{text}");
    assert!(!text.contains("never run"), "{text}");
}
