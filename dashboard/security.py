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

Request size: :func:`install_request_limits` caps every request body at the largest import file
(:data:`datasources.importers.MAX_BYTES`) plus 1 MiB of multipart overhead; Werkzeug refuses a larger one with HTTP
413 before reading it, so a huge upload cannot fill the web process's memory or disk.
"""
from __future__ import annotations

import os

from flask import Flask, Response, jsonify

DEFAULT_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval'; "
               "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob: http: https:; "
               "media-src 'self' blob: http: https:; font-src 'self' data:; connect-src 'self' ws: wss:; "
               "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
               "frame-ancestors 'self'")


def install_security_headers(server: Flask) -> None:
    """Add the headers above to every response of ``server`` (headers a view set itself are kept)."""
    csp = os.environ.get("CC_CSP", DEFAULT_CSP)
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


def install_request_limits(server: Flask, max_bytes: int | None = None) -> None:
    """Cap request bodies at ``max_bytes`` (default: the import limit + 1 MiB); larger ones get 413 JSON."""
    if max_bytes is None:
        from datasources.importers import MAX_BYTES  # noqa: PLC0415

        max_bytes = MAX_BYTES + (1 << 20)
    server.config["MAX_CONTENT_LENGTH"] = int(max_bytes)

    @server.errorhandler(413)
    def _too_large(_exc):
        resp = jsonify({"ok": False, "error": f"request larger than {max_bytes // (1 << 20)} MB"})
        resp.status_code = 413
        return resp


__all__ = ["DEFAULT_CSP", "install_request_limits", "install_security_headers"]
