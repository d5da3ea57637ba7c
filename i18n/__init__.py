"""UI strings of the command center: Chinese by default, English on request.

Usage::

    from i18n import t
    t("app.title")              # '智慧空压站运营指挥中心'
    t("app.title", "en")        # 'Compressed-Air Operations Command Center'

The browser gets the same catalog as ``window.ccI18n`` (served by the web app as ``/i18n/catalog.js``), so clientside
callbacks and map functions format with the same strings.
"""
from __future__ import annotations

import importlib
import pkgutil

from i18n.catalog import CATALOG as _BASE


def _merge_catalogs() -> dict[str, dict[str, str]]:
    """The base catalog plus every ``i18n/catalog_<feature>.py`` module's ``CATALOG`` (one per feature, so features
    add strings without touching each other's files). A key defined twice is an error at import."""
    merged = {lang: dict(strings) for lang, strings in _BASE.items()}
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not mod.name.startswith("catalog_"):
            continue
        extra = importlib.import_module(f"i18n.{mod.name}").CATALOG
        for lang, strings in extra.items():
            clash = set(strings) & set(merged[lang])
            if clash:
                raise ValueError(f"i18n/{mod.name}.py redefines keys {sorted(clash)[:5]}")
            merged[lang].update(strings)
    return merged


CATALOG = _merge_catalogs()

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"


def normalize_lang(lang: str | None) -> str:
    """``'en'``/``'en-US'``/``'EN'`` → ``'en'``; anything unknown or empty → the default ``'zh'``."""
    if not lang:
        return DEFAULT_LANG
    short = str(lang).strip().lower().split("-")[0].split("_")[0]
    return short if short in LANGS else DEFAULT_LANG


def t(key: str, lang: str | None = DEFAULT_LANG, **fmt) -> str:
    """The string ``key`` in ``lang``; falls back to Chinese, then to the key itself (visible, never an exception).

    ``fmt`` fills ``str.format`` placeholders.
    """
    lang = normalize_lang(lang)
    text = CATALOG[lang].get(key)
    if text is None:
        text = CATALOG[DEFAULT_LANG].get(key, key)
    return text.format(**fmt) if fmt else text


def has(key: str) -> bool:
    return key in CATALOG[DEFAULT_LANG]


def value_label(kind: str, name: str, lang: str | None = DEFAULT_LANG) -> str:
    """Display name of a device value: ``value.<kind>.<name>`` if present, else ``value.<name>``, else ``name``."""
    specific = f"value.{kind}.{name}"
    if has(specific):
        return t(specific, lang)
    return t(f"value.{name}", lang) if has(f"value.{name}") else name


def catalog(lang: str | None) -> dict[str, str]:
    """The whole catalog of one language (with Chinese filling any gap)."""
    lang = normalize_lang(lang)
    return {**CATALOG[DEFAULT_LANG], **CATALOG[lang]}


__all__ = ["CATALOG", "DEFAULT_LANG", "LANGS", "catalog", "has", "normalize_lang", "t", "value_label"]
