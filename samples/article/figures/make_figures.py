"""Regenerate the article sample's figures with the standard library only.

dots.png   - 24x24 grayscale grid of dots
square.pdf - one-page PDF drawing a filled square, with a correct xref table
"""
import struct
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def png() -> bytes:
    w = h = 24
    rows = b"".join(
        b"\x00" + bytes(0 if (x % 6 in (2, 3) and y % 6 in (2, 3)) else 255 for x in range(w))
        for y in range(h)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def pdf() -> bytes:
    content = b"0.2 0.4 0.8 rg 10 10 80 80 re f 0 0 0 RG 2 w 10 10 80 80 re S\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 4 0 R /Resources << >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


if __name__ == "__main__":
    (HERE / "dots.png").write_bytes(png())
    (HERE / "square.pdf").write_bytes(pdf())
