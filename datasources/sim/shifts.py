"""Shift pattern of the simulated plants' air demand: smooth activity curves over the local hour, pure numpy.

Used by :meth:`datasources.sim.physics.FleetPhysics.demand_fraction`. Hours are China Standard Time (UTC+8, the
caller adds the offset). Three shift types (:data:`datasources.sim.physics_constants.SHIFT_TYPES`), the usual
patterns of Chinese manufacturing plants: 1 one-shift (08–17, lunch dip), 2 two-shift (08–23:30, lunch / dinner /
shift-change dips), 3 continuous three-shift (night ≈ 85 %, dips at the shift changes 00/08/16).
"""
from __future__ import annotations

import numpy as np


def _sig(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))


def smooth_window(h: np.ndarray, start: float, end: float, width: float = 0.12) -> np.ndarray:
    """≈1 for ``start`` ≤ h ≤ ``end`` (hours), smooth edges of ``width`` hours."""
    return _sig((h - start) / width) * _sig((end - h) / width)


def dip(h: np.ndarray, centre: float, half: float, depth: float) -> np.ndarray:
    """1 − ``depth`` within ``centre`` ± ``half`` hours (smooth edges of 0.06 h), 1 elsewhere."""
    return 1.0 - depth * smooth_window(h, centre - half, centre + half, 0.06)


def shift_activity(h: np.ndarray, shift_index: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Production activity in [0, 1] per station at local hour ``h`` (shape ``(n_stations,)``, hours 0–24 CST).

    ``shift_index`` holds the station indices of shift types 1, 2 and 3 (every station in exactly one); the result
    has the shape of ``h``.
    """
    activity = np.empty_like(h)
    i1, i2, i3 = shift_index
    h1, h2, h3 = h[i1], h[i2], h[i3]
    activity[i1] = smooth_window(h1, 8.0, 17.0) * dip(h1, 12.5, 0.5, 0.35)
    activity[i2] = (smooth_window(h2, 8.0, 23.5) * dip(h2, 12.5, 0.5, 0.25) * dip(h2, 18.25, 0.25, 0.25)
                    * dip(h2, 16.0, 0.17, 0.15))
    activity[i3] = ((0.85 + 0.15 * smooth_window(h3, 7.5, 22.0)) * dip(h3, 8.0, 0.17, 0.15)
                    * dip(h3, 16.0, 0.17, 0.15) * dip(h3, 0.0, 0.17, 0.15) * dip(h3, 24.0, 0.17, 0.15))
    return activity


def plant_demand(local_s: np.ndarray, shift_index: tuple[np.ndarray, np.ndarray, np.ndarray], base: np.ndarray,
                 prod: np.ndarray, saturday: np.ndarray, sunday: np.ndarray) -> np.ndarray:
    """Air demand per station before noise, as a fraction of installed capacity (shape ``(n_stations,)``).

    ``local_s``: local time, epoch seconds shifted to CST (UTC+8) and by each site's offset. ``base``: off-hours
    demand (leaks, base users), ``prod``: production-hours demand, ``saturday`` / ``sunday``: day factors of the
    production part (1 on weekdays); all fractions of capacity, per station. The day factor ramps to the next day's
    over the last hour before midnight.
    """
    day = np.floor(local_s / 86400.0)
    h = (local_s - day * 86400.0) / 3600.0
    activity = shift_activity(h, shift_index)
    dow = (day.astype(np.int64) + 3) % 7          # 1970-01-01 was a Thursday; Monday = 0

    def day_factor(d: np.ndarray) -> np.ndarray:
        return np.where(d == 5, saturday, np.where(d == 6, sunday, 1.0))

    f_today, f_tomorrow = day_factor(dow), day_factor((dow + 1) % 7)
    blend = np.clip(h - 23.0, 0.0, 1.0)           # ramp between days over the last hour
    return base + (prod - base) * activity * (f_today + (f_tomorrow - f_today) * blend)
