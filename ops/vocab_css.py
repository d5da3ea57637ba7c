"""The vocabulary's colours as CSS custom properties, so the stylesheets in ``assets/`` use ``var(--cc-…)`` and hold
no copy of a state, severity, work-order, pipe or shop-grade colour (issue 13: one rule, one place).

Every page carries ``<style id="cc-vocab-css">:root{…}</style>`` next to the ``cc-vocab`` script
(:func:`ops.vocab.index_with_vocab`). Each colour is given twice: ``--cc-<group>-<key>`` (the colour as defined in
:mod:`ops.vocab`) and ``--cc-<group>-<key>-rgb`` (its ``r, g, b`` channels, 0–255, for translucent tints written
``rgba(var(--cc-state-alarm-rgb), 0.3)``).

Names (``<key>`` as in :func:`ops.vocab.browser_vocab`):

    --cc-state-<station state>       running, idle, alarm, offline, not_built
    --cc-sev-<roman>                 I, II, III, IV (alarm severities)
    --cc-order-<work-order state>    assigned, accepted, on_site; --cc-order-default, --cc-order-overdue
    --cc-pipe-<pipe status>          low, high, ok, no_data, no_sensor
    --cc-shop-<grade>                A, B, C, D, none (not graded)

Pure: imports only :mod:`ops.vocab`.
"""
from __future__ import annotations

from ops.vocab import (ORDER_COLOURS, ORDER_DEFAULT_COLOUR, ORDER_OVERDUE_COLOUR, PIPE_STYLES, SEVERITIES,
                       SHOP_GRADE_COLOURS, STATION_STATE_DEFS)


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """``(r, g, b)`` channels 0–255 of a ``#rgb`` or ``#rrggbb`` colour.

    Raises:
        ValueError: not a hex colour.
    """
    h = colour.strip().lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    if len(h) != 6 or colour.strip()[:1] != "#":
        raise ValueError(f"not a #rrggbb colour: {colour!r}")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def vocab_colours() -> dict[str, str]:
    """``{custom property name without the -rgb suffix: hex colour}`` of every colour the vocabulary defines, in a
    stable order (see the module docstring for the names)."""
    out: dict[str, str] = {}
    out.update({f"--cc-state-{k}": s.colour for k, s in STATION_STATE_DEFS.items()})
    out.update({f"--cc-sev-{s.roman}": s.colour for s in SEVERITIES.values()})
    out.update({f"--cc-order-{k}": c for k, c in ORDER_COLOURS.items()})
    out["--cc-order-default"] = ORDER_DEFAULT_COLOUR
    out["--cc-order-overdue"] = ORDER_OVERDUE_COLOUR
    out.update({f"--cc-pipe-{k}": v["color"] for k, v in PIPE_STYLES.items()})
    out.update({f"--cc-shop-{k or 'none'}": c for k, c in SHOP_GRADE_COLOURS.items()})
    return out


def vocab_css() -> str:
    """The ``:root{…}`` rule declaring :func:`vocab_colours` and their ``-rgb`` channel triples (one line, ~2 kB)."""
    decls = []
    for name, colour in vocab_colours().items():
        r, g, b = hex_rgb(colour)
        decls.append(f"{name}:{colour.lower()};{name}-rgb:{r}, {g}, {b}")
    return ":root{" + ";".join(decls) + "}"


def vocab_style_tag() -> str:
    """``<style id="cc-vocab-css">`` + :func:`vocab_css` + ``</style>`` (the text holds no ``<``)."""
    return f'<style id="cc-vocab-css">{vocab_css()}</style>'
