/*
 * Clientside callbacks of the field page (/field/, namespace "ccField"; wired in dashboard/pages/field.py, whose Dash
 * app loads only assets/cc.js and cc_field*). Loaded by the command centre too (it loads every asset) but only
 * defines functions there. State: cc.field (tests read cc.field.beeps).
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
    var cc = window.cc;
    var F = cc.field = {beeps: 0, lastBanner: null};
    var fns = {};

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

    fns.lang = function (search) {
        var m = /[?&]lang=(en|zh)/i.exec(search || "");
        var lang = m ? m[1].toLowerCase() : "zh";
        document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
        document.title = cc.tr("field.title", lang);
        return lang;
    };

    fns.tab = function (a, b, c, current) {
        var t0 = cc.triggered()[0], tab = current || "mine";
        if (t0 && t0.value) {
            if (t0.prop_id.indexOf("f-tab-pool") === 0) { tab = "pool"; }
            else if (t0.prop_id.indexOf("f-tab-done") === 0) { tab = "done"; }
            else if (t0.prop_id.indexOf("f-tab-mine") === 0) { tab = "mine"; }
        }
        return [tab].concat(["mine", "pool", "done"].map(function (k) {
            return "cc-f-tab" + (k === tab ? " cc-f-tab-on" : "");
        }));
    };

    fns.act = function (clicks, results, resultIds) {
        var tr0 = cc.triggered().filter(function (t) { return t.value; })[0];
        if (!tr0 || tr0.prop_id.charAt(0) !== "{") { return cc.noUpdate(); }
        var id = cc.idOf(tr0.prop_id);
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

    fns.position = function (n, listChildren) {
        if (!document.querySelector(".cc-fc-accepted, .cc-fc-assigned")) { return cc.noUpdate(); }
        return locate(5000).then(function (p) { return p ? {lon: p.lon, lat: p.lat, ts: Date.now()} : cc.noUpdate(); });
    };

    // a new order: two short 880 Hz beeps
    var ORDER_TONES = [[880, 0, 0.18], [880, 0.25, 0.18]];
    function orderBeep() {
        F.beeps += 1;
        cc.beep(ORDER_TONES, "sine", 0.2);
    }

    fns.banner = function (evt, connected, lang, me) {
        var t0 = cc.triggered()[0];
        var dot = "cc-f-dot" + (connected ? " cc-f-dot-on" : "");
        if (!t0 || t0.prop_id.indexOf("fsocket.data-workorder") !== 0 || !evt || !evt.order) {
            return [cc.noUpdate(), cc.noUpdate(), dot];
        }
        var o = evt.order;
        var mine = me && o.assignee_id === me.engineer_id;
        if (!(mine && evt.event === "assigned")) { return [cc.noUpdate(), cc.noUpdate(), dot]; }
        var title = cc.bilingual(o.title, lang);
        orderBeep();
        if (navigator.vibrate) { try { navigator.vibrate([200, 100, 200]); } catch (e) { /* ignore */ } }
        F.lastBanner = o.id;
        return ["#" + o.id + " " + cc.tr("field.new_order", lang || "zh").replace("{title}", title),
                "cc-f-banner cc-f-banner-on", dot];
    };

    // field page only: SLA countdowns tick in place, sign-out
    setInterval(function () {
        if (!document.querySelector(".cc-fieldapp")) { return; }
        cc.tickDeadlines(document.querySelectorAll(".cc-fieldapp [data-deadline]"), cc.pageLang());
    }, 1000);
    document.addEventListener("click", function (ev) {
        if (!document.querySelector(".cc-fieldapp")) { return; }
        var btn = ev.target && ev.target.closest ? ev.target.closest(".cc-field-logout") : null;
        if (!btn) { return; }
        ev.preventDefault();
        cc.logout("/auth/login?next=/field/");
    });

    cc.clientside("ccField", fns);
}());
