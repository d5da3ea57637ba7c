/*
 * Clientside callbacks of the field page (/field/, namespace "ccField"; wired in dashboard/field.py).
 * Loaded by the command centre too (Dash loads every asset) but only defines functions there.
 *
 *   lang      ?lang=en|zh → page language
 *   tab       mine / pool / done tabs
 *   act       a card's button → {order_id, act, …}; check-in asks the browser for the position (4 s timeout) and
 *             falls back to the station's position (demo, desktop without location) — marked "src": "station"
 *   position  every 30 s while an order is accepted: the browser position (the officer's map draws it)
 *   banner    a new order for me → banner + vibration + short beep; connection dot
 */
(function () {
    "use strict";
    var F = window.ccField = window.ccField || {beeps: 0, lastBanner: null};

    function tr(key, lang) {
        var c = window.ccI18n && window.ccI18n.catalog;
        if (!c) { return key; }
        var t = (c[lang] || {})[key];
        if (t === undefined || t === null) { t = (c.zh || {})[key]; }
        return t === undefined || t === null ? key : t;
    }
    function noUpdate() { return window.dash_clientside.no_update; }
    function triggered() {
        var ctx = window.dash_clientside.callback_context;
        return (ctx && ctx.triggered ? ctx.triggered : []).filter(function (t) { return t.prop_id !== "."; });
    }

    function locate(timeoutMs) {
        return new Promise(function (resolve) {
            if (!navigator.geolocation) { resolve(null); return; }
            var done = false;
            var timer = setTimeout(function () { if (!done) { done = true; resolve(null); } }, timeoutMs);
            navigator.geolocation.getCurrentPosition(function (p) {
                if (done) { return; }
                done = true; clearTimeout(timer);
                resolve({lon: p.coords.longitude, lat: p.coords.latitude, accuracy_m: p.coords.accuracy});
            }, function () {
                if (done) { return; }
                done = true; clearTimeout(timer); resolve(null);
            }, {enableHighAccuracy: true, timeout: timeoutMs, maximumAge: 30000});
        });
    }

    F.lang = function (search) {
        var m = /[?&]lang=(en|zh)/i.exec(search || "");
        var lang = m ? m[1].toLowerCase() : "zh";
        document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
        document.title = tr("field.title", lang);
        return lang;
    };

    F.tab = function (a, b, c, current) {
        var t0 = triggered()[0], tab = current || "mine";
        if (t0 && t0.value) {
            if (t0.prop_id.indexOf("f-tab-pool") === 0) { tab = "pool"; }
            else if (t0.prop_id.indexOf("f-tab-done") === 0) { tab = "done"; }
            else if (t0.prop_id.indexOf("f-tab-mine") === 0) { tab = "mine"; }
        }
        return [tab].concat(["mine", "pool", "done"].map(function (k) {
            return "cc-f-tab" + (k === tab ? " cc-f-tab-on" : "");
        }));
    };

    F.act = function (clicks, results, resultIds) {
        var tr0 = triggered().filter(function (t) { return t.value; })[0];
        if (!tr0 || tr0.prop_id.charAt(0) !== "{") { return noUpdate(); }
        var id = JSON.parse(tr0.prop_id.slice(0, tr0.prop_id.lastIndexOf(".")));
        var req = {order_id: id.id, act: id.act, ts: Date.now()};
        if (id.act === "resolve") {
            (resultIds || []).forEach(function (rid, i) { if (rid.id === id.id) { req.result = results[i]; } });
        }
        if (id.act !== "check_in" && id.act !== "accept") { return req; }
        var card = document.querySelector('[data-order="' + id.id + '"]');
        var slon = card ? Number(card.getAttribute("data-lon")) : NaN;
        var slat = card ? Number(card.getAttribute("data-lat")) : NaN;
        return locate(id.act === "check_in" ? 4000 : 2500).then(function (p) {
            if (p) { req.lon = p.lon; req.lat = p.lat; req.src = "gps"; }
            else if (id.act === "check_in" && isFinite(slon) && isFinite(slat)) {
                req.lon = slon; req.lat = slat; req.src = "station";
            }
            return req;
        });
    };

    F.position = function (n, listChildren) {
        if (!document.querySelector(".cc-fc-accepted, .cc-fc-assigned")) { return noUpdate(); }
        return locate(5000).then(function (p) { return p ? {lon: p.lon, lat: p.lat, ts: Date.now()} : noUpdate(); });
    };

    function beep() {
        F.beeps += 1;
        var C = window.AudioContext || window.webkitAudioContext;
        if (!C) { return; }
        try {
            var ac = F.ac = F.ac || new C(), t0 = ac.currentTime + 0.02;
            [0, 0.25].forEach(function (dt) {
                var o = ac.createOscillator(), g = ac.createGain();
                o.frequency.value = 880; o.type = "sine";
                g.gain.setValueAtTime(0.0001, t0 + dt);
                g.gain.exponentialRampToValueAtTime(0.2, t0 + dt + 0.02);
                g.gain.exponentialRampToValueAtTime(0.0001, t0 + dt + 0.18);
                o.connect(g); g.connect(ac.destination); o.start(t0 + dt); o.stop(t0 + dt + 0.2);
            });
        } catch (e) { /* no audio */ }
    }

    F.banner = function (evt, connected, lang, me) {
        var t0 = triggered()[0];
        var dot = "cc-f-dot" + (connected ? " cc-f-dot-on" : "");
        if (!t0 || t0.prop_id.indexOf("fsocket.data-workorder") !== 0 || !evt || !evt.order) {
            return [noUpdate(), noUpdate(), dot];
        }
        var o = evt.order;
        var mine = me && o.assignee_id === me.engineer_id;
        if (!(mine && evt.event === "assigned")) { return [noUpdate(), noUpdate(), dot]; }
        var title = o.title || "";
        var i = title.indexOf(" / ");
        if (i >= 0) { title = lang === "en" ? title.slice(i + 3) : title.slice(0, i); }
        beep();
        if (navigator.vibrate) { try { navigator.vibrate([200, 100, 200]); } catch (e) { /* ignore */ } }
        F.lastBanner = o.id;
        return ["#" + o.id + " " + tr("field.new_order", lang || "zh").replace("{title}", title),
                "cc-f-banner cc-f-banner-on", dot];
    };

    // field page only: SLA countdowns tick in place, sign-out
    function pad(n) { return (n < 10 ? "0" : "") + n; }
    setInterval(function () {
        if (!document.querySelector(".cc-fieldapp")) { return; }
        var clocks = document.querySelectorAll(".cc-fieldapp [data-deadline]");
        for (var j = 0; j < clocks.length; j++) {
            var left = Number(clocks[j].getAttribute("data-deadline")) - Date.now();
            var s = Math.floor(Math.abs(left) / 1000), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
            var v = clocks[j].querySelector(".cc-sla-v");
            if (v) { v.textContent = (left < 0 ? "-" : "") + (h ? h + ":" + pad(m) + ":" : pad(m) + ":") + pad(s % 60); }
            clocks[j].classList.toggle("cc-sla-over", left < 0);
        }
    }, 1000);
    document.addEventListener("click", function (ev) {
        if (!document.querySelector(".cc-fieldapp")) { return; }
        var btn = ev.target && ev.target.closest ? ev.target.closest(".cc-field-logout") : null;
        if (!btn) { return; }
        ev.preventDefault();
        var m = document.cookie.match(/(?:^|;\s*)_csrf_token=([^;]*)/);  // dashboard/csrf.py
        fetch("/auth/logout", {method: "POST", credentials: "same-origin",
                               headers: m ? {"X-CSRFToken": decodeURIComponent(m[1])} : {}})
            .finally(function () { window.location.assign("/auth/login?next=/field/"); });
    });

    window.dash_clientside = Object.assign({}, window.dash_clientside, {ccField: F});
}());
