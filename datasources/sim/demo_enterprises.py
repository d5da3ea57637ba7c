"""Demo enterprises nationwide (楼宇经济 heat maps, seed 003): columnar generation of up to 1,000,000 firms with
registered and operating addresses (WGS-84), registered capital and tax output, unified social credit codes
(GB 32100-2015). Placement rules: :mod:`datasources.sim.demo_city` (module docstring)."""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from datasources.sim.fleet import PROVINCE_WEIGHTS
from datasources.sim.demo_words import (CitySampler, DEFAULT_ENTERPRISES, FORMS, FORM_P, INDUSTRIES, INDUSTRY_P,
                                        MAJOR_CITY_WEIGHTS, TRADE_A, TRADE_B, city_short, group_rng, pinyin_title,
                                        region_index_or_default)

log = logging.getLogger(__name__)


def credit_codes(adcodes: np.ndarray, serials: np.ndarray) -> np.ndarray:
    """Unified social credit codes (GB 32100-2015): ``91`` + 6-digit adcode + 9-digit serial + check character.

    Args:
        adcodes: (N,) 6-digit strings. serials: (N,) integers < 10⁹.
    Returns:
        (N,) object array of 18-character strings.
    """
    charset = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    ad = adcodes.astype(np.int64)
    se = np.asarray(serials, dtype=np.int64)
    weights = [pow(3, i, 31) for i in range(17)]
    total = 9 * weights[0] + 1 * weights[1]
    for k in range(6):  # adcode digits, most significant first: positions 2..7
        total = total + (ad // 10 ** (5 - k)) % 10 * weights[2 + k]
    for k in range(9):  # serial digits: positions 8..16
        total = total + (se // 10 ** (8 - k)) % 10 * weights[8 + k]
    check = (31 - total % 31) % 31
    return np.array([f"91{a:06d}{b:09d}{charset[c]}" for a, b, c in zip(ad.tolist(), se.tolist(), check.tolist())],
                    dtype=object)


@dataclass
class EnterpriseArrays:
    """Columnar enterprises (what :func:`generate_enterprises` returns): one numpy array per column."""

    enterprise_id: np.ndarray
    name: np.ndarray
    name_en: np.ndarray
    industry: np.ndarray
    reg: np.ndarray  # (N, 2) lon, lat
    reg_city: np.ndarray
    op: np.ndarray  # (N, 2)
    op_city: np.ndarray
    capital: np.ndarray
    tax: np.ndarray
    reg_building: np.ndarray  # object: str or None
    op_building: np.ndarray

    def __len__(self) -> int:
        return len(self.enterprise_id)

    def rows(self) -> Iterable[tuple]:
        """Tuples in :data:`ENTERPRISE_COLUMNS` order."""
        return zip(self.enterprise_id.tolist(), self.name.tolist(), self.name_en.tolist(), self.industry.tolist(),
                   self.reg[:, 0].round(6).tolist(), self.reg[:, 1].round(6).tolist(), self.reg_city.tolist(),
                   self.op[:, 0].round(6).tolist(), self.op[:, 1].round(6).tolist(), self.op_city.tolist(),
                   self.capital.tolist(), self.tax.tolist(), self.reg_building.tolist(), self.op_building.tolist())


ENTERPRISE_COLUMNS = ("enterprise_id", "name", "name_en", "industry", "reg_lon", "reg_lat", "reg_city_adcode",
                      "op_lon", "op_lat", "op_city_adcode", "registered_capital_wan", "tax_wan", "reg_building_id",
                      "op_building_id")


def city_weights(idx) -> tuple[list[str], np.ndarray]:
    codes, weights = [], []
    for reg in idx.all_cities():
        prov = reg.adcode[:2] + "0000"
        if prov in ("710000", "810000", "820000"):
            continue  # mainland registry only
        w = MAJOR_CITY_WEIGHTS.get(reg.adcode)
        if w is None:
            w = 0.15 + 0.08 * PROVINCE_WEIGHTS.get(prov, 1)
        codes.append(reg.adcode)
        weights.append(w)
    return codes, np.array(weights, dtype=float)


def generate_enterprises(n: int = DEFAULT_ENTERPRISES, seed: int = 42, stations: Sequence[Any] = (),
                         buildings: Sequence[dict] = (), region_index=None) -> EnterpriseArrays:
    """``n`` enterprises nationwide (see the module docstring), sorted by id.

    Args:
        n: total number (customers of ``stations`` included).
        stations: station specs (``station_id, lon, lat, city_adcode, lifecycle``); each built one gets 2–4
            customer enterprises 0.4–2.5 km away.
        buildings: building dicts (:func:`generate_parks_buildings`); a third of the enterprises of their cities
            become tenants.
    Returns:
        :class:`EnterpriseArrays` (WGS-84 degrees, capital and tax in 万元).
    Raises:
        ValueError: ``n`` < 0.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    t0 = time.perf_counter()
    idx = region_index_or_default(region_index)
    rng = group_rng(seed, "enterprises")
    codes, weights = city_weights(idx)
    built = [s for s in stations if getattr(s, "lifecycle", "built") == "built"]
    n_cust_each = rng.integers(2, 5, len(built)) if built else np.zeros(0, int)
    n_cust = int(min(n, n_cust_each.sum()))
    per_city = rng.multinomial(n - n_cust, weights / weights.sum())
    reg = np.empty((n, 2))
    reg_city = np.empty(n, dtype="U6")
    samplers: dict[str, CitySampler] = {}

    def sampler(code: str) -> CitySampler:
        if code not in samplers:
            k = int(per_city[codes.index(code)]) if code in codes else 0
            samplers[code] = CitySampler(idx, code, rng, n_centres=int(np.clip(3 + k // 3000, 3, 30)))
        return samplers[code]

    pos = 0
    for code, k in zip(codes, per_city):
        if k:
            reg[pos:pos + k] = sampler(code).sample(int(k))
            reg_city[pos:pos + k] = code
            pos += int(k)
    # customers of built stations (targets of compressed-air lines)
    for st, k in zip(built, n_cust_each):
        if pos >= n:
            break
        k = int(min(k, n - pos))
        pts = sampler(st.city_adcode).near(st.lon, st.lat, k, 400, 2500)
        m = len(pts)
        reg[pos:pos + m] = pts
        reg_city[pos:pos + m] = st.city_adcode
        pos += m
    if pos < n:  # a station at a weird spot gave fewer customers: fill in its city
        reg[pos:] = sampler(codes[0]).sample(n - pos)
        reg_city[pos:] = codes[0]
    # operating address
    op = reg.copy()
    op_city = reg_city.copy()
    u = rng.random(n)
    same_city = np.flatnonzero((u >= 0.75) & (u < 0.95))
    for code in np.unique(reg_city[same_city]):
        sel = same_city[reg_city[same_city] == code]
        op[sel] = sampler(str(code)).sample(len(sel))
    other = np.flatnonzero(u >= 0.95)
    big = [c for c in MAJOR_CITY_WEIGHTS if c in codes][:12]
    by_prov: dict[str, list[str]] = {}
    for c in codes:
        by_prov.setdefault(c[:2], []).append(c)
    for i, coin, pick in zip(other.tolist(), rng.random(len(other)).tolist(), rng.random(len(other)).tolist()):
        home = reg_city[i]
        pool = [c for c in by_prov[home[:2]] if c != home]
        if not pool or coin >= 0.6:
            pool = [c for c in big if c != home]
        op_city[i] = pool[int(pick * len(pool))]
    for code in np.unique(op_city[other]):
        sel = other[op_city[other] == code]
        op[sel] = sampler(str(code)).sample(len(sel))
    # buildings: tenants in demo cities
    reg_b = np.full(n, None, dtype=object)
    op_b = np.full(n, None, dtype=object)
    by_city: dict[str, list[dict]] = {}
    for b in buildings:
        by_city.setdefault(b["city_adcode"], []).append(b)
    for code, blist in by_city.items():
        in_city = np.flatnonzero(reg_city == code)
        tenants = in_city[rng.random(len(in_city)) < 1 / 3]
        if not len(tenants):
            continue
        hubs = [i for i, b in enumerate(blist) if b["building_id"].endswith("00")]
        bw = np.array([6.0 if i in hubs else 1.0 for i in range(len(blist))])
        choice = rng.choice(len(blist), size=len(tenants), p=bw / bw.sum())
        blon = np.array([b["lon"] for b in blist])
        blat = np.array([b["lat"] for b in blist])
        jitter = rng.normal(scale=0.00012, size=(len(tenants), 2))
        reg[tenants, 0] = blon[choice] + jitter[:, 0]
        reg[tenants, 1] = blat[choice] + jitter[:, 1]
        reg_b[tenants] = [blist[c]["building_id"] for c in choice]
        # operating: hub tenants mostly operate in another building of the city; others stay
        is_hub = np.isin(choice, hubs)
        moved = np.where(is_hub & (rng.random(len(tenants)) < 0.85), rng.integers(0, len(blist), len(tenants)), choice)
        moved = np.where(np.isin(moved, hubs) & is_hub, (moved + 1) % len(blist), moved)
        keep_op = op_city[tenants] == code
        t2 = tenants[keep_op]
        m2 = moved[keep_op]
        op[t2, 0] = blon[m2] + rng.normal(scale=0.00012, size=len(t2))
        op[t2, 1] = blat[m2] + rng.normal(scale=0.00012, size=len(t2))
        op_b[t2] = [blist[c]["building_id"] for c in m2]
    # figures
    city_scale = np.ones(n)
    for code, w in MAJOR_CITY_WEIGHTS.items():
        city_scale[reg_city == code] = 1.0 + w / 10
    capital = np.clip(np.round(rng.lognormal(math.log(150), 1.6, n) * city_scale, 1), 1.0, 5_000_000.0)
    tax = np.round(capital * rng.lognormal(math.log(0.03), 1.1, n), 2)
    tax[rng.random(n) < 1 / 3] = 0.0
    # names
    ind = rng.choice(len(INDUSTRIES), size=n, p=INDUSTRY_P / INDUSTRY_P.sum())
    ta = rng.integers(len(TRADE_A), size=n)
    tb = rng.integers(len(TRADE_B), size=n)
    form = rng.choice(len(FORMS), size=n, p=FORM_P)
    short = {c: city_short(idx.region(c).name_zh) for c in np.unique(reg_city)}
    short_en = {c: idx.region(c).name_en.split(" ")[0] for c in short}
    trade_zh = [[a + b for b in TRADE_B] for a in TRADE_A]
    trade_en = [[pinyin_title(a + b) for b in TRADE_B] for a in TRADE_A]
    names = np.array([f"{short[c]}{trade_zh[a][b]}{INDUSTRIES[i][0]}{FORMS[f][0]}"
                      for c, a, b, i, f in zip(reg_city.tolist(), ta.tolist(), tb.tolist(), ind.tolist(),
                                               form.tolist())], dtype=object)
    names_en = np.array([f"{short_en[c]} {trade_en[a][b]} {INDUSTRIES[i][1]} {FORMS[f][1]}"
                         for c, a, b, i, f in zip(reg_city.tolist(), ta.tolist(), tb.tolist(), ind.tolist(),
                                                  form.tolist())], dtype=object)
    industry = np.array([x[2] for x in INDUSTRIES], dtype=object)[ind]
    ids = credit_codes(reg_city, rng.permutation(n) + 10_000_000)
    order = np.argsort(ids, kind="stable")
    out = EnterpriseArrays(enterprise_id=ids[order], name=names[order], name_en=names_en[order],
                           industry=industry[order], reg=reg[order], reg_city=reg_city[order].astype(object),
                           op=op[order], op_city=op_city[order].astype(object), capital=capital[order],
                           tax=tax[order], reg_building=reg_b[order], op_building=op_b[order])
    log.info("demo_city: generated %d enterprises in %.1f s", n, time.perf_counter() - t0)
    return out
