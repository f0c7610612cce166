"""The nbconvert export of an executed notebook, opened in headless Chromium: the reports show.

Regions of real screenshots are compared: the heatmap of the failing block
must contain the failing colour and the passing block's must not; the plots
(SVG in ``img`` data URIs) must decode and draw coloured lines.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from nbgrad.cli import main

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.kernel,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from test_cli import fixture_cell, write_notebook

    folder = tmp_path_factory.mktemp("browser")
    notebook = write_notebook(folder / "shared.ipynb", [
        (fixture_cell("gradcheck_seed003_regularisation"), True),
        (fixture_cell("determinism_uninitialized_memory"), True),
    ])
    assert main(["run", str(notebook), "--output-dir", str(folder / "out")]) == 0
    return folder / "out" / "shared.html"


@pytest.fixture(scope="module")
def page(export: Path, tmp_path_factory: pytest.TempPathFactory):
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 1000}, offline=True,
        )
        page = context.new_page()
        page.goto(export.as_uri(), wait_until="load")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "static-report.png"), full_page=True)
        yield page
        context.close()


def test_heatmaps_show_the_failing_column_in_the_failing_colour(page) -> None:
    heatmaps = page.locator(".nbgrad-heatmap")
    assert heatmaps.count() == 2
    passing, failing = (_pixels(page, heatmaps.nth(i), f"heatmap-{i}") for i in range(2))
    assert _share(failing, _is_failing_red) > 0.05
    assert _share(passing, _is_failing_red) == 0
    assert _share(passing, _is_blue) > 0.3
    first_column = page.locator(".nbgrad-heatmap").nth(1).locator("td.nbgrad-fail")
    assert first_column.count() == 3
    for i in range(3):
        cell = _pixels(page, first_column.nth(i), f"fail-cell-{i}")
        assert _share(cell, _is_failing_red) > 0.5


def test_plots_decode_and_draw_lines(page) -> None:
    for css_class in ("nbgrad-step-curve", "nbgrad-divergence-plot"):
        image = page.locator(f"img.{css_class}")
        assert image.count() == 1
        assert image.evaluate("img => img.complete && img.naturalWidth") > 0
        pixels = _pixels(page, image, css_class)
        assert _share(pixels, lambda p: p[2] > 150 and p[0] < 80) > 0.001, "blue data line"
        assert _share(pixels, lambda p: max(p) - min(p) < 10 and p[0] < 120) > 0.001, "axes"


def test_divergent_source_line_is_highlighted(page) -> None:
    line = page.locator(".nbgrad-divergent-line")
    assert "dLdb_c += delta" in line.inner_text()
    pixels = _pixels(page, line, "divergent-line")
    assert _share(pixels, lambda p: p[0] > 240 and 200 < p[1] < 235 and 200 < p[2] < 235) > 0.3


def _pixels(page, locator, name: str) -> list[tuple[int, int, int]]:
    box = locator.bounding_box()
    assert box is not None and box["width"] > 4 and box["height"] > 4, name
    png = locator.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    return decode_png(png)


def _share(pixels: list[tuple[int, int, int]], test) -> float:
    return sum(map(test, pixels)) / len(pixels)


def _is_failing_red(p: tuple[int, int, int]) -> bool:
    return p[0] > 140 and p[0] > p[1] + 60 and p[0] > p[2] + 60


def _is_blue(p: tuple[int, int, int]) -> bool:
    return p[2] > p[0] + 20


def decode_png(data: bytes) -> list[tuple[int, int, int]]:
    """RGB pixels of an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, [], None
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * channels
    previous = bytearray(stride)
    pixels = []
    for row in range(height):
        start = row * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            line[i] = (line[i] + _predict(kind, left, up, corner)) & 0xFF
        pixels += [tuple(line[i:i + 3]) for i in range(0, stride, channels)]
        previous = line
    return pixels


def _predict(kind: int, left: int, up: int, corner: int) -> int:
    if kind == 0:
        return 0
    if kind == 1:
        return left
    if kind == 2:
        return up
    if kind == 3:
        return (left + up) // 2
    guess = left + up - corner
    distances = abs(guess - left), abs(guess - up), abs(guess - corner)
    return (left, up, corner)[distances.index(min(distances))]
