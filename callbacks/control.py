"""Site panel operations and remote control; the camera panel.

* ``site_ops`` (server): when a station opens — its open alarms (click → alarm dialog) and one row per compressor
  with start / stop / load / unload buttons. The rows' run state and the room's occupancy follow the live
  ``station_values`` clientside (``ccOps.controlState``); buttons are disabled while someone is in the room and for
  roles that may not control (the server refuses anyway).
* ``ccOps.controlPending`` (clientside) → the confirmation dialog (``control_dialog``, server); ``do_control``
  (server) executes through ``ctx.ops.control``: policy + audit, a fresh occupancy read over Modbus just before the
  write, coils written and read back, ``run_state`` read back with a deadline.
* ``ccOps.cameraOpen`` (clientside): the camera panel opens by itself on fire / flood / intrusion alarms and when a
  remote operation starts (seed 001 table 7), or from the site panel's 视频 button; ``camera_panel`` (server) fills
  it with the station's cameras: live frames of ``/cameras/<id>/snapshot.jpg`` refreshed about twice a second
  (``assets/cc_alarms.js``), HLS cameras in a ``<video>``.
"""
from __future__ import annotations

import logging

from dash import ALL, ClientsideFunction, Input, Output, State, dcc, html, no_update

from callbacks.alarms import ROMAN, _msg, error_text, hms, msg_div
from i18n import t
from datasources.modbus.control_profile import setpoints, supported_commands
from datasources.modbus.profiles import default_profiles
from layers.devices import device_label_suffix

log = logging.getLogger(__name__)

COMMANDS = ("start", "stop", "load", "unload")


def _station_name(ctx, station_id: str, lang: str) -> str:
    info = ctx.station_index().get(station_id)
    if info is None:
        return station_id
    return (info.name_en or info.name) if lang == "en" else info.name


def device_name(device_id: str, station_id: str, lang: str) -> str:
    return f"{t('device.compressor', lang)} {device_label_suffix(device_id, station_id)}"


def alarm_rows(alarms: list[dict], lang: str) -> list:
    if not alarms:
        return [html.Div(t("ops.station_no_alarms", lang), className="cc-site-ops-none")]
    out = []
    for a in alarms[:6]:
        state = "shelved" if a["shelved"] else a["state"]
        out.append(html.Div(id={"type": "site-al", "id": a["id"]}, n_clicks=0,
                            className=f"cc-sal cc-sal-sev{a['severity']}" + ("" if a["acknowledged"] else " cc-sal-unack"),
                            children=[
                                html.Span(ROMAN[a["severity"]], className=f"cc-al-sev cc-sevbg{a['severity']}"),
                                html.Span(_msg(a["message"], lang), className="cc-sal-msg"),
                                html.Span(hms(a["raised_ts_ms"]), className="cc-sal-time"),
                                html.Span(t(f"alarm.state.{state}", lang), className=f"cc-al-state cc-al-st-{state}"),
                            ]))
    return out


def _profile(model: str | None):
    try:
        return default_profiles().get(model or "")
    except Exception as exc:  # noqa: BLE001 — an invalid packaged profile: no buttons rather than no panel
        log.warning("profiles: %s", exc)
        return None


def _sp_label(sp: dict, lang: str) -> str:
    return sp["name"] if lang == "en" or not sp.get("description") else sp["description"]


def _fmt(v, decimals: int | None) -> str:
    if v is None:
        return "—"
    try:
        return f"{float(v):.{3 if decimals is None else decimals}f}"
    except (TypeError, ValueError):
        return str(v)


def control_rows(detail: dict, lang: str, can_control: bool) -> list:
    """One row per compressor with the command buttons its profile supports
    (:func:`datasources.modbus.control_profile.supported_commands`), then one row per set-point (writable holding register):
    current value, an input in engineering units with the unit shown, and a 设定 button (confirmation dialog)."""
    sid = detail["station"]["id"]
    comps = [d for d in detail["devices"] if d["kind"] == "compressor"]
    if not comps:
        return [html.Div(t("ops.no_compressors", lang), className="cc-site-ops-none")]
    rows = []
    title = "" if can_control else t("ops.duty_only", lang)
    for d in comps:
        prof = _profile(d.get("model"))
        cmds = supported_commands(prof)
        rows.append(html.Div(className="cc-ctl-row", children=[
            html.Span(device_name(d["device_id"], sid, lang), className="cc-ctl-name"),
            html.Span("—", id={"type": "ctl-state", "dev": d["device_id"]}, className="cc-ctl-state"),
            html.Div(className="cc-ctl-btns", children=[
                html.Button(t(f"ctl.{c}", lang), id={"type": "ctl-btn", "dev": d["device_id"], "cmd": c}, n_clicks=0,
                            className=f"cc-ctl-btn cc-ctl-{c}", disabled=not can_control, title=title)
                for c in cmds]),
        ]))
        values = d.get("values") or {}
        for sp in setpoints(prof):
            rows.append(html.Div(className="cc-sp-row", **{"data-setpoint": f"{d['device_id']}.{sp['name']}"},
                                 children=[
                html.Span(_sp_label(sp, lang), className="cc-sp-name"),
                html.Span(_fmt(values.get(sp["name"]), sp.get("decimals")), className="cc-sp-cur",
                          id={"type": "sp-cur", "dev": d["device_id"], "name": sp["name"]}),
                dcc.Input(id={"type": "sp-val", "dev": d["device_id"], "name": sp["name"]}, type="number",
                          step="any", min=sp.get("min"), max=sp.get("max"), className="cc-sp-input",
                          debounce=False),
                html.Span(sp["unit"], className="cc-sp-unit"),
                html.Button(t("ops.sp_set", lang), id={"type": "ctl-btn", "dev": d["device_id"],
                                                        "cmd": f"sp:{sp['name']}"},
                            n_clicks=0, className="cc-ctl-btn cc-ctl-sp", disabled=not can_control, title=title),
            ]))
    return rows


def _sp_meta(ctx, device_id: str, name: str) -> dict:
    """The set-point's profile entry (unit, label) for the dialog; empty dict if unknown."""
    try:
        from datasources.modbus.control import load_target  # noqa: PLC0415
        target, _io = load_target(ctx.engine, device_id, kinds=None)
    except Exception:  # noqa: BLE001 — unknown device: the server refuses on confirm
        return {}
    return next((sp for sp in setpoints(_profile(target.model)) if sp["name"] == name), {})


def register(app, ctx) -> None:
    ops = ctx.ops
    from layers import stations as stations_layer  # noqa: PLC0415

    app.clientside_callback(
        ClientsideFunction(namespace="ccOps", function_name="stationRefresh"),
        Output("station-refresh", "data"),
        Input("socket", "data-alarm"), Input("socket", "data-workorder"), Input("socket", "data-ops_resync"),
        State("station-open", "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("site-ops-alarms", "children"), Output("site-ops-count", "children"),
        Output("site-dispatch", "className"),
        Input("station-open", "data"), Input("lang", "data"), Input("station-refresh", "data"),
        State("me", "data"),
    )
    def site_ops(station_id, lang, _refresh, me):
        """The open station's alarms in its site panel, drawn in full on open, on language and on every live
        event about the station (``station-refresh``, gated by ``ccOps.stationRefresh``)."""
        lang = lang or "zh"
        if not station_id:
            return [], "", "cc-btn cc-btn-dispatch cc-btn-sm"
        perms = set((me or {}).get("permissions") or [])
        try:
            alarms = ops.station_alarms(station_id)
        except Exception as exc:  # noqa: BLE001
            alarms = []
            log.warning("site ops %s: %s", station_id, exc)
        active = sum(1 for a in alarms if a["active"])
        count = f"{t('ops.station_alarms', lang)} {active}" if active else ""
        disp_cls = "cc-btn cc-btn-dispatch cc-btn-sm" + ("" if "workorder.create" in perms else " cc-hidden-block")
        return alarm_rows(alarms, lang), count, disp_cls

    @app.callback(
        Output("site-ctl-rows", "children"),
        Input("station-open", "data"), Input("lang", "data"),
        State("me", "data"),
    )
    def site_controls(station_id, lang, me):
        """The open station's remote-control rows (one per controllable device, from its profile's roles). Live
        events never trigger this callback, so a typed set-point is kept while alarms come and go."""
        if not station_id:
            return []
        perms = set((me or {}).get("permissions") or [])
        try:
            detail = stations_layer.station_detail(ctx.layer_ctx, station_id)
        except Exception as exc:  # noqa: BLE001 — Redis down: no rows
            log.warning("site controls %s: %s", station_id, exc)
            detail = None
        return control_rows(detail, lang or "zh", "control.command" in perms) if detail else []

    app.clientside_callback(
        ClientsideFunction(namespace="ccOps", function_name="controlState"),
        Output({"type": "ctl-state", "dev": ALL}, "children"), Output({"type": "ctl-state", "dev": ALL}, "className"),
        Output({"type": "ctl-btn", "dev": ALL, "cmd": ALL}, "disabled"),
        Output("site-occupancy", "children"), Output("site-occupancy", "className"),
        Input("station-snapshot", "data"), Input("socket", "data-station_values"), Input("site-ctl-rows", "children"),
        Input("lang", "data"),
        State("station-open", "data"), State("me", "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="ccOps", function_name="controlPending"),
        Output("ctl-pending", "data"),
        Input({"type": "ctl-btn", "dev": ALL, "cmd": ALL}, "n_clicks"), Input("ctl-cancel", "n_clicks"),
        Input("ctl-dialog-x", "n_clicks"),
        State("station-open", "data"), State({"type": "sp-val", "dev": ALL, "name": ALL}, "value"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("ctl-dialog", "className"), Output("ctl-text", "children"), Output("ctl-msg", "children"),
        Output("ctl-confirm", "disabled"),
        Input("ctl-pending", "data"),
        State("lang", "data"),
    )
    def control_dialog(pending, lang):
        lang = lang or "zh"
        if not pending:
            return "cc-modal cc-modal-hidden cc-modal-ctl", [], [], True
        sid, dev, cmd = pending.get("station_id") or "", pending.get("device_id") or "", pending.get("command") or ""
        if cmd == "setpoint":
            sp = _sp_meta(ctx, dev, pending.get("name") or "")
            value = pending.get("value")
            if value is None or value == "":
                return "cc-modal cc-modal-ctl", [html.Div(t("ops.sp_none", lang), className="cc-ctl-q")], [], True
            text = t("ops.sp_question", lang).format(station=_station_name(ctx, sid, lang),
                                                     device=device_name(dev, sid, lang),
                                                     name=_sp_label(sp, lang) if sp else pending.get("name"),
                                                     value=value, unit=sp.get("unit", ""))
            return ("cc-modal cc-modal-ctl", [html.Div(text, className="cc-ctl-q"),
                                              html.Div(dev, className="cc-ctl-dev")], [], False)
        text = t("ops.ctl_question", lang).format(station=_station_name(ctx, sid, lang),
                                                  device=device_name(dev, sid, lang), cmd=t(f"ctl.{cmd}", lang))
        return ("cc-modal cc-modal-ctl", [html.Div(text, className="cc-ctl-q"),
                                          html.Div(dev, className="cc-ctl-dev")], [], False)

    @app.callback(
        Output("ctl-msg", "children", allow_duplicate=True), Output("ctl-confirm", "disabled", allow_duplicate=True),
        Input("ctl-confirm", "n_clicks"),
        State("ctl-pending", "data"), State("lang", "data"),
        prevent_initial_call=True,
        running=[(Output("ctl-confirm", "className"), "cc-btn cc-btn-danger cc-btn-busy", "cc-btn cc-btn-danger")],
    )
    def do_control(n, pending, lang):
        lang = lang or "zh"
        if not n or not pending:
            return no_update, no_update
        dev, cmd, sid = pending.get("device_id") or "", pending.get("command") or "", pending.get("station_id") or ""
        try:
            if cmd == "setpoint":
                out = ops.setpoint(dev, pending.get("name") or "", pending.get("value"), confirmed=True)
            else:
                out = ops.control(dev, cmd, confirmed=True)
        except Exception as exc:  # noqa: BLE001 — refused (role) / unknown device: shown, audited
            return msg_div(error_text(exc, lang), "error"), False
        reasons = "；".join(out["reasons"]) if lang != "en" else "; ".join(out["reasons"])
        if cmd == "setpoint":
            if out["refused"]:
                return msg_div(t("ops.ctl_refused", lang).format(reasons=reasons), "error"), False
            if not out["ok"]:
                return msg_div(t("ops.ctl_failed", lang).format(reasons=reasons), "error"), False
            r = out["result"]
            sp = _sp_meta(ctx, dev, r["name"])
            dec = sp.get("decimals")
            text = t("ops.sp_ok", lang).format(device=device_name(dev, sid, lang),
                                               name=_sp_label(sp, lang) if sp else r["name"],
                                               before=_fmt(r["before"], dec), after=_fmt(r["after"], dec),
                                               unit=r["unit"], ms=r["elapsed_ms"])
            return msg_div(text, "ok"), True
        name, cmd_t = device_name(dev, sid, lang), t(f"ctl.{cmd}", lang)
        if out["refused"]:
            return msg_div(t("ops.ctl_refused", lang).format(reasons=reasons), "error"), False
        if not out["ok"]:
            return msg_div(t("ops.ctl_failed", lang).format(reasons=reasons), "error"), False
        r = out["result"]
        state = lambda v: t(f"enum.run_state.{v}", lang) if v is not None else "—"  # noqa: E731
        if r["reached"]:
            text = t("ops.ctl_ok", lang).format(device=name, cmd=cmd_t, before=state(r["run_state_before"]),
                                                after=state(r["run_state_after"]), ms=r["elapsed_ms"])
        else:
            text = t("ops.ctl_ok_pending", lang).format(device=name, cmd=cmd_t, after=state(r["run_state_after"]))
        return msg_div(text, "ok"), True

    # ------------------------------------------------------------------ cameras
    app.clientside_callback(
        ClientsideFunction(namespace="ccOps", function_name="cameraOpen"),
        Output("cam-open", "data"),
        Input("socket", "data-alarm"), Input("socket", "data-control"), Input("ctl-confirm", "n_clicks"),
        Input("site-video", "n_clicks"), Input("cam-close", "n_clicks"),
        State("ctl-pending", "data"), State("station-open", "data"), State("cam-open", "data"), State("scope", "data"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("cam-panel", "className"), Output("cam-title", "children"), Output("cam-reason", "children"),
        Output("cam-body", "children"),
        Input("cam-open", "data"), Input("lang", "data"),
    )
    def camera_panel(req, lang):
        lang = lang or "zh"
        if not req or not req.get("station_id"):
            return "cc-cam cc-cam-hidden", "", "", []
        sid = req["station_id"]
        try:
            cams = ops.station_cameras(sid)
        except Exception as exc:  # noqa: BLE001
            return "cc-cam", _station_name(ctx, sid, lang), "", [msg_div(error_text(exc, lang), "error")]
        reason = req.get("reason") or "manual"
        cls = "cc-cam" + (" cc-cam-alert" if reason in ("fire_alarm", "flood_alarm", "intrusion_alarm") else "")
        title = [html.Span(t("cam.title", lang), className="cc-cam-k"),
                 html.Span(_station_name(ctx, sid, lang), className="cc-cam-st")]
        if not cams:
            return cls, title, t(f"cam.reason.{reason}", lang), [html.Div(t("cam.none", lang), className="cc-cam-none")]
        tiles = []
        for c in cams[:4]:
            name = (c["name_en"] or c["name"]) if lang == "en" else c["name"]
            if c["kind"] == "mjpeg":
                # frames as snapshots refreshed clientside (ccOps camera loop): a never-ending MJPEG response would
                # hold one of the browser's six connections to this host per tile and starve the page's callbacks
                view = html.Img(src=f"{c['snapshot_url']}?t={req.get('ts') or 0}", className="cc-cam-img", alt=name,
                                **{"data-cam-snap": c["snapshot_url"]})
            else:
                view = html.Video(src=c["stream_url"], autoPlay=True, muted=True, className="cc-cam-img")
            tiles.append(html.Div(className="cc-cam-tile", **{"data-camera": c["id"]}, children=[
                view,
                html.Div(className="cc-cam-cap", children=[html.Span(t("cam.live", lang), className="cc-cam-live"),
                                                           html.Span(name)]),
            ]))
        body = html.Div(tiles, className=f"cc-cam-grid cc-cam-n{min(len(cams), 4)}")
        return cls, title, t(f"cam.reason.{reason}", lang), [body]


__all__ = ["alarm_rows", "control_rows", "register"]
