"""Random numbers keyed by (seed, client): the same draws for a client in any subset of clients.

Monte Carlo p-values, bootstrap confidence sets and chance baselines draw for each client from
a stream that depends only on the seed, the client's id and what is being drawn, so that a
client's answer does not change when other clients are added or removed, or when a registry
is split into partitions. The streams are counter-based (SplitMix64; Steele, Lea & Flood,
2014): draw *j* of stream *k* is a fixed hash of (seed, k, j), computed for every client at
once with NumPy integer arithmetic.

References
----------
Steele, G. L., Lea, D., & Flood, C. H. (2014). Fast splittable pseudorandom number generators.
ACM SIGPLAN Notices, 49(10), 453-472.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import ndtri

__all__ = [
    "client_keys",
    "stream_keys",
    "uniform",
    "normal",
    "seed_key",
    "key_of",
    "replicate_keys",
]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))


def _mix(x: np.ndarray) -> np.ndarray:
    """The SplitMix64 finaliser, element-wise on uint64 (wrap-around arithmetic)."""
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def key_of(text: str) -> np.uint64:
    """A 64-bit key of a text label (stable across runs and machines)."""
    return np.uint64(
        int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    )


def seed_key(seed: int | None) -> np.uint64:
    """The key of a seed (None is not allowed: callers draw a seed and record it)."""
    if seed is None:
        raise ValueError("A keyed stream needs an explicit seed.")
    return _mix(np.array([int(seed) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]


def client_keys(clients: pd.Index | Sequence[object] | np.ndarray) -> np.ndarray:
    """A 64-bit key per client id: integers by value, anything else by its text.

    The same id always gets the same key, whichever other clients are present.
    """
    values = np.asarray(clients)
    if values.dtype.kind in "iu":
        return _mix(values.astype(np.int64).view(np.uint64) ^ _GOLDEN)
    hashed = pd.util.hash_array(values.astype(str).astype(object))
    return _mix(np.asarray(hashed, dtype=np.uint64))


def stream_keys(seed: int, keys: np.ndarray, purpose: str) -> np.ndarray:
    """One key per client for one purpose (e.g. ``"amoc confidence set"``)."""
    with np.errstate(over="ignore"):
        return _mix(_mix(keys ^ seed_key(seed)) ^ key_of(purpose))


def uniform(keys: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """Uniform draws in (0, 1), shape ``(len(keys), n)``: draws ``offset .. offset + n - 1``
    of each key's stream."""
    counter = (np.arange(offset, offset + n, dtype=np.uint64) + np.uint64(1)) * _GOLDEN
    bits = _mix(keys[:, None] + counter[None, :])
    return ((bits >> _S11).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def normal(keys: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """Standard normal draws, shape ``(len(keys), n)``, by the inverse normal CDF."""
    return ndtri(uniform(keys, n, offset))


def replicate_keys(seed: int, key: np.uint64, n: int, purpose: str) -> np.ndarray:
    """``n`` stream keys derived from one key (e.g. of an observation pattern shared by
    several clients), for ``n`` replicates of one draw."""
    with np.errstate(over="ignore"):
        base = _mix(np.arange(n, dtype=np.uint64) * _GOLDEN) ^ np.uint64(key)
    return stream_keys(seed, base, purpose)


def pair_keys(keys: np.ndarray, n: int) -> np.ndarray:
    """A key for every (item, replicate) pair, item-major: ``len(keys) * n`` keys.

    Draw *j* of a pair's stream then depends only on the item's key, the replicate and
    *j*, never on how long the other items' series are.
    """
    with np.errstate(over="ignore"):
        rep = _mix((np.arange(n, dtype=np.uint64) + np.uint64(1)) * _GOLDEN)
        return _mix(keys[:, None] ^ rep[None, :]).reshape(-1)
