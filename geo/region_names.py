"""English names of China's administrative regions (provinces: conventional; cities: pinyin of the base name with
the conventional spelling of well-known non-Han names and the suffix translated).

``pypinyin`` is optional: without it :func:`city_name_en` returns the Chinese name unchanged. Used when the region
index is built (:mod:`geo.region_build`); the names end up in its cache.
"""
from __future__ import annotations

import importlib.util

__all__ = ["PROVINCE_NAMES_EN", "city_name_en", "has_pinyin"]

PROVINCE_NAMES_EN = {
    "110000": "Beijing", "120000": "Tianjin", "130000": "Hebei", "140000": "Shanxi", "150000": "Inner Mongolia",
    "210000": "Liaoning", "220000": "Jilin", "230000": "Heilongjiang", "310000": "Shanghai", "320000": "Jiangsu",
    "330000": "Zhejiang", "340000": "Anhui", "350000": "Fujian", "360000": "Jiangxi", "370000": "Shandong",
    "410000": "Henan", "420000": "Hubei", "430000": "Hunan", "440000": "Guangdong", "450000": "Guangxi",
    "460000": "Hainan", "500000": "Chongqing", "510000": "Sichuan", "520000": "Guizhou", "530000": "Yunnan",
    "540000": "Tibet", "610000": "Shaanxi", "620000": "Gansu", "630000": "Qinghai", "640000": "Ningxia",
    "650000": "Xinjiang", "710000": "Taiwan", "810000": "Hong Kong", "820000": "Macao",
}

# Conventional English spellings that plain pinyin gets wrong (non-Han place names, polyphonic characters).
_BASE_NAMES_EN = {
    "长治": "Changzhi", "朝阳": "Chaoyang", "漯河": "Luohe", "呼和浩特": "Hohhot", "鄂尔多斯": "Ordos",
    "呼伦贝尔": "Hulunbuir", "巴彦淖尔": "Bayannur", "乌兰察布": "Ulanqab", "兴安": "Hinggan", "锡林郭勒": "Xilingol",
    "阿拉善": "Alxa", "哈尔滨": "Harbin", "齐齐哈尔": "Qiqihar", "拉萨": "Lhasa", "日喀则": "Shigatse", "昌都": "Qamdo",
    "林芝": "Nyingchi", "那曲": "Nagqu", "阿里": "Ngari", "乌鲁木齐": "Urumqi", "克拉玛依": "Karamay", "吐鲁番": "Turpan",
    "博尔塔拉": "Bortala", "巴音郭楞": "Bayingolin", "阿克苏": "Aksu", "克孜勒苏": "Kizilsu", "喀什": "Kashgar",
    "和田": "Hotan", "伊犁": "Ili", "阿勒泰": "Altay", "塔城": "Tacheng", "阿拉尔": "Aral", "图木舒克": "Tumxuk",
    "可克达拉": "Kokdala", "甘孜": "Garze", "阿坝": "Ngawa", "果洛": "Golog",
}
_ETHNIC_EN = {  # longest first when matching
    "柯尔克孜": "Kyrgyz", "哈萨克": "Kazakh", "蒙古族": "Mongol", "蒙古": "Mongol", "朝鲜族": "Korean",
    "土家族": "Tujia", "布依族": "Bouyei", "哈尼族": "Hani", "景颇族": "Jingpo", "傈僳族": "Lisu", "苗族": "Miao",
    "黎族": "Li", "藏族": "Tibetan", "羌族": "Qiang", "彝族": "Yi", "侗族": "Dong", "壮族": "Zhuang", "傣族": "Dai",
    "白族": "Bai", "回族": "Hui",
}
_SUFFIX_EN = (  # (Chinese suffix, English suffix, takes ethnic groups)
    ("自治州", "Autonomous Prefecture", True), ("自治县", "Autonomous County", True), ("林区", "Forestry District", False),
    ("地区", "Prefecture", False), ("盟", "League", False), ("市", "", False), ("县", "County", False),
)

def has_pinyin() -> bool:
    """True when the optional ``pypinyin`` (English city names) is installed; imported only when building."""
    return importlib.util.find_spec("pypinyin") is not None


def _pinyin_word(han: str) -> str:
    """``"西安"`` → ``"Xi'an"``: one capitalised word, apostrophe before a syllable starting with a/o/e."""
    from pypinyin import lazy_pinyin  # noqa: PLC0415 — ~0.2 s import, only needed to build the cache

    syllables = lazy_pinyin(han, v_to_u=True)
    out = syllables[0]
    for s in syllables[1:]:
        out += ("'" + s) if s[:1] in ("a", "o", "e") else s
    return out[:1].upper() + out[1:]


def city_name_en(name_zh: str) -> str:
    """English name of a city-level division: ``"延边朝鲜族自治州"`` → ``"Yanbian Korean Autonomous Prefecture"``.

    Pinyin of the base name (conventional spelling for well-known non-Han names), suffix translated. Returns
    ``name_zh`` unchanged when ``pypinyin`` is not installed.
    """
    if not has_pinyin():
        return name_zh
    base, suffix_en, ethnic = name_zh, "", []
    for zh, en, takes_ethnic in _SUFFIX_EN:
        if base.endswith(zh) and len(base) > len(zh):
            base, suffix_en = base[: -len(zh)], en
            if takes_ethnic:
                matched = True
                while matched:
                    matched = False
                    for ezh, een in _ETHNIC_EN.items():
                        if base.endswith(ezh) and len(base) > len(ezh):
                            base, matched = base[: -len(ezh)], True
                            ethnic.insert(0, een)
                            break
            break
    words = [_BASE_NAMES_EN.get(base) or _pinyin_word(base)]
    if ethnic:
        words.append(" and ".join(ethnic))
    if suffix_en:
        words.append(suffix_en)
    return " ".join(words)

