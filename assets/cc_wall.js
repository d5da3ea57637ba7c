/*
 * The video-wall page /wall (dashboard/wall.py): live state, scene playlist, emergency command mode.
 *
 * Dash calls one clientside function, dash_clientside.ccWall.apply, whenever the snapshot (server resync), a
 * Socket.IO event of the nation room (station_states, kpis, alarm, workorder), the connection state or the focused
 * station's detail changes. Everything is drawn straight into the DOM by render(), once a second and at once after
 * an alarm: rows are reused in place (syncRows), never rebuilt from scratch, so a page that runs for days keeps a
 * flat heap. State lives on window.ccWall (tests and the benchmark read it):
 *
 *   states {id: state}, kpis (nation kpis payload), alarms {id: alarm} (open only, ≤ MAX_ALARMS),
 *   orders {id: order} (≤ MAX_ORDERS), mode "daily" | "emergency", step (current playlist step), focus (alarm)
 *
 * One setInterval (the 1 s tick) and one init hook on L.Map are the only timers / hooks; nothing is added per event.
 * Does nothing on other pages (no #wall-root).
 */
(function () {
    "use strict";
    var W = window.ccWall = window.ccWall || {};
    var MAX_ALARMS = 500, MAX_ORDERS = 300, MAX_DELTAS = 30, RECENT_MS = 10 * 60 * 1000, HIDEOUT_MS = 3000;
    var ORDER_STEPS = ["created", "assigned", "accepted", "on_site", "resolved", "closed"];
    var ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"};
    var MIX = ["running", "idle", "alarm", "offline", "not_built"];

    function reset() {
        W.states = {}; W.kpis = null; W.kpisLiveTs = 0; W.alarms = {}; W.alarmTs = {}; W.closedTs = {};
        W.orders = {}; W.orderTs = {}; W.names = {}; W.bounds = {}; W.index = {}; W.deltas = [];
        W.connected = false; W.downSince = Date.now(); W.lastSnapAt = 0; W.mode = "daily"; W.step = null;
        W.stepKey = null; W.focus = null; W.focusStation = null; W.focusDetail = null; W.camSrc = "";
        W.statesDirty = true; W.selected = null; W.applied = 0; W.renders = 0; W.snapshots = 0; W.alarmEvents = 0;
        W.emergencies = 0; W.tickerSig = ""; W.mapReadyAt = null; W.regionSel = null; W.regionShown = null; W.modeChanges = [];
    }
    if (!W.states) { reset(); }

    // ------------------------------------------------------------------ helpers
    function tr(key, vars) {
        var c = window.ccI18n && window.ccI18n.catalog, lang = W.lang || "zh", s;
        if (c) { s = (c[lang] || {})[key]; if (s === undefined || s === null) { s = (c.zh || {})[key]; } }
        if (s === undefined || s === null) { s = key; }
        return vars ? String(s).replace(/\{(\w+)\}/g, function (m, k) { return vars[k] === undefined ? m : vars[k]; }) : s;
    }
    function $(id) { return document.getElementById(id); }
    function setText(id, text) { var e = $(id); if (e && e.textContent !== String(text)) { e.textContent = text; } }
    function setCls(el, cls) { if (el && el.className !== cls) { el.className = cls; } }
    function setAttr(el, k, v) { if (el && el.getAttribute(k) !== String(v)) { el.setAttribute(k, v); } }
    function pad(n) { return (n < 10 ? "0" : "") + n; }
    function hms(ms) { if (!ms) { return "—"; } var d = new Date(ms); return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()); }
    function num(v, dp) {
        if (v === null || v === undefined || !isFinite(v)) { return "—"; }
        return Number(v).toLocaleString(W.lang === "en" ? "en-US" : "zh-CN", {minimumFractionDigits: dp || 0, maximumFractionDigits: dp || 0});
    }
    function age(ms) {
        var s = Math.max(0, Math.floor((Date.now() - ms) / 1000));
        var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
        if (d) { return tr("wall.age.days", {d: d, h: h}); }
        return h ? tr("wall.age.hours", {h: h, m: pad(m)}) : tr("wall.age.mins", {m: m, s: pad(s % 60)});
    }
    function clockDur(ms) {
        var s = Math.floor(Math.abs(ms) / 1000), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
        return (ms < 0 ? "-" : "") + (h ? h + ":" + pad(m) : pad(m)) + ":" + pad(s % 60);
    }
    function msgOf(m) { m = m || ""; var i = m.indexOf(" / "); return i < 0 ? m : (W.lang === "en" ? m.slice(i + 3) : m.slice(0, i)); }
    function stName(sid, a) {
        var ix = W.index[sid], st = (a && a.station) || {};
        if (W.lang === "en") { return st.name_en || (ix && ix[3]) || st.name || (ix && ix[2]) || sid; }
        return st.name || (ix && ix[2]) || sid;
    }
    function provOf(sid, a) { var ix = W.index[sid]; return (ix && ix[4]) || (a && a.station && a.station.province_adcode) || null; }
    function regionName(room) {
        var n = W.names[room];
        if (n) { return W.lang === "en" ? (n[1] || n[0]) : String(n[0] || "").replace(/(维吾尔自治区|壮族自治区|回族自治区|特别行政区|自治区|省|市)$/, ""); }
        return room ? room.split(":")[1] : "—";
    }
    function triggered() {
        var ctx = window.dash_clientside && window.dash_clientside.callback_context;
        // the initial call reports [{prop_id: "."}]: no prop → every input is new
        return (ctx && ctx.triggered ? ctx.triggered : []).map(function (t) { return t.prop_id; })
            .filter(function (p) { return p && p !== "."; });
    }
    function setProps(id, props) {
        var dc = window.dash_clientside;
        if (dc && dc.set_props) { try { dc.set_props(id, props); } catch (e) { /* component not mounted yet */ } }
    }

    // rows reused in place: rows = [{c: class, cells: [{t: text, c: class, w: bar width %}]}]
    function syncRows(box, rows) {
        if (!box) { return; }
        var kids = box.children, i, j;
        for (i = 0; i < rows.length; i++) {
            var r = kids[i];
            if (!r) { r = document.createElement("div"); box.appendChild(r); }
            setCls(r, rows[i].c || "cc-w-tr");
            var cells = rows[i].cells;
            for (j = 0; j < cells.length; j++) {
                var c = r.children[j];
                if (!c) { c = document.createElement("span"); r.appendChild(c); }
                var t = cells[j].t === undefined || cells[j].t === null ? "" : String(cells[j].t);
                if (c.textContent !== t) { c.textContent = t; }
                setCls(c, cells[j].c || "");
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
    function hookMap() {
        if (W.hooked || !window.L || !window.L.Map) { return !!W.hooked; }
        window.L.Map.addInitHook(function () {
            var el = this.getContainer && this.getContainer();
            if (el && (el.id === "wall-map" || (el.closest && el.closest("#wall-mapbox")))) {
                W.map = this;
                W.lastView = null;
            }
        });
        W.hooked = true;
        return true;
    }
    if (!hookMap()) { document.addEventListener("DOMContentLoaded", hookMap); }

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
    function isEmergency(a) { return a.severity === 1 && a.active && !a.shelved && a.state !== "closed"; }
    function orderOpen(o) { return o.state !== "closed" && o.state !== "cancelled"; }

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
        if (a.state === "closed") { delete W.alarms[a.id]; W.closedTs[a.id] = ts; } else { W.alarms[a.id] = a; }
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
        return st.scene === "province" ? tr("wall.scene.province_n", {n: st.rank + 1}) : tr("wall.scene." + st.scene);
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

    // ------------------------------------------------------------------ rendering
    function renderHeader(now, list, idx) {
        setText("wall-clock", hms(now));
        var d = new Date(now);
        var wd = d.toLocaleDateString(W.lang === "en" ? "en-US" : "zh-CN", {weekday: "long"});
        setText("wall-date", d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " + wd);
        var conn = $("wall-conn");
        setCls(conn, "cc-w-conn " + (W.connected ? "cc-w-conn-live" : "cc-w-conn-down"));
        setText("wall-conn-text", tr(W.connected ? "wall.conn.live" : "wall.conn.down"));
        setText("wall-mode", tr(W.mode === "emergency" ? "wall.mode.emergency" : "wall.mode.daily"));
        var chips = $("wall-scene-chips");
        if (chips && chips.children.length !== list.length) {
            syncRows(chips, list.map(function () { return {c: "cc-w-chip", cells: []}; }));
        }
        if (chips) {
            list.forEach(function (st, i) {
                var c = chips.children[i];
                if (c.textContent !== stepLabel(st)) { c.textContent = stepLabel(st); }
                setCls(c, "cc-w-chip" + (i === idx && W.mode !== "emergency" ? " cc-w-chip-on" : ""));
                setAttr(c, "data-step", st.key);
            });
        }
        var dwell = W.cfg.dwell_ms, st = list[idx], next = list[(idx + 1) % list.length];
        if (W.mode === "emergency") {
            setText("wall-scene-name", tr("wall.mode.emergency"));
            setText("wall-scene-next", "—");
            setText("wall-scene-left", "");
        } else {
            setText("wall-scene-name", stepLabel(st));
            setText("wall-scene-next", stepLabel(next));
            setText("wall-scene-left", Math.ceil((dwell - now % dwell) / 1000) + "s");
        }
        var bar = $("wall-scene-progress");
        if (bar) { bar.style.width = (W.mode === "emergency" ? 100 : (now % dwell) / dwell * 100).toFixed(1) + "%"; }
    }

    function renderKpis(list) {
        var k = W.kpis || {};
        setText("wall-k-online", num(k.stations_online));
        setText("wall-k-online-sub", tr("wall.kpi.of", {n: num(k.stations_total)}));
        setText("wall-k-loaded", num(k.compressors_loaded));
        setText("wall-k-loaded-sub", tr("wall.kpi.of", {n: num(k.compressors_total)}));
        setText("wall-k-flow", num(k.flow_m3_min, 0));
        setText("wall-k-power", num(k.power_kw, 0));
        setText("wall-k-ratio", num(k.air_to_power_m3_per_kwh, 2));
        setText("wall-k-ratio-sub", tr("wall.kpi.ratio_hint"));
        setText("wall-k-alarm", num(k.stations_alarm));
        setText("wall-k-alarm-sub", tr("wall.kpi.offline", {n: num(k.stations_offline)}));
        var bySev = {1: 0, 2: 0, 3: 0, 4: 0};
        list.forEach(function (a) { if (a.active) { bySev[a.severity] = (bySev[a.severity] || 0) + 1; } });
        setText("wall-k-open", num(list.length));
        setText("wall-k-open-sub", "I " + bySev[1] + " · II " + bySev[2] + " · III " + bySev[3] + " · IV " + bySev[4]);
        var open = 0, overdue = 0;
        Object.keys(W.orders).forEach(function (id) {
            var o = W.orders[id];
            if (orderOpen(o)) { open += 1; if (o.overdue && o.overdue.length) { overdue += 1; } }
        });
        setText("wall-k-orders", num(open));
        setText("wall-k-orders-sub", tr("wall.kpi.overdue", {n: overdue}));
        setText("wall-updated", hms(k.ts_ms || W.lastSnapAt));
    }

    function sevCell(a) { return {t: ROMAN[a.severity] || "?", c: "cc-w-sev cc-w-sev" + a.severity}; }
    function alarmState(a) { return a.shelved ? "shelved" : a.state; }
    function ordersByAlarm() {
        var by = {};
        Object.keys(W.orders).forEach(function (id) {
            var o = W.orders[id];
            if (o.alarm_id !== null && o.alarm_id !== undefined && (!by[o.alarm_id] || o.id > by[o.alarm_id].id)) { by[o.alarm_id] = o; }
        });
        return by;
    }

    function renderNation() {
        var rows = provinceRows().sort(function (a, b) { return (b.stations_total - a.stations_total) || (b.flow_m3_min - a.flow_m3_min); });
        syncRows($("wall-rank-rows"), rows.slice(0, 16).map(function (r, i) {
            var ratio = r.power_kw > 0 ? r.flow_m3_min * 60 / r.power_kw : null;
            return {c: "cc-w-tr" + (r.alarms || r.stations_alarm ? " cc-w-tr-alarm" : ""), cells: [
                {t: i + 1, c: "cc-w-rank-n"}, {t: regionName(r.scope)},
                {t: num(r.stations_online) + " / " + num(r.stations_total), c: "cc-num"},
                {t: num(r.alarms), c: "cc-num" + (r.alarms ? " cc-w-hot" : "")},
                {t: num(r.flow_m3_min, 0), c: "cc-num"}, {t: ratio === null ? "—" : num(ratio, 2), c: "cc-num"}]};
        }));
        var states = (W.kpis && W.kpis.states) || {}, total = 0;
        MIX.forEach(function (s) { total += states[s] || 0; });
        syncRows($("wall-mix-bar"), [{c: "cc-w-mix-segs", cells: MIX.map(function (s) {
            return {t: "", c: "cc-w-mix-seg cc-bg-" + s, w: total ? (states[s] || 0) / total * 100 : 0};
        })}]);
        var latest = openAlarms().sort(function (a, b) { return (b.raised_ts_ms || 0) - (a.raised_ts_ms || 0); });
        var lrows = alarmRows(latest, 6, false);
        if (!lrows.length) { lrows = [{c: "cc-w-empty", cells: [{t: tr("wall.alarms.none")}]}]; }
        syncRows($("wall-nation-alarms"), lrows);
        syncRows($("wall-mix-legend"), MIX.map(function (s) {
            return {c: "cc-w-mix-item", cells: [{t: "", c: "cc-w-dot cc-bg-" + s}, {t: tr("state." + s)},
                                                {t: num(states[s] || 0), c: "cc-w-mix-n"}]};
        }));
    }

    function alarmRows(list, max, withOrder) {
        var by = withOrder ? ordersByAlarm() : {};
        return list.slice(0, max).map(function (a) {
            var cells = [sevCell(a), {t: stName(a.station_id, a), c: "cc-w-st"}, {t: msgOf(a.message), c: "cc-w-msg"}];
            if (withOrder) {
                var o = by[a.id];
                cells.push({t: hms(a.raised_ts_ms), c: "cc-num"}, {t: age(a.raised_ts_ms), c: "cc-num"},
                           {t: tr("wall.alarm_state." + alarmState(a)), c: "cc-w-ast cc-w-ast-" + alarmState(a)},
                           {t: o ? "#" + o.id + " " + tr("wall.order." + o.state) : "—", c: o ? "cc-w-ord cc-w-ord-" + o.state : "cc-w-ord"});
            } else {
                cells.push({t: age(a.raised_ts_ms), c: "cc-num"});
            }
            return {c: "cc-w-tr cc-w-arow cc-w-arow-sev" + a.severity + (a.active ? "" : " cc-w-arow-cleared") +
                       (a.severity <= 2 && a.active && !a.acknowledged ? " cc-w-blink" : ""), cells: cells};
        });
    }

    function renderProvince(st) {
        var tops = topProvinces(), p = tops.length ? tops[st.rank % tops.length] : null;
        setText("wall-prov-rank", p ? (st.rank % tops.length + 1) + " / " + Math.min(tops.length, W.cfg.top_provinces) : "");
        setText("wall-prov-name", p ? regionName(p.scope) : "—");
        setText("wall-prov-alarms", p ? num(p.alarms) : "—");
        setText("wall-prov-online", p ? num(p.stations_online) : "—");
        setText("wall-prov-total", p ? tr("wall.kpi.of", {n: num(p.stations_total)}) : "");
        setText("wall-prov-flow", p ? num(p.flow_m3_min, 0) : "—");
        setText("wall-prov-ratio", p && p.power_kw > 0 ? num(p.flow_m3_min * 60 / p.power_kw, 2) : "—");
        var code = p ? p.scope.split(":")[1] : null;
        var list = openAlarms().filter(function (a) { return code && provOf(a.station_id, a) === code; });
        var rows = alarmRows(list, 6, false);
        if (!rows.length) { rows = [{c: "cc-w-empty", cells: [{t: tr("wall.prov.none")}]}]; }
        syncRows($("wall-prov-alarms-list"), rows);
        var sts = Object.keys(W.index).filter(function (sid) { return code && W.index[sid][4] === code; });
        var rank = {alarm: 0, offline: 1, idle: 2, running: 3, not_built: 4};
        sts.sort(function (x, y) { return (rank[W.states[x]] || 0) - (rank[W.states[y]] || 0) || (x < y ? -1 : 1); });
        syncRows($("wall-prov-stations"), sts.slice(0, 12).map(function (sid) {
            var state = W.states[sid] || "offline";
            return {c: "cc-w-tr cc-w-st-" + state, cells: [{t: "", c: "cc-w-dot cc-bg-" + state}, {t: stName(sid), c: "cc-w-st"},
                    {t: sid, c: "cc-w-dim"}, {t: tr("state." + state), c: "cc-w-st-state"}]};
        }));
        W.regionSel = code;
        syncRows($("wall-prov-top"), tops.slice(0, W.cfg.top_provinces).map(function (r, i) {
            return {c: "cc-w-prov-chip" + (r === p ? " cc-w-prov-chip-on" : ""), cells: [
                {t: i + 1, c: "cc-w-rank-n"}, {t: regionName(r.scope)}, {t: num(r.alarms), c: "cc-w-hot"}]};
        }));
        setText("wall-map-title", p ? regionName(p.scope) : tr("wall.scene.province"));
        setText("wall-map-sub", stepLabel(st));
        if (p) {
            var b = W.bounds[p.scope] || stationBounds(Object.keys(W.index).filter(function (sid) { return W.index[sid][4] === code; }));
            if (b) { flyBounds("p:" + p.scope, b); }
        }
    }

    function renderAlarms() {
        var list = openAlarms();
        setText("wall-alarms-count", num(list.length));
        var rows = alarmRows(list, 18, true);
        if (!rows.length) { rows = [{c: "cc-w-empty", cells: [{t: tr("wall.alarms.none")}]}]; }
        syncRows($("wall-alarm-rows"), rows);
        setText("wall-alarms-more", list.length > 18 ? tr("wall.alarms.more", {n: list.length - 18}) : "");
        var by = {1: 0, 2: 0, 3: 0, 4: 0};
        list.forEach(function (a) { if (a.active) { by[a.severity] += 1; } });
        syncRows($("wall-sevbar"), [1, 2, 3, 4].map(function (s) {
            return {c: "cc-w-sevbox cc-w-sevbox" + s, cells: [{t: ROMAN[s], c: "cc-w-sev cc-w-sev" + s}, {t: by[s], c: "cc-w-sevbox-n"}]};
        }));
        setText("wall-map-title", tr("wall.scene.alarms"));
        setText("wall-map-sub", tr("wall.kpi.open_alarms") + " " + list.length);
        var ids = list.map(function (a) { return a.station_id; });
        var b = stationBounds(ids);
        flyBounds("alarms:" + ids.slice(0, 30).sort().join(","), b || W.cfg.china_bounds);
    }

    function renderEnergy() {
        var k = W.kpis || {};
        setText("wall-en-ratio", num(k.air_to_power_m3_per_kwh, 2));
        setText("wall-en-ref", tr("wall.energy.bench", {v: W.cfg.reference_ratio}));
        setText("wall-en-specific", k.flow_m3_min > 0 ? num(k.power_kw / k.flow_m3_min, 2) : "—");
        setText("wall-en-specific-hint", tr("wall.kpi.specific_hint"));
        setText("wall-en-loaded", num(k.compressors_loaded));
        setText("wall-en-loaded-total", tr("wall.kpi.of", {n: num(k.compressors_total)}));
        var rows = provinceRows().filter(function (r) { return r.power_kw > 0; }).map(function (r) {
            return {scope: r.scope, ratio: r.flow_m3_min * 60 / r.power_kw, flow: r.flow_m3_min};
        }).sort(function (a, b) { return b.ratio - a.ratio; });
        var max = rows.reduce(function (m, r) { return Math.max(m, r.ratio); }, W.cfg.reference_ratio) || 1;
        var out = rows.slice(0, 16).map(function (r, i) {
            return {c: "cc-w-tr cc-w-bar-row" + (r.ratio < W.cfg.reference_ratio ? " cc-w-bar-low" : ""), cells: [
                {t: i + 1, c: "cc-w-rank-n"}, {t: regionName(r.scope)}, {t: "", c: "cc-w-bar", w: r.ratio / max * 100},
                {t: num(r.ratio, 2), c: "cc-num cc-w-bar-v"}]};
        });
        if (!out.length) { out = [{c: "cc-w-empty", cells: [{t: tr("wall.energy.none")}]}]; }
        syncRows($("wall-en-bars"), out);
        setText("wall-map-title", tr("wall.scene.energy"));
        setText("wall-map-sub", tr("wall.energy.fleet_ratio") + " " + num(k.air_to_power_m3_per_kwh, 2) + " m³/kWh");
        flyBounds("china", W.cfg.china_bounds);
    }

    function renderNationMap() {
        setText("wall-map-title", tr("wall.scene.nation"));
        var k = W.kpis || {};
        setText("wall-map-sub", tr("wall.kpi.online") + " " + num(k.stations_online) + " / " + num(k.stations_total));
        flyBounds("china", W.cfg.china_bounds);
    }

    function renderTicker(list) {
        var track = $("wall-ticker");
        if (!track) { return; }
        var shown = list.slice(0, 20);
        var sig = W.lang + "|" + shown.map(function (a) { return a.id + ":" + a.state + ":" + a.active; }).join(",");
        if (sig === W.tickerSig) { return; }
        W.tickerSig = sig;
        var items = shown.map(function (a) {
            return {c: "cc-w-tick cc-w-tick-sev" + a.severity, cells: [sevCell(a), {t: stName(a.station_id, a), c: "cc-w-st"},
                    {t: msgOf(a.message)}, {t: hms(a.raised_ts_ms), c: "cc-num cc-w-dim"}]};
        });
        if (!items.length) { items = [{c: "cc-w-tick cc-w-tick-ok", cells: [{t: tr("wall.ticker.none")}]}]; }
        // twice, so the loop is seamless; scrolling only when it overflows
        syncRows(track, shown.length > 3 ? items.concat(items) : items);
        setCls(track, "cc-w-ticker-track" + (shown.length > 3 ? " cc-w-ticker-run" : ""));
        if (shown.length > 3) { track.style.animationDuration = Math.max(20, shown.length * 6) + "s"; }
    }

    function renderEmergency(a, others) {
        var sid = a.station_id;
        setText("wall-emg-what", msgOf(a.message));
        setText("wall-emg-station", stName(sid, a) + " · " + sid);
        setText("wall-emg-banner-station", stName(sid, a));
        setText("wall-emg-raised", hms(a.raised_ts_ms));
        setText("wall-emg-elapsed", age(a.raised_ts_ms));
        var v = "—";
        if (a.value !== null && a.value !== undefined && a.kind !== "digital" && a.kind !== "comm_loss") {
            v = num(a.value, Math.abs(a.value) < 10 ? 2 : 1) + " " + (a.unit || "") + (a.threshold !== null && a.threshold !== undefined ? " / " + a.threshold : "");
        }
        setText("wall-emg-value", v);
        setText("wall-emg-ack", a.acknowledged ? tr("wall.emg.acked", {who: a.acknowledged_by || ""}) : tr("wall.emg.unacked"));
        setText("wall-emg-state", tr("wall.alarm_state." + alarmState(a)));
        // work order of this alarm (else the newest open one of the station)
        var o = ordersByAlarm()[a.id];
        if (!o) {
            Object.keys(W.orders).forEach(function (id) {
                var x = W.orders[id];
                if (x.station_id === sid && orderOpen(x) && (!o || x.id > o.id)) { o = x; }
            });
        }
        setText("wall-emg-order-id", o ? "#" + o.id + " · " + tr("wall.order." + o.state) : tr("wall.emg.no_order"));
        var steps = $("wall-emg-steps"), reached = o ? ORDER_STEPS.indexOf(o.state) : -1;
        if (steps) {
            for (var i = 0; i < steps.children.length; i++) {
                var s = steps.children[i], key = ORDER_STEPS[i];
                setCls(s, "cc-w-step" + (i < reached ? " cc-w-step-done" : i === reached ? " cc-w-step-now" : ""));
                var tsv = o ? o[key + "_ts_ms"] : null;
                var small = s.querySelector(".cc-w-step-ts");
                if (small) { var txt = tsv ? hms(tsv) : ""; if (small.textContent !== txt) { small.textContent = txt; } }
            }
        }
        setText("wall-emg-assignee", o && (o.assignee_name || o.assignee_id) ? (o.assignee_name || o.assignee_id) : "—");
        var sla = "—";
        if (o && o.sla && o.sla.length) {
            var pending = o.sla.filter(function (c) { return !c.met_ms; })[0];
            if (pending) { sla = tr("wall.sla." + pending.name) + " " + clockDur(pending.deadline_ms - Date.now()); }
        }
        setText("wall-emg-sla", sla);
        W.regionSel = provOf(sid, a);
        setCls($("wall-emg-others-head"), "cc-w-sub" + (others.length ? "" : " cc-w-hidden"));
        var rows = alarmRows(others.slice(0, 6), 6, false);
        if (others.length > 6) { rows.push({c: "cc-w-more", cells: [{t: tr("wall.emg.more", {n: others.length - 6})}]}); }
        syncRows($("wall-emg-others"), rows);
        // camera
        var det = W.focusDetail && W.focusDetail.station_id === sid ? W.focusDetail : null;
        var cam = det && det.cameras && det.cameras.length ? det.cameras[0] : null;
        var img = $("wall-emg-cam"), none = $("wall-emg-nocam");
        var src = cam ? (cam.kind === "mjpeg" ? cam.stream_url : cam.snapshot_url) : "";
        if (img && src !== W.camSrc) {
            W.camSrc = src;
            if (src) { img.src = src; } else { img.removeAttribute("src"); }
        }
        setCls(img, "cc-w-cam-img" + (cam ? "" : " cc-w-hidden"));
        setCls(none, "cc-w-cam-none" + (cam || !det ? " cc-w-hidden" : ""));
        setText("wall-emg-cam-name", cam ? (W.lang === "en" ? cam.name_en || cam.name : cam.name) : "");
        setText("wall-map-title", stName(sid, a));
        setText("wall-map-sub", tr("wall.emg.banner"));
        var ix = W.index[sid], lat = ix ? ix[0] : (det && det.lat), lon = ix ? ix[1] : (det && det.lon);
        if (lat === undefined && a.station) { lat = a.station.lat; lon = a.station.lon; }
        if (lat !== undefined && lat !== null) {
            view("emg:" + sid, function (m) { m.flyTo([lat, lon], 9, {duration: 1.5}); });
        }
    }

    function stopCamera() {
        var img = $("wall-emg-cam");
        if (img && W.camSrc) { img.removeAttribute("src"); }
        W.camSrc = "";
    }

    function render() {
        var root = $("wall-root");
        if (!root || !W.cfg) { return; }
        W.renders += 1;
        var now = Date.now(), list = openAlarms(), all = steps();
        var idx = Math.floor(now / W.cfg.dwell_ms) % all.length, st = all[idx];
        var emg = list.filter(isEmergency).sort(function (a, b) { return (b.raised_ts_ms || 0) - (a.raised_ts_ms || 0); });
        var mode = emg.length ? "emergency" : "daily";
        if (mode !== W.mode) {
            W.mode = mode;
            W.lastView = null;
            W.modeChanges.push({mode: mode, at: now});  // for latency measurements (bench/bench_wall.py)
            if (W.modeChanges.length > 20) { W.modeChanges.shift(); }
            if (mode === "emergency") { W.emergencies += 1; } else { stopCamera(); W.focus = null; W.focusStation = null; W.stepKey = null; }
        }
        setAttr(root, "data-mode", mode);
        setCls(root, "cc-wall cc-w-part-" + W.cfg.part + " cc-w-mode-" + mode);
        renderHeader(now, all, idx);
        renderKpis(list);
        renderTicker(list);
        var sel = null;
        W.regionSel = null;
        if (mode === "emergency") {
            var a = emg[0];
            if (W.focusStation !== a.station_id || W.focus !== a.id) {
                W.focus = a.id;
                if (W.focusStation !== a.station_id) {
                    W.focusStation = a.station_id;
                    W.focusDetail = null;
                    setProps("wall-focus", {data: {station_id: a.station_id, alarm_id: a.id}});
                }
            }
            setAttr(root, "data-focus", a.id);
            setAttr(root, "data-scene", "emergency");
            renderEmergency(a, emg.slice(1));
            sel = a.station_id;
        } else {
            setAttr(root, "data-focus", "");
            if (W.stepKey !== st.key) { W.stepKey = st.key; W.step = st; }
            setAttr(root, "data-scene", st.scene);
            setAttr(root, "data-step", st.key);
            if (st.scene === "nation") { renderNation(); renderNationMap(); }
            else if (st.scene === "province") { renderProvince(st); }
            else if (st.scene === "alarms") { renderAlarms(); }
            else if (st.scene === "energy") { renderEnergy(); }
            if (W.cfg.part === "panel" && st.scene !== "nation") { renderNation(); }
        }
        // station colours: at most every HIDEOUT_MS (each push redraws every marker — the page's heaviest work at
        // high update rates), at once when the focused station changes
        if ((W.statesDirty && now - (W.hideoutAt || 0) >= HIDEOUT_MS) || sel !== W.selected) {
            W.statesDirty = false;
            W.hideoutAt = now;
            W.selected = sel;
            setProps("wall-stations", {hideout: {states: Object.assign({}, W.states), lang: W.lang, selected: sel}});
        }
        if (W.regionSel !== W.regionShown) {
            W.regionShown = W.regionSel;
            setProps("wall-regions", {hideout: {lang: W.lang, selected: W.regionSel}});
        }
        if (!W.mapReadyAt) {
            var ready = W.cfg.part === "panel" ? W.snapshots > 0
                : !!document.querySelector("#wall-map .cc-st, #wall-map .cc-cl");
            if (ready) { W.mapReadyAt = Date.now(); setAttr(root, "data-map-ready", "1"); }
        }
    }

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
            try { render(); } catch (e) { if (window.console) { console.warn("wall render", e); } }
            watchdog(Date.now());
        }, 1000);
        // the first paint: poll briefly until the map shows markers (then the 1 s tick takes over)
        var n = 0;
        var fast = setInterval(function () {
            n += 1;
            try { render(); } catch (e) { /* next tick */ }
            if (W.mapReadyAt || n > 100) { clearInterval(fast); }
        }, 100);
    }

    window.dash_clientside = window.dash_clientside || {};
    Object.assign(window.dash_clientside, {
        ccWall: {
            apply: function (snap, dStates, dKpis, dAlarm, dOrder, connected, focusDetail, index, cfg) {
                if (!cfg) { return window.dash_clientside.no_update; }
                start(cfg);
                var trig = triggered(), all = trig.length === 0;
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
                if (urgent) { try { render(); } catch (e) { if (window.console) { console.warn("wall render", e); } } }
                return window.dash_clientside.no_update;
            }
        }
    });
    W.render = render;
    W.steps = steps;
}());
