"""The choices of the energy trend (issue 5, site panel's energy tab): ranges in days and bucket granularities,
their defaults and their translated option lists.

Shared by the page layout (:mod:`dashboard.pages.energy`, first paint) and the callbacks (:mod:`callbacks.energy`,
validation of the chosen values and re-rendered labels on a language switch), so neither imports the other.
Labels come from the i18n catalog (keys ``energy.r<days>`` and ``energy.g_<granularity>``).
"""
from __future__ import annotations

from i18n import t

__all__ = ["RANGES", "DEFAULT_RANGE", "GRANULARITIES", "DEFAULT_GRANULARITY", "range_options", "granularity_options"]

#: range choices of the energy tab, days
RANGES = (7, 30, 90, 365)
DEFAULT_RANGE = 30
#: bucket granularities of the trend (the SQL rollups' units, see ``datasources.sql.energy_store``)
GRANULARITIES = ("hour", "day", "week", "month")
DEFAULT_GRANULARITY = "day"


def range_options(lang: str) -> list[dict]:
    """Options ``[{label, value: days}]`` of the range picker in ``lang``.

    Plain text labels: re-rendered on a language switch by :mod:`callbacks.energy` (i18n spans inside options would
    not be in the layout tree the clientside translation patches).
    """
    return [{"label": t(f"energy.r{d}", lang), "value": d} for d in RANGES]


def granularity_options(lang: str) -> list[dict]:
    """Options ``[{label, value: granularity}]`` of the granularity picker in ``lang``."""
    return [{"label": t(f"energy.g_{g}", lang), "value": g} for g in GRANULARITIES]
