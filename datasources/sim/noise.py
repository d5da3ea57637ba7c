"""Deterministic randomness of the simulated fleet: splitmix64 hashing and smooth value noise, pure numpy.

Everything random in :mod:`datasources.sim.physics` is a hash of (seed, device/station id, channel, time bucket), so
the same seed, start time and sequence of steps give bit-identical values, independent of fleet order and of the
process (Python's ``hash`` is salted per process; blake2b and splitmix64 are not). splitmix64 is the finaliser of
Steele, Lea & Flood, "Fast splittable pseudorandom number generators" (OOPSLA 2014); the value noise is the classic
lattice noise with smoothstep interpolation (Perlin, "An image synthesizer", SIGGRAPH 1985).
"""
from __future__ import annotations

import hashlib
import math

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = (np.uint64(s) for s in (30, 27, 31, 11))


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> _S30)) * _M1
        x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def id_key(text: str) -> int:
    """Stable 64-bit key of an id (Python's ``hash`` is salted per process, blake2b is not)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def uniform(keys: np.ndarray, channel: int, bucket: int = 0) -> np.ndarray:
    """Uniform [0, 1) per key, a pure function of (key, channel, bucket)."""
    salt = mix64(np.array([(channel * 0x100000001B3 + bucket) & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))[0]
    h = mix64(keys ^ salt)
    return (h >> _S11).astype(np.float64) * (1.0 / 9007199254740992.0)


class ValueNoise:
    """Smooth value noise in [-1, 1] per key, a pure function of time (period ``tau_s``), cached per time bucket."""

    def __init__(self, keys: np.ndarray, channel: int, tau_s: float) -> None:
        self.keys, self.channel, self.tau = keys, channel, float(tau_s)
        self._k: int | None = None
        self._r0 = self._r1 = np.zeros(len(keys))

    def _rand(self, k: int) -> np.ndarray:
        return 2.0 * uniform(self.keys, self.channel, k) - 1.0

    def __call__(self, t: float) -> np.ndarray:
        x = t / self.tau
        k = math.floor(x)
        if k != self._k:
            if self._k is not None and k == self._k + 1:
                self._r0 = self._r1
            else:
                self._r0 = self._rand(k)
            self._r1 = self._rand(k + 1)
            self._k = k
        f = x - k
        u = f * f * (3.0 - 2.0 * f)
        return self._r0 + (self._r1 - self._r0) * u
