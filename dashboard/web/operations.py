"""The operations service of one web process: alarms, dispatch, work orders, field steps, remote control.

Every entry point that changes state is authorised on the server and audited (:func:`dashboard.auth.core.audited`,
:func:`dashboard.auth.core.control_decision`), whoever calls it — a Dash callback (``callbacks/alarms.py``,
``dispatch.py``, ``control.py``; they get this object as ``ctx.ops``), an HTTP endpoint (:mod:`dashboard.web.api_ops`) or
a Socket.IO event (:mod:`dashboard.live.ops_sockets`). The acting user is always the session's (``flask_login``); a
field engineer's roster id comes from their login, never from the request.

Errors: :class:`dashboard.auth.core.Forbidden` (401 / 403, audited ``refused``) and :class:`OpsError` (400 bad input,
404 unknown id, 409 not allowed in the current state; audited ``error`` when raised inside an authorised action).

Live messages: alarm and work-order changes are published on ``cc:alarms`` / ``cc:workorders`` by the stores and
fanned out by :mod:`dashboard.live.ops_bridge`; engineer positions go on ``cc:engineers`` (schema in
:mod:`dashboard.live.ops_bridge`); a remote operation is announced to the station's rooms as Socket.IO ``control``
(``{"phase": "started" | "done", "station_id", "device_id", "command", "ok", "by"}``) so every view of that station
opens its camera (seed 001 table 7).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard.auth.core import Forbidden, audited, authorize, control_decision
from datasources.sql.audit import write_audit
from dashboard.live.ops_bridge import ENGINEERS_CHANNEL
from datasources.sql import alarm_store
from datasources.sql import workorders as wo
from datasources.sql.alarm_models import WorkOrder
from datasources.sql.alarm_stats import PERIODS, alarm_statistics
from datasources.bus.messages import now_ms
from datasources.sql.city_models import Camera
from datasources.modbus.control import ControlError, bus_state, execute, execute_setpoint, load_target
from datasources.modbus.control_profile import refusal_for_missing
from datasources.modbus.profiles import default_profiles
from ops.control_policy import decide_setpoint
from layers.base import ScopeError
from ops.alarms import IllegalTransition, MAX_SHELVE_MS
from ops.dispatch import IllegalOrderTransition
from ops.vocab import order_open

log = logging.getLogger(__name__)

POSITIONS_HASH = "cc:engineer_pos"
#: shelving durations offered by the panel, seconds
SHELVE_CHOICES = (900, 3600, 4 * 3600, 8 * 3600)
#: closed / cancelled orders stay in the officer's list this long, ms
RECENT_CLOSED_MS = 24 * 3600 * 1000


class OpsError(Exception):
    """A request the domain refuses: ``status`` 400 (bad input), 404 (unknown id) or 409 (state conflict)."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


_DOMAIN_ERRORS = ((alarm_store.AlarmNotFound, 404), (wo.WorkOrderNotFound, 404), (ControlError, 404),
                  (IllegalTransition, 409), (IllegalOrderTransition, 409), (wo.WorkOrderError, 409))


def as_ops_error(exc: Exception) -> OpsError | None:
    """Map a domain exception to an :class:`OpsError` (``None`` if it is not one)."""
    if isinstance(exc, OpsError):
        return exc
    for cls, status in _DOMAIN_ERRORS:
        if isinstance(exc, cls):
            return OpsError(str(exc), status)
    return None


def _user():
    try:
        u = current_user._get_current_object()  # noqa: SLF001
    except (RuntimeError, AttributeError):
        return None
    return u if getattr(u, "is_authenticated", False) else None


def split_message(message: str, lang: str) -> str:
    """``"排气温度过高 / discharge temperature high"`` → the part of ``lang``."""
    if " / " not in (message or ""):
        return message or ""
    zh, en = message.split(" / ", 1)
    return en if lang == "en" else zh


@dataclass
class OpsService:
    """See the module docstring. ``ctx``: the :class:`dashboard.web.context.AppContext`; ``notifier``: the webhook
    notifier (:func:`datasources.workers.notify.notifier_from_env`) or ``None``."""

    ctx: Any
    notifier: Any = None

    @property
    def engine(self):
        return self.ctx.engine

    @property
    def redis(self):
        return self.ctx.redis

    # ------------------------------------------------------------------ scopes
    def scope_station_ids(self, scope_raw: str | None) -> list[str] | None:
        """Station ids of a region scope (``None`` for nation: no filter). Raises OpsError(400) on a bad scope."""
        try:
            scope = self.ctx.parse_scope(scope_raw or "nation")
        except ScopeError as exc:
            raise OpsError(str(exc), 400) from exc
        if scope.level == "nation":
            return None
        return [sid for sid, info in self.ctx.station_index().items() if info.in_scope(scope)]

    def station_rooms(self, station_id: str) -> list[str]:
        info = self.ctx.station_index().get(station_id)
        rooms = [f"station:{station_id}"]
        if info is not None:
            rooms += list(info.rooms)
        return rooms

    def station_brief(self, station_id: str) -> dict[str, Any]:
        info = self.ctx.station_index().get(station_id)
        if info is None:
            return {"id": station_id, "name": station_id, "name_en": station_id, "lon": None, "lat": None,
                    "province_adcode": None, "city_adcode": None}
        return {"id": station_id, "name": info.name, "name_en": info.name_en or info.name, "lon": info.lon,
                "lat": info.lat, "province_adcode": info.province_adcode, "city_adcode": info.city_adcode}

    # ------------------------------------------------------------------ reading (any logged-in role)
    def _require_view(self, target: str = "") -> None:
        authorize("view", target=target)

    def alarms_snapshot(self, scope_raw: str | None = "nation", limit: int = 500) -> dict[str, Any]:
        """Open alarms of a scope, most severe then newest first, with counts:
        ``{"scope", "ts_ms", "alarms": [alarm dict + "station": {id, name, name_en, lon, lat, …}], "counts": {"open", "active", "unacked",
        "shelved", "alerting" (:func:`ops.vocab.alerting`), "by_severity": {"1".."4": active n}}}``."""
        self._require_view()
        ids = self.scope_station_ids(scope_raw)
        taken = now_ms()
        rows = alarm_store.list_alarms(self.engine, open_only=True, station_ids=ids, limit=limit, now=taken)
        for a in rows:
            a["station"] = self.station_brief(a["station_id"])
        counts = {"open": len(rows), "active": sum(1 for a in rows if a["active"]),
                  "unacked": sum(1 for a in rows if not a["acknowledged"]),
                  "shelved": sum(1 for a in rows if a["shelved"]),
                  "alerting": sum(1 for a in rows if a["alerting"]),
                  "by_severity": {str(s): sum(1 for a in rows if a["active"] and a["severity"] == s)
                                  for s in (1, 2, 3, 4)}}
        return {"scope": scope_raw or "nation", "ts_ms": taken, "alarms": rows, "counts": counts}

    def alarm_detail(self, alarm_id: int) -> dict[str, Any]:
        """``{"alarm", "events", "station", "order"}`` (``order``: its open work order or ``None``)."""
        self._require_view(f"alarm:{alarm_id}")
        try:
            alarm = alarm_store.get_alarm(self.engine, alarm_id)
        except alarm_store.AlarmNotFound as exc:
            raise OpsError(str(exc), 404) from exc
        with Session(self.engine) as s:
            oid = s.scalar(select(WorkOrder.id).where(WorkOrder.alarm_id == alarm_id)
                           .order_by(WorkOrder.id.desc()).limit(1))
        return {"alarm": alarm, "events": alarm_store.alarm_events(self.engine, alarm_id),
                "station": self.station_brief(alarm["station_id"]),
                "order": wo.get_order(self.engine, oid) if oid else None}

    def station_alarms(self, station_id: str) -> list[dict[str, Any]]:
        self._require_view(f"station:{station_id}")
        return alarm_store.list_alarms(self.engine, open_only=True, station_id=station_id, limit=50)

    def stats(self, scope_raw: str | None = "nation", period: str = "24h") -> dict[str, Any]:
        """:func:`datasources.sql.alarm_stats.alarm_statistics` of the scope over ``period`` (24h / 7d / 30d); regions
        are provinces (nation scope), cities (province scope) or stations (city scope)."""
        self._require_view()
        if period not in PERIODS:
            raise OpsError(f"period must be one of {', '.join(PERIODS)}", 400)
        ids = self.scope_station_ids(scope_raw)
        level = (scope_raw or "nation").split(":")[0]
        index = self.ctx.station_index()

        def region_of(sid: str) -> str | None:
            info = index.get(sid)
            if info is None:
                return None
            return info.province_adcode if level == "nation" else info.city_adcode if level == "province" else sid

        until = now_ms()
        out = alarm_statistics(self.engine, until - PERIODS[period], until, ids, region_of)
        out.update(period=period, scope=scope_raw or "nation",
                   region_level="province" if level == "nation" else "city" if level == "province" else "station")
        return out

    def orders(self, scope_raw: str | None = "nation", *, include_recent: bool = True) -> list[dict[str, Any]]:
        """Open work orders of the scope (and those closed / cancelled in the last 24 h), newest first.

        A field engineer sees only the orders assigned to them and the open, unassigned ones they may grab (seed 002:
        least privilege), never colleagues' orders.
        """
        self._require_view()
        ids = self.scope_station_ids(scope_raw)
        now = now_ms()
        rows = wo.list_orders(self.engine, open_only=not include_recent, limit=400, now=now)
        user = _user()
        if user is not None and user.role == "field_engineer":
            rows = [o for o in rows if o["assignee_id"] == user.engineer_id
                    or (o["assignee_id"] is None and order_open(o["state"]))]
        keep = set(ids) if ids is not None else None
        out = []
        for o in rows:
            if keep is not None and o["station_id"] not in keep:
                continue
            if not order_open(o["state"]):
                end = o["closed_ts_ms"] or o["created_ts_ms"]
                if now - end > RECENT_CLOSED_MS:
                    continue
            o["station"] = self.station_brief(o["station_id"])
            out.append(o)
        return out

    def order_detail(self, order_id: int) -> dict[str, Any]:
        """``{"order", "events", "station", "alarm"}``; field engineers see their own orders and the grab pool."""
        user = _user()
        try:
            order = wo.get_order(self.engine, order_id)
        except wo.WorkOrderNotFound as exc:
            authorize("view", target=f"order:{order_id}")
            raise OpsError(str(exc), 404) from exc
        if user is not None and user.role == "field_engineer" and order["assignee_id"] not in (None,
                                                                                               user.engineer_id):
            # another engineer's order: audited refusal
            authorize("workorder.accept", target=f"order:{order_id}", owner_engineer_id=order["assignee_id"])
        self._require_view(f"order:{order_id}")
        alarm = None
        if order["alarm_id"]:
            try:
                alarm = alarm_store.get_alarm(self.engine, order["alarm_id"])
            except alarm_store.AlarmNotFound:
                alarm = None
        return {"order": order, "events": wo.order_events(self.engine, order_id),
                "station": self.station_brief(order["station_id"]), "alarm": alarm}

    def field_orders(self) -> dict[str, list[dict[str, Any]]]:
        """The field page's lists for the logged-in engineer: ``{"mine": open orders assigned to me, "pool":
        unassigned orders to grab, "done": my resolved / closed orders of the last 7 days}``.

        Raises:
            Forbidden: not a field engineer (audited).
        """
        user = authorize("workorder.grab", target="field:orders")
        eid = user.engineer_id
        now = now_ms()
        mine_all = wo.list_orders(self.engine, open_only=False, engineer_id=eid, limit=200, now=now)
        mine = [o for o in mine_all if o["state"] in ("assigned", "accepted", "on_site")]
        done = [o for o in mine_all if o["state"] in ("resolved", "closed")
                and now - (o["resolved_ts_ms"] or o["created_ts_ms"]) < 7 * 24 * 3600 * 1000]
        pool = wo.list_orders(self.engine, open_only=True, unassigned=True, limit=100, now=now)
        for o in (*mine, *done, *pool):
            o["station"] = self.station_brief(o["station_id"])
        return {"mine": mine, "pool": pool, "done": done}

    def proposal(self, *, alarm_id: int | None = None, station_id: str | None = None) -> dict[str, Any]:
        """The dispatch proposal (:func:`ops.dispatch.propose` via :mod:`datasources.sql.workorders`) with every
        engineer's roster facts: ``{"proposal", "engineers": {id: {...}}, "station", "alarm", "open_order"}``.

        Raises:
            Forbidden: a field engineer (the roster carries colleagues' phone numbers; permission ``roster.view``).
        """
        authorize("roster.view", target="roster")
        alarm = None
        try:
            if alarm_id is not None:
                alarm = alarm_store.get_alarm(self.engine, alarm_id)
                station_id = alarm["station_id"]
                prop = wo.propose_for_alarm(self.engine, alarm_id, top=4)
            elif station_id:
                prop = wo.propose_for_station(self.engine, station_id, top=4)
            else:
                raise OpsError("an alarm or a station is required", 400)
        except (alarm_store.AlarmNotFound, wo.WorkOrderNotFound, wo.WorkOrderError) as exc:
            raise as_ops_error(exc) from exc
        engineers = {e["engineer_id"]: e for e in wo.list_engineers(self.engine)}
        open_order = None
        if alarm_id is not None:
            with Session(self.engine) as s:
                oid = s.scalar(select(WorkOrder.id).where(WorkOrder.open_key == f"alarm:{alarm_id}"))
            open_order = wo.get_order(self.engine, oid) if oid else None
        return {"proposal": prop.to_dict(), "engineers": engineers, "station": self.station_brief(station_id),
                "alarm": alarm, "open_order": open_order}

    def station_cameras(self, station_id: str) -> list[dict[str, Any]]:
        """Cameras of a station: ``[{id, name, name_en, status, kind, stream_url, snapshot_url}]``."""
        self._require_view(f"station:{station_id}")
        with Session(self.engine) as s:
            rows = list(s.scalars(select(Camera).where(Camera.station_id == station_id).order_by(Camera.camera_id)))
        return [{"id": c.camera_id, "name": c.name, "name_en": c.name_en or c.name, "status": c.status,
                 "kind": c.kind, "stream_url": c.stream_url or f"/cameras/{c.camera_id}/stream.mjpg",
                 "snapshot_url": f"/cameras/{c.camera_id}/snapshot.jpg"} for c in rows]

    def engineer_positions(self) -> dict[str, dict[str, Any]]:
        """Last reported positions ``{engineer_id: {"lon", "lat", "ts_ms"}}`` (``cc:engineer_pos``)."""
        out = {}
        for k, v in (self.redis.hgetall(POSITIONS_HASH) or {}).items():
            k = k.decode() if isinstance(k, bytes) else k
            try:
                out[k] = json.loads(v)
            except ValueError:
                continue
        return out

    def overlay(self, scope_raw: str | None = "nation") -> list[dict[str, Any]]:
        """Engineers on their way / on site for open orders of the scope: ``[{order_id, state, severity,
        engineer_id, engineer_name, lon, lat, position_source, station_id, station_lon, station_lat, overdue}]``
        (WGS-84). Position: last reported (field page), else the check-in point, else the roster's base."""
        orders = [o for o in self.orders(scope_raw, include_recent=False)
                  if o["assignee_id"] and o["state"] in ("assigned", "accepted", "on_site")]
        if not orders:
            return []
        engineers = {e["engineer_id"]: e for e in wo.list_engineers(self.engine)}
        try:
            positions = self.engineer_positions()
        except Exception:  # noqa: BLE001 — Redis down: fall back to SQL positions
            positions = {}
        out = []
        for o in orders:
            e = engineers.get(o["assignee_id"]) or {}
            pos, src = positions.get(o["assignee_id"]), "reported"
            if o["state"] == "on_site" and o["on_site_lon"] is not None:
                pos, src = {"lon": o["on_site_lon"], "lat": o["on_site_lat"]}, "check_in"
            if not pos:
                pos, src = {"lon": e.get("lon"), "lat": e.get("lat")}, "base"
            st = o["station"]
            if pos.get("lon") is None or st["lon"] is None:
                continue
            out.append({"order_id": o["id"], "state": o["state"], "severity": o["severity"],
                        "engineer_id": o["assignee_id"], "engineer_name": e.get("name", o["assignee_id"]),
                        "engineer_name_en": e.get("name_en", ""), "lon": pos["lon"], "lat": pos["lat"],
                        "position_source": src, "station_id": o["station_id"], "station_lon": st["lon"],
                        "station_lat": st["lat"], "overdue": o["overdue"]})
        return out

    # ------------------------------------------------------------------ alarms (duty officer)
    def alarm_action(self, alarm_id: int, action: str, *, comment: str = "",
                     duration_s: float | None = None) -> dict[str, Any]:
        """Acknowledge / shelve / unshelve / close an alarm (audited ``alarm.<action>``); returns the
        ``cc:alarms`` message (also published).

        Raises:
            Forbidden, OpsError (400 bad action / duration, 404, 409 illegal in its state).
        """
        perm = {"acknowledge": "alarm.acknowledge", "shelve": "alarm.shelve", "unshelve": "alarm.shelve",
                "close": "alarm.close"}.get(action)
        if perm is None:
            authorize("alarm.acknowledge", target=f"alarm:{alarm_id}", detail={"action": action})
            raise OpsError(f"unknown alarm action {action!r}", 400)
        comment = (comment or "").strip()[:500]
        with audited(perm, target=f"alarm:{alarm_id}", detail={"action": action, "comment": comment}) as a:
            try:
                if action == "shelve":
                    d = float(duration_s or 0)
                    if not 0 < d * 1000 <= MAX_SHELVE_MS:
                        raise OpsError("shelving lasts more than 0 s and at most 24 h", 400)
                    a.detail = {"action": action, "comment": comment, "duration_s": d}
                    msg = alarm_store.shelve(self.engine, alarm_id, a.user.username, d, note=comment,
                                             redis_client=self.redis)
                else:
                    msg = alarm_store.operator_action(self.engine, alarm_id, action, a.user.username, note=comment,
                                                      redis_client=self.redis)
            except Exception as exc:
                err = as_ops_error(exc)
                if err is not None and err is not exc:
                    raise err from exc
                raise
        return msg

    # ------------------------------------------------------------------ dispatch / work orders (duty officer)
    def dispatch(self, *, alarm_id: int | None = None, station_id: str | None = None,
                 engineer_id: str | None = "auto", title: str | None = None) -> dict[str, Any]:
        """One-click dispatch: create the work order (``workorder.create``, audited) for an alarm or a station and
        assign it (``"auto"``: the best proposal; an engineer id; ``None``: open for grabbing). The engineer is
        notified (``cc:workorders`` → field page; webhook when configured). Returns the order."""
        target = f"alarm:{alarm_id}" if alarm_id is not None else f"station:{station_id}"
        with audited("workorder.create", target=target, detail={"engineer_id": engineer_id}) as a:
            try:
                if alarm_id is None and not station_id:
                    raise OpsError("an alarm or a station is required", 400)
                if station_id and alarm_id is None and station_id not in self.ctx.station_index():
                    raise OpsError(f"station {station_id} does not exist", 404)
                order = wo.create_order(self.engine, actor=a.user.username, alarm_id=alarm_id,
                                        station_id=station_id if alarm_id is None else None, engineer_id=engineer_id,
                                        title=title, redis_client=self.redis, notifier=self.notifier)
            except Exception as exc:
                err = as_ops_error(exc)
                if err is not None and err is not exc:
                    raise err from exc
                raise
            a.target = f"order:{order['id']}"
            a.detail = {"alarm_id": alarm_id, "station_id": order["station_id"], "engineer_id": order["assignee_id"],
                        "requested": engineer_id}
        return order

    _OFFICER_ACTIONS = {"assign": "workorder.assign", "cancel": "workorder.cancel", "close": "workorder.close"}
    _FIELD_ACTIONS = {"grab": "workorder.grab", "accept": "workorder.accept", "check_in": "workorder.check_in",
                      "resolve": "workorder.resolve"}

    def order_action(self, order_id: int, action: str, **kw: Any) -> dict[str, Any]:
        """A work-order step (audited ``workorder.<action>``):

        * duty officer: ``assign`` (``engineer_id``), ``cancel`` (``reason``), ``close`` (``return_visit``,
          ``rating`` 1–5: 回访 / 评价);
        * field engineer, on orders assigned to them: ``accept``, ``check_in`` (``lon``, ``lat`` WGS-84),
          ``resolve`` (``result``); and ``grab`` of an unassigned order.

        Returns the order. Raises: Forbidden, OpsError.
        """
        perm = self._OFFICER_ACTIONS.get(action) or self._FIELD_ACTIONS.get(action)
        if perm is None:
            authorize("workorder.assign", target=f"order:{order_id}", detail={"action": action})
            raise OpsError(f"unknown work-order action {action!r}", 400)
        owner = None
        if action in ("accept", "check_in", "resolve"):
            try:
                owner = wo.get_order(self.engine, order_id)["assignee_id"] or "-"
            except wo.WorkOrderNotFound as exc:
                authorize(perm, target=f"order:{order_id}")
                raise OpsError(str(exc), 404) from exc
        detail = {k: v for k, v in kw.items() if k in ("engineer_id", "reason", "return_visit", "rating", "lon",
                                                        "lat", "result")}
        with audited(perm, target=f"order:{order_id}", owner_engineer_id=owner, detail=detail) as a:
            user, r, n = a.user, self.redis, self.notifier
            try:
                if action == "assign":
                    order = wo.assign(self.engine, order_id, str(kw.get("engineer_id") or ""), user.username,
                                      redis_client=r, notifier=n)
                elif action == "cancel":
                    order = wo.cancel(self.engine, order_id, user.username, str(kw.get("reason") or ""),
                                      redis_client=r, notifier=n)
                elif action == "close":
                    try:
                        rating = int(kw.get("rating"))
                    except (TypeError, ValueError):
                        raise OpsError("rating must be an integer 1..5", 400) from None
                    order = wo.close_order(self.engine, order_id, user.username, str(kw.get("return_visit") or ""),
                                           rating, redis_client=r, notifier=n)
                elif action == "grab":
                    order = wo.grab(self.engine, order_id, user.engineer_id, user.username, redis_client=r,
                                    notifier=n)
                elif action == "accept":
                    order = wo.accept(self.engine, order_id, user.engineer_id, user.username, redis_client=r,
                                      notifier=n)
                elif action == "check_in":
                    try:
                        lon, lat = float(kw["lon"]), float(kw["lat"])
                    except (KeyError, TypeError, ValueError):
                        raise OpsError("check-in needs numeric lon and lat (WGS-84 degrees)", 400) from None
                    order = wo.check_in(self.engine, order_id, user.engineer_id, lon, lat, user.username,
                                        redis_client=r, notifier=n)
                    self._store_position(user.engineer_id, lon, lat, order)
                else:
                    order = wo.resolve(self.engine, order_id, user.engineer_id, str(kw.get("result") or ""),
                                       user.username, redis_client=r, notifier=n)
            except Exception as exc:
                err = as_ops_error(exc)
                if err is not None and err is not exc:
                    raise err from exc
                raise
        return order

    # ------------------------------------------------------------------ engineer position (field engineer)
    def _store_position(self, engineer_id: str, lon: float, lat: float, order: dict | None) -> dict[str, Any]:
        ts = now_ms()
        msg = {"v": 1, "type": "engineer_position", "engineer_id": engineer_id, "lon": lon, "lat": lat, "ts_ms": ts,
               "order_id": order["id"] if order else None, "station_id": order["station_id"] if order else None}
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hset(POSITIONS_HASH, engineer_id, json.dumps({"lon": lon, "lat": lat, "ts_ms": ts}))
            pipe.publish(ENGINEERS_CHANNEL, json.dumps(msg, ensure_ascii=False))
            pipe.execute()
        except Exception as exc:  # noqa: BLE001 — a position is best effort
            log.warning("engineer position not stored: %s", exc)
        return msg

    def report_position(self, lon: float, lat: float) -> dict[str, Any]:
        """The logged-in field engineer reports where they are (WGS-84 degrees); the officer's map draws them with
        a line to the site of their open order. Not audited per report (telemetry); refusals are."""
        user = authorize("workorder.accept", target="engineer:position")
        try:
            lon, lat = float(lon), float(lat)
        except (TypeError, ValueError):
            raise OpsError("lon and lat must be numbers", 400) from None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise OpsError("position outside WGS-84 range", 400)
        mine = [o for o in wo.list_orders(self.engine, open_only=True, engineer_id=user.engineer_id, limit=20)
                if o["state"] in ("assigned", "accepted", "on_site")]
        return self._store_position(user.engineer_id, lon, lat, mine[0] if mine else None)

    # ------------------------------------------------------------------ remote control (duty officer)
    def control(self, device_id: str, command: str, *, confirmed: bool) -> dict[str, Any]:
        """Start / stop / load / unload a compressor (seed 001 table 7; :mod:`datasources.modbus.control`).

        Policy first (:func:`dashboard.auth.core.control_decision`: duty officer, confirmed, occupancy off per
        ``cc:latest``, online, not faulted — audited), then the Modbus write with a fresh occupancy read and the
        read-back, audited again with the outcome (``control.command`` ok / refused / error, detail ``step: modbus``).

        Returns:
            ``{"ok", "refused", "reasons", "device_id", "station_id", "command", "result": ControlResult dict|None}``.
        Raises:
            Forbidden (role), OpsError 404 (unknown device / not a compressor).
        """
        target_name = f"device:{device_id}"
        try:
            target, io = load_target(self.engine, device_id)
        except ControlError as exc:
            authorize("control.command", target=target_name, detail={"command": command})
            raise OpsError(str(exc), 404) from exc
        prof = default_profiles().get(target.model)
        missing = (refusal_for_missing(prof, command) if prof is not None
                   else f"device {device_id}: no profile for model {target.model!r}")
        base = {"device_id": device_id, "station_id": target.station_id, "command": command, "open_video": True}
        if missing and command in ("start", "stop", "load", "unload"):
            user = authorize("control.command", target=target_name, detail={"command": command})
            write_audit(self.engine, user.username, user.role, "control.command", target_name, "refused",
                        {"command": command, "confirmed": bool(confirmed), "reasons": [missing]})
            return {**base, "ok": False, "refused": True, "reasons": [missing], "result": None}
        state = bus_state(self.redis, device_id, io.device_id if io else None)
        decision = control_decision(command=command, confirmed=bool(confirmed), occupancy=state.occupancy,
                                    target=target_name, device_kind=target.kind, device_online=state.online,
                                    run_state=state.run_state)
        base["open_video"] = decision.open_video
        if not decision.allowed:
            return {**base, "ok": False, "refused": True, "reasons": list(decision.reasons), "result": None}
        user = _user()
        rooms = self.station_rooms(target.station_id)
        self._announce(rooms, {"phase": "started", **base, "by": user.username if user else ""})
        result = execute(target, io, command, decision.writes, redis_client=self.redis)
        outcome = "ok" if result.ok else ("refused" if result.phase in ("occupancy", "profile") else "failed")
        write_audit(self.engine, user.username if user else "anonymous", user.role if user else "",
                    "control.command", target_name, outcome, {"step": "modbus", **result.to_dict()})
        self._announce(rooms, {"phase": "done", **base, "ok": result.ok, "by": user.username if user else "",
                               "run_state": result.run_state_after})
        return {**base, "ok": result.ok, "refused": outcome == "refused", "reasons": list(result.reasons),
                "result": result.to_dict()}

    def setpoint(self, device_id: str, name: str, value: Any, *, confirmed: bool) -> dict[str, Any]:
        """Write a set-point (a writable holding register of the device's profile, engineering units) — duty officer.

        Guards as :meth:`control`: role (``control.command`` permission; a refusal is audited), confirmed, nobody
        in the station room per ``cc:latest`` and again on the wire, target online; then range check, write and
        read-back through the poller (:func:`datasources.modbus.control.execute_setpoint`). Audited as
        ``control.setpoint`` with the decision and again with the outcome (``step: modbus``, ``before`` / ``after``).

        Returns:
            ``{"ok", "refused", "reasons", "device_id", "station_id", "name", "value", "result": SetpointResult
            dict | None}``.
        Raises:
            Forbidden (role), OpsError 404 (unknown device), 400 (no register name).
        """
        target_name = f"device:{device_id}"
        user = authorize("control.command", target=target_name, detail={"setpoint": name, "value": value})
        if not name:
            raise OpsError("name (the set-point register) is required", 400)
        try:
            target, io = load_target(self.engine, device_id, kinds=None)
        except ControlError as exc:
            raise OpsError(str(exc), 404) from exc
        state = bus_state(self.redis, device_id, io.device_id if io else None)
        decision = decide_setpoint(role=user.role, confirmed=bool(confirmed), occupancy=state.occupancy,
                                   device_online=state.online, run_state=state.run_state)
        base = {"device_id": device_id, "station_id": target.station_id, "name": name, "value": value}
        write_audit(self.engine, user.username, user.role, "control.setpoint", target_name,
                    "ok" if decision.allowed else "refused",
                    {"name": name, "value": value, "confirmed": bool(confirmed), "occupancy": state.occupancy,
                     "reasons": list(decision.reasons)})
        if not decision.allowed:
            return {**base, "ok": False, "refused": True, "reasons": list(decision.reasons), "result": None}
        rooms = self.station_rooms(target.station_id)
        self._announce(rooms, {"phase": "started", **base, "command": "setpoint", "by": user.username})
        result = execute_setpoint(target, io, name, value, redis_client=self.redis)
        outcome = "ok" if result.ok else ("refused" if result.phase in ("check", "occupancy") else "failed")
        write_audit(self.engine, user.username, user.role, "control.setpoint", target_name, outcome,
                    {"step": "modbus", **result.to_dict()})
        self._announce(rooms, {"phase": "done", **base, "command": "setpoint", "ok": result.ok,
                               "by": user.username, "after": result.after})
        return {**base, "ok": result.ok, "refused": outcome == "refused", "reasons": list(result.reasons),
                "result": result.to_dict()}

    def _announce(self, rooms: list[str], payload: dict[str, Any]) -> None:
        sio = getattr(self.ctx, "socketio", None)
        if sio is None:
            return
        try:
            sio.emit("control", {**payload, "ts_ms": now_ms()}, to=rooms, namespace="/")
        except Exception as exc:  # noqa: BLE001 — an announcement never blocks the command
            log.warning("control announcement failed: %s", exc)


def init_ops(ctx, notifier=None) -> OpsService:
    """Create the service and attach it as ``ctx.ops`` (callbacks reach it there)."""
    if notifier is None:
        from datasources.workers.notify import notifier_from_env  # noqa: PLC0415

        notifier = notifier_from_env(ctx.engine)
    ctx.ops = OpsService(ctx, notifier)
    return ctx.ops


__all__ = ["ENGINEERS_CHANNEL", "OpsError", "OpsService", "POSITIONS_HASH", "SHELVE_CHOICES", "Forbidden",
           "as_ops_error", "init_ops", "split_message"]
