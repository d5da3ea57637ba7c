"""HTTP clients of the tests that behave like the product's pages towards CSRF (dashboard/auth/csrf.py).

A browser page receives the session's token in the ``_csrf_token`` cookie and sends it back as ``X-CSRFToken`` on
every state-changing request (Dash's renderer and the project's scripts do). :class:`CsrfClient` does the same for
Flask's test client, and :func:`context_post` for a Playwright browser context's request API, so tests exercise the
real protection instead of turning it off. Tests of the protection itself use a plain ``FlaskClient``.
"""
from __future__ import annotations

from flask.testing import FlaskClient

from dashboard.auth.csrf import COOKIE, HEADER

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class CsrfClient(FlaskClient):
    """A Flask test client that sends the CSRF cookie back as ``X-CSRFToken`` on unsafe requests, fetching the sign-in
    page first when it has no token yet (as a person opening the page would)."""

    def open(self, *args, **kwargs):  # noqa: D102 — FlaskClient.open
        method = str(kwargs.get("method", "GET")).upper()
        if method in UNSAFE and not (args and not isinstance(args[0], str)):
            cookie = self.get_cookie(COOKIE)
            if cookie is None:
                super().open("/auth/login", method="GET")
                cookie = self.get_cookie(COOKIE)
            if cookie is not None:
                headers = dict(kwargs.get("headers") or {})
                headers.setdefault(HEADER, cookie.value)
                kwargs["headers"] = headers
        return super().open(*args, **kwargs)


def context_csrf_headers(context, base_url: str) -> dict[str, str]:
    """``{"X-CSRFToken": …}`` of a Playwright browser context (GETs the sign-in page first if it has no token)."""
    def token():
        return next((c["value"] for c in context.cookies(base_url) if c["name"] == COOKIE), None)

    if token() is None:
        context.request.get(f"{base_url.rstrip('/')}/auth/login")
    value = token()
    return {HEADER: value} if value else {}


def context_post(context, base_url: str, path: str, **kwargs):
    """``context.request.post(base_url + path, **kwargs)`` with the context's CSRF header added."""
    headers = {**context_csrf_headers(context, base_url), **(kwargs.pop("headers", None) or {})}
    return context.request.post(f"{base_url.rstrip('/')}{path}", headers=headers, **kwargs)
