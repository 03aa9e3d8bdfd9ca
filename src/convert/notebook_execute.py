# The notebook executor, run by `python3 -I` inside the jail before the
# pre-pass (see src/convert/notebook_exec.rs). It runs every code cell of a
# Python notebook in a fresh IPython kernel with nbclient and writes the
# executed notebook, which the pre-pass then renders, and a report of what
# ran (`execution.json`). It never stops the conversion: whatever goes
# wrong, the report says so and the pre-pass renders the notebook as
# uploaded.
#
# The kernel talks to this client over ZeroMQ's `ipc` transport: unix
# sockets under /tmp, the jail's private tmpfs. The jail's network
# namespace has only a down `lo` and landlock forbids TCP bind and
# connect, so TCP on loopback would not work; unix sockets in /tmp are
# reachable by nothing outside the jail.
#
# Limits: each cell gets `cell_timeout` seconds (fewer when the notebook's
# budget runs out); a cell past it is interrupted and marked, the next
# cells still run. Once the budget is spent the remaining cells are not
# run. The outputs kept are capped per cell and per notebook; what is past
# a cap is dropped and the cell marked. Memory, processes, disk and time
# of the whole run are the jail's.
#
# argv: notebook executed_out report_out cell_timeout budget_secs
#       cell_output_bytes total_output_bytes
import json
import os
import sys
import time
import warnings

# The `ename` of the reply nbclient makes up for a cell past its time.
TIMEOUT_ENAME = "TexjailCellTimeout"
# Space held for the executed notebook while the kernel runs: the file it
# is written to is filled with this many bytes beyond the output cap
# before the first cell runs, and overwritten in place, so a cell that
# fills the disk does not keep the executed notebook from being written.
RESERVE_SLACK = 4 << 20
MATPLOTLIB_CACHE = "/usr/share/texjail/matplotlib"
# The kernelspec this executor writes (a name of its own: Jupyter treats
# `python3` as ipykernel's and would start that one).
KERNEL_NAME = "texjail-python3"
# The kernel's start: ipykernel's launcher with two changes. IOPub's pipe
# for the output of forked processes binds TCP on 127.0.0.1, which the
# jail forbids (and libzmq aborts on): it is left off, so a forked
# process's output is not shown. debugpy is not loaded: nbclient never
# debugs, and it would only cost start-up time.
KERNEL_START = """
import sys
if sys.path[0] == "":
    del sys.path[0]
sys.modules["debugpy"] = None
import ipykernel.iostream
ipykernel.iostream.IOPubThread._setup_pipe_in = lambda self: setattr(self, "_pipe_flag", False)
from ipykernel import kernelapp
kernelapp.launch_new_instance()
"""


class Report:
    def __init__(self, path):
        self.path = path
        self.fields = {
            "kernel": None,
            "executed": False,
            "cells_run": 0,
            "cells_failed": [],
            "cells_timed_out": [],
            "cells_not_run": [],
            "outputs_cut": [],
            "note": None,
        }

    def write(self):
        with open(self.path, "w", encoding="utf-8") as f:
            json.dump(self.fields, f)


def kernel_of(nb):
    """The notebook's kernel name and language, from its metadata
    (`python3`, `python` when it names none, like the pre-pass)."""
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    spec = meta.get("kernelspec") if isinstance(meta.get("kernelspec"), dict) else {}
    info = meta.get("language_info") if isinstance(meta.get("language_info"), dict) else {}
    name = spec.get("name") if isinstance(spec.get("name"), str) else None
    language = None
    for value in (spec.get("language"), info.get("name"), meta.get("language")):
        if isinstance(value, str):
            language = value
            break
    if language is None and name is not None:
        language = "python" if name.lower().startswith("python") else name
    return (name or "python3")[:100], (language or "python").lower()[:100]


def reserve(path, size):
    with open(path, "wb") as f:
        chunk = b"\0" * (1 << 20)
        for _ in range(size >> 20):
            f.write(chunk)


def write_in_place(path, data):
    """Writes over the reserved file without truncating it first (its
    pages are already the file's), then cuts it to the data's length."""
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def kernelspec():
    """The Python 3 kernel as this executor starts it, in Jupyter's data
    directory (which comes before the rootfs's kernels)."""
    data = os.environ.get("JUPYTER_DATA_DIR", "/tmp/.texjail-jupyter/data")
    directory = os.path.join(data, "kernels", KERNEL_NAME)
    os.makedirs(directory, exist_ok=True)
    spec = {
        # IPython's history in memory, not in a file the cells can fill.
        "argv": [
            sys.executable,
            "-c",
            KERNEL_START,
            "-f",
            "{connection_file}",
            "--HistoryManager.hist_file=:memory:",
        ],
        "display_name": "Python 3",
        "language": "python",
    }
    with open(os.path.join(directory, "kernel.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f)


def matplotlib_config():
    """matplotlib's config directory with the rootfs's prebuilt font cache
    (as a program run gets it), so the first import does not rebuild it."""
    conf = os.environ.get("MPLCONFIGDIR")
    if not conf or not os.path.isdir(MATPLOTLIB_CACHE):
        return
    os.makedirs(conf, exist_ok=True)
    for name in os.listdir(MATPLOTLIB_CACHE):
        with open(os.path.join(MATPLOTLIB_CACHE, name), "rb") as src:
            data = src.read()
        with open(os.path.join(conf, name), "wb") as dst:
            dst.write(data)


def execute(nb, report, cell_timeout, deadline, cell_cap, total_cap):
    import asyncio

    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError
    from nbclient.util import ensure_async
    from traitlets.config import Config

    fields = report.fields

    class Client(NotebookClient):
        """nbclient with its outputs capped per cell and per notebook."""

        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.cell_bytes = {}
            self.total_bytes = 0

        def output(self, outs, msg, display_id, cell_index):
            size = len(json.dumps(msg.get("content", {})))
            used = self.cell_bytes.get(cell_index, 0)
            if used + size > cell_cap or self.total_bytes + size > total_cap:
                if cell_index + 1 not in fields["outputs_cut"]:
                    fields["outputs_cut"].append(cell_index + 1)
                return None
            self.cell_bytes[cell_index] = used + size
            self.total_bytes += size
            return super().output(outs, msg, display_id, cell_index)

    def timeout_of(cell):
        return max(1, min(cell_timeout, int(deadline - time.monotonic())))

    def executed(cell, cell_index, execute_reply):
        content = (execute_reply or {}).get("content", {})
        if content.get("ename") == TIMEOUT_ENAME:
            fields["cells_timed_out"].append(cell_index + 1)
        elif content.get("status") == "error":
            fields["cells_failed"].append(cell_index + 1)

    config = Config()
    config.KernelManager.transport = "ipc"
    config.KernelManager.ip = "/tmp/.texjail-kernel/kernel"
    os.makedirs("/tmp/.texjail-kernel", exist_ok=True)
    client = Client(
        nb,
        config=config,
        kernel_name=KERNEL_NAME,
        timeout=cell_timeout,
        timeout_func=timeout_of,
        interrupt_on_timeout=True,
        error_on_timeout={
            "ename": TIMEOUT_ENAME,
            "evalue": "the cell ran past its time limit",
            "traceback": [],
        },
        allow_errors=True,
        iopub_timeout=2,
        startup_timeout=max(1, min(60, int(deadline - time.monotonic()))),
        shutdown_kernel="immediate",
        store_widget_state=False,
        record_timing=False,
    )
    client.on_cell_executed = executed

    async def run():
        async with client.async_setup_kernel(cwd=os.getcwd()):
            msg_id = await ensure_async(client.kc.kernel_info())
            info = await client.async_wait_for_reply(msg_id)
            if info is not None and "language_info" in info["content"]:
                nb.metadata["language_info"] = info["content"]["language_info"]
            dead = None
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                if client.skip_cells_with_tag in cell.metadata.get("tags", []):
                    # nbclient's `skip-execution` tag: kept as saved.
                    continue
                if dead is not None or deadline - time.monotonic() < 1:
                    cell.outputs = []
                    cell.execution_count = None
                    fields["cells_not_run"].append(index + 1)
                    continue
                fields["cells_run"] += 1
                try:
                    await client.async_execute_cell(
                        cell, index, execution_count=client.code_cells_executed + 1
                    )
                except DeadKernelError:
                    fields["cells_failed"].append(index + 1)
                    dead = index + 1
            if dead is not None:
                fields["note"] = "the kernel died in cell %d; the cells after it were not run" % dead
            elif fields["cells_not_run"]:
                fields["note"] = "the notebook's time ran out; %d cells were not run" % len(
                    fields["cells_not_run"]
                )

    asyncio.run(run())


def main(argv):
    (path, executed_out, report_out, cell_timeout, budget, cell_cap, total_cap) = argv
    deadline = time.monotonic() + float(budget)
    report = Report(report_out)
    fields = report.fields
    fields["cell_timeout_secs"] = int(cell_timeout)
    try:
        with open(path, "rb") as f:
            raw = f.read()
        data = json.loads(raw.decode("utf-8-sig"))
        if not isinstance(data, dict):
            raise ValueError("not an object")
    except (RecursionError, ValueError, UnicodeDecodeError, OSError) as e:
        fields["note"] = "not executed: the notebook cannot be read (%s)" % str(e)[:200]
        report.write()
        return
    kernel, language = kernel_of(data)
    fields["kernel"] = kernel
    if language != "python":
        fields["note"] = (
            "not executed: the notebook's kernel is %s (%s); only Python 3 notebooks are executed"
            % (kernel, language)
        )
        report.write()
        return
    fields["kernel"] = "python3"
    del data
    # Written now, so a run that dies on the way leaves a report.
    fields["note"] = "not executed: the executor stopped before the end"
    report.write()
    import nbformat

    # nbformat's warnings (cells without ids, ...) are about the upload,
    # not the run.
    warnings.simplefilter("ignore")
    try:
        nb = nbformat.reads(raw.decode("utf-8-sig"), as_version=4)
    except Exception as e:
        fields["note"] = "not executed: nbformat cannot read the notebook (%s)" % str(e)[:200]
        report.write()
        return
    del raw
    if not any(c.get("cell_type") == "code" and c.get("source", "").strip() for c in nb.cells):
        # Nothing to run: no kernel is started, the notebook is as it was.
        fields["note"] = None
        fields["executed"] = True
        with open(executed_out, "w", encoding="utf-8") as f:
            json.dump(nb, f)
        report.write()
        return
    matplotlib_config()
    kernelspec()
    # The reserve has a name of its own until the notebook is written
    # over it: an executor killed on the way leaves no executed notebook,
    # and the notebook is rendered as uploaded.
    partial = executed_out + ".part"
    reserve(partial, int(total_cap) + RESERVE_SLACK)
    fields["note"] = None
    try:
        execute(nb, report, int(cell_timeout), deadline, int(cell_cap), int(total_cap))
        fields["executed"] = True
    except Exception as e:
        fields["note"] = "execution stopped: %s: %s" % (type(e).__name__, str(e)[:200])
        print("texjail: execution stopped: %r" % e, file=sys.stderr)
    if fields["executed"] or fields["cells_run"]:
        try:
            write_in_place(partial, json.dumps(nb).encode("utf-8"))
            os.rename(partial, executed_out)
            fields["executed"] = True
        except OSError as e:
            fields["executed"] = False
            fields["note"] = "not executed: the executed notebook could not be written (%s)" % e
    if not fields["executed"]:
        try:
            os.unlink(partial)
        except OSError:
            pass
    report.write()


main(sys.argv[1:])
