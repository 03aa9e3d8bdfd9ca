# The notebook pre-pass, run by `python3 -I -S` inside the jail (see
# src/convert/notebook.rs). It reads a hostile .ipynb and writes what pandoc
# turns into the page: a CommonMark document (cells as fenced divs, code in
# fences longer than any backtick run it holds, outputs as raw HTML this
# script escapes, or markdown for text/markdown and text/latex outputs), a
# metadata file with the title, and the output images and attachments,
# decoded and checked, in the media directory. Nothing here executes or
# fetches anything; everything it writes still goes through the host's
# sanitizer.
#
# Exit status 79 (a code neither python3 nor pandoc uses) means "not a
# notebook we convert": the first
# line on stderr says why. Any other non-zero status is a failure of the run.
#
# argv: notebook markdown_out metadata_out media_dir max_cells
#       max_output_bytes max_image_pixels execution_report
# The execution report (`-` for none) is the executor's (see
# notebook_execute.py): the cells it names are marked on the page.
import base64
import binascii
import html
import json
import re
import struct
import sys

NOT_A_NOTEBOOK = 79


class Rejected(Exception):
    pass


def text(value, what):
    """A multiline string of nbformat: a string or a list of strings."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value)
    raise Rejected("%s is neither a string nor a list of strings" % what)


def obj(value, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Rejected("%s is not an object" % what)
    return value


# nbformat 3 -> 4 -------------------------------------------------------

V3_MIME = {
    "text": "text/plain",
    "html": "text/html",
    "svg": "image/svg+xml",
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "latex": "text/latex",
    "markdown": "text/markdown",
    "javascript": "application/javascript",
    "json": "application/json",
    "pdf": "application/pdf",
}


def upgrade_v3(nb):
    worksheets = nb.get("worksheets")
    if not isinstance(worksheets, list):
        raise Rejected("an nbformat 3 notebook without worksheets")
    cells = []
    for sheet in worksheets:
        sheet_cells = obj(sheet, "a worksheet").get("cells", [])
        if not isinstance(sheet_cells, list):
            raise Rejected("a worksheet's cells are not a list")
        for cell in sheet_cells:
            cells.append(upgrade_v3_cell(obj(cell, "a cell")))
    metadata = obj(nb.get("metadata"), "the notebook metadata")
    return {"cells": cells, "metadata": metadata}


def upgrade_v3_cell(cell):
    kind = cell.get("cell_type")
    if kind == "heading":
        level = cell.get("level", 1)
        level = level if isinstance(level, int) and 1 <= level <= 6 else 1
        return {
            "cell_type": "markdown",
            "metadata": obj(cell.get("metadata"), "cell metadata"),
            "source": "#" * level + " " + text(cell.get("source"), "a heading"),
        }
    if kind != "code":
        return cell
    outputs = []
    for out in cell.get("outputs", []) or []:
        out = obj(out, "an output")
        kind = out.get("output_type")
        if kind == "pyout":
            kind = "execute_result"
        elif kind == "pyerr":
            kind = "error"
        if kind == "stream":
            outputs.append(
                {
                    "output_type": "stream",
                    "name": out.get("stream", "stdout"),
                    "text": out.get("text", ""),
                }
            )
        elif kind == "error":
            outputs.append(out | {"output_type": "error"})
        else:
            data = {V3_MIME[k]: v for k, v in out.items() if k in V3_MIME}
            outputs.append({"output_type": kind, "data": data})
    return {
        "cell_type": "code",
        "metadata": obj(cell.get("metadata"), "cell metadata"),
        "source": cell.get("input", ""),
        "outputs": outputs,
        "language": cell.get("language"),
    }


# ANSI escapes -> classes ----------------------------------------------

ANSI_COLOURS = ["black", "red", "green", "yellow", "blue", "magenta", "cyan", "white"]
# CSI sequences (SGR among them), OSC strings, and any other escape.
ESCAPE = re.compile(
    r"\x1b\[([0-9;:?]*)([ -/]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?"
)
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def ansi_to_html(raw):
    """Escaped HTML of terminal text: SGR colours and bold become classes
    (`ansi-red-fg`, `ansi-bold`, ...), every other escape and control
    character is dropped."""
    out = []
    fg = bg = None
    bold = False
    open_span = False
    pos = 0

    def emit(chunk):
        nonlocal open_span
        chunk = CONTROL.sub("", chunk.replace("\r\n", "\n"))
        if not chunk:
            return
        classes = []
        if fg:
            classes.append("ansi-%s-fg" % fg)
        if bg:
            classes.append("ansi-%s-bg" % bg)
        if bold:
            classes.append("ansi-bold")
        escaped = html.escape(chunk, quote=True)
        if classes:
            out.append('<span class="%s">%s</span>' % (" ".join(classes), escaped))
        else:
            out.append(escaped)

    for m in ESCAPE.finditer(raw):
        emit(raw[pos : m.start()])
        pos = m.end()
        if m.group(3) != "m":
            continue
        codes = [c for c in re.split("[;:]", m.group(1) or "0")]
        i = 0
        while i < len(codes):
            c = int(codes[i]) if codes[i].isdigit() else 0
            if c == 0:
                fg = bg = None
                bold = False
            elif c == 1:
                bold = True
            elif c == 22:
                bold = False
            elif 30 <= c <= 37:
                fg = ANSI_COLOURS[c - 30]
            elif 90 <= c <= 97:
                fg = "bright-" + ANSI_COLOURS[c - 90]
            elif 40 <= c <= 47:
                bg = ANSI_COLOURS[c - 40]
            elif 100 <= c <= 107:
                bg = "bright-" + ANSI_COLOURS[c - 100]
            elif c == 39:
                fg = None
            elif c == 49:
                bg = None
            elif c in (38, 48):
                # 256-colour and true-colour forms carry no class of ours.
                kind = codes[i + 1] if i + 1 < len(codes) else ""
                i += 2 if kind == "5" else 4 if kind == "2" else 0
            i += 1
    emit(raw[pos:])
    return "".join(out)


# Images ---------------------------------------------------------------


def image_size(kind, data):
    """(width, height) read from the image's own header, or None when the
    bytes are not an image of that kind."""
    if kind == "png":
        if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
            return None
        return struct.unpack(">II", data[16:24])
    if kind == "gif":
        if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 10:
            return None
        return struct.unpack("<HH", data[6:10])
    if kind == "jpeg":
        if data[:2] != b"\xff\xd8":
            return None
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            length = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return (w, h)
            i += 2 + length
        return None
    return None


class Media:
    def __init__(self, directory, max_pixels):
        self.directory = directory
        self.max_pixels = max_pixels
        self.count = 0
        self.notes = []

    def write(self, mime, payload, what):
        """Decodes one image and writes it; returns its page-relative path,
        or None (with a note) when it is refused."""
        kind = {
            "image/png": "png",
            "image/jpeg": "jpeg",
            "image/gif": "gif",
            "image/svg+xml": "svg",
        }[mime]
        if kind == "svg":
            data = payload.encode("utf-8")
        else:
            try:
                data = base64.b64decode("".join(payload.split()), validate=True)
            except (binascii.Error, ValueError):
                self.notes.append("%s: the %s data is not base64" % (what, mime))
                return None
            size = image_size(kind, data)
            if size is None:
                self.notes.append("%s: the %s data is not a %s image" % (what, mime, kind))
                return None
            if size[0] * size[1] > self.max_pixels or 0 in size:
                self.notes.append(
                    "%s: a %dx%d image is over the limit of %d pixels"
                    % (what, size[0], size[1], self.max_pixels)
                )
                return None
        self.count += 1
        name = "nb-media/%d.%s" % (self.count, "jpg" if kind == "jpeg" else kind)
        with open("%s/%d.%s" % (self.directory, self.count, name.rsplit(".", 1)[1]), "wb") as f:
            f.write(data)
        return name


# Markdown -------------------------------------------------------------

# Math as Jupyter finds it (MathJax over the markdown, math taken out
# before the markdown is read): `$$…$$`, `\\[…\\]`, any
# `\begin{env}…\end{env}` as display math, `$…$` and `\\(…\\)` inline.
MATH = re.compile(
    r"\$\$(?P<dd>.+?)\$\$"
    r"|\\\\\[(?P<bd>.+?)\\\\\]"
    r"|(?P<env>\\begin\{(?P<name>[A-Za-z]+\*?)\}.*?\\end\{(?P=name)\})"
    r"|\\\\\((?P<bi>.+?)\\\\\)"
    r"|(?<![\\$])\$(?P<di>(?:\\\$|[^$])+?)\$",
    re.S,
)
FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)[^`].*?\1|(`+)", re.S)
TEX_COMMENT = re.compile(r"(?<!\\)%.*$", re.M)


OLD_FONT = re.compile(r"\{\\(bf|it|rm|cal|sf|tt)\s+")
TEXT_LOGO = re.compile(r"\\(La)?TeX\b")


def one_line(tex):
    """Math on one line: CommonMark must not read a line of it that
    starts with `-`, `+`, `#` or `>` as a list, heading or quote. MathJax's
    old font switches (`{\\bf y}`) become the math alphabets pandoc reads,
    and its `\\LaTeX` logo text."""
    tex = OLD_FONT.sub(lambda m: "\\math%s{" % m.group(1), tex)
    tex = TEXT_LOGO.sub(lambda m: "\\text{%sTeX}" % (m.group(1) or ""), tex)
    return " ".join(TEX_COMMENT.sub("", tex).split())


def protect_math(text):
    def replace(m):
        if m.group("dd") is not None:
            return "$$" + one_line(m.group("dd")) + "$$"
        if m.group("bd") is not None:
            return "$$" + one_line(m.group("bd")) + "$$"
        if m.group("env") is not None:
            return "$$" + one_line(m.group("env")) + "$$"
        inline = m.group("bi") if m.group("bi") is not None else m.group("di")
        if re.search(r"\n\s*\n", inline) or not inline.strip():
            return m.group(0)
        return "$" + one_line(inline) + "$"

    out = []
    pos = 0
    for span in CODE_SPAN.finditer(text):
        out.append(MATH.sub(replace, text[pos : span.start()]))
        out.append(span.group(0))
        pos = span.end()
    out.append(MATH.sub(replace, text[pos:]))
    return "".join(out)


def math_environments(source):
    """Markdown with its math written the way pandoc reads it, code
    (fenced blocks and spans) left as it is."""
    lines = source.split("\n")
    out = []
    prose = []
    fence_open = None
    for line in lines:
        m = FENCE_LINE.match(line)
        if fence_open is None and m:
            out.append(protect_math("\n".join(prose)))
            prose = []
            fence_open = m.group(1)[0] * len(m.group(1))
            out.append(line)
        elif fence_open is not None:
            out.append(line)
            if line.strip().startswith(fence_open) and not line.strip().strip(fence_open[0]):
                fence_open = None
        else:
            prose.append(line)
    if prose:
        out.append(protect_math("\n".join(prose)))
    return "\n".join(out)


def fence(body, char="`"):
    longest = max((len(m) for m in re.findall(re.escape(char) + "+", body)), default=0)
    return char * max(3, longest + 1)


def raw_html(snippet):
    f = fence(snippet)
    return "%s{=html}\n%s\n%s\n" % (f, snippet, f)


def code_block(source, language):
    f = fence(source)
    lang = re.sub(r"[^A-Za-z0-9_+-]", "", language or "")
    attrs = " {.%s .cell-input}" % lang if lang else " {.cell-input}"
    return "%s%s\n%s\n%s\n" % (f, attrs, source, f)


def div(classes, body):
    return "\n:::::: {%s}\n%s\n::::::\n" % (" ".join("." + c for c in classes), body)


# Cells and outputs ----------------------------------------------------

PRIORITY = [
    "text/html",
    "text/markdown",
    "image/svg+xml",
    "text/latex",
    "image/png",
    "image/jpeg",
    "image/gif",
    "text/plain",
]
ACTIVE = re.compile(r"<\s*(script|iframe|object|embed)\b", re.I)
HIDE_INPUT = {"remove-input", "hide-input", "remove_input", "hide_input"}
HIDE_OUTPUT = {"remove-output", "hide-output", "remove_output", "hide_output"}
REMOVE_CELL = {"remove-cell", "remove_cell"}


EXECUTION_MARKS = [
    ("cells_timed_out", "nb-timed-out", "This cell ran past its time limit of %s s and was stopped."),
    ("cells_failed", "nb-raised", "This cell raised an exception."),
    ("cells_not_run", "nb-not-run", "This cell was not run: %s."),
    ("outputs_cut", "nb-output-cut", "Output of this cell past the limit was left out."),
]


def execution_marks(path):
    """cell number -> [(class, note)] from the executor's report."""
    if path == "-":
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            report = json.load(f)
    except (OSError, ValueError, RecursionError):
        return {}
    if not isinstance(report, dict) or report.get("executed") is not True:
        return {}
    limit = report.get("cell_timeout_secs")
    why = report.get("note") if isinstance(report.get("note"), str) else "the notebook's time ran out"
    marks = {}
    for key, cls, note in EXECUTION_MARKS:
        cells = report.get(key)
        if not isinstance(cells, list):
            continue
        if "%s" in note:
            note = note % (limit if key == "cells_timed_out" else why[:300])
        for n in cells:
            if isinstance(n, int):
                marks.setdefault(n, []).append((cls, note))
    return marks


class Renderer:
    def __init__(self, media, max_output_bytes, language, marks=None):
        self.media = media
        self.max_output_bytes = max_output_bytes
        self.language = language
        self.marks = marks or {}
        self.dropped = 0
        self.truncated = 0

    def capped(self, s):
        if len(s) > self.max_output_bytes:
            self.truncated += 1
            left = len(s) - self.max_output_bytes
            return s[: self.max_output_bytes], left
        return s, 0

    def terminal(self, raw, classes):
        raw, left = self.capped(raw)
        body = '<pre class="%s">%s</pre>' % (" ".join(classes), ansi_to_html(raw))
        if left:
            body += '<p class="nb-note">(%d more characters of output left out)</p>' % left
        return raw_html(body)

    def output(self, out, where):
        out = obj(out, "an output")
        kind = out.get("output_type")
        if kind == "stream":
            name = out.get("name") if out.get("name") in ("stdout", "stderr") else "stdout"
            body = self.terminal(text(out.get("text"), "stream text"), ["nb-stream", "nb-" + name])
            return div(["output", "stream", name], body)
        if kind == "error":
            tb = out.get("traceback")
            lines = text(tb if isinstance(tb, list) else [], "a traceback")
            if isinstance(tb, list):
                lines = "\n".join(l for l in tb if isinstance(l, str))
            if not lines:
                lines = "%s: %s" % (out.get("ename", "Error"), out.get("evalue", ""))
            return div(["output", "error"], self.terminal(str(lines), ["nb-error"]))
        if kind in ("display_data", "execute_result", "update_display_data"):
            data = obj(out.get("data"), "output data")
            return div(["output", kind], self.mime_bundle(data, where))
        self.dropped += 1
        return div(["output"], raw_html('<p class="nb-note">(An output of an unknown type was left out.)</p>'))

    def mime_bundle(self, data, where):
        for mime in PRIORITY:
            if mime not in data:
                continue
            value = data[mime]
            if mime in ("image/png", "image/jpeg", "image/gif", "image/svg+xml"):
                path = self.media.write(mime, text(value, mime), where)
                if path:
                    return raw_html('<img src="%s" alt="">' % path)
                continue
            value, left = self.capped(text(value, mime))
            if left:
                value += "\n"
            if mime == "text/html":
                if ACTIVE.search(value):
                    continue
                return raw_html(value)
            if mime in ("text/markdown", "text/latex"):
                return math_environments(value) + "\n"
            return self.terminal(value, ["nb-plain"])
        self.dropped += 1
        kinds = ", ".join(sorted(k for k in data if isinstance(k, str)))[:200]
        return raw_html(
            '<p class="nb-note">(An output of type %s was left out: it needs '
            "JavaScript or a viewer this page does not run.)</p>" % html.escape(kinds)
        )

    def attachments(self, cell, source, where):
        found = obj(cell.get("attachments"), "attachments")
        for name, bundle in found.items():
            bundle = obj(bundle, "an attachment")
            path = None
            for mime in ("image/png", "image/jpeg", "image/gif", "image/svg+xml"):
                if mime in bundle:
                    path = self.media.write(mime, text(bundle[mime], mime), where)
                    break
            target = "attachment:" + name
            if path:
                source = source.replace(target, path)
        return source

    def cell(self, cell, index):
        cell = obj(cell, "a cell")
        kind = cell.get("cell_type")
        meta = obj(cell.get("metadata"), "cell metadata")
        tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
        tags = {t for t in tags if isinstance(t, str)}
        jupyter = obj(meta.get("jupyter"), "jupyter metadata")
        where = "cell %d" % (index + 1)
        if tags & REMOVE_CELL:
            return ""
        if kind == "markdown":
            source = self.attachments(cell, text(cell.get("source"), "a cell source"), where)
            source, _ = self.capped(source)
            return div(["cell", "markdown"], math_environments(source))
        if kind == "raw":
            return ""
        if kind != "code":
            self.dropped += 1
            return div(
                ["cell", "unknown"],
                raw_html('<p class="nb-note">(A cell of an unknown type was left out.)</p>'),
            )
        parts = []
        if not (tags & HIDE_INPUT or jupyter.get("source_hidden") is True):
            source, _ = self.capped(text(cell.get("source"), "a cell source"))
            language = cell.get("language") if isinstance(cell.get("language"), str) else self.language
            parts.append(code_block(source, language))
        outputs = cell.get("outputs", [])
        if not isinstance(outputs, list):
            raise Rejected("the outputs of %s are not a list" % where)
        if not (tags & HIDE_OUTPUT or jupyter.get("outputs_hidden") is True):
            parts.extend(self.output(o, where) for o in outputs)
        marks = self.marks.get(index + 1, [])
        for cls, note in marks:
            parts.append(
                div(["output", "nb-execution", cls], raw_html('<p class="nb-note">(%s)</p>' % html.escape(note)))
            )
        return div(["cell", "code"] + [cls for cls, _ in marks], "\n".join(parts))


def language_of(metadata):
    for key in ("language_info", "kernelspec"):
        info = metadata.get(key)
        if isinstance(info, dict):
            name = info.get("name") if key == "language_info" else info.get("language")
            if isinstance(name, str):
                return name
    lang = metadata.get("language")
    return lang if isinstance(lang, str) else "python"


def title_of(metadata, cells):
    if isinstance(metadata.get("title"), str) and metadata["title"].strip():
        return metadata["title"].strip()
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "markdown":
            try:
                source = text(cell.get("source"), "a cell source")
            except Rejected:
                return None
            m = re.search(r"^ {0,3}#{1,2}\s+(.+?)\s*#*\s*$", source, re.M)
            if m:
                return re.sub(r"[*_`<>\[\]$\\]", "", m.group(1))[:200]
    return None


def main(argv):
    (path, markdown_out, metadata_out, media_dir, max_cells, max_output, max_pixels, report) = argv
    with open(path, "rb") as f:
        raw = f.read()
    try:
        nb = json.loads(raw.decode("utf-8-sig"))
    except RecursionError:
        raise Rejected("the JSON is nested too deeply")
    except (UnicodeDecodeError, ValueError) as e:
        raise Rejected("the file is not JSON: %s" % str(e)[:200])
    if not isinstance(nb, dict):
        raise Rejected("the JSON is not an object")
    major = nb.get("nbformat")
    if major == 3:
        nb = upgrade_v3(nb)
    elif major != 4:
        raise Rejected("nbformat %r is not 3 or 4" % (major if isinstance(major, int) else "missing"))
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise Rejected("the notebook has no list of cells")
    if len(cells) > int(max_cells):
        raise Rejected("the notebook has %d cells, more than the %s converted" % (len(cells), max_cells))
    metadata = obj(nb.get("metadata"), "the notebook metadata")
    media = Media(media_dir, int(max_pixels))
    renderer = Renderer(media, int(max_output), language_of(metadata), execution_marks(report))
    with open(markdown_out, "w", encoding="utf-8") as out:
        for i, cell in enumerate(cells):
            out.write(renderer.cell(cell, i))
    with open(metadata_out, "w", encoding="utf-8") as out:
        json.dump({"pagetitle": title_of(metadata, cells) or "Notebook"}, out)
    for note in media.notes:
        print("[WARNING] image left out: %s" % note, file=sys.stderr)
    if renderer.truncated:
        print("[WARNING] %d outputs were cut at %s characters" % (renderer.truncated, max_output), file=sys.stderr)
    if renderer.dropped:
        print("[WARNING] %d active or unknown outputs or cells were left out" % renderer.dropped, file=sys.stderr)


try:
    main(sys.argv[1:])
except Rejected as e:
    print("not a notebook texjail converts: %s" % e, file=sys.stderr)
    sys.exit(NOT_A_NOTEBOOK)
except RecursionError:
    print("not a notebook texjail converts: it is nested too deeply", file=sys.stderr)
    sys.exit(NOT_A_NOTEBOOK)
