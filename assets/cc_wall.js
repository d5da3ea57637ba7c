/*
 * The video-wall page /wall (dashboard/pages/wall.py): live state, scene playlist, emergency command mode — the
 * state, the data it is made of and the timers. The scenes are drawn by cc_wall_scenes.js (loaded after this file).
 *
 * Dash calls one clientside function, dash_clientside.ccWall.apply, whenever the snapshot (server resync), a
 * Socket.IO event of the nation room (station_states, kpis, alarm, workorder), the connection state or the focused
 * station's detail changes. Everything is drawn straight into the DOM by render(), once a second and at once after
 * an alarm: rows are reused in place (syncRows), never rebuilt from scratch, so a page that runs for days keeps a
 * flat heap. State lives on cc.wall (tests and the benchmark read it):
 *
 *   states {id: state}, kpis (nation kpis payload), alarms {id: alarm} (open only, ≤ MAX_ALARMS),
 *   orders {id: order} (≤ MAX_ORDERS), mode "daily" | "emergency", step (current playlist step), focus (alarm)
 *
 * Alarms carry the server's `alerting`, orders `open` and `sla_deadline_ms` (ops/vocab.py); numerals, order steps
 * and state colours come from cc.vocab. Helpers shared with cc_wall_scenes.js are on cc.wall.lib.
 *
 * One setInterval (the 1 s tick) and one init hook on L.Map are the only timers / hooks; nothing is added per event.
 * Does nothing on other pages (no #wall-root).
 */
(function () {
    "use strict";
    var cc = window.cc;
    var W = cc.wall = {};
    var MAX_ALARMS = 500, MAX_ORDERS = 300, MAX_DELTAS = 30, RECENT_MS = 10 * 60 * 1000;

    function reset() {
        W.states = {}; W.kpis = null; W.kpisLiveTs = 0; W.alarms = {}; W.alarmTs = {}; W.closedTs = {};
        W.orders = {}; W.orderTs = {}; W.names = {}; W.bounds = {}; W.index = {}; W.deltas = [];
        W.connected = false; W.downSince = Date.now(); W.lastSnapAt = 0; W.mode = "daily"; W.step = null;
        W.stepKey = null; W.focus = null; W.focusStation = null; W.focusDetail = null; W.camSrc = "";
        W.statesDirty = true; W.selected = null; W.applied = 0; W.renders = 0; W.snapshots = 0; W.alarmEvents = 0;
        W.emergencies = 0; W.tickerSig = ""; W.mapReadyAt = null; W.regionSel = null; W.regionShown = null; W.modeChanges = [];
    }
    reset();

    // ------------------------------------------------------------------ helpers
    /* the wall's words: cc.tr in the wall's language */
    function wt(key, vars) { return cc.tr(key, W.lang || "zh", vars); }
    /* a figure in the wall's language, dp fraction digits (0 when not given) */
    function fig(v, dp) { return cc.num(v, dp || 0, W.lang); }
    function stName(sid, a) {
        var ix = W.index[sid], st = (a && a.station) || {};
        if (W.lang === "en") { return st.name_en || (ix && ix[3]) || st.name || (ix && ix[2]) || sid; }
        return st.name || (ix && ix[2]) || sid;
    }
    function provOf(sid, a) { var ix = W.index[sid]; return (ix && ix[4]) || (a && a.station && a.station.province_adcode) || null; }
    function regionName(room) {
        var n = W.names[room];
        if (n) { return W.lang === "en" ? (n[1] || n[0]) : cc.shortName(String(n[0] || ""), "zh"); }
        return room ? room.split(":")[1] : "—";
    }

    // rows reused in place: rows = [{c: class, cells: [{t: text, c: class, w: bar width %}]}]
    function syncRows(box, rows) {
        if (!box) { return; }
        var kids = box.children, i, j;
        for (i = 0; i < rows.length; i++) {
            var r = kids[i];
            if (!r) { r = document.createElement("div"); box.appendChild(r); }
            cc.setCls(r, rows[i].c || "cc-w-tr");
            var cells = rows[i].cells;
            for (j = 0; j < cells.length; j++) {
                var c = r.children[j];
                if (!c) { c = document.createElement("span"); r.appendChild(c); }
                var t = cells[j].t === undefined || cells[j].t === null ? "" : String(cells[j].t);
                if (c.textContent !== t) { c.textContent = t; }
                cc.setCls(c, cells[j].c || "");
                if (cells[j].w !== undefined) {
                    var w = Math.max(0, Math.min(100, cells[j].w)).toFixed(1) + "%";
                    if (c.style.getPropertyValue("--w") !== w) { c.style.setProperty("--w", w); }
                }
            }
            while (r.children.length > cells.length) { r.removeChild(r.lastChild); }
        }
        while (kids.length > rows.length) { box.removeChild(box.lastChild); }
    }

    // ------------------------------------------------------------------ the Leaflet map of the wall
    cc.onMap(function (map) {
        var el = map.getContainer && map.getContainer();
        if (el && (el.id === "wall-map" || (el.closest && el.closest("#wall-mapbox")))) {
            W.map = map;
            W.lastView = null;
        }
    });

    function mapUsable() {
        if (!W.map || !W.cfg || W.cfg.part === "panel") { return false; }
        var s = W.map.getSize && W.map.getSize();
        return !!(s && s.x > 0 && s.y > 0);
    }
    function view(key, fn) {
        // one fly per view change (not per tick); the map may not exist yet: retried by the next tick
        if (W.lastView === key || !mapUsable()) { return; }
        W.lastView = key;
        try { fn(W.map); } catch (e) { W.lastView = null; }
    }
    function flyBounds(key, b) {
        view(key, function (m) { m.flyToBounds(b, {padding: [24, 24], duration: 1.2, maxZoom: 9}); });
    }
    function stationBounds(ids) {
        var pts = ids.map(function (sid) { return W.index[sid]; }).filter(Boolean);
        if (!pts.length) { return null; }
        var s = 90, w = 180, n = -90, e = -180;
        pts.forEach(function (p) { s = Math.min(s, p[0]); n = Math.max(n, p[0]); w = Math.min(w, p[1]); e = Math.max(e, p[1]); });
        var padLat = Math.max(0.6, (n - s) * 0.15), padLon = Math.max(0.8, (e - w) * 0.15);
        return [[s - padLat, w - padLon], [n + padLat, e + padLon]];
    }

    // ------------------------------------------------------------------ applying data
    function openAlarms() {
        var out = [];
        Object.keys(W.alarms).forEach(function (id) { out.push(W.alarms[id]); });
        return out.sort(function (a, b) {
            if (a.severity !== b.severity) { return a.severity - b.severity; }
            if (a.active !== b.active) { return a.active ? -1 : 1; }
            return (b.raised_ts_ms || 0) - (a.raised_ts_ms || 0);
        });
    }
    // emergency command mode: the server's flag (ops/vocab.py emergency: severity I, active, not shelved, open)
    function isEmergency(a) { return !!a.emergency; }
    function orderOpen(o) { return !!o.open; }  // the server's flag (ops/vocab.py order_flags)

    function pruneAlarms() {
        var now = Date.now(), ids = Object.keys(W.alarms);
        Object.keys(W.alarmTs).forEach(function (id) { if (now - W.alarmTs[id] > RECENT_MS && !W.alarms[id]) { delete W.alarmTs[id]; } });
        Object.keys(W.closedTs).forEach(function (id) { if (now - W.closedTs[id] > RECENT_MS) { delete W.closedTs[id]; } });
        if (ids.length > MAX_ALARMS) {  // keep the most severe / newest
            openAlarms().slice(MAX_ALARMS).forEach(function (a) { delete W.alarms[a.id]; delete W.alarmTs[a.id]; });
        }
    }
    function pruneOrders() {
        var now = Date.now();
        var list = Object.keys(W.orders).map(function (id) { return W.orders[id]; });
        list.forEach(function (o) {
            if (!orderOpen(o) && now - (o.closed_ts_ms || o.created_ts_ms || 0) > 24 * 3600 * 1000) { delete W.orders[o.id]; delete W.orderTs[o.id]; }
        });
        list = Object.keys(W.orders).map(function (id) { return W.orders[id]; });
        if (list.length > MAX_ORDERS) {
            list.sort(function (a, b) { return (b.created_ts_ms || 0) - (a.created_ts_ms || 0); });
            list.slice(MAX_ORDERS).forEach(function (o) { delete W.orders[o.id]; delete W.orderTs[o.id]; });
        }
        Object.keys(W.orderTs).forEach(function (id) { if (!W.orders[id] && now - W.orderTs[id] > RECENT_MS) { delete W.orderTs[id]; } });
    }

    function applySnapshot(snap) {
        if (!snap || typeof snap !== "object") { return; }
        var ts = snap.ts_ms || 0, ats = snap.alarms_ts_ms || ts;
        W.snapshots += 1;
        W.lastSnapAt = Date.now();
        W.states = Object.assign({}, snap.states || {});
        W.deltas.forEach(function (d) { if ((d.ts_ms || 0) > ts) { Object.assign(W.states, d.states || {}); } });
        W.statesDirty = true;
        if (snap.kpis && W.kpisLiveTs <= ts) { W.kpis = snap.kpis; }
        Object.assign(W.names, snap.names || {});
        Object.assign(W.bounds, snap.bounds || {});
        var alarms = {};
        (snap.alarms || []).forEach(function (a) { alarms[a.id] = a; });
        Object.keys(W.alarmTs).forEach(function (id) {  // live messages newer than the snapshot win
            if (W.alarmTs[id] > ats) {
                if (W.alarms[id]) { alarms[id] = W.alarms[id]; } else { delete alarms[id]; }
            }
        });
        Object.keys(W.closedTs).forEach(function (id) { if (W.closedTs[id] > ats) { delete alarms[id]; } });
        W.alarms = alarms;
        var orders = {};
        (snap.orders || []).forEach(function (o) { orders[o.id] = o; });
        Object.keys(W.orderTs).forEach(function (id) { if (W.orderTs[id] > ats && W.orders[id]) { orders[id] = W.orders[id]; } });
        W.orders = orders;
        pruneAlarms();
        pruneOrders();
    }

    function applyAlarm(msg) {
        if (!msg || !msg.alarm) { return; }
        var a = msg.alarm, ts = msg.ts_ms || Date.now();
        if ((W.alarmTs[a.id] || 0) > ts) { return; }  // an older message
        W.alarmEvents += 1;
        W.alarmTs[a.id] = ts;
        if (msg.station) { a.station = msg.station; }
        if (!cc.alarmOpen(a.state)) { delete W.alarms[a.id]; W.closedTs[a.id] = ts; } else { W.alarms[a.id] = a; }
        pruneAlarms();
    }
    function applyOrder(msg) {
        if (!msg || !msg.order) { return; }
        var o = msg.order, ts = msg.ts_ms || Date.now();
        if ((W.orderTs[o.id] || 0) > ts) { return; }
        W.orderTs[o.id] = ts;
        if (msg.station) { o.station = msg.station; }
        W.orders[o.id] = o;
        pruneOrders();
    }
    function applyStates(d) {
        if (!d || d.scope !== "nation") { return; }
        Object.assign(W.states, d.states || {});
        W.deltas.push({ts_ms: d.ts_ms, states: d.states});
        if (W.deltas.length > MAX_DELTAS) { W.deltas.splice(0, W.deltas.length - MAX_DELTAS); }
        W.statesDirty = true;
    }

    // ------------------------------------------------------------------ playlist
    function steps() {
        var out = [];
        ((W.cfg && W.cfg.scenes) || ["nation"]).forEach(function (s) {
            if (s === "provinces") {
                for (var i = 0; i < (W.cfg.top_provinces || 3); i++) { out.push({key: "province" + i, scene: "province", rank: i}); }
            } else { out.push({key: s, scene: s}); }
        });
        return out;
    }
    function stepLabel(st) {
        return st.scene === "province" ? wt("wall.scene.province_n", {n: st.rank + 1}) : wt("wall.scene." + st.scene);
    }
    function provinceRows() {
        var alarmsBy = {};
        Object.keys(W.alarms).forEach(function (id) {
            var a = W.alarms[id], p = provOf(a.station_id, a);
            if (p) { alarmsBy["province:" + p] = (alarmsBy["province:" + p] || 0) + 1; }
        });
        var rows = ((W.kpis && W.kpis.children) || []).map(function (c) {
            return Object.assign({alarms: alarmsBy[c.scope] || 0}, c);
        });
        return rows;
    }
    function topProvinces() {
        return provinceRows().sort(function (a, b) {
            return (b.alarms - a.alarms) || (b.stations_alarm - a.stations_alarm) || (b.stations_total - a.stations_total);
        });
    }

    W.lib = {t: wt, n: fig, stName: stName, provOf: provOf, regionName: regionName, syncRows: syncRows, view: view,
             flyBounds: flyBounds, stationBounds: stationBounds, openAlarms: openAlarms, isEmergency: isEmergency,
             orderOpen: orderOpen, steps: steps, stepLabel: stepLabel, provinceRows: provinceRows,
             topProvinces: topProvinces};

    function watchdog(now) {
        // a wall must recover alone: a snapshot that stopped coming (session ended, server gone) or a socket down for
        // long reloads the page — its URL keeps the token, so a fresh read-only session starts
        if (W.reloading || !W.cfg) { return; }
        var stale = W.lastSnapAt && now - W.lastSnapAt > 3 * W.cfg.resync_ms + 15000;
        var down = !W.connected && W.downSince && now - W.downSince > 90000;
        if (stale || down) { W.reloading = true; window.location.reload(); }
    }

    function start(cfg) {
        if (W.started) { return; }
        W.started = true;
        W.cfg = cfg;
        W.lang = cfg.lang || "zh";
        document.documentElement.lang = W.lang === "en" ? "en" : "zh-CN";
        document.documentElement.classList.add("cc-wall-html");
        W.tickTimer = setInterval(function () {
            try { W.render(); } catch (e) { if (window.console) { console.warn("wall render", e); } }
            watchdog(Date.now());
        }, 1000);
        // the first paint: poll briefly until the map shows markers (then the 1 s tick takes over)
        var n = 0;
        var fast = setInterval(function () {
            n += 1;
            try { W.render(); } catch (e) { /* next tick */ }
            if (W.mapReadyAt || n > 100) { clearInterval(fast); }
        }, 100);
    }

    cc.clientside("ccWall", {
        apply: function (snap, dStates, dKpis, dAlarm, dOrder, connected, focusDetail, index, cfg) {
            if (!cfg) { return window.dash_clientside.no_update; }
            start(cfg);
            var trig = cc.triggeredIds(), all = trig.length === 0;
            function has(p) { return all || trig.indexOf(p) >= 0; }
            W.applied += 1;
            // props that carry current state are taken on every call (Dash does not always make an initial
            // call with every input marked as triggered); events only when they fired
            if (index && !W.indexLoaded) { W.indexLoaded = true; W.index = index; }  // static for the page
            var was = W.connected;
            W.connected = !!connected;
            if (!W.connected && (was || !W.downSince)) { W.downSince = Date.now(); }
            if (W.connected) { W.downSince = null; }
            if (snap && (has("wall-snapshot.data") || snap.ts_ms !== W.snapTs)) { W.snapTs = snap.ts_ms; applySnapshot(snap); }
            if (has("wall-socket.data-station_states") && !all) { applyStates(dStates); }
            if (has("wall-socket.data-kpis") && dKpis && dKpis.scope === "nation" && !all) { W.kpis = dKpis; W.kpisLiveTs = dKpis.ts_ms || Date.now(); }
            if (has("wall-socket.data-alarm") && !all) { applyAlarm(dAlarm); }
            if (has("wall-socket.data-workorder") && !all) { applyOrder(dOrder); }
            W.focusDetail = focusDetail || null;
            var urgent = has("wall-socket.data-alarm") || has("wall-snapshot.data") || has("wall-focus-detail.data");
            if (urgent) { try { W.render(); } catch (e) { if (window.console) { console.warn("wall render", e); } } }
            return window.dash_clientside.no_update;
        }
    });
    W.steps = steps;
}());

