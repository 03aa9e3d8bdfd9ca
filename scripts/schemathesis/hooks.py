"""Schemathesis hooks for `scripts/schemathesis.sh`: the test data the
OpenAPI document can state but not generate.

The document says what `POST /api/v1/convert` takes: a `project` part that
is a zip, tar, tar.gz or single .tex file (its `encoding` media types),
and an optional `main` naming a .tex file of that project. A JSON Schema
can't build an archive, or tie one field to the content of another, so:

- each of those media types gets a strategy that yields real projects of
  that format (`PROJECTS`, a few small documents that every converter
  turns into a clean page, with nested, spaced and non-ASCII names);
- a positive case's `main` is made one of the project's .tex files (its
  surrounding whitespace and leading `./` kept), so a request the schema
  calls valid is one the service can convert;
- notebooks (bare, as `application/x-ipynb+json` or `application/json`,
  or zipped) are projects too, and a positive case asking for the
  notebook converter gets a notebook.

Negative cases are left alone: every field the schema constrains is judged
by the service before a job exists. The projects are few and fixed, so
after the first conversion of each (per converter) the cache answers.
"""

import gzip
import io
import json
import re
import tarfile
import zipfile
import zlib

import schemathesis
from hypothesis import strategies as st

DOC = r"""\documentclass{article}
\title{%s}
\begin{document}
\maketitle
\section{Introduction}
Inline math $e^{i\pi} + 1 = 0$ and a display:
\[ \int_0^1 x^2 \, dx = \frac{1}{3} \]
\end{document}
"""

# Path -> text. A project with a folder also has a file at its root, so
# the folder is not taken as the project's one top-level folder. No name
# has a space: make4ht cannot convert a main file whose name has one.
PROJECTS = [
    {"main.tex": DOC % "Single file"},
    {"chapters/Über-Kapitel.TEX": DOC % "Nested", "README.txt": "notes\n"},
    {"paper.ltx": DOC % "Paper", "reply_to_reviewers.tex": DOC % "Reply"},
]

# Every file gets the same fixed time, so an archive's bytes (and the
# service's cache key) never depend on when the run happened.
EPOCH = (2020, 1, 1, 0, 0, 0)


def zip_of(files):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            z.writestr(zipfile.ZipInfo(name, EPOCH), text.encode())
    return out.getvalue()


def tar_of(files, compress=False):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1577836800
            info.mode = 0o644
            t.addfile(info, io.BytesIO(data))
    data = out.getvalue()
    return gzip.compress(data, mtime=0) if compress else data


def tex_files(files):
    return sorted(n for n in files if n.lower().endswith((".tex", ".ltx", ".ipynb")))


# Archive bytes -> the .tex files of the project inside.
TEX_FILES = {}


def register(media_type, archives):
    for data, files in archives:
        TEX_FILES[data] = tex_files(files)
    schemathesis.openapi.media_type(media_type, st.sampled_from([data for data, _ in archives]))


register("application/zip", [(zip_of(p), p) for p in PROJECTS])
register("application/x-tar", [(tar_of(p), p) for p in PROJECTS])
register("application/gzip", [(tar_of(p, compress=True), p) for p in PROJECTS])
# A bare .tex upload is the project's main.tex.
register("text/x-tex", [(PROJECTS[0]["main.tex"].encode(), {"main.tex": ""})])

# A small notebook: markdown with math, code, an output.
NOTEBOOK = json.dumps({
    "nbformat": 4, "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}},
    "cells": [
        {"cell_type": "markdown", "id": "a1", "metadata": {}, "source": "# Notebook\n\nEuler: $e^{i\\pi} + 1 = 0$"},
        {"cell_type": "code", "id": "a2", "metadata": {}, "execution_count": 1, "source": "print(1 + 1)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": "2\n"}]},
    ],
})
NOTEBOOK_PROJECT = {"analysis.ipynb": NOTEBOOK, "data/README.txt": "notes\n"}
# A bare notebook upload is the project's notebook.ipynb. (Only under its
# own media type: a strategy for application/json would be every JSON
# body's, the run requests' too.)
register("application/x-ipynb+json", [(NOTEBOOK.encode(), {"notebook.ipynb": ""})])
NOTEBOOK_ZIP = zip_of(NOTEBOOK_PROJECT)
TEX_FILES[NOTEBOOK_ZIP] = ["analysis.ipynb"]

MAIN_PARTS = re.compile(r"^([ \t\n\f\r]*(?:\./)*)(.*?)([ \t\n\f\r]*)$", re.S)


def is_positive(case):
    meta = case.meta
    return meta is None or meta.generation.mode.is_positive


def run_files_apart(body):
    """Keeps the files of a run request one folder can hold: names that
    differ case-insensitively, no file that is another's folder (rules a
    schema cannot state)."""
    files = body.get("files")
    if not isinstance(files, list):
        return
    kept, taken, folders = [], set(), set()
    for f in files:
        name = f.get("name") if isinstance(f, dict) else None
        if not isinstance(name, str):
            kept.append(f)
            continue
        folded = name.lower()
        parts = folded.split("/")
        mine = {"/".join(parts[:i]) for i in range(1, len(parts))}
        if folded in taken or folded in folders or mine & taken:
            continue
        taken.add(folded)
        folders.update(mine)
        kept.append(f)
    body["files"] = kept


@schemathesis.hook
def map_case(ctx, case):
    if case.operation.path == "/api/v1/run" and is_positive(case):
        if isinstance(case.body, dict):
            run_files_apart(case.body)
        return case
    if case.operation.path != "/api/v1/convert" or not is_positive(case):
        return case
    body = case.body
    if not isinstance(body, dict):
        return case
    # The notebook converter takes a notebook: a TeX project goes to it as
    # a zipped notebook instead (a rule tying two fields together).
    names = TEX_FILES.get(bytes(body.get("project") or b""))
    if body.get("converter") == "notebook" and names and not any(n.endswith(".ipynb") for n in names):
        body["project"] = NOTEBOOK_ZIP
    # Execution's limits come only with execute (the schema's
    # dependentSchemas, which the generator may not follow).
    if ("cell_timeout" in body or "memory_bytes" in body) and body.get("execute") not in ("true", "1"):
        body["execute"] = "true"
    if not isinstance(body.get("main"), str):
        return case
    names = TEX_FILES.get(bytes(body.get("project") or b""))
    lead, core, trail = MAIN_PARTS.match(body["main"]).groups()
    if not names or not core:
        return case
    body["main"] = lead + names[zlib.crc32(core.encode("utf-8", "surrogatepass")) % len(names)] + trail
    return case
