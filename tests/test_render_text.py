"""Plain-text rendering: every fact a terminal reader needs, derived from each fixture."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

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


def test_identical_steps_are_compacted_and_long_tables_cut() -> None:
    report = json.loads((FIXTURES[0].parent / "determinism_unknown.json").read_text())
    text = render_text(report)
    assert "0–3   identical" in text
    template = report["per_step"][-1]
    assert template["diverged"]
    # Alternating divergent and identical steps: nothing to merge, so the table is cut.
    report["per_step"] = [dict(template, step=s, diverged=template["diverged"] if s % 2 else [])
                          for s in range(40)]
    rows = render_text(report).split("per step:\n")[1].split("\n\n")[0].splitlines()
    assert len(rows) == 1 + MAX_STEP_ROWS + 1
    assert f"{40 - MAX_STEP_ROWS} more rows in the JSON" in rows[-1]


def test_not_a_report_is_refused_with_the_culprit() -> None:
    with pytest.raises(ReportFormatError, match=r"\['kind'\] is 'lossplot'"):
        render_text({"kind": "lossplot"})
    with pytest.raises(ReportFormatError, match="got list"):
        render_text([])  # type: ignore[arg-type]


def test_repeated_rows_are_one_row_saying_the_range() -> None:
    """Seed 000: the same variables non-finite at every step read as one row, not 24."""
    template = {"diverged": ["dLdb_c"], "max_abs_diff": None, "by_variable": {"dLdb_c": None}}
    steps = [dict(template, step=s) for s in range(24)]
    assert [(label, row["difference"]) for label, row in fmt.compact_steps(steps, 12)] == [
        ("0–23", "non-finite")]
    steps[3] = dict(steps[3], max_abs_diff=2e-3)
    rows = fmt.compact_steps(steps, 12)
    assert len(rows) == 1 and "non-finite at 23 of 24 steps" in rows[0][1]["difference"]


@given(st.lists(st.booleans(), min_size=1, max_size=60))
def test_step_compaction_keeps_every_divergent_step(pattern: list[bool]) -> None:
    per_step = [{"step": s, "diverged": ["x"] if bad else [], "max_abs_diff": 1.0 if bad else None}
                for s, bad in enumerate(pattern)]
    rows = fmt.compact_steps(per_step, max_rows=1000)
    shown = []
    for label, step in rows:
        first, _, last = label.partition("–")
        shown += range(int(first), int(last or first) + 1)
        assert bool(step["diverged"]) == pattern[int(first)]
    assert shown == list(range(len(pattern)))


@pytest.mark.parametrize("path", GRADCHECK, ids=lambda p: p.stem)
def test_character_map_shows_where_small_failing_blocks_are_wrong(path: Path) -> None:
    report = json.loads(path.read_text())
    text = render_text(report)
    for block in report["blocks"]:
        title = f"{block['name']} (rows × columns"
        heatmap = block["heatmap"]
        if block["passed"] or heatmap["rows"] > MAX_MAP_ROWS:
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
    report["per_step"] = 7
    with pytest.raises(ReportFormatError, match="wrong type"):
        render_text(report)
