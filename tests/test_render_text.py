"""Plain-text rendering: every fact a terminal reader needs, derived from each fixture."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

from nbgrad.errors import ReportFormatError
from nbgrad.report import Report, fmt
from nbgrad.report.text import MAX_MAP_ROWS, MAX_STEP_ROWS, render_text

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "reports").glob("*.json"))
GRADCHECK = [p for p in FIXTURES if p.stem.startswith("gradcheck")]
DETERMINISM = [p for p in FIXTURES if p.stem.startswith("determinism")]


class FixtureReport(Report):
    kind: ClassVar[str] = "fixture"

    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report

    def to_dict(self) -> dict[str, Any]:
        return self.report


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_header_carries_status_headline_and_label(path: Path) -> None:
    report = json.loads(path.read_text())
    lines = render_text(report).splitlines()
    assert report["status"].upper() in lines[0]
    assert report["kind"] in lines[0]
    assert report["label"] in lines[1]
    assert lines[2] == report["headline"]
    assert repr(FixtureReport(report)) == render_text(report)


@pytest.mark.parametrize("path", GRADCHECK, ids=lambda p: p.stem)
def test_gradcheck_block_table_rows_are_aligned_and_complete(path: Path) -> None:
    report = json.loads(path.read_text())
    lines = render_text(report).splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("block "))
    columns = lines[header].index("max rel err")
    for offset, block in enumerate(report["blocks"], start=1):
        row = lines[header + offset]
        assert row.startswith(block["name"])
        assert block["dtype"] in row and fmt.shape(block["shape"]) in row
        assert row[columns:].startswith(fmt.num(block["max_rel_error"]))
        assert fmt.checked_words(block, report["mode"]) in row
        assert ", ".join(block["diagnoses"]) in row


@pytest.mark.parametrize("path", GRADCHECK, ids=lambda p: p.stem)
def test_failing_elements_and_findings_appear(path: Path) -> None:
    report = json.loads(path.read_text())
    text = render_text(report)
    listed = text.partition("worst elements:\n")[2].partition("\n\n")[0].splitlines()[1:]
    wrong = sorted(
        ((block["name"], item) for block in report["blocks"] for item in block["worst"]
         if item["index"] in block["flagged"]),  # flagged: NaN analytic has rel_error null
        key=lambda pair: -(pair[1]["rel_error"] or 0.0),
    )
    assert len(listed) == min(len(wrong), 8)
    for line, (name, item) in zip(listed, wrong, strict=False):
        assert line.startswith(fmt.element(name, item["multi_index"]) + "  ")
        assert fmt.plain(item["analytic"]) in line and fmt.plain(item["numeric"]) in line
        assert fmt.num(item["rel_error"]) in line
    for finding in report["findings"]:
        assert finding["message"] in text
    if report["blocks"][0]["scale"] is not None:
        assert f"factor {report['blocks'][0]['scale']:.3g} (analytic ÷ numeric)" in text


@pytest.mark.parametrize("path", DETERMINISM, ids=lambda p: p.stem)
def test_determinism_divergence_source_and_experiments(path: Path) -> None:
    report = json.loads(path.read_text())
    text = render_text(report)
    div = report["first_divergence"]
    if div is not None:
        assert f"step {div['step']}, variable {div['variable']}" in text
        assert f"cause: {div['cause']}" in text
        if div["line"] is not None:
            marked = [line for line in text.splitlines() if line.startswith(">")]
            assert marked == [f">    {div['line']} | {div['source']}"]
        if div["allocation"]:
            assert f"allocated by {div['allocation']['call']} at line " \
                   f"{div['allocation']['line']}" in text
    for experiment in report["experiments"]:
        assert experiment["detail"] in text
    if report["error"]:
        assert report["error"]["traceback"].splitlines()[-1] in text
    if report["comparison"]:
        assert "versus numpy:" in text


@pytest.mark.parametrize("path", DETERMINISM, ids=lambda p: p.stem)
def test_per_step_rows_are_the_engines_collapsed_ranges(path: Path) -> None:
    report = json.loads(path.read_text())
    rows = render_text(report).partition("per step:\n")[2].split("\n\n")[0].splitlines()[1:]
    assert len(rows) == len(report["per_step_collapsed"])
    for line, row in zip(rows, report["per_step_collapsed"], strict=True):
        label = str(row["first"]) if row["first"] == row["last"] else \
            f"{row['first']}–{row['last']}"
        assert line.startswith(label + " ")
        assert (", ".join(row["diverged"]) or "identical") in line
        for name in row["diverged"]:  # NaN differences still say how much of the array differs
            share = row["fraction"].get(name)
            assert f"{name} {fmt.MISSING if share is None else fmt.share(share)}" in line


def test_long_step_tables_are_cut_with_a_count() -> None:
    report = json.loads((FIXTURES[0].parent / "determinism_unknown.json").read_text())
    template = report["per_step_collapsed"][-1]
    report["per_step_collapsed"] = [dict(template, first=s, last=s) for s in range(40)]
    rows = render_text(report).split("per step:\n")[1].split("\n\n")[0].splitlines()
    assert len(rows) == 1 + MAX_STEP_ROWS + 1
    assert f"{40 - MAX_STEP_ROWS} more rows in the JSON" in rows[-1]


@pytest.mark.parametrize(("fraction", "words"), [(0.5, "50%"), (0.001, "<1%"), (0.996, ">99%"),
                                                 (1.0, "100%"), (0.0, "0%")])
def test_shares_never_round_to_a_false_0_or_100(fraction: float, words: str) -> None:
    assert fmt.share(fraction) == words


def test_not_a_report_is_refused_with_the_culprit() -> None:
    with pytest.raises(ReportFormatError, match=r"\['kind'\] is 'lossplot'"):
        render_text({"kind": "lossplot"})
    with pytest.raises(ReportFormatError, match="got list"):
        render_text([])  # type: ignore[arg-type]


@pytest.mark.parametrize("path", GRADCHECK, ids=lambda p: p.stem)
def test_character_map_shows_where_small_failing_blocks_are_wrong(path: Path) -> None:
    report = json.loads(path.read_text())
    text = render_text(report)
    for block in report["blocks"]:
        title = f"{block['name']} (rows × columns"
        heatmap = block["heatmap"]
        if block["passed"] or heatmap["rows"] > MAX_MAP_ROWS or "flat" in block["diagnoses"]:
            assert not any(line.startswith(title) for line in text.splitlines())
            continue
        lines = text.split(title)[1].split("\n\n")[0].splitlines()[1:]
        assert len(lines) == heatmap["rows"]
        for index, (line, values) in enumerate(zip(lines, heatmap["values"], strict=True)):
            assert line.split() == [str(index), "".join(
                "?" if v is None else "X" if v > block["tolerance"] else "." for v in values)]


def test_seed003_map_points_at_the_bias_column() -> None:
    text = render_text(json.loads((FIXTURES[0].parent /
                                   "gradcheck_seed003_regularisation.json").read_text()))
    lines = text.split("Theta2 (rows × columns")[1].splitlines()[1:4]
    assert [line.split()[1] for line in lines] == ["X....."] * 3


@pytest.mark.parametrize("field", ["blocks", "noise", "findings"])
def test_a_malformed_report_names_the_missing_field(field: str) -> None:
    from nbgrad.report.html import render_html
    from nbgrad.report.widget import report_widget

    report = json.loads(GRADCHECK[0].read_text())
    del report[field]
    for render in (render_text, render_html, report_widget):
        with pytest.raises(ReportFormatError, match=f"gradcheck report has no field '{field}'"):
            render(report)


def test_a_field_of_the_wrong_type_is_reported() -> None:
    report = json.loads(DETERMINISM[0].read_text())
    report["per_step_collapsed"] = 7
    with pytest.raises(ReportFormatError, match="wrong type"):
        render_text(report)


def test_the_divergent_line_names_its_file_and_how_much_of_the_array_differs() -> None:
    from nbgrad.report.html import render_html

    report = json.loads((FIXTURES[0].parent / "determinism_uninitialized_memory.json").read_text())
    div = report["first_divergence"]
    div.update(file="rnn_model.py", fraction_differing=0.004)
    for page in (render_text(report), render_html(report)):
        assert f"line {div['line']} of rnn_model.py, <1% of its elements differ" in \
            html.unescape(page)


def test_a_flat_block_reads_flat_not_wrong_and_a_fix_in_the_headline_is_said_once() -> None:
    flat = render_text(json.loads((FIXTURES[0].parent / "gradcheck_flat.json").read_text()))
    assert "cost flat: nothing to train" in flat and "XXX" not in flat
    report = json.loads((FIXTURES[0].parent / "determinism_uninitialized_memory.json").read_text())
    summary = report["first_divergence"]["fix"]["summary"]
    assert summary in report["headline"]
    assert render_text(report).count(summary) == 1
    from nbgrad.report.html import render_html

    page = render_html(report)
    assert page.count(html.escape(summary)) == 1 and 'class="nbgrad-fix"' in page
