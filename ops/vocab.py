"""The one vocabulary of the product: station states, alarm severities and states, the alerting rule, work-order
states, pipe styles and the SLA countdown text — each defined once, here.

Python code imports these names; the browser gets the same definitions as data (:func:`browser_vocab`, embedded in
every page as ``<script id="cc-vocab" type="application/json">``) and the flags computed from them on every payload
(``alerting`` on alarms, ``open`` / ``sla_deadline_ms`` on work orders), so no rule is copied into JavaScript.

Labels are i18n catalog keys (:mod:`i18n.catalog`), never texts: the browser already holds both languages'
catalogs (``window.ccI18n``), so a language switch re-labels without a reload.

Sources: station states and their colours — DESIGN.md "coloured by live state" and the video-wall theme
(``assets/cc_theme.css``); severities I–IV — seed 002 §7.2.5.1; alarm states — DESIGN.md domain words with the
ISA-18.2 split of "cleared" into acknowledged / unacknowledged (:mod:`ops.alarms`); work-order states — DESIGN.md
and seed 001 table 2/3 (:mod:`ops.dispatch`); SLA clocks — seed 003 §2.3.2 (:mod:`ops.sla`).

Pure: imports nothing outside the standard library.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

#: version of the :func:`browser_vocab` shape; bumped when a field changes meaning or disappears
VOCAB_VERSION = 1
#: the catalog's languages (:mod:`i18n`)
LANGS = ("zh", "en")

# ---------------------------------------------------------------------------------------------- station states


@dataclass(frozen=True)
class StationState:
    """One live state of a station on the map.

    Attributes:
        key: state name on the bus (``cc:summary``) and in GeoJSON ``properties.state``.
        colour: CSS colour of the marker / legend / state mix (video-wall theme, ``assets/cc_theme.css``).
        label_key: i18n catalog key of its name. online: the station counts as online (devices answer).
        attention: rank on the wall's station board, 0 = needs attention first.
    """

    key: str
    colour: str
    label_key: str
    online: bool
    attention: int


STATION_STATE_DEFS: dict[str, StationState] = {s.key: s for s in (
    StationState("running", "#22d37a", "state.running", True, 3),
    StationState("idle", "#4f8fd9", "state.idle", True, 2),
    StationState("alarm", "#ff3b4e", "state.alarm", True, 0),
    StationState("offline", "#5b6675", "state.offline", False, 1),
    StationState("not_built", "#f2a93b", "state.not_built", False, 4),
)}
#: state names in order of display precedence (drawn on top / counted first); the bus schema's list
STATION_STATES = ("alarm", "offline", "running", "idle", "not_built")
#: legend, state-mix bar and cluster-ring order
STATION_LEGEND_ORDER = ("running", "idle", "alarm", "offline", "not_built")
#: states whose station counts as online (devices answering)
STATION_ONLINE_STATES = tuple(k for k in STATION_LEGEND_ORDER if STATION_STATE_DEFS[k].online)
#: states an active alarm may turn into ``alarm`` (a station that is not built or not answering keeps its state)
STATION_ALARM_OVERRIDABLE = ("running", "idle")
#: the state of a station whose data is missing, stale or unknown
STATION_FALLBACK_STATE = "offline"
#: states that put a station on the officer's attention list, in list order (alarm first, then offline)
STATION_ATTENTION_STATES = ("alarm", "offline")


def station_colour(state: str) -> str:
    """CSS colour of a station state; the ``offline`` colour for an unknown state."""
    return STATION_STATE_DEFS.get(state, STATION_STATE_DEFS[STATION_FALLBACK_STATE]).colour


# ---------------------------------------------------------------------------------------------- alarm severities


@dataclass(frozen=True)
class Severity:
    """One alarm severity grade (seed 002 §7.2.5.1).

    Attributes:
        level: 1 (I, critical) … 4 (IV, minor); also the sort rank, lower = more severe.
        roman: ``I`` … ``IV``. colour: CSS colour (``assets/cc_alarms.css`` ``--sevN``).
        label_key / short_key: i18n catalog keys of the long and short names.
    """

    level: int
    roman: str
    colour: str
    label_key: str
    short_key: str


SEVERITIES: dict[int, Severity] = {s.level: s for s in (
    Severity(1, "I", "#ff3b4e", "sev.1", "sev.short.1"),
    Severity(2, "II", "#ff8a3d", "sev.2", "sev.short.2"),
    Severity(3, "III", "#f2d13b", "sev.3", "sev.short.3"),
    Severity(4, "IV", "#4f8fd9", "sev.4", "sev.short.4"),
)}
#: severity level → roman numeral
SEVERITY_ROMAN: dict[int, str] = {k: s.roman for k, s in SEVERITIES.items()}
#: severity level → CSS colour
SEVERITY_COLOURS: dict[int, str] = {k: s.colour for k, s in SEVERITIES.items()}

# ---------------------------------------------------------------------------------------------- alarm states

ALARM_ACTIVE = "active"
ALARM_ACKNOWLEDGED = "acknowledged"
ALARM_CLEARED_UNACKNOWLEDGED = "cleared_unacknowledged"
ALARM_CLEARED = "cleared"
ALARM_CLOSED = "closed"
#: alarm record states in lifecycle order (:mod:`ops.alarms`)
ALARM_STATES = (ALARM_ACTIVE, ALARM_ACKNOWLEDGED, ALARM_CLEARED_UNACKNOWLEDGED, ALARM_CLEARED, ALARM_CLOSED)
#: states of an open record (listed, may still need an operator)
ALARM_OPEN_STATES = ALARM_STATES[:-1]
#: display-only pseudo-state of a shelved record (its ``state`` is unchanged)
ALARM_SHELVED = "shelved"

#: the alerting rule's parameters (engineering defaults of the control room; ISA-18.2: shelved alarms are not
#: annunciated). An alarm is *alerting* — its row blinks, the dock badge glows, the wall row blinks — while it is
#: active, not acknowledged, not shelved, not closed and of severity ≤ ``max_severity`` (I or II).
ALERTING_MAX_SEVERITY = 2
#: a ``raised`` event of severity ≤ this (and ``annunciate`` true) flashes the screen and beeps once
ANNUNCIATE_MAX_SEVERITY = 2
#: alerting alarms of this severity repeat the beep every :data:`REPEAT_BEEP_MS` until acknowledged
REPEAT_BEEP_SEVERITY = 1
REPEAT_BEEP_MS = 20_000


def alerting(alarm: Mapping[str, Any]) -> bool:
    """Whether an alarm is alerting now (blinks, glows, counts as alerting; the rule of :data:`ALERTING_MAX_SEVERITY`).

    Args:
        alarm: an alarm dict as on the bus / API (:func:`datasources.sql.alarm_store.alarm_to_dict`): reads
            ``severity`` (1..4), ``active``, ``acknowledged``, ``shelved`` (in force now) and ``state``; missing
            booleans count as false, a missing state as open.
    Returns:
        True exactly when severity ≤ 2 and active and not acknowledged and not shelved and state ≠ ``closed``.
    """
    try:
        sev = int(alarm.get("severity") or 0)
    except (TypeError, ValueError):
        return False
    return (1 <= sev <= ALERTING_MAX_SEVERITY and bool(alarm.get("active")) and not alarm.get("acknowledged")
            and not alarm.get("shelved") and alarm.get("state") != ALARM_CLOSED)


def alarm_open(state: str) -> bool:
    """True for the states of an open alarm record (every state but ``closed``)."""
    return state in ALARM_OPEN_STATES


#: the video wall's emergency-command rule: an alarm of this severity (I), active, not shelved, open (acknowledged
#: or not) switches /wall to the emergency-command layout (seed 001 表7 大屏应急指挥)
EMERGENCY_SEVERITY = 1
#: alarm rule ids (``datasources/alarm_rules.yaml``) whose ``raised`` event opens the camera panel by itself (seed
#: 001 表7: video opens by itself on remote operation and on fire / flood / intrusion alarms)
CAMERA_OPEN_RULES = ("fire_alarm", "flood_alarm", "intrusion_alarm")


def emergency(alarm: Mapping[str, Any]) -> bool:
    """Whether an alarm puts the video wall in emergency-command mode (payload flag ``emergency``).

    Args:
        alarm: an alarm dict as for :func:`alerting` (reads ``severity``, ``active``, ``shelved``, ``state``).
    Returns:
        True exactly when severity = :data:`EMERGENCY_SEVERITY` and active and not shelved and state ≠ ``closed``.
    """
    try:
        sev = int(alarm.get("severity") or 0)
    except (TypeError, ValueError):
        return False
    return (sev == EMERGENCY_SEVERITY and bool(alarm.get("active")) and not alarm.get("shelved")
            and alarm.get("state") != ALARM_CLOSED)


def opens_camera(alarm: Mapping[str, Any]) -> bool:
    """Whether the alarm's ``raised`` event opens the camera panel by itself (payload flag ``opens_camera``):
    its ``rule`` is one of :data:`CAMERA_OPEN_RULES`."""
    return alarm.get("rule") in CAMERA_OPEN_RULES


# ---------------------------------------------------------------------------------------------- work-order states

#: the work-order flow, in order (the step bar of the order dialog and the site panel)
ORDER_FLOW = ("created", "assigned", "accepted", "on_site", "resolved", "closed")
ORDER_CANCELLED = "cancelled"
#: every work-order state
ORDER_STATES = ORDER_FLOW + (ORDER_CANCELLED,)
#: terminal states: the order is finished
ORDER_TERMINAL_STATES = ("closed", ORDER_CANCELLED)
#: an *open* order is not finished: counted on the wall and the site panel, listed by default (``resolved`` waits
#: for its return visit, 回访)
ORDER_OPEN_STATES = tuple(s for s in ORDER_STATES if s not in ORDER_TERMINAL_STATES)
#: a *working* order is before ``resolved``: the engineer's load, may be cancelled, drawn on the map overlay
ORDER_WORKING_STATES = ("created", "assigned", "accepted", "on_site")
#: map-overlay colours of working orders with an assignee; an overdue order is drawn in :data:`ORDER_OVERDUE_COLOUR`
ORDER_COLOURS = {"assigned": "#f2a93b", "accepted": "#2bd3ff", "on_site": "#22d37a"}
ORDER_DEFAULT_COLOUR = "#2bd3ff"
ORDER_OVERDUE_COLOUR = "#ff3b4e"


def order_open(state: str) -> bool:
    """True while a work order is not finished (not ``closed`` / ``cancelled``)."""
    return state in ORDER_OPEN_STATES


def order_working(state: str) -> bool:
    """True while a work order is before ``resolved`` (counts as the assignee's load, may be cancelled)."""
    return state in ORDER_WORKING_STATES


def order_step(state: str) -> int:
    """Index of ``state`` in :data:`ORDER_FLOW`; -1 for ``cancelled`` or an unknown state."""
    return ORDER_FLOW.index(state) if state in ORDER_FLOW else -1


# ---------------------------------------------------------------------------------------------- pipe styles

#: pipe statuses, most urgent first (:mod:`layers.pipelines`)
PIPE_STATUSES = ("low", "high", "ok", "no_data", "no_sensor")
#: Leaflet path options per pipe status (engineering choice: the alarm widest and opaque)
PIPE_STYLES: dict[str, dict[str, Any]] = {
    "no_sensor": {"color": "#6b7a8c", "weight": 2, "opacity": 0.7, "dashArray": "4 4"},
    "no_data": {"color": "#8793a3", "weight": 2.5, "opacity": 0.8, "dashArray": "2 6"},
    "ok": {"color": "#22d37a", "weight": 3, "opacity": 0.9},
    "high": {"color": "#f2a93b", "weight": 4, "opacity": 0.95},
    "low": {"color": "#ff3b4e", "weight": 6, "opacity": 1.0},
}
#: drawing order: the alarm last, on top
PIPE_DRAW_ORDER = ("no_sensor", "no_data", "ok", "high", "low")

# ---------------------------------------------------------------------------------------------- shop grades

#: street-shop inspection grade (A best … D worst, seed 003 rows 85–97) → CSS colour of its marker and legend
#: swatch (:mod:`layers.shops`); ``None`` = not graded yet
SHOP_GRADE_COLOURS: dict[str | None, str] = {"A": "#22d37a", "B": "#4f8fd9", "C": "#f2a93b", "D": "#ff3b4e",
                                             None: "#8793a3"}

# ---------------------------------------------------------------------------------------------- SLA countdown

#: SLA clock names (:data:`ops.sla.CLOCKS`) and their catalog label keys (long: dialogs, cards; wall: the video wall)
SLA_CLOCKS = ("respond", "on_site", "handled")
SLA_LABEL_KEYS = {c: f"sla.{c}" for c in SLA_CLOCKS}
SLA_WALL_LABEL_KEYS = {c: f"wall.sla.{c}" for c in SLA_CLOCKS}
#: countdown text per language: ``{sign}`` is ``negative`` when overdue, else empty; ``{h}`` whole hours
#: (unpadded), ``{mm}`` / ``{ss}`` two-digit minutes / seconds; ``with_hours`` when h > 0, else ``without_hours``.
#: Both languages read the same clock face today; the table is per language so a later wording stays data.
SLA_COUNTDOWN: dict[str, dict[str, str]] = {
    lang: {"with_hours": "{sign}{h}:{mm}:{ss}", "without_hours": "{sign}{mm}:{ss}", "negative": "-"}
    for lang in LANGS
}


def format_countdown(remaining_ms: int | float, lang: str = "zh") -> str:
    """SLA countdown text for ``remaining_ms`` (deadline − now, ms; negative = overdue), per :data:`SLA_COUNTDOWN`.

    Whole seconds, truncated towards zero: ``format_countdown(-5_400_000)`` → ``"-1:30:00"``,
    ``format_countdown(59_999)`` → ``"00:59"``. An unknown language uses ``zh``.
    """
    rule = SLA_COUNTDOWN.get(lang) or SLA_COUNTDOWN["zh"]
    ms = int(remaining_ms)
    s = abs(ms) // 1000
    h, m, sec = s // 3600, s % 3600 // 60, s % 60
    pattern = rule["with_hours"] if h else rule["without_hours"]
    return pattern.format(sign=rule["negative"] if ms < 0 else "", h=h, mm=f"{m:02d}", ss=f"{sec:02d}")


def running_clock(order: Mapping[str, Any]) -> dict[str, Any] | None:
    """The SLA clock of a working order that is still running (the first of ``order["sla"]`` with ``met_ms`` None).

    Args:
        order: a work-order dict with ``state`` and ``sla`` (list of ``{"name", "deadline_ms", "met_ms", …}`` in
            :data:`SLA_CLOCKS` order, :func:`datasources.sql.workorders.order_to_dict`).
    Returns:
        that clock dict, or ``None`` when the order is not working (resolved — every clock stopped —, closed or
        cancelled: a cancelled order's clocks never stop, but nobody is measured on them).
    """
    if not order_working(order.get("state", "")):
        return None
    return next((c for c in order.get("sla") or () if c.get("met_ms") is None), None)


def order_flags(order: Mapping[str, Any]) -> dict[str, Any]:
    """The server-computed flags of a work-order payload.

    Returns:
        ``{"open": bool (:func:`order_open`), "sla_clock": running clock name or None, "sla_deadline_ms": its
        deadline, epoch ms UTC, or None, "sla_label_key": its catalog label key or None}`` — the browser shows
        ``tr(sla_label_key) + countdown(sla_deadline_ms − now)`` and ticks it every second by itself.
    """
    clock = running_clock(order)
    return {"open": order_open(order.get("state", "")),
            "sla_clock": clock["name"] if clock else None,
            "sla_deadline_ms": clock["deadline_ms"] if clock else None,
            "sla_label_key": SLA_LABEL_KEYS.get(clock["name"]) if clock else None}


# ---------------------------------------------------------------------------------------------- the browser's copy


def browser_vocab(lang: str | None = None) -> dict[str, Any]:
    """The vocabulary as JSON-able data for the browser (``cc.vocab``) — the contract with the clientside code.

    Embedded in every page as ``<script id="cc-vocab" type="application/json">`` (:func:`vocab_script_tag`).
    Labels are i18n catalog keys, resolved in the browser with ``tr(key, lang)`` over ``window.ccI18n``, so a
    language switch needs no reload; ``lang`` only sets the ``lang`` field (the page's first language).
    Colours are CSS colour strings; times are epoch milliseconds UTC; keys of JSON objects are strings.

    Shape (version 1; a field is never removed or changes meaning without bumping ``version``)::

        {
          "version": 1,
          "lang": "zh" | "en" | null,                  # the page's language when rendered
          "langs": ["zh", "en"],
          "station_states": {                          # one entry per live station state
            "<state>": {"colour": "#22d37a",           # marker, legend swatch, state-mix bar, cluster ring
                        "label_key": "state.running",
                        "online": true,                # counts as an online station
                        "attention": 3}                # wall station board rank, 0 first
          },
          "station_state_order": ["alarm", "offline", "running", "idle", "not_built"],   # display precedence
          "station_legend_order": ["running", "idle", "alarm", "offline", "not_built"],  # legend / mix / ring
          "station_fallback_state": "offline",         # unknown or missing state draws as this
          "station_attention_states": ["alarm", "offline"],   # officer's attention list, in list order
          "severities": {                              # alarm severity grades, "1" = I (critical) … "4" = IV
            "1": {"level": 1, "roman": "I", "colour": "#ff3b4e", "label_key": "sev.1", "short_key": "sev.short.1"}
          },
          "severity_order": [1, 2, 3, 4],              # most severe first (also the sort rank)
          "alarm_states": {                            # alarm record states, lifecycle order in alarm_state_order
            "<state>": {"label_key": "alarm.state.<state>", "open": bool}
          },
          "alarm_state_order": ["active", "acknowledged", "cleared_unacknowledged", "cleared", "closed"],
          "alarm_shelved_label_key": "alarm.state.shelved",   # display-only pseudo-state while shelved
          "alerting": {                                # the rule is computed on the server: every alarm payload
            "flag": "alerting",                        # carries alarm.alerting (bool) — read it, do not recompute
            "max_severity": 2,                         # (documentation of the rule: active, unacknowledged,
                                                       #  not shelved, not closed, severity ≤ 2)
            "annunciate_events": ["raised"],           # events that flash + beep once, when the message's
            "annunciate_max_severity": 2,              #  "annunciate" is not false and severity ≤ this
            "repeat_beep_severity": 1,                 # alerting alarms of this severity re-beep every
            "repeat_beep_ms": 20000                    #  repeat_beep_ms until acknowledged
          },
          "order_states": {                            # work-order states
            "<state>": {"label_key": "wo.state.<state>", "open": bool, "working": bool,
                        "step": int,                   # index in order_flow, -1 for cancelled
                        "colour": "#f2a93b" | null}    # map-overlay colour (assigned / accepted / on_site)
          },
          "order_flow": ["created", "assigned", "accepted", "on_site", "resolved", "closed"],
          "order_default_colour": "#2bd3ff",           # overlay colour of a working state without its own
          "order_overdue_colour": "#ff3b4e",           # overlay colour of an overdue order
          "pipe_styles": {"<status>": {Leaflet path options: color, weight, opacity[, dashArray]}},
          "pipe_status_order": ["low", "high", "ok", "no_data", "no_sensor"],   # most urgent first
          "pipe_draw_order": ["no_sensor", "no_data", "ok", "high", "low"],     # the alarm drawn last
          "pipe_label_keys": {"<status>": "pipe.status.<status>"},
          "sla": {
            "clocks": ["respond", "on_site", "handled"],
            "label_keys": {"respond": "sla.respond", …},        # dialogs, cards, alarm list
            "wall_label_keys": {"respond": "wall.sla.respond", …},
            "countdown": {"<lang>": {"with_hours": "{sign}{h}:{mm}:{ss}",   # h > 0
                                     "without_hours": "{sign}{mm}:{ss}",
                                     "negative": "-"}},                    # {sign} when overdue, else ""
            "tick_ms": 1000,                           # redraw countdowns every second, no server round trip
            "over_class": "cc-sla-over"                # CSS class while the deadline has passed
          }
        }

    Countdown: ``left = sla_deadline_ms − Date.now()``; ``s = floor(|left| / 1000)``; ``h = floor(s / 3600)``,
    ``mm`` = two-digit ``floor(s % 3600 / 60)``, ``ss`` = two-digit ``s % 60``; pattern ``with_hours`` if ``h``
    else ``without_hours``; ``{sign}`` = ``negative`` when ``left < 0`` (same as :func:`format_countdown`).

    Payload flags computed here and sent by the server: alarm dicts carry ``alerting`` (:func:`alerting`),
    ``emergency`` (:func:`emergency`) and ``opens_camera`` (:func:`opens_camera`); work-order
    dicts carry ``open``, ``sla_clock``, ``sla_deadline_ms``, ``sla_label_key`` (:func:`order_flags`).
    """
    return {
        "version": VOCAB_VERSION,
        "lang": lang if lang in LANGS else None,
        "langs": list(LANGS),
        "station_states": {k: {"colour": s.colour, "label_key": s.label_key, "online": s.online,
                               "attention": s.attention} for k, s in STATION_STATE_DEFS.items()},
        "station_state_order": list(STATION_STATES),
        "station_legend_order": list(STATION_LEGEND_ORDER),
        "station_fallback_state": STATION_FALLBACK_STATE,
        "station_attention_states": list(STATION_ATTENTION_STATES),
        "severities": {str(k): {"level": s.level, "roman": s.roman, "colour": s.colour, "label_key": s.label_key,
                                "short_key": s.short_key} for k, s in SEVERITIES.items()},
        "severity_order": sorted(SEVERITIES),
        "alarm_states": {s: {"label_key": f"alarm.state.{s}", "open": alarm_open(s)} for s in ALARM_STATES},
        "alarm_state_order": list(ALARM_STATES),
        "alarm_shelved_label_key": f"alarm.state.{ALARM_SHELVED}",
        "alerting": {"flag": "alerting", "max_severity": ALERTING_MAX_SEVERITY, "annunciate_events": ["raised"],
                     "annunciate_max_severity": ANNUNCIATE_MAX_SEVERITY,
                     "repeat_beep_severity": REPEAT_BEEP_SEVERITY, "repeat_beep_ms": REPEAT_BEEP_MS},
        "order_states": {s: {"label_key": f"wo.state.{s}", "open": order_open(s), "working": order_working(s),
                             "step": order_step(s), "colour": ORDER_COLOURS.get(s)} for s in ORDER_STATES},
        "order_flow": list(ORDER_FLOW),
        "order_default_colour": ORDER_DEFAULT_COLOUR,
        "order_overdue_colour": ORDER_OVERDUE_COLOUR,
        "pipe_styles": {k: dict(v) for k, v in PIPE_STYLES.items()},
        "pipe_status_order": list(PIPE_STATUSES),
        "pipe_draw_order": list(PIPE_DRAW_ORDER),
        "pipe_label_keys": {k: f"pipe.status.{k}" for k in PIPE_STATUSES},
        "sla": {"clocks": list(SLA_CLOCKS), "label_keys": dict(SLA_LABEL_KEYS),
                "wall_label_keys": dict(SLA_WALL_LABEL_KEYS),
                "countdown": {k: dict(v) for k, v in SLA_COUNTDOWN.items()}, "tick_ms": 1000,
                "over_class": "cc-sla-over"},
    }


def vocab_script_tag(lang: str | None = None) -> str:
    """``<script id="cc-vocab" type="application/json">…</script>`` holding :func:`browser_vocab` (a few kB).

    ``<``, ``>`` and ``&`` are escaped as JSON ``\\u`` escapes so the text cannot close the script element.
    """
    import json

    body = json.dumps(browser_vocab(lang), ensure_ascii=False, separators=(",", ":"))
    body = body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f'<script id="cc-vocab" type="application/json">{body}</script>'


def catalog_keys() -> Iterable[str]:
    """Every i18n catalog key the vocabulary names (for the catalog completeness test)."""
    v = browser_vocab()
    yield from (s["label_key"] for s in v["station_states"].values())
    for s in v["severities"].values():
        yield s["label_key"]
        yield s["short_key"]
    yield from (s["label_key"] for s in v["alarm_states"].values())
    yield v["alarm_shelved_label_key"]
    yield from (s["label_key"] for s in v["order_states"].values())
    yield from v["pipe_label_keys"].values()
    yield from v["sla"]["label_keys"].values()
    yield from v["sla"]["wall_label_keys"].values()


def index_with_vocab(index_string: str, lang: str | None = None) -> str:
    """A Dash ``index_string`` with the :func:`vocab_script_tag` and the colours' ``<style id="cc-vocab-css">``
    (:func:`ops.vocab_css.vocab_style_tag`) placed just before ``{%app_entry%}``.

    Args:
        index_string: a Dash index template (it must hold ``{%app_entry%}``, as Dash requires).
    Returns:
        the template with the tag inserted once (a template that already holds it is returned unchanged).
    Raises:
        ValueError: ``{%app_entry%}`` missing.
    """
    if 'id="cc-vocab"' in index_string:
        return index_string
    if "{%app_entry%}" not in index_string:
        raise ValueError("index_string has no {%app_entry%} placeholder")
    from ops.vocab_css import vocab_style_tag  # the colours as CSS custom properties (imports this module)

    return index_string.replace("{%app_entry%}", vocab_script_tag(lang) + "\n" + vocab_style_tag()
                                + "\n{%app_entry%}", 1)
