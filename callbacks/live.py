"""Live map states and KPI widgets.

* ``join_region`` (server): when the socket connects or reconnects (``socketId`` changes) or the scope changes, put
  the socket into the scope's room (leaving the previous one) and return the scope's snapshot — the page's
  resync. Joining happens before the snapshot is read, so no delta can fall between them.
* ``applyStates`` (clientside): snapshot or ``station_states`` delta → ``hideout.states`` of the stations layer;
  markers restyle in place, ``data`` is untouched.
* ``applyKpis`` (clientside): snapshot or language → KPI tiles and the state mix. The live ``kpis`` events (one per
  bridge flush, up to ~10 a second) are deliberately *not* a callback input: each callback run costs about ten
  renderer store dispatches that visit every component of the page, and at that rate they kept the officer's main
  thread busy for seconds at a time (``bench/bench_officer_responsiveness.py``). ``cc.socketWatch`` reads them from
  the socket component's props and draws at most four times a second.
* ``applyKpis`` also draws the region ranking from the payload's ``children`` (names from the snapshot).
* ``attention`` (clientside): stations in alarm / offline, from ``hideout.states``, and the live event log (state
  changes recorded by ``applyStates``).

The KPI tiles, state mix, ranking, attention list and event log are drawn by the clientside functions straight into
the DOM (``drawKpis`` in ``assets/cc_officer.js``, ``cc.drawList`` of ``assets/cc.js``), not returned to Dash: every
Dash output is a store update that visits every component of the page, and at several live events a second those
updates, not the network, made the page fall behind (``bench/bench_alarm_latency.py``).
"""
from __future__ import annotations

import logging

import redis
from dash import ClientsideFunction, Input, Output, State, no_update

from layers.base import ScopeError

log = logging.getLogger(__name__)



def register(app, ctx) -> None:
    @app.callback(
        Output("scope-snapshot", "data"), Output("joined-region", "data"),
        Input("socket", "socketId"), Input("scope", "data"),
        State("joined-region", "data"),
    )
    def join_region(sid, scope, joined):
        scope = scope or "nation"
        joined_out = no_update
        if sid:
            previous = joined.get("room") if isinstance(joined, dict) and joined.get("sid") == sid else None
            try:
                if ctx.enter_scope(sid, scope, previous=previous) is not None:
                    joined_out = {"sid": sid, "room": scope}
            except ScopeError as exc:
                log.warning("page asked for a bad scope %r: %s", scope, exc)
                return no_update, no_update
        try:
            return ctx.scope_snapshot(ctx.parse_scope(scope)), joined_out
        except redis.RedisError as exc:
            log.warning("snapshot of %s failed: %s", scope, exc)
            return no_update, joined_out

    app.clientside_callback(
        ClientsideFunction(namespace="cc", function_name="applyStates"),
        Output("stations", "hideout"),
        Input("scope-snapshot", "data"), Input("socket", "data-station_states"), Input("station-open", "data"),
        Input("lang", "data"),
        State("stations", "hideout"), State("scope", "data"),
    )
    app.clientside_callback(  # draws the KPI tiles, the state mix and the ranking into the DOM (see above)
        ClientsideFunction(namespace="cc", function_name="applyKpis"),
        Output("kpi-drawn", "data"),
        Input("scope-snapshot", "data"), Input("lang", "data"),
        State("scope", "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="cc", function_name="attention"),
        Output("attn-count", "children"),
        Input("stations", "hideout"),
        State("stations", "data"),
    )
