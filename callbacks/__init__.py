"""Dash callbacks, grouped by panel. :func:`register_all` wires them to an app.

Each module has ``register(app, ctx)``; ``ctx`` is the web process's service object (``AppContext``: ``layer_ctx``,
``parse_scope``, ``enter_scope``, ``leave_scope``, ``scope_snapshot``) handed over by the app factory, so nothing
here imports :mod:`dashboard`.

Live data never takes a server round trip: Socket.IO events arrive as ``data-<event>`` props of the
``DashSocketIO`` component and clientside functions (``assets/cc_officer.js``, ``cc_site.js`` on the browser core
``assets/cc.js``; namespace ``cc``) patch the map's ``hideout`` and the widgets. Server callbacks only join rooms and return snapshots (on load, scope change,
reconnect — the socket id changes — and when the site panel opens).
"""
from __future__ import annotations


def register_all(app, ctx) -> None:
    from callbacks import chrome, live, map as map_cb, site  # noqa: PLC0415

    for module in (chrome, live, map_cb, site):
        module.register(app, ctx)
    from callbacks import alarms, control, dispatch  # noqa: PLC0415 — operations (issue 4): need ctx.ops

    for module in (alarms, dispatch, control):
        module.register(app, ctx)
    from callbacks import city_layers, drilldown, importer, search  # noqa: PLC0415 — drill-down, city layers (issue 3)

    for module in (drilldown, city_layers, search, importer):
        module.register(app, ctx)
    from callbacks import energy  # noqa: PLC0415 — energy tab of the site panel (issue 5)

    energy.register(app, ctx)
