"""Geography: coordinate systems (:mod:`geo.crs`), administrative regions (:mod:`geo.regions`, built by
:mod:`geo.region_build`), heat surfaces (:mod:`geo.heat`) and vector files of map layers (:mod:`geo.files`).

The bottom layer: imports nothing of the project. All coordinates are WGS-84 (EPSG:4326) lon/lat degrees unless a
function says otherwise. The region names below are imported lazily (on first attribute access), so ``import geo``
or ``import geo.crs`` stays cheap.
"""
from __future__ import annotations

from .crs import CRS_NAMES, haversine_m, transform, transform_geometry, transform_many

_LAZY = {"Region", "RegionIndex", "get_region_index", "COUNTRY_ADCODE"}

__all__ = ["CRS_NAMES", "haversine_m", "transform", "transform_geometry", "transform_many", *sorted(_LAZY)]


def __getattr__(name: str):
    if name in _LAZY:
        from . import regions  # noqa: PLC0415

        return getattr(regions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
