"""Small Dash HTML helpers shared by the layers' feature panels (:meth:`layers.base.Layer.panel`)."""
from __future__ import annotations

from typing import Any, Iterable


def facts(rows: Iterable[tuple[Any, Any, str | None]]) -> Any:
    """A two-column facts table: ``rows`` are ``(label, value, data-k or None)``; CSS class ``cc-fp-facts``."""
    from dash import html  # noqa: PLC0415

    return html.Table(className="cc-fp-facts", children=html.Tbody([
        html.Tr([html.Th(k), html.Td(v, **({"data-k": dk} if dk else {}))]) for k, v, dk in rows]))


def display_name(obj: Any, lang: str) -> str:
    """``obj.name_en`` in English when it has one, else ``obj.name``."""
    return obj.name_en if lang == "en" and getattr(obj, "name_en", "") else obj.name


def not_found(kind_label: str, title: str, message: str | None = None) -> tuple:
    """The feature panel of a feature that no longer exists."""
    from dash import html  # noqa: PLC0415

    body = [html.Div(message, className="cc-empty")] if message else []
    return ("cc-fp", kind_label, title, "", body)
