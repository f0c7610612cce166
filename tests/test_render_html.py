"""Static HTML: safe under JupyterLab's sanitiser, escaped, and showing what the fixture says.

The allow-lists are read from the JupyterLab that is installed (its bundled
``Sanitizer`` options), so the test follows JupyterLab rather than a copy.
"""

from __future__ import annotations

import base64
import copy
import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jupyter_core.paths import jupyter_path

from nbgrad.report import fmt
from nbgrad.report.heatmap import FAIL_DARK, FAIL_LIGHT, PASS_DARK, PASS_LIGHT, cell_colour
from nbgrad.report.html import render_html
from nbgrad.report.svg import RIGHT, WIDTH

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "reports").glob("*.json"))
HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_SOURCE = "</pre><script>alert(1)</script>"
USED_TAGS = ("*", "div", "p", "span", "table", "tr", "th", "td", "pre", "code", "img", "ul", "li",
             "h4", "strong", "a", "details", "summary", "col")


class Element:
    def __init__(self, tag: str, attrs: dict[str, str | None]) -> None:
        self.tag, self.attrs, self.text = tag, attrs, ""


class Collect(HTMLParser):
    """Every element with its attributes and its own direct text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, dict(attrs))
        self.elements.append(element)
        if tag not in ("img", "br", "hr"):
            self.open.append(element)

    def handle_endtag(self, tag: str) -> None:
        if self.open and self.open[-1].tag == tag:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        if self.open:
            self.open[-1].text += data


def parse(markup: str) -> list[Element]:
    parser = Collect()
    parser.feed(markup)
    return parser.elements


@pytest.fixture(scope="module")
def sanitizer() -> dict:
    """Allowed tags, attributes and style properties of the installed JupyterLab."""
    for folder in jupyter_path("lab", "static"):
        for bundle in sorted(Path(folder).glob("jlab_core*.js")):
            code = bundle.read_text(encoding="utf-8")
            attributes = re.search(r'allowedAttributes:\{"\*":\[', code)
            if attributes is None:
                continue
            start = attributes.start()
            tags = re.findall(r'allowedTags:(\[[^\]]*\])', code[start - 3000:start])[-1]
            styles = code[start:].split("allowedStyles:", 1)[1].split("}}", 1)[0]
            section = code[attributes.start():]
            return {"tags": set(json.loads(tags)),
                    "attributes": {tag: _js_strings(section, tag) for tag in USED_TAGS},
                    "styles": set(re.findall(r'[{,]"?([a-z-]+)"?:\[', styles))}
    pytest.skip("JupyterLab's bundled sanitizer was not found")


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_markup_survives_the_jupyterlab_sanitizer(path: Path, sanitizer: dict) -> None:
    markup = render_html(json.loads(path.read_text()))
    for element in parse(markup):
        assert element.tag in sanitizer["tags"], element.tag
        allowed = set(sanitizer["attributes"]["*"]) | set(
            sanitizer["attributes"].get(element.tag, []))
        assert set(element.attrs) <= allowed, (element.tag, element.attrs)
        for declaration in filter(None, (element.attrs.get("style") or "").split(";")):
            prop, value = (part.strip() for part in declaration.split(":", 1))
            assert prop in sanitizer["styles"], prop
            if "color" in prop:  # a theme variable with a light fallback, or a fixed colour
                colour = r"(rgb\(\d+, \d+, \d+\)|#[0-9a-f]+)"
                assert re.fullmatch(rf"{colour}|var\(--jp-[a-z0-9-]+, {colour}\)", value), value
    assert "<script" not in markup and "<style" not in markup
    assert not re.search(r"\son\w+\s*=", markup)
    assert not re.search(r'src="(?!data:image/svg\+xml;base64,)', markup)
    assert set(re.findall(r'href="([^"#]*)', markup)) <= {fmt.DIAGNOSES_DOC}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_header_says_the_verdict_in_words(path: Path) -> None:
    report = json.loads(path.read_text())
    elements = parse(render_html(report))
    status = next(e for e in elements if e.attrs.get("class") == "nbgrad-status")
    assert report["status"].upper() in status.text
    headline = next(e for e in elements if e.attrs.get("class") == "nbgrad-headline")
    assert headline.text == report["headline"]
    root = elements[0]
    assert root.attrs["class"] == f"nbgrad-report nbgrad-{report['id']}"


@pytest.mark.parametrize("path", [p for p in FIXTURES if p.stem.startswith("gradcheck")],
                         ids=lambda p: p.stem)
def test_heatmap_marks_exactly_the_failing_cells(path: Path) -> None:
    report = json.loads(path.read_text())
    elements = parse(render_html(report))
    # A run of passing cells of one shade is one bare cell with a colspan: expand it again.
    cells = [e for e in elements if e.tag == "td" and "bgcolor" in e.attrs
             for _ in range(int(e.attrs.get("colspan") or 1))]
    expected = [
        (block, value)
        for block in report["blocks"] if block["heatmap"] and not report["passed"]
        for row in block["heatmap"]["values"] for value in row
    ]  # a passing report says every element passed and draws no map (the widget does)
    assert len(cells) == len(expected)
    for cell, (block, value) in zip(cells, expected, strict=True):
        flat = "flat" in block["diagnoses"]
        failing = value is not None and value > block["tolerance"] and not flat
        assert (cell.attrs.get("class") == "nbgrad-fail") == failing
        red, green, blue = (int(cell.attrs["bgcolor"][k:k + 2], 16) for k in (1, 3, 5))
        if failing:
            assert red > green + 60 and red > blue + 60
            assert "FAILS" in cell.attrs["title"] and block["name"] in cell.attrs["title"]
            if cell.attrs.get("colspan") is None:
                assert fmt.num(value) in cell.attrs["title"]
        elif flat:
            assert red > blue + 60  # amber, not "ok" blue
        elif value is not None:
            assert blue > red
    # Row labels carry the row's worst error (or say flat / not checked).
    labels = [e for e in elements if e.tag == "td" and "title" in e.attrs
              and "bgcolor" not in e.attrs]
    rows = [(b, row) for b in report["blocks"] if b["heatmap"] and not report["passed"]
            for row in b["heatmap"]["values"]]
    assert len(labels) == len(rows)
    for label, (block, row) in zip(labels, rows, strict=True):
        checked = [v for v in row if v is not None]
        if not checked:
            assert "not checked" in label.attrs["title"]
        elif "flat" in block["diagnoses"]:
            assert "flat" in label.attrs["title"]
        else:
            assert fmt.num(max(checked)) in label.attrs["title"]


@pytest.mark.parametrize("path", [p for p in FIXTURES if p.stem.startswith("gradcheck")],
                         ids=lambda p: p.stem)
def test_blocks_worst_elements_and_step_curve(path: Path) -> None:
    report = json.loads(path.read_text())
    markup = render_html(report)
    elements = parse(markup)
    block_rows = [e for e in elements if e.tag == "code"]
    for block in report["blocks"]:
        assert any(e.text == block["name"] for e in block_rows)
    listed = [(b, item) for b in report["blocks"] for item in b["worst"]]
    if listed:  # a drifting cost checks no element
        worst = max(listed, key=lambda pair: (pair[1]["index"] in pair[0]["flagged"],
                                              pair[1]["rel_error"] or 0.0))
        assert any(e.text == fmt.element(worst[0]["name"], worst[1]["multi_index"])
                   for e in block_rows)
        assert f"<td>{fmt.plain(worst[1]['analytic'])}</td>" in markup
        assert f"<td>{fmt.plain(worst[1]['numeric'])}</td>" in markup
    curve = report["step_curve"]
    images = [e for e in elements if e.attrs.get("class") == "nbgrad-step-curve"]
    assert len(images) == (curve is not None and not report["passed"])
    if images:
        svg = decode(images[0])
        plotted = [r for r in curve["rel_errors"] if r and r > 0]
        assert svg.count("<circle") == len(plotted)
        block = next(b for b in report["blocks"] if b["name"] == curve["block"])
        element = fmt.element(block["name"], fmt.unravel(curve["index"], block["shape"]))
        assert f"<title>{html.escape(element)}" in svg  # the tables' notation, not "element 16"
        # The chosen-step label is in the key, right of the plot area: never on the curve.
        label = re.search(r'<text x="(\d+)" y="\d+">chosen h = ', svg)
        assert label and int(label.group(1)) > WIDTH - RIGHT
        assert svg.count(">relative error</text>") == 2  # one quantity: axis and key say it


@pytest.mark.parametrize("path", [p for p in FIXTURES if p.stem.startswith("determinism")],
                         ids=lambda p: p.stem)
def test_determinism_sections(path: Path) -> None:
    report = json.loads(path.read_text())
    markup = render_html(report)
    elements = parse(markup)
    div = report["first_divergence"]
    highlighted = [e for e in elements if e.attrs.get("class") == "nbgrad-divergent-line"]
    if div and div["line"] is not None:
        assert len(highlighted) == 1 and highlighted[0].text.endswith(div["source"])
    else:
        assert not highlighted
    for experiment in report["experiments"]:
        assert html.escape(experiment["detail"]) in markup
    plots = [e for e in elements if e.attrs.get("class") == "nbgrad-divergence-plot"]
    series = report["per_step"] + (report["comparison"] or {"per_step": []})["per_step"]
    positive = any(v for s in series for v in s["by_variable"].values())
    assert len(plots) == positive
    if plots:
        svg = decode(plots[0])
        assert "<polyline" in svg
        for name in report["tracked"]:
            assert f">{name}</text>" in svg
    if report["error"]:
        pre = [e for e in elements if e.tag == "pre"]
        assert pre[0].text == report["error"]["traceback"]
        assert html.escape("<b>not bold</b>") in markup


def test_user_strings_are_escaped_everywhere() -> None:
    gradient = json.loads((FIXTURES[0].parent / "gradcheck_mismatch.json").read_text())
    gradient["blocks"][0]["name"] = HOSTILE_NAME
    gradient["step_curve"]["block"] = HOSTILE_NAME
    gradient["label"] = HOSTILE_SOURCE
    gradient["findings"][0]["message"] = HOSTILE_SOURCE
    determinism = json.loads(
        (FIXTURES[0].parent / "determinism_uninitialized_memory.json").read_text())
    determinism["first_divergence"]["source"] = HOSTILE_SOURCE
    determinism["first_divergence"]["context"][5]["text"] = HOSTILE_SOURCE
    determinism["tracked"][0] = HOSTILE_NAME
    determinism["per_step"] = copy.deepcopy(determinism["per_step"])
    for step in determinism["per_step"]:
        step["by_variable"][HOSTILE_NAME] = step["by_variable"].pop("loss")
    for variable in determinism["variables"]:
        if variable["name"] == "loss":
            variable["name"] = HOSTILE_NAME
    for report in (gradient, determinism):
        markup = render_html(report)
        documents = [markup] + [decode(e) for e in parse(markup) if e.tag == "img"]
        for document in documents:
            assert "<img src=x" not in document and "<script" not in document
            assert HOSTILE_SOURCE not in document and HOSTILE_NAME not in document
        assert html.escape(HOSTILE_NAME) in markup or html.escape(HOSTILE_SOURCE) in markup
    assert html.escape(HOSTILE_NAME) in render_html(gradient)
    assert html.escape(HOSTILE_SOURCE) in render_html(determinism)
    svg = decode(next(e for e in parse(render_html(determinism)) if e.tag == "img"))
    assert html.escape(HOSTILE_NAME) in svg


@given(st.floats(1e-300, 10.0), st.floats(1e-14, 1e-2))
def test_colour_scale_separates_pass_from_fail(value: float, tolerance: float) -> None:
    red, _green, blue = cell_colour(value, tolerance)
    if value > tolerance:
        assert min(FAIL_DARK[0], FAIL_LIGHT[0]) <= red and blue <= FAIL_LIGHT[2]
    else:
        assert PASS_DARK[2] <= blue <= PASS_LIGHT[2] and red <= PASS_LIGHT[0]


@given(st.floats(1e-15, 1e-3), st.floats(1e-15, 1e-3))
def test_colour_scale_is_monotone_within_tolerance(a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert sum(cell_colour(low, 1e-2)) >= sum(cell_colour(high, 1e-2))


def _js_strings(section: str, key: str) -> list[str]:
    """The string literals of the array ``key:[...]`` in minified JS (nested spreads included)."""
    match = re.search(r'[{,]"?' + re.escape(key) + r'"?:\[', section)
    if match is None:
        return []
    depth, position, strings = 1, match.end(), []
    while depth:
        char = section[position]
        if char == '"':
            end = section.index('"', position + 1)
            strings.append(section[position + 1:end])
            position = end
        depth += {"[": 1, "]": -1}.get(char, 0)
        position += 1
    return strings


def decode(element: Element) -> str:
    prefix = "data:image/svg+xml;base64,"
    assert element.attrs["src"].startswith(prefix)
    return base64.b64decode(element.attrs["src"][len(prefix):]).decode("utf-8")


def test_large_reports_draw_failing_heatmaps_first_within_the_page_budget() -> None:
    from nbgrad.report.html import HEATMAP_BYTES

    report = json.loads((FIXTURES[0].parent / "gradcheck_fast_unchecked.json").read_text())
    failing = report["blocks"][0]
    passing = dict(copy.deepcopy(failing), passed=True, diagnoses=["ok"], tolerance=1.0)
    blocks = [dict(copy.deepcopy(passing), name=f"P{k}") for k in range(40)]
    blocks.insert(7, dict(failing, name="F"))
    report["blocks"] = blocks
    markup = render_html(report)
    drawn = re.findall(r'<div style="font-size: 12px; margin-bottom: 2px">(\w+) \(', markup)
    assert drawn[0] == "P0" and "F" in drawn  # drawn in the user's order, the failing one kept
    omitted = markup.split("Not drawn here (page size): ")[1].split(";")[0].split(", ")
    assert sorted(drawn + omitted) == sorted(b["name"] for b in blocks)
    maps = markup.split('<table class="nbgrad-heatmap"')
    assert sum(len(m.split("</table>")[0]) for m in maps[1:]) <= HEATMAP_BYTES


def test_a_map_over_the_budget_is_pooled_further_and_keeps_its_failing_cells() -> None:
    from nbgrad.report.heatmap import coarsened

    block = json.loads((FIXTURES[0].parent / "gradcheck_fast_unchecked.json").read_text())[
        "blocks"][0]
    small = coarsened(block, 12)["heatmap"]
    assert small["rows"] <= 12 and small["cols"] <= 12 and small["pooled"]
    values = [v for row in block["heatmap"]["values"] for v in row if v is not None]
    pooled = [v for row in small["values"] for v in row if v is not None]
    assert max(pooled) == max(values)
    assert sum(v > block["tolerance"] for v in pooled) >= 1


SANITIZE_ALL = """
import { Sanitizer } from '@jupyterlab/apputils/lib/sanitizer.js';
import fs from 'fs';
const sanitizer = new Sanitizer();
const pages = JSON.parse(fs.readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(pages.map((page) => sanitizer.sanitize(page))));
"""


def test_the_real_jupyterlab_sanitizer_keeps_every_element_attribute_and_style() -> None:
    """Runs JupyterLab's own Sanitizer (node + @jupyterlab/apputils from the labextension build)."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    node = shutil.which("node")
    if node is None or not (root / "node_modules/@jupyterlab/apputils/lib/sanitizer.js").exists():
        pytest.skip("needs node and node_modules/@jupyterlab/apputils (jlpm install)")
    reports = [json.loads(path.read_text()) for path in FIXTURES]
    pages = [render_html(report) for report in reports]
    result = subprocess.run([node, "--input-type=module", "-e", SANITIZE_ALL], cwd=root,
                            input=json.dumps(pages), capture_output=True, text=True, timeout=60,
                            check=True)
    for page, cleaned in zip(pages, json.loads(result.stdout), strict=True):
        assert _structure(cleaned) == _structure(_without_theme_variables(page))


def _without_theme_variables(markup: str) -> str:
    """What the sanitiser makes of the page: declarations using ``var(--jp-…)`` are dropped.

    Its colour patterns know hex, rgb() and names only.  Dropping them is harmless by
    design: the text then inherits the theme's own colours (see ``nbgrad.report.fmt``).
    """
    def keep(match: re.Match[str]) -> str:
        kept = [d for d in match.group(1).split(";") if "var(" not in d]
        return f'style="{";".join(kept)}"'

    return re.sub(r'style="([^"]*)"', keep, markup)


def _structure(markup: str) -> list:
    """Elements with their attributes, styles as normalised property maps, and text."""
    def styles(value: str | None) -> dict[str, str]:
        pairs = (d.split(":", 1) for d in (value or "").split(";") if d.strip())
        return {k.strip(): " ".join(v.split()) for k, v in pairs}

    return [(e.tag, {k: v for k, v in e.attrs.items() if k != "style"},
             styles(e.attrs.get("style")), e.text) for e in parse(markup)]


def test_an_error_only_under_poison_is_called_evidence() -> None:
    from nbgrad.report.text import render_text

    report = json.loads((FIXTURES[0].parent / "determinism_error_run0.json").read_text())
    assert "poison" not in render_html(report) + render_text(report)
    report["error"] = dict(report["error"], run=1, under_poison=True)
    assert "Run 1 raised ValueError — only under poisoned allocations" in render_html(report)
    assert "run 1 raised ValueError: shapes" in render_text(report)
    assert "(only under poisoned allocations)" in render_text(report)


def test_all_nan_differences_are_said_in_words_and_the_share_is_plotted() -> None:
    """Seed 000: NaN poison everywhere; no triangles on an axis with no scale."""
    report = json.loads((FIXTURES[0].parent / "determinism_uninitialized_memory.json").read_text())
    for step in report["per_step"]:
        step["by_variable"] = {name: None for name in step["by_variable"]}
        step["max_abs_diff"] = None
    elements = parse(render_html(report))
    classes = [e.attrs.get("class") for e in elements if e.tag == "img"]
    assert "nbgrad-divergence-plot" not in classes and "nbgrad-fraction-plot" in classes
    assert "Every difference between the runs is NaN or infinite" in render_html(report)


def test_side_effects_are_listed_escaped() -> None:
    report = json.loads((FIXTURES[0].parent / "gradcheck_mismatch.json").read_text())
    report["side_effects"] = [{"kind": "write", "path": "<l>.txt", "count": 36,
                               "message": "the cell wrote <l>.txt 36 times during the check"}]
    markup = render_html(report)
    assert "<li>the cell wrote &lt;l&gt;.txt 36 times during the check</li>" in markup
