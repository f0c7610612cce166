"""The live report fixtures carry exactly the fields the engines write today.

``tests/fixtures/reports/live_*.json`` come from real runs
(``tests/fixtures/live_reports.py``); jest's contract test types them as the
panel's ``Report`` and the renderers' tests render them.  A field an engine
gains (or drops) makes the committed file stale: each case is rerun here and
its set of key paths must equal the fixture's.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from nbgrad.report.schema import report_problems
from tests.fixtures.live_reports import CASES, fixture_path

REGENERATE = ".venv/bin/python -m tests.fixtures.live_reports"


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path in ``value``; the items of a list are merged under ``[]``.

    >>> sorted(key_paths({"a": [{"b": 1}, {"c": None}], "d": {}}))
    ['a', 'a[].b', 'a[].c', 'd']
    """
    if isinstance(value, dict):
        paths = set()
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths |= {path} | key_paths(item, path)
        return paths
    if isinstance(value, list):
        return set().union(*(key_paths(item, f"{prefix}[]") for item in value))
    return set()


def test_key_paths_merge_list_items_and_nest():
    report = {"blocks": [{"name": "W", "fast": {"kinks": 3}}, {"name": "b", "nonfinite": [1]}]}
    assert key_paths(report) == {"blocks", "blocks[].name", "blocks[].fast",
                                 "blocks[].fast.kinks", "blocks[].nonfinite"}
    assert key_paths([]) == set() and key_paths(3.0) == set()


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], dict[str, Any]]:
    name = request.param
    committed = json.loads(fixture_path(name).read_text())
    return name, CASES[name](), committed


def test_live_fixture_has_the_fields_the_engine_writes_now(case):
    name, fresh, committed = case
    gained = sorted(key_paths(fresh) - key_paths(committed))
    lost = sorted(key_paths(committed) - key_paths(fresh))
    assert (gained, lost) == ([], []), (
        f"{fixture_path(name).name} is stale: the engine now writes {gained} and no longer "
        f"{lost}; run `{REGENERATE}` and commit the files (and follow the fields in "
        "labextension/src/schema.ts and docs/report-schema.md)")


def test_live_fixture_and_its_fresh_run_follow_the_schema(case):
    name, fresh, committed = case
    assert report_problems(fresh) == [], name
    assert report_problems(committed) == [], name


def test_live_fixtures_cover_every_live_case_and_both_kinds():
    on_disk = {path.name for path in fixture_path("x").parent.glob("live_*.json")}
    assert on_disk == {fixture_path(name).name for name in CASES}
    kinds = {json.loads(fixture_path(name).read_text())["kind"] for name in CASES}
    assert kinds == {"gradcheck", "determinism"}


def test_live_fixtures_carry_the_fields_hand_written_ones_missed():
    """The fields that went unnoticed while only hand-written fixtures fed the contract test."""
    paths = set().union(*(key_paths(json.loads(fixture_path(name).read_text()))
                          for name in CASES))
    assert {"blocks[].worst[].standard_errors", "blocks[].nonfinite", "blocks[].taylor.verdict",
            "blocks[].fast.kinks", "blocks[].fast.cancelled", "noise.drift",
            "first_divergence.fix.kind", "first_divergence.evidence[].differed",
            "variables[].fraction_per_step", "concurrency.threads"} <= paths
