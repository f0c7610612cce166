"""Snapshot.take / restore: identity of bindings, bytes of arrays, RNG states."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nbgrad.errors import SnapshotError
from nbgrad.namespace.snapshot import Snapshot

SETUP = """
import numpy as np
class NN:
    def __init__(self):
        self.AB = np.arange(6.0).reshape(2, 3)
        self.B_t = [0]
NN = NN()
W = np.ones(4)
params = [W, np.zeros(2)]
cfg = {"lr": 0.1, "w": np.full(3, 2.0)}
rng = np.random.default_rng(5)
"""


def make_namespace() -> dict:
    namespace: dict = {}
    exec(SETUP, namespace)
    return namespace


def test_attribute_rebound_array_mutated_name_added_list_appended_are_undone():
    ns = make_namespace()
    net, ab, w, params, cfg_w = ns["NN"], ns["NN"].AB, ns["W"], ns["params"], ns["cfg"]["w"]
    before = {"AB": ab.copy(), "W": w.copy(), "cfg_w": cfg_w.copy()}
    snap = Snapshot.take(ns)
    exec("NN.AB = NN.AB * 2\nW += 1\nnew_name = 3\nparams.append(W)\ncfg['w'][:] = -1\n"
         "cfg['extra'] = 1\nNN.B_t = NN.AB\nNN.fresh = 1\nab_alias = NN\n", ns)
    ab[0, 0] = 99.0  # the original attribute array, mutated after being replaced
    snap.restore(ns)
    assert ns["NN"] is net and net.AB is ab and net.B_t == [0]
    assert not hasattr(net, "fresh")
    assert "new_name" not in ns and "ab_alias" not in ns
    assert ns["W"] is w and ns["params"] is params and len(params) == 2 and params[0] is w
    assert set(ns["cfg"]) == {"lr", "w"} and ns["cfg"]["w"] is cfg_w
    for name, arr in (("AB", ab), ("W", w), ("cfg_w", cfg_w)):
        assert arr.tobytes() == before[name].tobytes(), name


def test_rng_states_are_restored():
    ns = make_namespace()
    np.random.seed(1)
    random.seed(2)
    snap = Snapshot.take(ns)
    first = (np.random.rand(3), random.random(), ns["rng"].normal(size=3))
    snap.restore(ns)
    again = (np.random.rand(3), random.random(), ns["rng"].normal(size=3))
    np.testing.assert_array_equal(first[0], again[0])
    assert first[1] == again[1]
    np.testing.assert_array_equal(first[2], again[2])


def test_without_rng_the_generators_keep_going():
    ns = make_namespace()
    snap = Snapshot.take(ns, include_rng=False)
    first = ns["rng"].normal()
    snap.restore(ns)
    assert ns["rng"].normal() != first


def test_names_restrict_what_is_recorded_and_removed():
    ns = make_namespace()
    w = ns["W"]
    snap = Snapshot.take(ns, ["W", "NN.AB"])
    assert {entry.name for entry in snap.arrays} == {"W", "NN.AB"}
    ns["W"] = None
    ns["other"] = 1
    snap.restore(ns)
    assert ns["W"] is w and ns["other"] == 1


def test_ipython_bookkeeping_names_are_neither_recorded_nor_removed():
    ns = make_namespace()
    ns.update({"_": np.ones(2), "_i3": "x = 1", "Out": {}, "In": [], "_5": np.zeros(1)})
    snap = Snapshot.take(ns)
    ns["_i4"] = "y = 2"
    ns["_6"] = np.ones(3)
    snap.restore(ns)
    assert "_i4" in ns and "_6" in ns
    assert not any(entry.name.startswith("_") for entry in snap.arrays)


def test_nbytes_counts_the_array_copies():
    ns = make_namespace()
    snap = Snapshot.take(ns)
    expected = sum(a.nbytes for a in (ns["NN"].AB, ns["W"], ns["params"][1], ns["cfg"]["w"]))
    assert snap.nbytes == expected


def test_too_big_refuses_before_copying_and_names_the_size_and_arrays():
    ns = {"big": np.zeros(2**20), "small": np.zeros(3)}
    with pytest.raises(SnapshotError, match=r"8\.0 MB.*big \(8\.0 MB\)"):
        Snapshot.take(ns, max_bytes=2**20)


def test_depth_is_bounded():
    nested: list = [np.zeros(1)]
    for _ in range(20):
        nested = [nested]
    snap = Snapshot.take({"nested": nested})
    assert snap.arrays == []


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(dtype=st.sampled_from([np.float32, np.float64, np.int16, np.complex64]),
                  shape=hnp.array_shapes(max_dims=3, max_side=5)),
       st.binary(min_size=1, max_size=64))
def test_restore_is_bit_for_bit_for_any_bytes(template, noise):
    """NaN payloads, signed zeros, denormals: restore copies bytes, not values."""
    raw = np.frombuffer((noise * (template.nbytes // len(noise) + 1))[: template.nbytes],
                        dtype=np.uint8)
    arr = raw.copy().view(template.dtype).reshape(template.shape)
    view = arr[..., ::2]
    before = arr.tobytes()
    ns = {"arr": arr, "view": view}
    snap = Snapshot.take(ns)
    arr[...] = 0
    ns["arr"] = arr + 1
    snap.restore(ns)
    assert ns["arr"] is arr and ns["view"] is view
    assert arr.tobytes() == before


def test_a_name_bound_to_the_namespace_itself_does_not_wipe_later_ipython_names():
    ns = make_namespace()
    ns["G"] = ns
    snap = Snapshot.take(ns)
    ns["_i9"] = "history"
    ns["fresh"] = 1
    snap.restore(ns)
    assert ns["G"] is ns and "_i9" in ns and "fresh" not in ns


def test_an_end_snapshot_keeps_a_fingerprint_instead_of_a_copy_and_notices_overwrites():
    changed, same, small = np.ones(1000), np.ones(1000), np.ones(3)
    ns = {"changed": changed, "same": same, "small": small}
    before = Snapshot.take(ns)
    changed *= 2.0
    small *= 2.0

    def fingerprint(array):  # large ones only, as the determinism check does
        return array.tobytes() if array.size > 100 else None

    after = Snapshot.take(ns, baseline=before, fingerprint=fingerprint)
    entries = {e.name: e for e in after.arrays}
    assert entries["changed"].saved is None and entries["changed"].fingerprint is not None
    assert entries["same"].saved is next(e.saved for e in before.arrays if e.name == "same")
    assert entries["small"].saved is not None and after.overwritten() == []
    before.restore(ns)
    assert [e.name for e in after.overwritten()] == ["changed"]
    changed *= 2.0  # the same bytes as at the end snapshot again
    assert after.overwritten() == []
