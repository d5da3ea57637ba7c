"""The leaders' weekly snapshot (周报): HTML (Jinja2) and A4 PDF (WeasyPrint, Noto Sans CJK SC), the
``/snapshots`` blueprint and the Monday scheduler.

Files: ``<data_dir>/snapshots/<week>.html`` and ``<week>.pdf`` (``week`` = ``2026-W47``; English reports get
``<week>.en.html|pdf``). Figures come from :func:`datasources.sql.snapshot_queries.snapshot_data`; images (daily
trend, station map) are matplotlib PNGs embedded as ``data:`` URIs so one HTML file is self-contained.

Access: leaders, admins and duty officers read (:data:`READ_ROLES`); every read is audited
(action ``snapshot.read``), refusals too (``refused``).

CLI (until ``python -m dashboard snapshot`` is wired): ``python -m dashboard.pages.snapshot --week 2026-W47
[--lang en] [--out DIR]``.
"""
from __future__ import annotations

import argparse
import base64
import io
import logging
import os
import re
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request, send_file
from jinja2 import Environment, select_autoescape

from i18n import normalize_lang, t
from ops.energy import CST
from ops.weekly import last_complete_week, parse_week, snapshot_due

log = logging.getLogger(__name__)

#: roles that may read snapshots (the issue: "for leaders"; admins and duty officers too)
READ_ROLES = frozenset({"leader", "admin", "duty_officer"})
#: product colours (dashboard chrome: navy #0b1622 / #12243a; lifecycle colours of the map layers)
NAVY, PANEL, ACCENT, GOOD, BAD = "#0b1622", "#12243a", "#1f78c8", "#1a9e5a", "#d64545"
LIFECYCLE_COLOURS = {"built": "#1f78c8", "under_construction": "#f0a020", "idle": "#8a96a3", "maintenance": "#d64545"}
CHECK_EVERY_S = 60.0
#: how long the Redis lock of one week's snapshot is held at most (a PDF takes seconds; a dead holder's lock expires)
LOCK_TIMEOUT_S = 600
_WEEK_FILE = re.compile(r"^(\d{4}-W\d{2})(\.en)?\.(html|pdf)$")


# ------------------------------------------------------------------------------------------------ formatting

def _num(v: Any, digits: int = 0) -> str:
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def _fmt_kpi(key: str, v: Any) -> str:
    if key.endswith("_pct"):
        return "—" if v is None else f"{v:.1f}%"
    if key == "ratio_m3_per_kwh":
        return _num(v, 2)
    return _num(v, 0)


def _fmt_change(key: str, d: dict) -> tuple[str, str]:
    """(text, css class) of a week-on-week change; pct KPIs change in percentage points."""
    ch = d.get("change")
    if ch is None:
        return "—", "flat"
    cls = "up" if ch > 0 else "down" if ch < 0 else "flat"
    sign = "+" if ch > 0 else ""
    if key.endswith("_pct"):
        return f"{sign}{ch:.1f} pp", cls
    pct = d.get("change_pct")
    body = f"{sign}{_num(ch, 2 if key == 'ratio_m3_per_kwh' else 0)}"
    return (f"{body} ({sign}{pct:.1f}%)" if pct is not None else body), cls


# ------------------------------------------------------------------------------------------------ images

def _png_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _mpl():
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    plt.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "Noto Sans CJK JP", "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    return plt


def trend_png(data: dict, lang: str) -> str:
    """Daily ratio of the week and of the previous week (line chart) as a PNG data URI."""
    plt = _mpl()
    pts = data["trend"]
    days = ["周一 周二 周三 周四 周五 周六 周日".split(), "Mon Tue Wed Thu Fri Sat Sun".split()][lang == "en"]
    fig, ax = plt.subplots(figsize=(7.2, 2.6))
    x = list(range(len(pts)))
    ax.plot(x, [p["prev_ratio"] for p in pts], color="#8a96a3", lw=1.8, ls="--", marker="o", ms=3,
            label=t("snap.trend.prev", lang))
    ax.plot(x, [p["ratio"] for p in pts], color=ACCENT, lw=2.4, marker="o", ms=4, label=t("snap.trend.this", lang))
    ax.set_xticks(x, [f"{days[i % 7]}\n{p['day'][5:]}" for i, p in enumerate(pts)], fontsize=8)
    ax.set_ylabel("m³/kWh", fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.grid(axis="y", color="#e3e8ee")
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, 1.16), ncol=2)
    return _png_uri(fig)


def map_png(data: dict, lang: str) -> str:
    """Province boundaries (geo.regions, WGS-84) with stations coloured by lifecycle, as a PNG data URI."""
    plt = _mpl()
    fig, ax = plt.subplots(figsize=(7.2, 5.4))
    try:
        from geo.regions import get_region_index  # noqa: PLC0415
        idx = get_region_index()
        for r in idx.provinces():
            g = idx.geometry(r.adcode)
            for poly in getattr(g, "geoms", [g]):
                xs, ys = poly.exterior.xy
                ax.fill(xs, ys, facecolor="#eef2f6", edgecolor="#9aa8b6", lw=0.4)
    except Exception as exc:  # noqa: BLE001 — a report without boundaries is better than none
        log.warning("snapshot map without boundaries: %s", exc)
    pts = data["stations"]["points"]
    for lc, colour in LIFECYCLE_COLOURS.items():
        sel = [p for p in pts if p["lifecycle"] == lc]
        if sel:
            ax.scatter([p["lon"] for p in sel], [p["lat"] for p in sel], s=14, color=colour, edgecolor="white",
                       lw=0.4, zorder=3, label=f"{t('lifecycle.' + lc, lang)} ({len(sel)})")
    ax.set_xlim(73, 136)
    ax.set_ylim(17, 54)
    ax.set_aspect(1.2)
    ax.axis("off")
    ax.legend(frameon=False, fontsize=8, loc="lower left")
    return _png_uri(fig)


# ------------------------------------------------------------------------------------------------ HTML / PDF

_TEMPLATE = (Path(__file__).resolve().parents[1] / "templates" / "snapshot.html.j2")


def _env() -> Environment:
    return Environment(autoescape=select_autoescape(default=True, default_for_string=True))


def render_html(data: dict, lang: str = "zh", generated: datetime | None = None) -> str:
    """The snapshot as one self-contained HTML page (A4 print CSS, images as data URIs).

    Args:
        data: :func:`datasources.sql.snapshot_queries.snapshot_data`. lang: ``zh`` (default) or ``en``.
    """
    from datasources.sql.snapshot_queries import KPI_KEYS  # noqa: PLC0415
    lang = normalize_lang(lang)
    generated = generated or datetime.now(CST)
    tiles = []
    for k in KPI_KEYS:
        d = data["deltas"][k]
        text, cls = _fmt_change(k, d)
        if k in ("alarms_raised", "alarms_sev1", "energy_kwh"):   # fewer is better
            cls = {"up": "down", "down": "up"}.get(cls, cls)
        tiles.append({"key": k, "label": t(f"snap.kpi.{k}", lang), "value": _fmt_kpi(k, d["current"]),
                      "prev": _fmt_kpi(k, d["previous"]), "change": text, "cls": cls,
                      "unit": {"air_m3": "m³", "energy_kwh": "kWh", "ratio_m3_per_kwh": "m³/kWh"}.get(k, "")})
    start = datetime.fromisoformat(data["start"])
    end = datetime.fromisoformat(data["end"])
    from datetime import timedelta  # noqa: PLC0415
    tpl = _env().from_string(_TEMPLATE.read_text(encoding="utf-8"))
    return tpl.render(d=data, lang=lang, t=lambda key, **kw: t(key, lang, **kw), tiles=tiles, num=_num,
                      pct=lambda v: "—" if v is None else f"{v:.1f}%",
                      subtitle=t("snap.subtitle", lang, week=data["week"], start=start.date().isoformat(),
                                 end=(end - timedelta(days=1)).date().isoformat()),
                      generated=generated.astimezone(CST).strftime("%Y-%m-%d %H:%M"),
                      trend_img=trend_png(data, lang), map_img=map_png(data, lang), colours=LIFECYCLE_COLOURS)


def write_pdf(html: str, path: Path) -> Path:
    """Render ``html`` to an A4 PDF at ``path`` with WeasyPrint (fonts: Noto Sans CJK SC)."""
    from weasyprint import HTML  # noqa: PLC0415
    HTML(string=html).write_pdf(str(path))
    return path


def snapshots_dir(data_dir: str | Path) -> Path:
    """``<data_dir>/snapshots`` (created)."""
    p = Path(data_dir) / "snapshots"
    p.mkdir(parents=True, exist_ok=True)
    return p


def _stem(week: str, lang: str) -> str:
    return week if normalize_lang(lang) == "zh" else f"{week}.en"


def write_snapshot(engine, data_dir: str | Path, week: str, *, lang: str = "zh", out_dir: str | Path | None = None,
                   now_ms: int | None = None) -> dict[str, Any]:
    """Query, render and store the snapshot of ``week``. Files are written to a temporary name and renamed, so a
    reader never sees half a report.

    Returns:
        ``{"week", "html": Path, "pdf": Path, "data": snapshot_data}``.
    Raises:
        ValueError: malformed week.
    """
    from datasources.sql.snapshot_queries import snapshot_data  # noqa: PLC0415
    parse_week(week)
    data = snapshot_data(engine, week, now_ms=now_ms)
    html = render_html(data, lang)
    folder = Path(out_dir) if out_dir else snapshots_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    stem = _stem(data["week"], lang)
    html_path, pdf_path = folder / f"{stem}.html", folder / f"{stem}.pdf"
    tmp_h, tmp_p = folder / f".{stem}.{os.getpid()}.html.tmp", folder / f".{stem}.{os.getpid()}.pdf.tmp"
    tmp_h.write_text(html, encoding="utf-8")
    write_pdf(html, tmp_p)
    os.replace(tmp_p, pdf_path)
    os.replace(tmp_h, html_path)
    return {"week": data["week"], "html": html_path, "pdf": pdf_path, "data": data}


def list_snapshots(data_dir: str | Path) -> list[dict[str, Any]]:
    """Stored snapshots, newest week first: ``[{"week", "files": {"html"|"pdf"|"en.html"|"en.pdf": name}}]``."""
    folder = Path(data_dir) / "snapshots"
    weeks: dict[str, dict[str, str]] = {}
    if folder.is_dir():
        for f in folder.iterdir():
            m = _WEEK_FILE.match(f.name)
            if m:
                weeks.setdefault(m.group(1), {})[("en." if m.group(2) else "") + m.group(3)] = f.name
    return [{"week": w, "files": dict(sorted(files.items()))} for w, files in sorted(weeks.items(), reverse=True)]


# ------------------------------------------------------------------------------------------------ scheduler

def ensure_last_week(engine, data_dir: str | Path, now: datetime | None = None, *,
                     redis_client=None) -> Path | None:
    """If due (:func:`ops.weekly.snapshot_due`) and last week's PDF is missing, write it (idempotent).

    Several web processes run this scheduler; with ``redis_client`` (the bus) only the one holding the Redis lock
    ``cc:lock:snapshot:<week>`` (:data:`LOCK_TIMEOUT_S`) writes, the others skip this check. A lock left by a dead
    process expires after that timeout and the next check writes.

    Returns:
        the new PDF path, or ``None`` (not due, already written, or another process is writing it).
    """
    now = now or datetime.now(timezone.utc)
    if not snapshot_due(now):
        return None
    week = last_complete_week(now)
    pdf = Path(data_dir) / "snapshots" / f"{week}.pdf"
    if pdf.exists():
        return None
    if redis_client is None:
        return write_snapshot(engine, data_dir, week)["pdf"]
    lock = redis_client.lock(f"cc:lock:snapshot:{week}", timeout=LOCK_TIMEOUT_S, blocking=False)
    if not lock.acquire():
        log.info("weekly snapshot %s: another process holds the lock", week)
        return None
    try:
        if pdf.exists():  # written by the previous holder between our check and the lock
            return None
        return write_snapshot(engine, data_dir, week)["pdf"]
    finally:
        try:
            lock.release()
        except Exception:  # noqa: BLE001 — expired while writing: nothing to release
            log.warning("weekly snapshot %s: the lock expired while writing", week)


def start_snapshot_scheduler(settings, *, engine=None, stop: threading.Event | None = None,
                             every_s: float = CHECK_EVERY_S, redis_client=None) -> threading.Thread:
    """A daemon thread that checks every ``every_s`` s (default once a minute) and writes last week's snapshot on
    Monday after 06:00 Asia/Shanghai if it is missing. Errors are logged and retried next check.

    Args:
        settings: :class:`datasources.settings.Settings` (``data_dir``, ``database_url``). stop: set it to end.
        redis_client: the bus; one process of several writes (see :func:`ensure_last_week`).
    """
    from datasources.sql.db import make_engine  # noqa: PLC0415
    engine = engine or make_engine(settings.database_url)
    stop = stop or threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                path = ensure_last_week(engine, settings.data_dir, redis_client=redis_client)
                if path:
                    log.info("weekly snapshot written: %s", path)
            except Exception:  # noqa: BLE001
                log.exception("weekly snapshot failed; retrying in %.0f s", every_s)
            stop.wait(every_s)

    th = threading.Thread(target=run, name="snapshot-scheduler", daemon=True)
    th.stop_event = stop  # type: ignore[attr-defined]
    th.start()
    return th


# ------------------------------------------------------------------------------------------------ blueprint

def _reader(target: str):
    """The session's user if allowed to read snapshots; audits the read or the refusal.
    Returns ``(user, engine)`` or a Flask response (401/403)."""
    from dashboard.auth.core import _resolve  # noqa: PLC0415
    from datasources.sql.audit import write_audit  # noqa: PLC0415
    user, engine = _resolve(None, None)
    if user is None:
        write_audit(engine, "anonymous", "", "snapshot.read", target, "refused", {"reason": "not logged in"})
        return jsonify({"ok": False, "error": "login required"}), 401
    if user.role not in READ_ROLES:
        write_audit(engine, user.username, user.role, "snapshot.read", target, "refused",
                    {"reason": f"role {user.role} may not read snapshots"})
        return jsonify({"ok": False, "error": "forbidden"}), 403
    write_audit(engine, user.username, user.role, "snapshot.read", target, "ok")
    return None


_LIST_PAGE = """<!doctype html><html lang="{{ 'en' if lang == 'en' else 'zh-CN' }}"><head><meta charset="utf-8">
<title>{{ t('snap.list.title') }}</title><style>body{font-family:"Noto Sans CJK SC",system-ui,sans-serif;
background:#0b1622;color:#dce7f3;margin:2rem}table{border-collapse:collapse;min-width:24rem}td,th{padding:.5rem 1rem;
border-bottom:1px solid #24405f;text-align:left}a{color:#6cb4ff}</style></head><body>
<h1>{{ t('snap.list.title') }}</h1>{% if items %}<table id="snapshots"><tr><th>{{ t('snap.list.week') }}</th>
<th>{{ t('snap.list.files') }}</th></tr>{% for it in items %}<tr><td>{{ it.week }}</td><td>{% for k, f in
it.files.items() %}<a href="/snapshots/{{ f }}">{{ k }}</a> {% endfor %}</td></tr>{% endfor %}</table>
{% else %}<p>{{ t('snap.list.none') }}</p>{% endif %}</body></html>"""


def snapshot_blueprint(data_dir: str | Path) -> Blueprint:
    """``GET /snapshots`` (HTML list; ``?format=json`` for JSON; ``?lang=en``), ``GET /snapshots/<file>`` where
    file is ``<week>[.en].html|pdf``. Needs :func:`dashboard.auth.session.init_auth` on the app (for the user and the
    audit engine). Unknown or malformed names → 404 (nothing outside the snapshots folder is served)."""
    bp = Blueprint("snapshots", __name__)

    @bp.get("/snapshots")
    def index():
        refused = _reader("snapshots")
        if refused:
            return refused
        items = list_snapshots(data_dir)
        if request.args.get("format") == "json":
            return jsonify({"ok": True, "snapshots": items})
        lang = normalize_lang(request.args.get("lang"))
        html = _env().from_string(_LIST_PAGE).render(items=items, lang=lang, t=lambda k, **kw: t(k, lang, **kw))
        return Response(html, mimetype="text/html")

    @bp.get("/snapshots/<name>")
    def file(name: str):
        if not _WEEK_FILE.match(name):
            abort(404)
        refused = _reader(f"snapshot:{name}")
        if refused:
            return refused
        path = Path(data_dir) / "snapshots" / name
        if not path.is_file():
            abort(404)
        return send_file(path, mimetype="application/pdf" if name.endswith(".pdf") else "text/html")

    return bp


# ------------------------------------------------------------------------------------------------ CLI

def main(argv: list[str] | None = None) -> int:
    """``python -m dashboard.pages.snapshot --week 2026-W47 [--lang en] [--out DIR]``; default week: last week.
    Exit 0 with the two paths printed, 2 on a malformed week (message on stderr, nothing written)."""
    from datasources.sql.db import make_engine  # noqa: PLC0415
    from datasources.settings import load_settings  # noqa: PLC0415
    ap = argparse.ArgumentParser(prog="python -m dashboard.pages.snapshot", description=t("snap.title"))
    ap.add_argument("--week", default=None, help="ISO week, e.g. 2026-W47 (default: last week)")
    ap.add_argument("--lang", default="zh", choices=("zh", "en"))
    ap.add_argument("--out", default=None, help="folder (default: <CC_DATA_DIR>/snapshots)")
    args = ap.parse_args(argv)
    week = args.week or last_complete_week(datetime.now(timezone.utc))
    try:
        parse_week(week)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = load_settings()
    res = write_snapshot(make_engine(settings.database_url), settings.data_dir, week, lang=args.lang,
                         out_dir=args.out)
    print(res["html"])
    print(res["pdf"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
