"""Outbound notifications: POST JSON to a webhook (WeCom / DingTalk group robot, SMS gateway style).

Never blocks the caller: :meth:`WebhookNotifier.notify` queues the delivery on a small thread pool and returns a
``Future``. Each delivery has a timeout and retries with back-off on connection errors, timeouts, HTTP 429 and
5xx; other 4xx, and a robot answer ``{"errcode": ≠ 0}``, fail at once. Every delivery is logged and, when a
database engine is given, recorded in ``notifications`` (status pending → delivered | failed, attempts, HTTP
status, error) and on the work order's timeline (``notified`` / ``notify_failed``).

Body (``style="wecom"``, accepted by WeCom and DingTalk robots; the ``cc`` object carries the machine-readable
event for other receivers)::

    {"msgtype": "text", "text": {"content": "【工单 #12 已派单】ST00001 … → 张伟"}, "cc": {<cc:workorders message>}}

``style="raw"`` posts the message itself. Configuration (:func:`notifier_from_env`): ``CC_NOTIFY_WEBHOOK_URL``
(unset: no notifications), ``CC_NOTIFY_TIMEOUT_S`` (3), ``CC_NOTIFY_RETRIES`` (2), ``CC_NOTIFY_STYLE`` (wecom).
"""
from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from datasources.sql.alarm_models import Notification, WorkOrderEvent
from datasources.bus.messages import now_ms
from datasources.settings import get_settings

log = logging.getLogger(__name__)

RETRY_STATUSES = (429, 500, 502, 503, 504)


class DeliveryResult(dict):
    """Outcome of one delivery: ``{"ok": bool, "attempts": int, "http_status": int | None, "error": str,
    "notification_id": int | None}``."""


def order_text(message: dict[str, Any]) -> str:
    """Short Chinese text of a ``cc:workorders`` message for a chat robot / SMS."""
    order = message.get("order", {})
    labels = {"created": "新工单", "assigned": "已派单", "grabbed": "已抢单", "accepted": "已接单", "on_site": "已到场",
              "resolved": "已处理", "closed": "已关闭", "cancelled": "已取消", "escalated": "超时升级"}
    ev = message.get("event", "")
    parts = [f"【工单 #{order.get('id')} {labels.get(ev, ev)}】", f"{order.get('station_id', '')}"]
    if order.get("title"):
        parts.append(str(order["title"]))
    if order.get("severity_roman"):
        parts.append(f"{order['severity_roman']}级")
    if order.get("assignee_name"):
        parts.append(f"→ {order['assignee_name']}")
    if ev == "escalated":
        parts.append("超时: " + ", ".join(message.get("clocks", [])))
    return " ".join(parts)


class WebhookNotifier:
    """Posts JSON to ``url`` in the background.

    Args:
        url: http(s) URL of the webhook.
        db: optional SQLAlchemy engine to record deliveries (tables ``notifications``, ``work_order_events``).
        timeout_s: per attempt. retries: extra attempts after the first. backoff_s: first back-off, doubled.
        style: ``wecom`` (robot text + ``cc`` object) or ``raw``. headers: extra HTTP headers.
    Raises:
        ValueError: URL not http(s), or a bad style.
    """

    def __init__(self, url: str, *, db: Engine | None = None, timeout_s: float = 3.0, retries: int = 2,
                 backoff_s: float = 0.5, style: str = "wecom", headers: dict[str, str] | None = None,
                 max_workers: int = 2):
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"webhook URL must be http(s), got {url!r}")
        if style not in ("wecom", "raw"):
            raise ValueError(f"style must be wecom or raw, got {style!r}")
        self.url, self.db, self.timeout_s, self.retries, self.backoff_s = url, db, timeout_s, retries, backoff_s
        self.style, self.headers = style, dict(headers or {})
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="notify")
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()

    def body(self, message: dict[str, Any]) -> dict[str, Any]:
        """The JSON body posted for a message (see module docstring)."""
        if self.style == "raw":
            return message
        return {"msgtype": "text", "text": {"content": order_text(message)}, "cc": message}

    def notify(self, message: dict[str, Any], *, order_id: int | None = None) -> Future:
        """Queue a delivery; returns at once. The future resolves to a :class:`DeliveryResult` (never raises)."""
        fut = self._pool.submit(self._deliver, message, order_id)
        with self._lock:
            self._pending.add(fut)
        fut.add_done_callback(self._discard)
        return fut

    def _discard(self, fut: Future) -> None:
        with self._lock:
            self._pending.discard(fut)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until queued deliveries finished (or ``timeout`` s). True when none is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return True
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            pending[0].exception(timeout=remaining)  # waits for completion; results never raise

    def close(self, timeout: float = 10.0) -> None:
        """Flush (bounded) and stop the worker threads."""
        self.flush(timeout)
        self._closed.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------ worker side

    def _record_start(self, message: dict, order_id: int | None, body: bytes) -> int | None:
        if self.db is None:
            return None
        try:
            with Session(self.db) as s, s.begin():
                row = Notification(ts_ms=now_ms(), channel="webhook", target=self.url[:512], order_id=order_id,
                                   event=str(message.get("event", ""))[:32], status="pending", attempts=0,
                                   payload=body.decode("utf-8", "replace"), error="")
                s.add(row)
                s.flush()
                return row.id
        except Exception as exc:  # noqa: BLE001 — recording must not stop the delivery
            log.warning("could not record notification: %s", exc)
            return None

    def _record_end(self, nid: int | None, order_id: int | None, message: dict, res: DeliveryResult) -> None:
        if self.db is None:
            return
        try:
            with Session(self.db) as s, s.begin():
                if nid is not None:
                    row = s.get(Notification, nid)
                    if row is not None:
                        row.status = "delivered" if res["ok"] else "failed"
                        row.attempts, row.http_status, row.error = res["attempts"], res["http_status"], res["error"]
                        row.delivered_ts_ms = now_ms() if res["ok"] else None
                if order_id is not None:
                    s.add(WorkOrderEvent(order_id=order_id, ts_ms=now_ms(),
                                         event="notified" if res["ok"] else "notify_failed", actor="notify",
                                         state_after=str(message.get("order", {}).get("state", "")),
                                         detail=json.dumps({"event": message.get("event"), "target": self.url,
                                                            "attempts": res["attempts"], "error": res["error"]},
                                                           ensure_ascii=False)))
        except Exception as exc:  # noqa: BLE001
            log.warning("could not record notification result: %s", exc)

    def _deliver(self, message: dict[str, Any], order_id: int | None) -> DeliveryResult:
        data = json.dumps(self.body(message), ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        nid = self._record_start(message, order_id, data)
        res = DeliveryResult(ok=False, attempts=0, http_status=None, error="", notification_id=nid)
        delay = self.backoff_s
        for attempt in range(1 + max(0, self.retries)):
            res["attempts"] = attempt + 1
            retry = False
            try:
                req = urllib.request.Request(self.url, data=data, method="POST",
                                             headers={"Content-Type": "application/json; charset=utf-8",
                                                      **self.headers})
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 — configured URL
                    res["http_status"] = resp.status
                    answer = resp.read(65536)
                try:
                    obj = json.loads(answer) if answer else None
                except ValueError:
                    obj = None
                if isinstance(obj, dict) and obj.get("errcode") not in (None, 0):
                    res["error"] = f"errcode {obj.get('errcode')}: {obj.get('errmsg', '')}"
                else:
                    res["ok"], res["error"] = True, ""
            except urllib.error.HTTPError as exc:
                res["http_status"], res["error"] = exc.code, f"HTTP {exc.code}"
                retry = exc.code in RETRY_STATUSES
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                res["error"] = f"{exc.__class__.__name__}: {getattr(exc, 'reason', exc)}"
                retry = True
            if res["ok"] or not retry or attempt == self.retries or self._closed.is_set():
                break
            self._closed.wait(delay)
            delay *= 2
        if res["ok"]:
            log.info("webhook %s delivered (%s, attempt %d)", message.get("event"), self.url, res["attempts"])
        else:
            log.warning("webhook %s to %s failed after %d attempt(s): %s", message.get("event"), self.url,
                        res["attempts"], res["error"])
        self._record_end(nid, order_id, message, res)
        return res


def notifier_from_env(db: Engine | None = None) -> WebhookNotifier | None:
    """A :class:`WebhookNotifier` from ``CC_NOTIFY_WEBHOOK_URL`` / ``CC_NOTIFY_TIMEOUT_S`` / ``CC_NOTIFY_RETRIES``
    / ``CC_NOTIFY_STYLE``, or ``None`` when no URL is configured.

    Raises:
        datasources.settings.SettingsError: a variable does not parse (the message names it).
    """
    s = get_settings()
    url = (s.notify_webhook_url or "").strip()
    if not url:
        return None
    return WebhookNotifier(url, db=db, timeout_s=s.notify_timeout_s, retries=s.notify_retries, style=s.notify_style)
