"""Per-client-address rate limits (Flask-Limiter), shared by every web process through Redis.

Sign-in is the target of password guessing: ``POST /auth/login`` is limited per client IP address to
``CC_LOGIN_RATE_LIMIT`` (default ``10 per minute;60 per hour``, Flask-Limiter's rate notation). Past it the server
answers HTTP 429 with ``Retry-After`` and does not check the password, so a guesser at one address can try at most
that many passwords, however many accounts it targets. The account lockout of :mod:`dashboard.auth.core` (5 failures)
stays the second line.

The counters live in the bus's Redis (``LIMITER:*`` keys; moving windows), so several web processes behind one
balancer share them; when Redis is down the limiter lets requests through (``swallow_errors``) rather than lock
every officer out. The address is ``request.remote_addr``: behind a reverse proxy, the proxy must be configured as
trusted (Werkzeug ``ProxyFix``) or every client shares the proxy's address.
"""
from __future__ import annotations

from flask import Flask, jsonify
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from datasources.settings import get_settings

DEFAULT_LOGIN_RATE = "10 per minute;60 per hour"


def install_rate_limits(server: Flask, redis_url: str | None) -> Limiter:
    """Limit ``POST /auth/login`` per client address (call after :func:`dashboard.auth.login.install_login_page`).

    Args:
        redis_url: counters' storage (``redis://…``); ``None``: this process's memory.
    Returns:
        the :class:`flask_limiter.Limiter`.
    Raises:
        KeyError: the login view is not installed yet.
    """
    rate = get_settings().login_rate_limit
    limiter = Limiter(get_remote_address, app=server, storage_uri=redis_url or "memory://",
                      strategy="moving-window", swallow_errors=True, headers_enabled=True,
                      key_prefix="cc")
    view = server.view_functions["_login"]
    server.view_functions["_login"] = limiter.limit(rate, methods=["POST"])(view)

    @server.errorhandler(429)
    def _too_many(exc):
        resp = jsonify({"ok": False, "error": f"too many requests from this address: {exc.description}"})
        resp.status_code = 429
        return resp

    return limiter


__all__ = ["DEFAULT_LOGIN_RATE", "install_rate_limits"]
