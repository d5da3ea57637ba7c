"""HTTP security headers of every response (OWASP Secure Headers Project recommendations).

* ``X-Frame-Options: SAMEORIGIN`` and CSP ``frame-ancestors 'self'``: no other site can frame the command centre and
  trick an officer into clicking acknowledge or dispatch (clickjacking).
* ``Content-Security-Policy``: scripts, styles, fonts and connections from this origin only. Dash's renderer is
  started by an inline ``<script>`` and its components set inline styles, so ``'unsafe-inline'`` stays for scripts
  and styles; ``'unsafe-eval'`` is needed by plotly.js (energy charts). Images and video may come from any
  ``http(s)`` host: base-map tiles (``CC_TILE_URL``) and camera streams live on other hosts.
* ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin``, a ``Permissions-Policy`` that turns off
  camera and microphone, and keeps geolocation for this origin only (the field page reports the engineer's position).

``CC_CSP`` replaces the policy (an empty value sends none) for deployments with other needs.

Reverse proxy: ``CC_TRUSTED_PROXIES=<n>`` (default 0) trusts the last ``n`` hops' ``X-Forwarded-For`` /
``-Proto`` / ``-Host`` (Werkzeug ``ProxyFix``), so the per-address login limit, the audit log and the lockout see the
client's address, not the proxy's. With 0 the headers are ignored: a client cannot pick its own address to dodge
the limit by sending ``X-Forwarded-For``.

Request size: :func:`install_request_limits` caps request bodies — 16 MiB in general, the import endpoint at the
largest import file (:data:`datasources.ingest.importers.MAX_BYTES`) plus 1 MiB of multipart overhead, Dash callbacks at
72 MiB (the import dialog's base64 upload); Werkzeug refuses a larger body with HTTP 413 before reading it, so a huge
upload cannot fill the web process's memory or disk.
"""
from __future__ import annotations

from flask import Flask, Response, jsonify, request

from datasources.settings import get_settings

DEFAULT_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
               "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: http: https:; "
               "media-src 'self' blob: http: https:; font-src 'self' data:; connect-src 'self' ws: wss:; "
               "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
               "frame-ancestors 'self'")


def install_security_headers(server: Flask) -> None:
    """Add the headers above to every response of ``server`` (headers a view set itself are kept)."""
    csp = get_settings().csp
    csp = DEFAULT_CSP if csp is None else csp  # CC_CSP unset: the default; empty: no policy
    headers = {"X-Frame-Options": "SAMEORIGIN", "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "same-origin",
               "Permissions-Policy": "camera=(), microphone=(), geolocation=(self)"}
    if csp:
        headers["Content-Security-Policy"] = csp

    @server.after_request
    def _security_headers(resp: Response) -> Response:
        for key, value in headers.items():
            resp.headers.setdefault(key, value)
        return resp


def install_proxy_fix(server: Flask, trusted: int | None = None) -> int:
    """Trust ``trusted`` reverse-proxy hops (default ``$CC_TRUSTED_PROXIES``, 0); returns the number installed.

    Raises:
        datasources.settings.SettingsError: ``CC_TRUSTED_PROXIES`` is not a whole number ≥ 0.
    """
    if trusted is None:
        trusted = get_settings().trusted_proxies
    if trusted > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix  # noqa: PLC0415

        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=trusted, x_proto=trusted, x_host=trusted)
    return trusted


#: request-body caps, bytes: most requests are small JSON; the import dialog's upload travels base64-encoded inside
#: a Dash callback request (its dcc.Upload allows 50 MB → ~67 MB of base64 + JSON); file imports stream to
#: ``/api/import/<layer>`` up to the importer's own limit (datasources.ingest.importers.MAX_BYTES) + multipart overhead
GENERAL_MAX_BYTES = 16 << 20
DASH_CALLBACK_MAX_BYTES = 72 << 20


def install_request_limits(server: Flask, max_bytes: int | None = None) -> None:
    """Cap request bodies; a larger one gets HTTP 413 JSON before Werkzeug reads it (so a huge upload cannot fill
    the web process's memory or disk).

    Caps: ``/api/import/<layer>`` ``max_bytes`` (default: the import limit + 1 MiB); Dash's callback endpoint
    :data:`DASH_CALLBACK_MAX_BYTES`; everything else :data:`GENERAL_MAX_BYTES`.
    """
    if max_bytes is None:
        from datasources.ingest.importers import MAX_BYTES  # noqa: PLC0415

        max_bytes = MAX_BYTES + (1 << 20)
    server.config["MAX_CONTENT_LENGTH"] = GENERAL_MAX_BYTES
    limits = {"/api/import/": int(max_bytes), "/_dash-update-component": DASH_CALLBACK_MAX_BYTES}

    @server.before_request
    def _per_route_limit():
        for prefix, limit in limits.items():
            if request.path.startswith(prefix):
                request.max_content_length = limit  # Flask ≥ 3.1: per request
                return

    @server.errorhandler(413)
    def _too_large(_exc):
        limit = request.max_content_length or GENERAL_MAX_BYTES
        resp = jsonify({"ok": False, "error": f"request larger than {limit // (1 << 20)} MB"})
        resp.status_code = 413
        return resp
