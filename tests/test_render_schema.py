"""The JSON Schema holds every fixture to docs/report-schema.md and names what breaks it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from nbgrad.errors import ReportFormatError
from nbgrad.report.schema import report_problems, report_schema, validate_report

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "reports").glob("*.json"))


def load(name: str) -> dict:
    return json.loads((Path(__file__).parent / "fixtures" / "reports" / f"{name}.json").read_text())


def test_fixtures_cover_every_diagnosis_and_cause() -> None:
    reports = [json.loads(path.read_text()) for path in FIXTURES]
    diagnoses = {d for r in reports if r["kind"] == "gradcheck" for d in r["diagnoses"]}
    causes = {r["first_divergence"]["cause"] for r in reports
              if r["kind"] == "determinism" and r["first_divergence"]}
    schema = report_schema()["$defs"]
    assert diagnoses | {"ok"} == set(schema["diagnosis"]["enum"])
    assert causes == set(schema["divergence"]["properties"]["cause"]["enum"]) - {"external"}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.stem)
def test_every_fixture_follows_the_contract(path: Path) -> None:
    assert report_problems(json.loads(path.read_text())) == []


@pytest.mark.parametrize(
    ("name", "path", "value", "culprit"),
    [
        ("gradcheck_scale", ["blocks", 0, "diagnoses"], ["wrongish"], "'diagnoses'"),
        ("gradcheck_scale", ["blocks", 1, "worst", 0, "rel_error"], "big", "'rel_error'"),
        ("gradcheck_pass", ["version"], 2, "'version'"),
        ("determinism_uninitialized_memory", ["first_divergence", "cause"], "gremlins",
         "'cause'"),
        ("determinism_error_run0", ["restored"], "nothing", "'restored'"),
    ],
)
def test_a_broken_field_is_named(name: str, path: list, value: object, culprit: str) -> None:
    report = copy.deepcopy(load(name))
    target = report
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ReportFormatError, match=culprit):
        validate_report(report)


def test_a_missing_field_is_named() -> None:
    report = load("determinism_deterministic")
    del report["per_step"]
    with pytest.raises(ReportFormatError, match="per_step"):
        validate_report(report)


def test_non_finite_numbers_are_rejected_with_their_place() -> None:
    report = load("gradcheck_mismatch")
    report["blocks"][0]["heatmap"]["values"][1][2] = float("nan")
    with pytest.raises(ReportFormatError, match=r"\['heatmap'\]\['values'\]\[1\]\[2\]"):
        validate_report(report)


def test_every_problem_is_listed_not_only_the_first() -> None:
    report = load("gradcheck_mismatch")
    report["version"] = 2
    report["blocks"][0]["heatmap"]["values"][0][0] = float("inf")
    problems = report_problems(report)
    assert any("['version']" in p for p in problems)
    assert any("['heatmap']['values'][0][0]" in p for p in problems)
