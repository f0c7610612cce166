"""docs/diagnoses.md explains every code a report can carry, and every link the renderers print
lands on a section of it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from nbgrad.gradcheck import diagnoses
from nbgrad.report import fmt
from nbgrad.report.html import render_html
from nbgrad.report.text import render_text

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "diagnoses.md").read_text()
SCHEMA = json.loads((REPO / "nbgrad" / "report" / "schema.json").read_text())
FIXTURES = sorted((REPO / "tests" / "fixtures" / "reports").glob("*.json"))
#: Finding codes written outside the rule table (nbgrad/gradcheck/cell.py).
CELL_FINDINGS = ("update_precision", "update_lr_scale", "state_left_out")


def _sections() -> dict[str, str]:
    """Anchor id -> the text up to the next anchor."""
    parts = re.split(r'<a id="([a-z0-9_-]+)"></a>', DOC)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _codes() -> list[str]:
    defs = SCHEMA["$defs"]
    finding_codes = [value for name, value in vars(diagnoses).items()
                     if name.isupper() and isinstance(value, str)
                     and re.fullmatch(r"[a-z_]+", value)]
    return sorted({
        *defs["diagnosis"]["enum"],
        *defs["divergence"]["properties"]["cause"]["enum"],
        *(f"taylor-{v}" for v in defs["taylor"]["properties"]["verdict"]["enum"]),
        *finding_codes, *CELL_FINDINGS,
        *(f["code"] for path in FIXTURES for f in json.loads(path.read_text()).get("findings", [])),
    })


@pytest.mark.parametrize("code", _codes())
def test_every_code_has_a_section_saying_what_its_confidence_rests_on(code: str) -> None:
    sections = _sections()
    assert code in sections, f"docs/diagnoses.md has no section for {code!r}"
    heading = sections[code].strip().splitlines()[0]
    assert heading.startswith("### `" + code.removeprefix("taylor-") + "`")
    if not code.startswith("taylor-") and code != "row_scale":
        assert "onfidence" in sections[code] or "statement of fact" in sections[code]


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_every_link_a_report_prints_lands_on_a_section(path: Path) -> None:
    report = json.loads(path.read_text())
    markup = render_html(report)
    anchors = re.findall(r'href="' + re.escape(fmt.DIAGNOSES_DOC) + r'#([a-z0-9_-]+)"', markup)
    codes = [f["code"] for f in report.get("findings", [])]
    if report.get("first_divergence"):
        codes.append(report["first_divergence"]["cause"])
    assert set(anchors) == set(codes)  # every confidence linked, each once per finding
    assert set(anchors) <= set(_sections())
    if codes:
        assert fmt.DIAGNOSES_DOC in render_text(report)
