"""Bit-exact fingerprints of tracked values, computed where the data lives.

Per-step comparison must be exact (float noise *is* the question) yet cheap
enough to run after every training step on tens of megabytes.  Host arrays
are hashed over their raw buffer with XXH3-128 when the ``xxhash`` package is
installed (several GB/s), else SHA-1; large buffers in chunks on all cores.
CuPy arrays are hashed on the device by one kernel that mixes every
64-bit word with its position and combines the results with integer atomics
(order-independent, so the digest itself is deterministic); only 16 bytes per
array come back to the host.  Shape and dtype are part of every digest.
"""

from __future__ import annotations

import array
import contextlib
import hashlib
import os
import struct
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import numpy as np

from nbgrad.backend import array_module, is_cupy_array, to_numpy

Digest = bytes

_DEVICE_DIGEST_SOURCE = r"""
__device__ unsigned long long nbgrad_mix(unsigned long long z) {
    z += 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

extern "C" __global__ void nbgrad_digest(const unsigned char* data,
                                         unsigned long long n_bytes,
                                         unsigned long long* out) {
    const unsigned long long* words = (const unsigned long long*)data;
    unsigned long long n_words = n_bytes / 8;
    unsigned long long start = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    unsigned long long stride = (unsigned long long)gridDim.x * blockDim.x;
    unsigned long long sum = 0, mixed = 0;
    for (unsigned long long i = start; i < n_words; i += stride) {
        unsigned long long h = nbgrad_mix(words[i] ^ nbgrad_mix(i));
        sum += h;
        mixed ^= nbgrad_mix(h + i);
    }
    if (start == 0 && n_bytes % 8) {
        unsigned long long tail = 0;
        for (unsigned long long b = n_words * 8; b < n_bytes; ++b)
            tail = (tail << 8) | data[b];
        unsigned long long h = nbgrad_mix(tail ^ nbgrad_mix(n_words + 0x5555ULL));
        sum += h;
        mixed ^= nbgrad_mix(h + n_words);
    }
    for (int offset = 16; offset > 0; offset /= 2) {
        sum += __shfl_down_sync(0xffffffff, sum, offset);
        mixed ^= __shfl_down_sync(0xffffffff, mixed, offset);
    }
    if ((threadIdx.x & 31) == 0) {
        atomicAdd(out, sum);
        atomicXor(out + 1, mixed);
    }
}
"""

_THREADS = 256
_MAX_BLOCKS = 4096


@cache
def _device_kernel(cupy: Any) -> Any:
    return cupy.RawKernel(_DEVICE_DIGEST_SOURCE, "nbgrad_digest")


def _header(array: Any) -> bytes:
    return f"{array.dtype.str}{array.shape}".encode()


#: Buffers larger than this are hashed in chunks on all cores (hashlib releases the GIL).
PARALLEL_CHUNK = 8 * 2**20


@cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="nbgrad-digest")


def _hash_bytes(chunk: memoryview) -> bytes:
    return hashlib.sha1(chunk).digest()


with contextlib.suppress(ImportError):  # optional: SHA-1 is exact too, only slower
    from xxhash import xxh3_128_digest as _hash_bytes  # type: ignore[no-redef]


def host_digest(array: np.ndarray) -> Digest:
    """Hash of dtype, shape and the raw bytes (C order); a hash of chunk hashes when large."""
    if array.dtype == object:
        return hashlib.sha1(_header(array) + repr(array.tolist()).encode()).digest()
    data = memoryview(np.ascontiguousarray(array).reshape(-1)).cast("B")
    digest = hashlib.sha1(_header(array))
    if len(data) <= PARALLEL_CHUNK:
        digest.update(_hash_bytes(data))
    else:
        chunks = [data[i:i + PARALLEL_CHUNK] for i in range(0, len(data), PARALLEL_CHUNK)]
        for chunk_digest in _pool().map(_hash_bytes, chunks):
            digest.update(chunk_digest)
    return digest.digest()


class DeviceDigests:
    """Launches device digests into one buffer so a step costs one host sync.

    ``add`` queues a CuPy array and returns a slot; ``collect`` copies all
    slots to the host at once and returns each slot's digest.
    """

    def __init__(self, cupy: Any, capacity: int) -> None:
        self._cupy = cupy
        self._out = cupy.zeros((max(capacity, 1), 2), dtype=cupy.uint64)
        self._headers: list[bytes] = []
        self._keep_alive: list[Any] = []

    def add(self, array: Any) -> int:
        cupy = self._cupy
        data = array if array.flags.c_contiguous else cupy.ascontiguousarray(array)
        if data.data.ptr % 8:
            data = data.copy()
        slot = len(self._headers)
        self._headers.append(_header(array))
        n_bytes = data.nbytes
        if n_bytes:
            blocks = min(_MAX_BLOCKS, max(1, (n_bytes // 8 + _THREADS - 1) // _THREADS))
            _device_kernel(cupy)(
                (blocks,), (_THREADS,), (data, np.uint64(n_bytes), self._out[slot])
            )
        self._keep_alive.append(data)
        return slot

    def collect(self) -> list[Digest]:
        if not self._headers:
            return []
        words = self._out[: len(self._headers)].get()
        return [
            hashlib.sha1(header + words[slot].tobytes()).digest()
            for slot, header in enumerate(self._headers)
        ]


#: Nesting followed inside lists/dicts (a list that contains itself must not recurse forever).
MAX_CONTAINER_DEPTH = 8


#: Lists longer than this are hashed in blocks of this many items (see :func:`_blocks_digest`).
LIST_BLOCK = 256

#: Per-run memo for :func:`_blocks_digest`: id of a list -> (the list, copy of its hashed
#: full blocks, their hashes).
SequenceCache = dict[int, tuple[Any, list, list[bytes]]]


def value_digest(value: Any, depth: int = 0, cache: SequenceCache | None = None) -> Digest:
    """Digest of a non-device value: arrays, scalars, nested lists/tuples/dicts of them."""
    if isinstance(value, np.ndarray):
        return host_digest(value)
    if isinstance(value, (float, int, complex, bool, np.generic)):
        return hashlib.sha1(type(value).__name__.encode() + np.asarray(value).tobytes()).digest()
    if is_cupy_array(value):
        return host_digest(to_numpy(value))
    if isinstance(value, array.array):
        return host_digest(np.frombuffer(value, dtype=value.typecode) if value.typecode != "u"
                           else np.asarray(value.tolist()))
    if isinstance(value, deque):
        value = list(value)
    if isinstance(value, (list, tuple)) and len(value) > LIST_BLOCK:
        return _blocks_digest(value, depth, {} if cache is None else cache)
    if isinstance(value, (list, tuple)):
        try:  # CuPy items refuse the implicit conversion (TypeError): hashed item by item
            as_array = np.asarray(value)
        except (ValueError, TypeError):
            as_array = None
        if as_array is not None and as_array.dtype != object:
            return host_digest(as_array)
    if isinstance(value, dict) and cache is not None and len(value) > LIST_BLOCK:
        return _dict_digest(value, depth, cache)
    if isinstance(value, (list, tuple, dict)) and depth < MAX_CONTAINER_DEPTH:
        return _container_digest(value, depth + 1)
    if value is None or isinstance(value, (str, bytes)):
        return hashlib.sha1(struct.pack("<I", 0) + repr(value).encode()).digest()
    # Any other object: its repr may hold its address, which differs between runs
    # without meaning anything; its arrays are tracked under their own paths.
    return hashlib.sha1(struct.pack("<I", 1) + type(value).__qualname__.encode()).digest()


def _blocks_digest(value: list | tuple, depth: int, cache: SequenceCache) -> Digest:
    """A long list as the hash of its blocks' hashes, full blocks taken from ``cache``.

    A loss history grows by one item per step; hashing it whole at every step
    made a 10⁴-step loop quadratic (seconds of digesting per run).  The full
    blocks hashed before are reused when the list still starts with the same
    items (one comparison at C speed; items that are the same objects compare
    equal without a call); only new blocks and the partial last block are
    hashed.  The result does not depend on the cache, so every run and every
    state digest alike — with one limit: an item of an already hashed block
    replaced in place by an *equal* object of other bits (``0.0`` by ``-0.0``,
    ``1.0`` by ``1``) is not noticed; a different value always is.
    """
    full = len(value) - len(value) % LIST_BLOCK
    entry = cache.get(id(value))
    if entry is None or entry[0] is not value or len(entry[1]) > full or \
            value[:len(entry[1])] != entry[1]:
        entry = cache[id(value)] = (value, [], [])
    _, covered, hashes = entry
    for start in range(len(covered), full, LIST_BLOCK):
        block = list(value[start:start + LIST_BLOCK])
        hashes.append(value_digest(block, depth))
        covered += block
    tail = list(value[full:])
    parts = [*hashes, value_digest(tail, depth)] if tail else hashes
    return hashlib.sha1(b"blocks" + b"".join(parts)).digest()


def _dict_digest(value: dict, depth: int, cache: SequenceCache) -> Digest:
    """A large dict's digest, reused while it compares equal to the copy kept with it.

    A vocabulary or a config of 10⁵ entries that the loop never touches was
    rehashed item by item after every step of run 0 (seconds per step).  Same
    limit as :func:`_blocks_digest`: an entry replaced by an equal object of
    other bits is not noticed.
    """
    keys, values = list(value), list(value.values())
    entry = cache.get(id(value))
    if entry is not None and entry[0] is value:
        try:
            if keys == entry[1][0] and values == entry[1][1]:
                return entry[2][0]
        except ValueError:  # an array entry was replaced: compared elementwise
            pass
    digest = _container_digest(value, depth + 1)
    cache[id(value)] = (value, (keys, values), [digest])
    return digest


def _container_digest(value: list | tuple | dict, depth: int) -> Digest:
    """Item by item, so arrays inside a ragged list or a dict are hashed exactly (no repr)."""
    digest = hashlib.sha1(type(value).__name__.encode())
    if isinstance(value, dict):  # keys by repr, values as one list (fast when numeric)
        digest.update(repr(list(value)).encode())
        digest.update(value_digest(list(value.values()), depth))
        return digest.digest()
    for index, item in enumerate(value):
        digest.update(repr(index).encode() + value_digest(item, depth))
    return digest.digest()


def _device_leaves(value: Any) -> list[Any] | None:
    """The CuPy arrays a value consists of (itself, or a list/tuple of them), else ``None``."""
    if is_cupy_array(value):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(is_cupy_array(v) for v in value):
        return list(value)
    return None


def digest_all(values: dict[str, Any], cache: SequenceCache | None = None) -> dict[str, Digest]:
    """Digest every value; CuPy arrays on the device, all in one host synchronisation.

    ``cache`` (kept by the caller for one run) lets long lists be rehashed incrementally.
    """
    device = {name: leaves for name, v in values.items() if (leaves := _device_leaves(v))}
    digests = {name: value_digest(v, cache=cache) for name, v in values.items()
               if name not in device}
    if device:
        first = next(iter(device.values()))[0]
        batch = DeviceDigests(array_module(first), sum(map(len, device.values())))
        slots = {name: [batch.add(leaf) for leaf in leaves] for name, leaves in device.items()}
        collected = batch.collect()
        for name, leaf_slots in slots.items():
            joined = b"".join(collected[slot] for slot in leaf_slots)
            digests[name] = joined if len(leaf_slots) == 1 else hashlib.sha1(joined).digest()
    return digests

