"""The sign-in page of the command centre, in the product's look, Chinese by default and English on request.

:func:`install_login_page` replaces the plain form of :func:`dashboard.auth.session.init_auth` (``GET /auth/login``) and
re-renders failed form posts in the same page; the authentication itself stays :mod:`dashboard.auth.core`'s (hashing,
lockout, audit). The page posts JSON with ``fetch`` and shows the server's answer in the page language; without
JavaScript the form posts normally. After signing in, a field engineer who asked for the command centre's home
goes to the field page (``/field/``).

Language: ``?lang=en|zh``, else the browser's ``Accept-Language``; strings from the catalog (``login.*``).
"""
from __future__ import annotations

import html
import json
from urllib.parse import quote

from flask import Flask, Response, request
from flask_wtf.csrf import generate_csrf

from dashboard.auth.session import safe_next as _safe_next
from i18n import normalize_lang, t

_KEYS = ("login.title", "login.subtitle", "login.heading", "login.user", "login.password", "login.submit",
         "login.busy", "login.error.invalid", "login.error.locked", "login.error.network", "login.lang_switch",
         "login.footer", "login.security", "app.title")

_PAGE = """<!doctype html>
<html lang="{html_lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
:root {{ --bg:#040a13; --panel:rgba(9,22,38,.92); --line:#15324d; --line2:#1f4a6e; --accent:#2bd3ff;
        --accent2:#0fa3d8; --text:#dbe7f3; --muted:#8aa0b6; --dim:#5d7289; --alarm:#ff3b4e; }}
* {{ box-sizing: border-box; }}
html {{ font-size: clamp(13px, 0.74vw, 40px); }}
html, body {{ margin:0; height:100%; background:var(--bg); color:var(--text);
  font-family:"Noto Sans CJK SC","Source Han Sans SC","PingFang SC","Microsoft YaHei","Liberation Sans",sans-serif; }}
body {{ display:flex; align-items:center; justify-content:center; min-height:100vh; overflow:hidden;
  background:
    radial-gradient(ellipse at 50% -10%, rgba(43,211,255,.16), transparent 55%),
    radial-gradient(ellipse at 50% 120%, rgba(15,163,216,.10), transparent 60%),
    repeating-linear-gradient(0deg, rgba(43,211,255,.035) 0 1px, transparent 1px 3.2rem),
    repeating-linear-gradient(90deg, rgba(43,211,255,.035) 0 1px, transparent 1px 3.2rem),
    linear-gradient(180deg,#061224 0%, var(--bg) 70%); }}
.wrap {{ width: min(30rem, 92vw); position:relative; }}
.brand {{ display:flex; flex-direction:column; align-items:center; gap:.9rem; margin-bottom:1.6rem; text-align:center; }}
.logo {{ position:relative; width:4.2rem; height:4.2rem; display:grid; place-items:center; border-radius:50%;
  font:700 1.35rem "Liberation Sans Narrow","Arial Narrow",sans-serif; color:var(--accent); letter-spacing:.05em;
  background:radial-gradient(circle, rgba(43,211,255,.25), rgba(43,211,255,.02) 70%); }}
.logo::before {{ content:""; position:absolute; inset:0; border-radius:50%; border:2px solid var(--accent);
  border-right-color:transparent; border-bottom-color:rgba(43,211,255,.3); animation:spin 6s linear infinite; }}
h1 {{ margin:0; font-size:1.9rem; letter-spacing:.14em; font-weight:700;
  background:linear-gradient(180deg,#fff 10%,#9fdcff 95%); -webkit-background-clip:text; background-clip:text;
  color:transparent; text-shadow:0 0 1.4rem rgba(43,211,255,.25); }}
html[lang="en"] h1 {{ letter-spacing:.02em; font-size:1.6rem; }}
.sub {{ color:var(--muted); font-size:.8rem; letter-spacing:.2em; text-transform:uppercase; }}
form {{ position:relative; background:var(--panel); border:1px solid var(--line); border-radius:.25rem;
  padding:1.6rem 1.8rem 1.5rem; box-shadow:0 1rem 3rem rgba(0,0,0,.55), inset 0 0 2rem rgba(43,211,255,.05); }}
form::before, form::after {{ content:""; position:absolute; width:1rem; height:1rem; border-color:var(--accent);
  border-style:solid; }}
form::before {{ left:-1px; top:-1px; border-width:2px 0 0 2px; }}
form::after {{ right:-1px; bottom:-1px; border-width:0 2px 2px 0; }}
h2 {{ margin:0 0 1.2rem; font-size:1.15rem; letter-spacing:.12em; padding-left:.7rem;
  border-left:.25rem solid var(--accent); color:#eaf6ff; }}
label {{ display:block; font-size:.9rem; color:var(--muted); margin:.9rem 0 .35rem; letter-spacing:.05em; }}
input {{ width:100%; padding:.7rem .8rem; font-size:1.05rem; color:#fff; background:rgba(4,14,26,.9);
  border:1px solid var(--line2); border-radius:.2rem; outline:none; font-family:inherit; }}
input:focus {{ border-color:var(--accent); box-shadow:0 0 0 .15rem rgba(43,211,255,.18); }}
button {{ margin-top:1.4rem; width:100%; padding:.75rem; font-size:1.1rem; font-weight:700; letter-spacing:.3em;
  color:#02131f; background:linear-gradient(180deg,#5fe3ff,#12a9de); border:0; border-radius:.2rem; cursor:pointer;
  font-family:inherit; }}
html[lang="en"] button {{ letter-spacing:.08em; }}
button:disabled {{ opacity:.6; cursor:wait; }}
.err {{ min-height:1.3rem; margin:.9rem 0 0; color:#ff8a95; font-size:.92rem; }}
.err:not(:empty) {{ padding:.45rem .7rem; background:rgba(255,59,78,.12); border:1px solid rgba(255,59,78,.45);
  border-radius:.2rem; }}
.row {{ display:flex; justify-content:space-between; align-items:center; margin-top:1.1rem; font-size:.82rem;
  color:var(--dim); }}
.row a {{ color:var(--accent); text-decoration:none; border:1px solid var(--accent2); padding:.2rem .7rem;
  border-radius:.2rem; font-weight:700; }}
.foot {{ text-align:center; margin-top:1.3rem; color:var(--dim); font-size:.8rem; letter-spacing:.08em; }}
@keyframes spin {{ to {{ transform:rotate(360deg); }} }}
</style></head>
<body><div class="wrap">
  <div class="brand"><div class="logo">CA</div><h1>{app_title}</h1><div class="sub">{subtitle}</div></div>
  <form id="cc-login" method="post" action="/auth/login" autocomplete="on">
    <h2>{heading}</h2>
    <input type="hidden" name="next" id="cc-next" value="{next}">
    <input type="hidden" name="csrf_token" id="cc-csrf" value="{csrf}">
    <label for="cc-user">{user}</label>
    <input id="cc-user" name="username" autocomplete="username" required autofocus value="{username}">
    <label for="cc-pass">{password}</label>
    <input id="cc-pass" name="password" type="password" autocomplete="current-password" required>
    <div class="err" id="cc-err" role="alert">{error}</div>
    <button type="submit" id="cc-submit">{submit}</button>
    <div class="row"><span>{security}</span><a href="{switch_href}" id="cc-lang">{lang_switch}</a></div>
  </form>
  <div class="foot">{footer}</div>
</div>
<script>
(function () {{
  var S = {strings};
  var form = document.getElementById("cc-login"), err = document.getElementById("cc-err"),
      btn = document.getElementById("cc-submit");
  form.addEventListener("submit", function (ev) {{
    if (!window.fetch) {{ return; }}
    ev.preventDefault();
    err.textContent = ""; btn.disabled = true; btn.textContent = S.busy;
    fetch("/auth/login", {{method: "POST", credentials: "same-origin",
      headers: {{"Content-Type": "application/json", "Accept": "application/json",
                 "X-CSRFToken": document.getElementById("cc-csrf").value}},
      body: JSON.stringify({{username: form.username.value, password: form.password.value}})}})
    .then(function (r) {{ return r.json().then(function (b) {{ return [r.status, b]; }}); }})
    .then(function (res) {{
      var status = res[0], body = res[1];
      if (body && body.ok) {{
        var next = document.getElementById("cc-next").value || "/";
        if (body.user && body.user.role === "field_engineer" && (next === "/" || next.indexOf("/?") === 0)) {{
          next = "/field/";
        }}
        window.location.assign(next);
        return;
      }}
      err.textContent = status === 423 ? S.locked + (body.locked_until_ms ?
        " (" + new Date(body.locked_until_ms).toLocaleTimeString() + ")" : "") : S.invalid;
      btn.disabled = false; btn.textContent = S.submit; form.password.value = ""; form.password.focus();
    }})
    .catch(function () {{ err.textContent = S.network; btn.disabled = false; btn.textContent = S.submit; }});
  }});
}}());
</script>
</body></html>"""


def page_lang() -> str:
    """``?lang=`` or the best of ``Accept-Language`` (zh / en), default zh."""
    if request.args.get("lang"):
        return normalize_lang(request.args.get("lang"))
    best = request.accept_languages.best_match(["zh", "zh-CN", "en", "en-US"]) if request.accept_languages else None
    return normalize_lang(best)


def render(lang: str, *, error: str = "", next_url: str = "/", username: str = "", status: int = 200) -> Response:
    """The sign-in page in ``lang``."""
    e = html.escape
    other = "en" if lang == "zh" else "zh"
    strings = {"busy": t("login.busy", lang), "submit": t("login.submit", lang),
               "invalid": t("login.error.invalid", lang), "locked": t("login.error.locked", lang),
               "network": t("login.error.network", lang)}
    body = _PAGE.format(
        html_lang="en" if lang == "en" else "zh-CN", title=e(t("login.title", lang)), app_title=e(t("app.title", lang)),
        subtitle=e(t("login.subtitle", lang)), heading=e(t("login.heading", lang)), user=e(t("login.user", lang)),
        password=e(t("login.password", lang)), submit=e(t("login.submit", lang)), error=e(error),
        next=e(_safe_next(next_url)), csrf=e(generate_csrf()), username=e(username), security=e(t("login.security", lang)),
        lang_switch=e(t("login.lang_switch", lang)), footer=e(t("login.footer", lang)),
        switch_href=e(f"/auth/login?lang={other}&next={quote(_safe_next(next_url), safe='/?=&')}"),
        strings=json.dumps(strings, ensure_ascii=False).replace("</", "<\\/"))
    return Response(body, status=status, mimetype="text/html")


def install_login_page(server: Flask) -> None:
    """Serve :func:`render` at ``GET /auth/login`` and for failed form posts (call after ``init_auth``)."""
    original_post = server.view_functions["_login"]

    def login_form():
        return render(page_lang(), next_url=request.args.get("next") or "/")

    def login_post():
        resp = original_post()
        status = resp[1] if isinstance(resp, tuple) else getattr(resp, "status_code", 200)
        if request.is_json or status < 400:
            return resp
        lang = page_lang()
        key = "login.error.locked" if status == 423 else "login.error.invalid"
        return render(lang, error=t(key, lang), next_url=request.form.get("next") or "/",
                      username=request.form.get("username", ""), status=status)

    server.view_functions["_login_form"] = login_form
    server.view_functions["_login"] = login_post


__all__ = ["install_login_page", "page_lang", "render"]
