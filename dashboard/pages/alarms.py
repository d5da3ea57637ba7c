"""Operations parts of the officer page: user chip and alarm mute in the header, the alarm dock under the map (live
alarms · work orders · 报警统计), the dialogs (alarm handling, dispatch, work order, remote-control confirmation),
the camera panel, the site panel's operations section and the map overlay of engineers.

:mod:`dashboard.pages.layout` places these pieces; :mod:`callbacks.alarms`, :mod:`callbacks.dispatch` and
:mod:`callbacks.control` (server) and ``assets/cc_alarms.js`` (clientside, namespace ``ccOps``) fill them.
What a role may do is decided on the server; the page only hides buttons a role cannot use (``me`` store).
"""
from __future__ import annotations

import itertools
from typing import Any

import dash_leaflet as dl
from dash import dcc, html
from flask_login import current_user

from dashboard.web.operations import SHELVE_CHOICES
from i18n import t

#: Socket.IO events the officer page listens to, besides the live spine's (see :mod:`dashboard.live.ops_bridge`)
OPS_SOCKET_EVENTS = ["alarm", "workorder", "engineer_pos", "control", "ops_resync"]


class Texts:
    """Factory of translatable spans (ids ``{"type": "i18n", "key", "n"}``); :mod:`dashboard.pages.layout` passes its own
    (``layout._Texts``) so ids stay unique in the page."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._n = itertools.count(50_000)

    def __call__(self, key: str, tag=html.Span, **kwargs) -> Any:
        return tag(t(key, self.lang), id={"type": "i18n", "key": key, "n": next(self._n)}, **kwargs)


def me() -> dict[str, Any] | None:
    """The logged-in user as a dict (``None`` outside a request or when nobody is logged in)."""
    try:
        u = current_user._get_current_object()  # noqa: SLF001
    except (RuntimeError, AttributeError):
        return None
    return u.to_dict() if getattr(u, "is_authenticated", False) else None


# ---------------------------------------------------------------- header
#: the header's links to the other pages: (catalog key, href, roles that may open the page — the page itself checks
#: again). Weekly snapshots: dashboard.pages.snapshot.READ_ROLES; registry: dashboard.web.api_registry.READ_ROLES; the rest
#: follow dashboard.auth.core.PERMISSIONS (roster.view, user.manage). At most four per role: the header has room for four.
NAV_LINKS = (
    ("nav.wall", "/wall", frozenset({"leader", "duty_officer"})),
    ("nav.snapshots", "/snapshots", frozenset({"leader", "duty_officer", "admin"})),
    ("nav.roster", "/admin/roster", frozenset({"leader", "duty_officer"})),
    ("nav.devices", "/admin/devices", frozenset({"duty_officer", "admin"})),
    # users, roster logins and the audit log: one entry, the admin pages link to each other
    ("nav.admin", "/admin/users", frozenset({"admin"})),
)


def nav_links(T, role: str) -> html.Nav:
    """The links of :data:`NAV_LINKS` the role may follow (opened in a new tab: the map keeps running)."""
    return html.Nav(id="cc-nav", className="cc-nav", children=[
        html.A(T(key), href=href, target="_blank", rel="noopener", className="cc-nav-link",
               id=f"nav-{href.strip('/').replace('/', '-')}")
        for key, href, roles in NAV_LINKS if role in roles])


def header_tools(T) -> list:
    """Links to the other pages (by role), mute toggle and the user chip with sign-out (the header's right group)."""
    user = me() or {}
    role = user.get("role", "")
    return [
        nav_links(T, role),
        html.Button(id="alarm-mute", className="cc-mute", n_clicks=0, title=t("ops.mute_title", T.lang),
                    children=[html.Span(className="cc-mute-icon"),
                              html.Span(t("ops.sound_on", T.lang), id="alarm-mute-text")]),
        html.Div(id="cc-user", className=f"cc-user cc-role-{role or 'none'}", children=[
            html.Span(className="cc-user-avatar", children=(user.get("display_name") or "?")[:1]),
            html.Div(className="cc-user-text", children=[
                html.Div(user.get("display_name") or user.get("username") or "—", className="cc-user-name"),
                T(f"role.{role}" if role else "role.none", tag=html.Div, className="cc-user-role"),
            ]),
            html.Button(T("ops.logout"), id="cc-logout", className="cc-logout", n_clicks=0,
                        title=t("ops.logout_title", T.lang)),
        ]),
    ]


# ---------------------------------------------------------------- alarm dock under the map
def _sev_chip(n: int) -> html.Span:
    return html.Span(className=f"cc-sevchip cc-sev{n}", children=[
        html.B(["I", "II", "III", "IV"][n - 1]), html.Span("0", id=f"alarm-sev-{n}", className="cc-sevchip-n")])


def alarm_dock(T) -> html.Section:
    """Tabs: live alarms (scoped to the map's view), work orders with SLA clocks, alarm statistics."""
    col = lambda key, cls: T(key, className=cls)  # noqa: E731
    return html.Section(id="ops-dock", className="cc-dock cc-card", children=[
        html.Div(className="cc-dock-head", children=[
            html.Div(className="cc-dock-tabs", children=[
                html.Button(id="dock-tab-alarms", className="cc-dock-tab cc-dock-tab-on", n_clicks=0, children=[
                    T("ops.tab_alarms"), html.Span("0", id="dock-n-alarms", className="cc-dock-badge")]),
                html.Button(id="dock-tab-orders", className="cc-dock-tab", n_clicks=0, children=[
                    T("ops.tab_orders"), html.Span("0", id="dock-n-orders", className="cc-dock-badge")]),
                html.Button(id="dock-tab-stats", className="cc-dock-tab", n_clicks=0, children=[
                    T("ops.tab_stats")]),
            ]),
            html.Div(className="cc-dock-summary", children=[
                T("ops.active", className="cc-dock-sumlabel"), *[_sev_chip(n) for n in (1, 2, 3, 4)],
                html.Span(className="cc-dock-unack", children=[
                    T("ops.unacked"), html.B("0", id="alarm-unacked")]),
            ]),
            html.Div(className="cc-dock-filter", children=[
                dcc.Checklist(id="alarm-filter", className="cc-filter", inputClassName="cc-filter-in",
                              labelClassName="cc-filter-label", value=["1", "2", "3", "4"], inline=True,
                              options=[{"label": ["I", "II", "III", "IV"][n - 1], "value": str(n)}
                                       for n in (1, 2, 3, 4)]),
                dcc.Checklist(id="alarm-filter-unack", className="cc-filter", inputClassName="cc-filter-in",
                              labelClassName="cc-filter-label", value=[], inline=True,
                              options=[{"label": T("ops.only_unacked"), "value": "unack"}]),
            ]),
        ]),
        html.Div(id="dock-body-alarms", className="cc-dock-body", children=[
            html.Div(className="cc-al-row cc-al-headrow", children=[
                col("ops.col_sev", "cc-al-c-sev"), col("ops.col_time", "cc-al-c-time"),
                col("ops.col_age", "cc-al-c-age"), col("ops.col_alarm", "cc-al-c-main"),
                col("ops.col_value", "cc-al-c-val"), col("ops.col_state", "cc-al-c-state"),
                col("ops.col_order", "cc-al-c-order"), col("ops.col_actions", "cc-al-c-act")]),
            # rows drawn by ccOps.alarmsApply (assets/cc_alarms.js); clicks on them set "al-pick"
            html.Div(id="alarm-list", className="cc-al-list"), dcc.Store(id="al-pick"),
        ]),
        html.Div(id="dock-body-orders", className="cc-dock-body cc-dock-hidden", children=[
            html.Div(className="cc-wo-row cc-wo-headrow", children=[
                col("ops.col_order_id", "cc-wo-c-id"), col("ops.col_sev", "cc-wo-c-sev"),
                col("ops.col_title", "cc-wo-c-title"), col("ops.col_engineer", "cc-wo-c-eng"),
                col("ops.col_state", "cc-wo-c-state"), col("ops.col_sla", "cc-wo-c-sla"),
                col("ops.col_created", "cc-wo-c-time")]),
            html.Div(id="order-list", className="cc-wo-list", children=[
                T("ops.no_orders", tag=html.Div, className="cc-empty")]),
        ]),
        html.Div(id="dock-body-stats", className="cc-dock-body cc-dock-hidden", children=[
            html.Div(className="cc-stats-bar", children=[
                dcc.RadioItems(id="stats-period", className="cc-seg", inputClassName="cc-seg-in",
                               labelClassName="cc-seg-label", value="24h", inline=True,
                               options=[{"label": p, "value": p} for p in ("24h", "7d", "30d")]),
                html.Span(id="stats-total", className="cc-stats-total"),
            ]),
            html.Div(id="stats-body", className="cc-stats"),
        ]),
    ])


# ---------------------------------------------------------------- dialogs
def _dur(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds < 3600 else f"{seconds // 3600} h"


def _dialog(dialog_id: str, title_key: str, T, body: list, footer: list, cls: str = "") -> html.Div:
    return html.Div(id=dialog_id, className=f"cc-modal cc-modal-hidden {cls}", children=[
        html.Div(className="cc-modal-box", children=[
            html.Div(className="cc-modal-head", children=[
                T(title_key, tag=html.H2, className="cc-modal-title"),
                html.Button("✕", id=f"{dialog_id}-x", className="cc-modal-x", n_clicks=0,
                            title=t("panel.close", T.lang)),
            ]),
            html.Div(className="cc-modal-body", children=body),
            html.Div(className="cc-modal-foot", children=footer),
        ]),
    ])


def dialogs(T) -> list:
    """The four dialogs (hidden until their store names something)."""
    alarm = _dialog("alarm-dialog", "ops.alarm_dialog", T, body=[
        html.Div(id="alarm-dialog-body", className="cc-ad-body"),
        html.Div(className="cc-ad-form", children=[
            T("ops.comment", tag=html.Label, htmlFor="alarm-comment", className="cc-form-label"),
            dcc.Textarea(id="alarm-comment", className="cc-textarea", value="",
                         placeholder=t("ops.comment_ph", T.lang), maxLength=500),
            html.Div(className="cc-ad-shelve", children=[
                T("ops.shelve_for", className="cc-form-label"),
                dcc.RadioItems(id="alarm-shelve-dur", className="cc-seg", inputClassName="cc-seg-in",
                               labelClassName="cc-seg-label", value=SHELVE_CHOICES[1], inline=True,
                               options=[{"label": _dur(s), "value": s} for s in SHELVE_CHOICES]),
            ]),
        ]),
        html.Div(id="alarm-dialog-msg", className="cc-msg"),
    ], footer=[
        html.Button(T("ops.do_ack"), id="alarm-do-ack", className="cc-btn cc-btn-primary", n_clicks=0),
        html.Button(T("ops.do_shelve"), id="alarm-do-shelve", className="cc-btn", n_clicks=0),
        html.Button(T("ops.do_unshelve"), id="alarm-do-unshelve", className="cc-btn", n_clicks=0),
        html.Button(T("ops.do_close"), id="alarm-do-close", className="cc-btn", n_clicks=0),
        html.Span(className="cc-flex"),
        html.Button(T("ops.do_dispatch"), id="alarm-do-dispatch", className="cc-btn cc-btn-dispatch",
                    n_clicks=0),
    ])
    dispatch = _dialog("dispatch-dialog", "ops.dispatch_dialog", T, cls="cc-modal-wide", body=[
        html.Div(id="dispatch-body", className="cc-dp-body"),
        dcc.RadioItems(id="dispatch-engineer", className="cc-dp-cands", inputClassName="cc-dp-radio",
                       labelClassName="cc-dp-cand", options=[], value=None),
        html.Div(id="dispatch-msg", className="cc-msg"),
    ], footer=[
        T("ops.dispatch_hint", className="cc-foot-hint"),
        html.Span(className="cc-flex"),
        html.Button(T("ops.cancel"), id="dispatch-cancel", className="cc-btn", n_clicks=0),
        html.Button(T("ops.dispatch_confirm"), id="dispatch-confirm", className="cc-btn cc-btn-dispatch",
                    n_clicks=0),
    ])
    order = _dialog("order-dialog", "ops.order_dialog", T, cls="cc-modal-wide", body=[
        html.Div(id="order-body", className="cc-od-body"),
        html.Div(id="order-close-form", className="cc-od-form cc-hidden-block", children=[
            T("ops.return_visit", tag=html.Label, htmlFor="order-visit", className="cc-form-label"),
            dcc.Textarea(id="order-visit", className="cc-textarea", value="",
                         placeholder=t("ops.return_visit_ph", T.lang), maxLength=500),
            html.Div(className="cc-od-rating", children=[
                T("ops.rating", className="cc-form-label"),
                dcc.RadioItems(id="order-rating", className="cc-stars", inputClassName="cc-star-in",
                               labelClassName="cc-star", value=5, inline=True,
                               options=[{"label": "★" * n, "value": n} for n in (1, 2, 3, 4, 5)]),
            ]),
        ]),
        html.Div(id="order-cancel-form", className="cc-od-form cc-hidden-block", children=[
            T("ops.cancel_reason", tag=html.Label, htmlFor="order-cancel-reason", className="cc-form-label"),
            dcc.Input(id="order-cancel-reason", className="cc-input", value="", maxLength=200,
                      placeholder=t("ops.cancel_reason_ph", T.lang)),
        ]),
        html.Div(id="order-msg", className="cc-msg"),
    ], footer=[
        html.Button(T("ops.do_cancel_order"), id="order-do-cancel", className="cc-btn cc-btn-danger",
                    n_clicks=0),
        html.Span(className="cc-flex"),
        html.Button(T("ops.do_close_order"), id="order-do-close", className="cc-btn cc-btn-primary",
                    n_clicks=0),
    ])
    control = _dialog("ctl-dialog", "ops.ctl_dialog", T, cls="cc-modal-ctl", body=[
        html.Div(id="ctl-text", className="cc-ctl-text"),
        html.Div(className="cc-ctl-warn", children=[html.Span("⚠", className="cc-ctl-warn-icon"),
                                                    T("ops.ctl_warning")]),
        html.Div(id="ctl-msg", className="cc-msg"),
    ], footer=[
        html.Span(className="cc-flex"),
        html.Button(T("ops.cancel"), id="ctl-cancel", className="cc-btn", n_clicks=0),
        html.Button(T("ops.ctl_confirm"), id="ctl-confirm", className="cc-btn cc-btn-danger", n_clicks=0),
    ])
    return [alarm, dispatch, order, control]


def camera_panel(T) -> html.Div:
    """Floating video window (opens by itself on fire / flood / intrusion alarms and remote operations)."""
    return html.Div(id="cam-panel", className="cc-cam cc-cam-hidden", children=[
        html.Div(className="cc-cam-head", children=[
            html.Span(className="cc-cam-rec"),
            html.Div(id="cam-title", className="cc-cam-title"),
            html.Span(id="cam-reason", className="cc-cam-reason"),
            html.Button("✕", id="cam-close", className="cc-cam-x", n_clicks=0, title=t("panel.close", T.lang)),
        ]),
        html.Div(id="cam-body", className="cc-cam-body"),
    ])


def site_ops(T) -> html.Div:
    """The site panel's operations section: dispatch / video buttons, the station's open alarms, remote control of
    its compressors (rows rendered per station by :mod:`callbacks.control`)."""
    return html.Div(id="site-ops", className="cc-site-ops", children=[
        html.Div(className="cc-site-ops-bar", children=[
            html.Button(T("ops.do_dispatch"), id="site-dispatch", className="cc-btn cc-btn-dispatch cc-btn-sm",
                        n_clicks=0),
            html.Button(T("ops.video"), id="site-video", className="cc-btn cc-btn-sm", n_clicks=0),
            html.Span(id="site-ops-count", className="cc-site-ops-count"),
        ]),
        html.Div(id="site-ops-alarms", className="cc-site-ops-alarms"),
        html.Div(className="cc-ctl-head", children=[
            T("ops.remote_control", tag=html.H3),
            html.Span(id="site-occupancy", className="cc-occ cc-occ-unknown", children=T("ops.occ_unknown")),
        ]),
        html.Div(id="site-ctl-rows", className="cc-ctl-rows"),
    ])


def map_overlay() -> dl.LayerGroup:
    """Engineers on their way / on site, with a line to the station (filled by :mod:`callbacks.dispatch`)."""
    return dl.LayerGroup(id="ops-overlay", children=[])


def stores() -> list:
    """Client state of the operations UI."""
    return [
        dcc.Store(id="me", data=me()),
        dcc.Store(id="alarm-snapshot"),
        dcc.Store(id="alarm-open"),
        # live events that concern the open alarm / order / station (ccOps.*Refresh gates)
        dcc.Store(id="alarm-refresh"), dcc.Store(id="order-refresh"), dcc.Store(id="station-refresh"),
        dcc.Store(id="dispatch-req"),
        dcc.Store(id="order-open"),
        dcc.Store(id="orders-brief"),
        dcc.Store(id="ctl-pending"),
        dcc.Store(id="cam-open"),
        dcc.Store(id="dock-tab", data="alarms"),
        dcc.Store(id="alarm-muted", storage_type="local", data=False),
        dcc.Store(id="ops-refresh", data=0),
        dcc.Interval(id="stats-tick", interval=60_000, disabled=True),
    ]


def overlays(T) -> list:
    """Everything placed at the page root: stores, dialogs, camera panel, the full-screen alarm flash."""
    return [*stores(), *dialogs(T), camera_panel(T), html.Div(id="alarm-flash", className="cc-flash")]


__all__ = ["OPS_SOCKET_EVENTS", "alarm_dock", "camera_panel", "dialogs", "header_tools", "map_overlay", "me",
           "overlays", "site_ops", "stores"]
