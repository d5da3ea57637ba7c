/*
 * The browser core of the command center: the one namespace window.cc and the helpers every page file uses.
 *
 * Dash serves assets/ in name order, so this file ("cc.js" sorts before every "cc_*.js") runs first on every page:
 * the officer page and the wall (dashboard/web/app.py, dashboard/pages/wall.py: all of assets/) and the field app
 * at /field/ (dashboard/pages/field.py: this file and cc_field*). Page files take `var cc = window.cc;` and add
 * their own part:
 *
 *   cc.live     officer page live state (cc_officer.js, cc_site.js, cc_alarms.js)   cc.draw   dash-leaflet functions
 *   cc.ops      alarms, orders, control (cc_alarms.js)                               cc.city   city layers (cc_city.js)
 *   cc.wall     the video wall (cc_wall*.js)                                          cc.field  field page (cc_field.js)
 *
 * cc.draw holds the functions dash-leaflet calls (pointToLayer, style, clusterToLayer, onEachFeature): Python
 * names them with dash_extensions.javascript.Namespace("cc", "draw") (layers/draw.py), which resolves
 * "cc.draw.<name>" on window. Clientside callbacks register with cc.clientside(namespace, functions) into
 * window.dash_clientside (ClientsideFunction(namespace=…) in callbacks/*.py and dashboard/pages/*.py).
 *
 * Words: cc.tr reads window.ccI18n (served from /i18n/catalog.js, built from the Python i18n catalog). Domain
 * vocabulary (state colours, pipe styles, severities, order states; ops/vocab.py browser_vocab) arrives as data in
 * <script id="cc-vocab" type="application/json">, read once into cc.vocab; page code draws from it and takes the
 * server's flags on payloads (alarm.alerting, order.open, order.sla_deadline_ms) rather than re-deciding them.
 *
 * Only this file assigns window globals: window.cc and window.dash_clientside (Dash's clientside namespaces);
 * tests/test_assets_js.py checks it, and that no helper below is defined again elsewhere.
 */
(function () {
    "use strict";
    var cc = window.cc = {draw: {}};

    // ------------------------------------------------------------------ words
    /* cc.tr(key, lang, vars?) → the catalog text of key in lang (else Chinese, else the key), {name} filled from vars */
    function tr(key, lang, vars) {
        var c = window.ccI18n && window.ccI18n.catalog, t;
        if (c) {
            t = (c[lang] || {})[key];
            if (t === undefined || t === null) { t = (c.zh || {})[key]; }
        }
        if (t === undefined || t === null) { t = key; }
        return vars ? fill(t, vars) : t;
    }

    /* fill("{n} left", {n: 3}) → "3 left"; unknown names stay as they are */
    function fill(s, vars) {
        return String(s).replace(/\{(\w+)\}/g, function (m, k) { return vars[k] === undefined ? m : vars[k]; });
    }

    /* the page language ("zh" | "en"): <html lang> (set by the language callbacks) wins over a lagging hideout */
    function pageLang(hideout) {
        var l = document.documentElement.lang || (hideout && hideout.lang) || "zh";
        return l.indexOf("en") === 0 ? "en" : "zh";
    }

    function locale(lang) { return lang === "en" ? "en-US" : "zh-CN"; }

    /* "中文 / English" texts of the alarm engine (messages, order titles) → the part in lang */
    function bilingual(text, lang) {
        var m = text || "", i = m.indexOf(" / ");
        if (i < 0) { return m; }
        return lang === "en" ? m.slice(i + 3) : m.slice(0, i);
    }

    var REGION_SUFFIX = /(维吾尔自治区|壮族自治区|回族自治区|特别行政区|自治区|省|市)$/;
    /* a region name without its administrative suffix in Chinese (广东省 → 广东); English names as they are */
    function shortName(name, lang) {
        if (lang === "en" || !name) { return name; }
        return String(name).replace(REGION_SUFFIX, "");
    }

    // ------------------------------------------------------------------ numbers and times
    function pad(n) { return (n < 10 ? "0" : "") + n; }

    /* epoch ms → "HH:MM:SS" local time; "—" for none */
    function hms(ms) {
        if (!ms) { return "—"; }
        var d = new Date(ms);
        return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    }

    /* a number in the language's grouping; dp fraction digits (none given: up to 3, as toLocaleString); "—" for none */
    function num(v, dp, lang) {
        if (v === null || v === undefined || v === "" || !isFinite(Number(v))) { return "—"; }
        var opts = dp === undefined || dp === null ? undefined : {minimumFractionDigits: dp, maximumFractionDigits: dp};
        return Number(v).toLocaleString(locale(lang), opts);
    }

    /* time since epoch ms, as "3天2时" / "2时05分" / "4分07秒" (catalog wall.age.*) */
    function age(ms, lang) {
        var s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
        var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
        if (d) { return tr("wall.age.days", lang, {d: d, h: h}); }
        return h ? tr("wall.age.hours", lang, {h: h, m: pad(m)}) : tr("wall.age.mins", lang, {m: m, s: pad(s % 60)});
    }

    /* the root font size in px (the layout scales it with the viewport: markers stay legible on the wall) */
    function rem() {
        var fs = parseFloat(window.getComputedStyle(document.documentElement).fontSize);
        return isFinite(fs) && fs > 0 ? fs : 16;
    }

    // ------------------------------------------------------------------ DOM
    function esc(s) {
        return String(s == null ? "" : s).replace(/[&<>"']/g, function (ch) {
            return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"}[ch];
        });
    }

    function byId(id) { return document.getElementById(id); }

    /* el("span", "cls", "text", {attr: v}) → a new element */
    function el(tag, cls, text, attrs) {
        var e = document.createElement(tag);
        if (cls) { e.className = cls; }
        if (text !== undefined && text !== null) { e.textContent = text; }
        Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
        return e;
    }

    /* children (elements or strings) appended to parent; returns parent */
    function kids(parent, children) {
        children.forEach(function (c) { parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
        return parent;
    }

    /* #id's children replaced by build() — only when sig differs from the last drawing (lists Dash leaves empty) */
    function drawList(id, sig, build) {
        var box = byId(id);
        if (!box || box.ccSig === sig) { return; }
        box.ccSig = sig;
        box.replaceChildren.apply(box, build());
    }

    /* text (and class) of an element or id, written only when different */
    function setText(id, text, cls) {
        var e = typeof id === "string" ? byId(id) : id;
        if (!e) { return; }
        text = text === undefined || text === null ? "" : String(text);
        if (e.textContent !== text) { e.textContent = text; }
        if (cls !== undefined && e.className !== cls) { e.className = cls; }
    }
    function setCls(e, cls) { if (e && e.className !== cls) { e.className = cls; } }
    function setAttr(e, k, v) { if (e && e.getAttribute(k) !== String(v)) { e.setAttribute(k, v); } }

    // ------------------------------------------------------------------ Dash callbacks
    function noUpdate() { return window.dash_clientside.no_update; }

    /* the inputs that triggered the running clientside callback: [{prop_id, value}] (Dash's initial "." left out) */
    function triggered() {
        var ctx = window.dash_clientside && window.dash_clientside.callback_context;
        return (ctx && ctx.triggered ? ctx.triggered : []).filter(function (t) { return t.prop_id && t.prop_id !== "."; });
    }
    function triggeredIds() { return triggered().map(function (t) { return t.prop_id; }); }
    /* did an input whose prop_id starts with prefix trigger the running callback? */
    function fired(prefix) { return triggeredIds().some(function (p) { return p.indexOf(prefix) === 0; }); }

    /* '{"id":3,"type":"x"}.n_clicks' → {id: 3, type: "x"} (pattern-matching ids) */
    function idOf(propId) { return JSON.parse(propId.slice(0, propId.lastIndexOf("."))); }

    /* the first triggered pattern-matching id with a truthy value (a real click): {id, value} or null */
    function patternTrigger() {
        var t = triggered();
        for (var i = 0; i < t.length; i++) {
            if (t[i].prop_id.charAt(0) === "{" && t[i].value) { return {id: idOf(t[i].prop_id), value: t[i].value}; }
        }
        return null;
    }

    /* set_props that tolerates a component not mounted yet */
    function setProps(id, props) {
        var dc = window.dash_clientside;
        if (dc && dc.set_props) { try { dc.set_props(id, props); } catch (e) { /* not mounted yet */ } }
    }

    /* register clientside callbacks: window.dash_clientside[namespace] gets fns (merged with what is there) */
    function clientside(namespace, fns) {
        var dc = window.dash_clientside = window.dash_clientside || {};
        dc[namespace] = Object.assign(dc[namespace] || {}, fns);
        return dc[namespace];
    }

    // ------------------------------------------------------------------ Leaflet maps
    // one init hook on L.Map for all page files: fn(map) for every map made from now on
    var mapHooks = [], hooked = false;
    function hookMaps() {
        if (hooked || !window.L || !window.L.Map) { return hooked; }
        window.L.Map.addInitHook(function () {
            var map = this;
            mapHooks.forEach(function (fn) { fn(map); });
        });
        hooked = true;
        return true;
    }
    function onMap(fn) {
        mapHooks.push(fn);
        if (!hookMaps()) { document.addEventListener("DOMContentLoaded", hookMaps); }
    }

    // ------------------------------------------------------------------ sound
    // tones generated with Web Audio (no audio file); browsers start audio only after a user gesture: the first
    // click / key unlocks it
    var actx = null;
    function audio() {
        var C = window.AudioContext || window.webkitAudioContext;
        if (!C) { return null; }
        if (!actx) { try { actx = new C(); } catch (e) { return null; } }
        if (actx.state === "suspended" && actx.resume) { actx.resume().catch(function () {}); }
        return actx;
    }
    ["pointerdown", "keydown"].forEach(function (ev) {
        document.addEventListener(ev, function () { audio(); }, {passive: true});
    });

    /* play tones [[Hz, start s, length s], …] with an oscillator of type (square, sine) at peak gain; false when the
       browser has no audio */
    function beep(tones, type, gain) {
        var ac = audio();
        if (!ac) { return false; }
        try {
            var t0 = ac.currentTime + 0.02;
            tones.forEach(function (p) {
                var o = ac.createOscillator(), g = ac.createGain();
                o.type = type || "square";
                o.frequency.setValueAtTime(p[0], t0 + p[1]);
                g.gain.setValueAtTime(0.0001, t0 + p[1]);
                g.gain.exponentialRampToValueAtTime(gain || 0.12, t0 + p[1] + 0.02);
                g.gain.exponentialRampToValueAtTime(0.0001, t0 + p[1] + p[2]);
                o.connect(g);
                g.connect(ac.destination);
                o.start(t0 + p[1]);
                o.stop(t0 + p[1] + p[2] + 0.05);
            });
        } catch (e) { return false; }
        return true;
    }

    // ------------------------------------------------------------------ server
    /* headers for the page's own state-changing fetch() calls: the session's CSRF token from the cookie
       _csrf_token sent back as X-CSRFToken (dashboard/auth/csrf.py); Dash's renderer does the same for callbacks */
    function csrfHeaders(extra) {
        var m = document.cookie.match(/(?:^|;\s*)_csrf_token=([^;]*)/);
        var headers = Object.assign({}, extra || {});
        if (m) { headers["X-CSRFToken"] = decodeURIComponent(m[1]); }
        return headers;
    }

    /* sign out (POST /auth/logout), then go to the sign-in page `next` */
    function logout(next) {
        fetch("/auth/logout", {method: "POST", credentials: "same-origin", headers: csrfHeaders()})
            .finally(function () { window.location.assign(next); });
    }

    // ------------------------------------------------------------------ the vocabulary (ops/vocab.py)
    // browser_vocab() as data, parsed once on first use (the element is in the page the server sends, before the
    // scripts). The shape is documented in ops/vocab.py browser_vocab; nothing of it is copied here.
    var vocab = null;
    function getVocab() {
        if (vocab) { return vocab; }
        var node = byId("cc-vocab");
        if (!node) { return {}; }
        try { vocab = JSON.parse(node.textContent || "{}"); } catch (e) { vocab = {}; }
        return vocab;
    }
    Object.defineProperty(cc, "vocab", {enumerable: true, get: getVocab});

    function entry(table, key) { return (getVocab()[table] || {})[key] || {}; }

    /* a live station state → its CSS colour / its name in lang (unknown states: the fallback state's) */
    function stateOf(state) {
        var v = getVocab(), all = v.station_states || {};
        return all[state] || all[v.station_fallback_state] || {};
    }
    function stateColour(state) { return stateOf(state).colour; }
    function stateLabel(state, lang) { return tr(stateOf(state).label_key || "state." + state, lang); }

    /* severity level 1..4 → "I" … "IV" */
    function sevRoman(level) { return entry("severities", String(level)).roman || "?"; }

    /* an alarm's state name (shelved: the display-only pseudo-state) / a work order's state name */
    function alarmStateLabel(state, lang) {
        var key = state === "shelved" ? getVocab().alarm_shelved_label_key : entry("alarm_states", state).label_key;
        return tr(key || "alarm.state." + state, lang);
    }
    /* an alarm record in this state is still open (listed); unknown states count as open */
    function alarmOpen(state) { return entry("alarm_states", state).open !== false; }
    function orderStateLabel(state, lang) { return tr(entry("order_states", state).label_key || "wo.state." + state, lang); }

    /* SLA countdown text of leftMs (deadline − now; negative = overdue) by the vocabulary's clock face */
    function countdown(leftMs, lang) {
        var faces = (getVocab().sla || {}).countdown || {};
        var face = faces[lang] || faces.zh || {};
        var s = Math.floor(Math.abs(leftMs) / 1000), h = Math.floor(s / 3600);
        return fill(h ? face.with_hours : face.without_hours, {
            sign: leftMs < 0 ? face.negative : "", h: h, mm: pad(Math.floor(s % 3600 / 60)), ss: pad(s % 60)});
    }

    /* SLA clocks drawn by the server (.cc-sla with data-deadline, epoch ms): nodes' countdowns (.cc-sla-v) and the
       vocabulary's over-class once past; the pages showing them call it every sla.tick_ms */
    function tickDeadlines(nodes, lang) {
        var over = (getVocab().sla || {}).over_class;
        for (var j = 0; j < nodes.length; j++) {
            var e = nodes[j], left = Number(e.getAttribute("data-deadline")) - Date.now();
            var v = e.classList.contains("cc-sla-v") ? e : e.querySelector(".cc-sla-v");
            if (v) { setText(v, countdown(left, lang)); }
            var box = e.classList.contains("cc-sla") ? e : e.closest(".cc-sla");
            if (box && over) { box.classList.toggle(over, left < 0); }
        }
    }

    // ------------------------------------------------------------------ officer page live state
    // shared by cc_officer.js (map states, KPIs, events), cc_site.js (the open station) and cc_alarms.js (control)
    cc.live = {stateTs: {}, kpis: null, kpisTs: -1, station: null, events: [], names: {}};

    Object.assign(cc, {
        tr: tr, fill: fill, pageLang: pageLang, locale: locale, bilingual: bilingual, shortName: shortName,
        pad: pad, hms: hms, num: num, age: age, rem: rem,
        stateColour: stateColour, stateLabel: stateLabel, sevRoman: sevRoman, alarmStateLabel: alarmStateLabel,
        alarmOpen: alarmOpen,
        orderStateLabel: orderStateLabel, countdown: countdown, tickDeadlines: tickDeadlines,
        esc: esc, byId: byId, el: el, kids: kids, drawList: drawList, setText: setText, setCls: setCls,
        setAttr: setAttr,
        noUpdate: noUpdate, triggered: triggered, triggeredIds: triggeredIds, fired: fired, idOf: idOf,
        patternTrigger: patternTrigger, setProps: setProps, clientside: clientside,
        onMap: onMap, audio: audio, beep: beep, csrfHeaders: csrfHeaders, logout: logout
    });
}());
