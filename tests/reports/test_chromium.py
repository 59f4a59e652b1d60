"""The HTML report rendered by headless Chromium (Debian `chromium`) to a PNG that a customer could read.

Skips only when chromium is missing and `CI` is unset; under CI a missing
chromium fails (`.ci/chromium.sh` installs it).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import pytest

from monitord.reports.monthly import monthly_report
from monitord.reports.render import monthly_html
from monitord.sla.alerts import SlaPlanner
from monitord.sla.availability import Month
from monitord.sla.policy import SlaPolicy
from tests.reports.conftest import AT

WIDTH, HEIGHT = 1000, 1400


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if not os.environ.get("CI"):
            pytest.skip("chromium is not installed (bash .ci/chromium.sh installs it)")
        pytest.fail("chromium is not installed under CI: .ci/chromium.sh should have installed it")
    return found


def screenshot(html: Path, png: Path, width: int, height: int) -> None:
    """Render a local HTML file to a PNG of the given window size with headless Chromium."""
    profile = png.with_suffix(".profile")
    subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         f"--user-data-dir={profile}", f"--window-size={width},{height}", f"--screenshot={png}", html.as_uri()],
        check=True, capture_output=True, timeout=180)


def read_png(data: bytes) -> tuple[int, int, list[tuple[int, ...]]]:
    """A small PNG reader for 8-bit RGB/RGBA (what Chromium writes): width, height and the pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    height = depth = ctype = interlace = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    assert depth == 8 and ctype in (2, 6) and interlace == 0, (depth, ctype, interlace)
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    rows: list[bytearray] = []
    prev = bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            if f == 1:
                line[i] = (line[i] + a) & 0xFF
            elif f == 2:
                line[i] = (line[i] + b) & 0xFF
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(line)
        prev = line
    pixels = [tuple(r[x * bpp:x * bpp + 3]) for r in rows for x in range(width)]
    return width, height, pixels


def near(pixel: tuple[int, ...], rgb: tuple[int, int, int], tol: int = 12) -> bool:
    return all(abs(p - q) <= tol for p, q in zip(pixel, rgb, strict=False))


def test_report_renders_to_a_readable_png(policy: SlaPolicy, planner: SlaPlanner, tmp_path: Path):
    chromium()
    html = tmp_path / "report.html"
    html.write_text(monthly_html(monthly_report(policy, planner, Month(2026, 10), AT)), encoding="utf-8")
    png = tmp_path / "report.png"
    screenshot(html, png, WIDTH, HEIGHT)
    data = png.read_bytes()
    assert len(data) > 20_000, "the PNG is suspiciously small"
    width, height, pixels = read_png(data)
    assert (width, height) == (WIDTH, HEIGHT)
    counts = Counter(pixels)
    white = sum(n for p, n in counts.items() if min(p) >= 250)
    assert white < 0.97 * len(pixels), "the page is (nearly) blank"
    assert len(counts) > 200, "too few colours for text, tables and a chart"
    # The chart's bars: red for circuits over budget (X-AAA, X-AA), green for the others (#c62828, #2e7d32);
    # the header rule and headings in the accent blue (#1f4e79).
    assert sum(n for p, n in counts.items() if near(p, (198, 40, 40))) > 1500
    assert sum(n for p, n in counts.items() if near(p, (46, 125, 50))) > 1500
    assert sum(n for p, n in counts.items() if near(p, (31, 78, 121))) > 1000
