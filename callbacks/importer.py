"""Data import dialog: upload a CSV / XLSX / GeoJSON file for a layer with its coordinate system declared; the file
is validated row by row and written all or nothing (:func:`datasources.ingest.importers.import_file`); the dialog shows the
summary and every rejected row (row number as the user sees it, field, problem).

The import itself is :func:`layers.importing.run_import`, the one code path shared with ``POST /api/import/<layer>``
(:mod:`dashboard.web.api_city`): the layer registry says which imports exist and what each invalidates.
"""
from __future__ import annotations

import base64
import binascii
import logging
from typing import Any

from dash import Input, Output, State, html, no_update

from i18n import t
from layers.importing import current_user, run_import

log = logging.getLogger(__name__)


def report_component(report: dict, lang: str) -> Any:
    """The dialog's result: summary line and the row-by-row error table (:meth:`ImportReport.to_dict` input)."""
    ok = report.get("result") == "ok"
    head = (t("import.ok", lang, n=report.get("written", 0)) if ok else
            t("import.rejected", lang, n=report.get("n_errors", 0)))
    facts = html.Div(className="cc-imp-facts", children=[
        html.Span(f"{report.get('filename', '')}"), html.Span(report.get("format", "")),
        html.Span(report.get("crs", "")),
        html.Span(t("import.rows_read", lang, n=report.get("rows_read", 0))),
        html.Span(t("import.rows_ok", lang, n=report.get("rows_ok", 0)))])
    children = [html.Div(head, className="cc-imp-summary " + ("cc-imp-ok" if ok else "cc-imp-bad"),
                         **{"data-result": report.get("result", "")}), facts]
    errors = report.get("errors") or []
    if errors:
        rows = [html.Tr([html.Td(str(r), className="cc-num"), html.Td(f or "—"), html.Td(m)],
                        **{"data-row": str(r)}) for r, f, m in errors]
        children.append(html.Div(className="cc-imp-errors", children=html.Table([
            html.Thead(html.Tr([html.Th(t("import.row", lang)), html.Th(t("import.field", lang)),
                                html.Th(t("import.message", lang))])),
            html.Tbody(rows)])))
        if report.get("n_errors", 0) > len(errors):
            children.append(html.Div(t("import.more_errors", lang, n=report["n_errors"] - len(errors)),
                                     className="cc-imp-more"))
    return children


def _decode_upload(contents: str) -> bytes:
    _, _, b64 = contents.partition(",")
    return base64.b64decode(b64, validate=False)


def register(app, ctx) -> None:
    app.clientside_callback(
        """(openClicks, closeClicks, cls) => {
            const trig = (window.dash_clientside.callback_context.triggered || [])[0];
            if (!trig || !trig.value) { return window.dash_clientside.no_update; }
            return trig.prop_id.indexOf('import-open') === 0 ? 'cc-imp' : 'cc-imp cc-imp-hidden';
        }""",
        Output("import-dialog", "className"),
        Input("import-open", "n_clicks"), Input("import-close", "n_clicks"),
        State("import-dialog", "className"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        """(filename) => filename ? filename : window.dash_clientside.no_update""",
        Output("import-file-name", "children"),
        Input("import-upload", "filename"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("import-result", "children"),
        Input("import-submit", "n_clicks"),
        State("import-upload", "contents"), State("import-upload", "filename"), State("import-layer", "value"),
        State("import-crs", "value"), State("import-region", "value"), State("lang", "data"),
        prevent_initial_call=True,
    )
    def do_import(n, contents, filename, layer, crs, region, lang):
        if not n:
            return no_update
        if not contents or not filename:
            return html.Div(t("import.choose_file", lang), className="cc-imp-summary cc-imp-bad")
        user = current_user()
        if user is None:
            return html.Div(t("import.login_required", lang), className="cc-imp-summary cc-imp-bad")
        try:
            data = _decode_upload(contents)
        except (binascii.Error, ValueError):
            return html.Div(t("import.unreadable", lang), className="cc-imp-summary cc-imp-bad")
        region = (region or "").strip() or None
        try:
            report = run_import(ctx.engine, layer, data, filename=filename, actor=user[0], role=user[1],
                                crs=crs or "WGS84", region_adcode=region,
                                on_stations=lambda: ctx.station_index(refresh=True))
        except PermissionError:
            return html.Div(t("import.forbidden", lang), className="cc-imp-summary cc-imp-bad")
        except ValueError as exc:
            return html.Div(str(exc), className="cc-imp-summary cc-imp-bad")
        return report_component(report.to_dict(), lang)
