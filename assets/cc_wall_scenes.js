/*
 * The video wall's scenes (cc_wall.js holds the state, data and timers): header, KPI strip, ticker, the nation /
 * province / alarms / energy scenes of the playlist and the emergency command view, all drawn by render() (cc.wall
 * .render, called by the wall's tick and at once after an alarm). Rows are reused in place (lib.syncRows).
 */
(function () {
    "use strict";
    var cc = window.cc, W = cc.wall, lib = W.lib;
    var wt = lib.t, fig = lib.n, stName = lib.stName, provOf = lib.provOf, regionName = lib.regionName;
    var syncRows = lib.syncRows, view = lib.view, flyBounds = lib.flyBounds, stationBounds = lib.stationBounds;
    var openAlarms = lib.openAlarms, orderOpen = lib.orderOpen, stepLabel = lib.stepLabel;
    var provinceRows = lib.provinceRows, topProvinces = lib.topProvinces;
    var HIDEOUT_MS = 3000;
    function $(id) { return document.getElementById(id); }
    function mix() { return cc.vocab.station_legend_order || []; }

    function ageOf(ms) { return cc.age(ms, W.lang); }
    function msg(m) { return cc.bilingual(m, W.lang); }

    // ------------------------------------------------------------------ rendering
    function renderHeader(now, list, idx) {
        cc.setText("wall-clock", cc.hms(now));
        var d = new Date(now);
        var wd = d.toLocaleDateString(W.lang === "en" ? "en-US" : "zh-CN", {weekday: "long"});
        cc.setText("wall-date", d.getFullYear() + "-" + cc.pad(d.getMonth() + 1) + "-" + cc.pad(d.getDate()) + " " + wd);
        var conn = $("wall-conn");
        cc.setCls(conn, "cc-w-conn " + (W.connected ? "cc-w-conn-live" : "cc-w-conn-down"));
        cc.setText("wall-conn-text", wt(W.connected ? "wall.conn.live" : "wall.conn.down"));
        cc.setText("wall-mode", wt(W.mode === "emergency" ? "wall.mode.emergency" : "wall.mode.daily"));
        var chips = $("wall-scene-chips");
        if (chips && chips.children.length !== list.length) {
            syncRows(chips, list.map(function () { return {c: "cc-w-chip", cells: []}; }));
        }
        if (chips) {
            list.forEach(function (st, i) {
                var c = chips.children[i];
                if (c.textContent !== stepLabel(st)) { c.textContent = stepLabel(st); }
                cc.setCls(c, "cc-w-chip" + (i === idx && W.mode !== "emergency" ? " cc-w-chip-on" : ""));
                cc.setAttr(c, "data-step", st.key);
            });
        }
        var dwell = W.cfg.dwell_ms, st = list[idx], next = list[(idx + 1) % list.length];
        if (W.mode === "emergency") {
            cc.setText("wall-scene-name", wt("wall.mode.emergency"));
            cc.setText("wall-scene-next", "—");
            cc.setText("wall-scene-left", "");
        } else {
            cc.setText("wall-scene-name", stepLabel(st));
            cc.setText("wall-scene-next", stepLabel(next));
            cc.setText("wall-scene-left", Math.ceil((dwell - now % dwell) / 1000) + "s");
        }
        var bar = $("wall-scene-progress");
        if (bar) { bar.style.width = (W.mode === "emergency" ? 100 : (now % dwell) / dwell * 100).toFixed(1) + "%"; }
    }

    function renderKpis(list) {
        var k = W.kpis || {};
        cc.setText("wall-k-online", fig(k.stations_online));
        cc.setText("wall-k-online-sub", wt("wall.kpi.of", {n: fig(k.stations_total)}));
        cc.setText("wall-k-loaded", fig(k.compressors_loaded));
        cc.setText("wall-k-loaded-sub", wt("wall.kpi.of", {n: fig(k.compressors_total)}));
        cc.setText("wall-k-flow", fig(k.flow_m3_min, 0));
        cc.setText("wall-k-power", fig(k.power_kw, 0));
        cc.setText("wall-k-ratio", fig(k.air_to_power_m3_per_kwh, 2));
        cc.setText("wall-k-ratio-sub", wt("wall.kpi.ratio_hint"));
        cc.setText("wall-k-alarm", fig(k.stations_alarm));
        cc.setText("wall-k-alarm-sub", wt("wall.kpi.offline", {n: fig(k.stations_offline)}));
        var bySev = {1: 0, 2: 0, 3: 0, 4: 0};
        list.forEach(function (a) { if (a.active) { bySev[a.severity] = (bySev[a.severity] || 0) + 1; } });
        cc.setText("wall-k-open", fig(list.length));
        cc.setText("wall-k-open-sub", "I " + bySev[1] + " · II " + bySev[2] + " · III " + bySev[3] + " · IV " + bySev[4]);
        var open = 0, overdue = 0;
        Object.keys(W.orders).forEach(function (id) {
            var o = W.orders[id];
            if (orderOpen(o)) { open += 1; if (o.overdue && o.overdue.length) { overdue += 1; } }
        });
        cc.setText("wall-k-orders", fig(open));
        cc.setText("wall-k-orders-sub", wt("wall.kpi.overdue", {n: overdue}));
        cc.setText("wall-updated", cc.hms(k.ts_ms || W.lastSnapAt));
    }

    function sevCell(a) { return {t: cc.sevRoman(a.severity), c: "cc-w-sev cc-w-sev" + a.severity}; }
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
                {t: fig(r.stations_online) + " / " + fig(r.stations_total), c: "cc-num"},
                {t: fig(r.alarms), c: "cc-num" + (r.alarms ? " cc-w-hot" : "")},
                {t: fig(r.flow_m3_min, 0), c: "cc-num"}, {t: ratio === null ? "—" : fig(ratio, 2), c: "cc-num"}]};
        }));
        var states = (W.kpis && W.kpis.states) || {}, total = 0;
        mix().forEach(function (s) { total += states[s] || 0; });
        syncRows($("wall-mix-bar"), [{c: "cc-w-mix-segs", cells: mix().map(function (s) {
            return {t: "", c: "cc-w-mix-seg cc-bg-" + s, w: total ? (states[s] || 0) / total * 100 : 0};
        })}]);
        var latest = openAlarms().sort(function (a, b) { return (b.raised_ts_ms || 0) - (a.raised_ts_ms || 0); });
        var lrows = alarmRows(latest, 6, false);
        if (!lrows.length) { lrows = [{c: "cc-w-empty", cells: [{t: wt("wall.alarms.none")}]}]; }
        syncRows($("wall-nation-alarms"), lrows);
        syncRows($("wall-mix-legend"), mix().map(function (s) {
            return {c: "cc-w-mix-item", cells: [{t: "", c: "cc-w-dot cc-bg-" + s}, {t: cc.stateLabel(s, W.lang)},
                                                {t: fig(states[s] || 0), c: "cc-w-mix-n"}]};
        }));
    }

    function alarmRows(list, max, withOrder) {
        var by = withOrder ? ordersByAlarm() : {};
        return list.slice(0, max).map(function (a) {
            var cells = [sevCell(a), {t: stName(a.station_id, a), c: "cc-w-st"}, {t: msg(a.message), c: "cc-w-msg"}];
            if (withOrder) {
                var o = by[a.id];
                cells.push({t: cc.hms(a.raised_ts_ms), c: "cc-num"}, {t: ageOf(a.raised_ts_ms), c: "cc-num"},
                           {t: wt("wall.alarm_state." + alarmState(a)), c: "cc-w-ast cc-w-ast-" + alarmState(a)},
                           {t: o ? "#" + o.id + " " + wt("wall.order." + o.state) : "—", c: o ? "cc-w-ord cc-w-ord-" + o.state : "cc-w-ord"});
            } else {
                cells.push({t: ageOf(a.raised_ts_ms), c: "cc-num"});
            }
            return {c: "cc-w-tr cc-w-arow cc-w-arow-sev" + a.severity + (a.active ? "" : " cc-w-arow-cleared") +
                       (a.alerting ? " cc-w-blink" : ""), cells: cells};
        });
    }

    function renderProvince(st) {
        var tops = topProvinces(), p = tops.length ? tops[st.rank % tops.length] : null;
        cc.setText("wall-prov-rank", p ? (st.rank % tops.length + 1) + " / " + Math.min(tops.length, W.cfg.top_provinces) : "");
        cc.setText("wall-prov-name", p ? regionName(p.scope) : "—");
        cc.setText("wall-prov-alarms", p ? fig(p.alarms) : "—");
        cc.setText("wall-prov-online", p ? fig(p.stations_online) : "—");
        cc.setText("wall-prov-total", p ? wt("wall.kpi.of", {n: fig(p.stations_total)}) : "");
        cc.setText("wall-prov-flow", p ? fig(p.flow_m3_min, 0) : "—");
        cc.setText("wall-prov-ratio", p && p.power_kw > 0 ? fig(p.flow_m3_min * 60 / p.power_kw, 2) : "—");
        var code = p ? p.scope.split(":")[1] : null;
        var list = openAlarms().filter(function (a) { return code && provOf(a.station_id, a) === code; });
        var rows = alarmRows(list, 6, false);
        if (!rows.length) { rows = [{c: "cc-w-empty", cells: [{t: wt("wall.prov.none")}]}]; }
        syncRows($("wall-prov-alarms-list"), rows);
        var sts = Object.keys(W.index).filter(function (sid) { return code && W.index[sid][4] === code; });
        var defs = cc.vocab.station_states || {};
        function rank(sid) { return (defs[W.states[sid]] || {}).attention || 0; }  // needs attention first
        sts.sort(function (x, y) { return rank(x) - rank(y) || (x < y ? -1 : 1); });
        syncRows($("wall-prov-stations"), sts.slice(0, 12).map(function (sid) {
            var state = W.states[sid] || cc.vocab.station_fallback_state;
            return {c: "cc-w-tr cc-w-st-" + state, cells: [{t: "", c: "cc-w-dot cc-bg-" + state}, {t: stName(sid), c: "cc-w-st"},
                    {t: sid, c: "cc-w-dim"}, {t: cc.stateLabel(state, W.lang), c: "cc-w-st-state"}]};
        }));
        W.regionSel = code;
        syncRows($("wall-prov-top"), tops.slice(0, W.cfg.top_provinces).map(function (r, i) {
            return {c: "cc-w-prov-chip" + (r === p ? " cc-w-prov-chip-on" : ""), cells: [
                {t: i + 1, c: "cc-w-rank-n"}, {t: regionName(r.scope)}, {t: fig(r.alarms), c: "cc-w-hot"}]};
        }));
        cc.setText("wall-map-title", p ? regionName(p.scope) : wt("wall.scene.province"));
        cc.setText("wall-map-sub", stepLabel(st));
        if (p) {
            var b = W.bounds[p.scope] || stationBounds(Object.keys(W.index).filter(function (sid) { return W.index[sid][4] === code; }));
            if (b) { flyBounds("p:" + p.scope, b); }
        }
    }

    function renderAlarms() {
        var list = openAlarms();
        cc.setText("wall-alarms-count", fig(list.length));
        var rows = alarmRows(list, 18, true);
        if (!rows.length) { rows = [{c: "cc-w-empty", cells: [{t: wt("wall.alarms.none")}]}]; }
        syncRows($("wall-alarm-rows"), rows);
        cc.setText("wall-alarms-more", list.length > 18 ? wt("wall.alarms.more", {n: list.length - 18}) : "");
        var by = {}, levels = cc.vocab.severity_order || [];
        levels.forEach(function (s) { by[s] = 0; });
        list.forEach(function (a) { if (a.active) { by[a.severity] = (by[a.severity] || 0) + 1; } });
        syncRows($("wall-sevbar"), levels.map(function (s) {
            return {c: "cc-w-sevbox cc-w-sevbox" + s, cells: [{t: cc.sevRoman(s), c: "cc-w-sev cc-w-sev" + s}, {t: by[s], c: "cc-w-sevbox-n"}]};
        }));
        cc.setText("wall-map-title", wt("wall.scene.alarms"));
        cc.setText("wall-map-sub", wt("wall.kpi.open_alarms") + " " + list.length);
        var ids = list.map(function (a) { return a.station_id; });
        var b = stationBounds(ids);
        flyBounds("alarms:" + ids.slice(0, 30).sort().join(","), b || W.cfg.china_bounds);
    }

    function renderEnergy() {
        var k = W.kpis || {};
        cc.setText("wall-en-ratio", fig(k.air_to_power_m3_per_kwh, 2));
        cc.setText("wall-en-ref", wt("wall.energy.bench", {v: W.cfg.reference_ratio}));
        cc.setText("wall-en-specific", k.flow_m3_min > 0 ? fig(k.power_kw / k.flow_m3_min, 2) : "—");
        cc.setText("wall-en-specific-hint", wt("wall.kpi.specific_hint"));
        cc.setText("wall-en-loaded", fig(k.compressors_loaded));
        cc.setText("wall-en-loaded-total", wt("wall.kpi.of", {n: fig(k.compressors_total)}));
        var rows = provinceRows().filter(function (r) { return r.power_kw > 0; }).map(function (r) {
            return {scope: r.scope, ratio: r.flow_m3_min * 60 / r.power_kw, flow: r.flow_m3_min};
        }).sort(function (a, b) { return b.ratio - a.ratio; });
        var max = rows.reduce(function (m, r) { return Math.max(m, r.ratio); }, W.cfg.reference_ratio) || 1;
        var out = rows.slice(0, 16).map(function (r, i) {
            return {c: "cc-w-tr cc-w-bar-row" + (r.ratio < W.cfg.reference_ratio ? " cc-w-bar-low" : ""), cells: [
                {t: i + 1, c: "cc-w-rank-n"}, {t: regionName(r.scope)}, {t: "", c: "cc-w-bar", w: r.ratio / max * 100},
                {t: fig(r.ratio, 2), c: "cc-num cc-w-bar-v"}]};
        });
        if (!out.length) { out = [{c: "cc-w-empty", cells: [{t: wt("wall.energy.none")}]}]; }
        syncRows($("wall-en-bars"), out);
        cc.setText("wall-map-title", wt("wall.scene.energy"));
        cc.setText("wall-map-sub", wt("wall.energy.fleet_ratio") + " " + fig(k.air_to_power_m3_per_kwh, 2) + " m³/kWh");
        flyBounds("china", W.cfg.china_bounds);
    }

    function renderNationMap() {
        cc.setText("wall-map-title", wt("wall.scene.nation"));
        var k = W.kpis || {};
        cc.setText("wall-map-sub", wt("wall.kpi.online") + " " + fig(k.stations_online) + " / " + fig(k.stations_total));
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
                    {t: msg(a.message)}, {t: cc.hms(a.raised_ts_ms), c: "cc-num cc-w-dim"}]};
        });
        if (!items.length) { items = [{c: "cc-w-tick cc-w-tick-ok", cells: [{t: wt("wall.ticker.none")}]}]; }
        // twice, so the loop is seamless; scrolling only when it overflows
        syncRows(track, shown.length > 3 ? items.concat(items) : items);
        cc.setCls(track, "cc-w-ticker-track" + (shown.length > 3 ? " cc-w-ticker-run" : ""));
        if (shown.length > 3) { track.style.animationDuration = Math.max(20, shown.length * 6) + "s"; }
    }

    function renderEmergency(a, others) {
        var sid = a.station_id;
        cc.setText("wall-emg-what", msg(a.message));
        cc.setText("wall-emg-station", stName(sid, a) + " · " + sid);
        cc.setText("wall-emg-banner-station", stName(sid, a));
        cc.setText("wall-emg-raised", cc.hms(a.raised_ts_ms));
        cc.setText("wall-emg-elapsed", ageOf(a.raised_ts_ms));
        var v = "—";
        if (a.value !== null && a.value !== undefined && a.kind !== "digital" && a.kind !== "comm_loss") {
            v = fig(a.value, Math.abs(a.value) < 10 ? 2 : 1) + " " + (a.unit || "") + (a.threshold !== null && a.threshold !== undefined ? " / " + a.threshold : "");
        }
        cc.setText("wall-emg-value", v);
        cc.setText("wall-emg-ack", a.acknowledged ? wt("wall.emg.acked", {who: a.acknowledged_by || ""}) : wt("wall.emg.unacked"));
        cc.setText("wall-emg-state", wt("wall.alarm_state." + alarmState(a)));
        // work order of this alarm (else the newest open one of the station)
        var o = ordersByAlarm()[a.id];
        if (!o) {
            Object.keys(W.orders).forEach(function (id) {
                var x = W.orders[id];
                if (x.station_id === sid && orderOpen(x) && (!o || x.id > o.id)) { o = x; }
            });
        }
        cc.setText("wall-emg-order-id", o ? "#" + o.id + " · " + wt("wall.order." + o.state) : wt("wall.emg.no_order"));
        var flow = cc.vocab.order_flow || [];
        var steps = $("wall-emg-steps"), reached = o ? flow.indexOf(o.state) : -1;
        if (steps) {
            for (var i = 0; i < steps.children.length; i++) {
                var s = steps.children[i], key = flow[i];
                cc.setCls(s, "cc-w-step" + (i < reached ? " cc-w-step-done" : i === reached ? " cc-w-step-now" : ""));
                var tsv = o ? o[key + "_ts_ms"] : null;
                var small = s.querySelector(".cc-w-step-ts");
                if (small) { var txt = tsv ? cc.hms(tsv) : ""; if (small.textContent !== txt) { small.textContent = txt; } }
            }
        }
        cc.setText("wall-emg-assignee", o && (o.assignee_name || o.assignee_id) ? (o.assignee_name || o.assignee_id) : "—");
        var sla = "—", wallKeys = (cc.vocab.sla || {}).wall_label_keys || {};
        if (o && o.sla_clock && o.sla_deadline_ms) {  // the running clock, from the server (ops/vocab.py order_flags)
            sla = wt(wallKeys[o.sla_clock]) + " " + cc.countdown(o.sla_deadline_ms - Date.now(), W.lang);
        }
        cc.setText("wall-emg-sla", sla);
        W.regionSel = provOf(sid, a);
        cc.setCls($("wall-emg-others-head"), "cc-w-sub" + (others.length ? "" : " cc-w-hidden"));
        var rows = alarmRows(others.slice(0, 6), 6, false);
        if (others.length > 6) { rows.push({c: "cc-w-more", cells: [{t: wt("wall.emg.more", {n: others.length - 6})}]}); }
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
        cc.setCls(img, "cc-w-cam-img" + (cam ? "" : " cc-w-hidden"));
        cc.setCls(none, "cc-w-cam-none" + (cam || !det ? " cc-w-hidden" : ""));
        cc.setText("wall-emg-cam-name", cam ? (W.lang === "en" ? cam.name_en || cam.name : cam.name) : "");
        cc.setText("wall-map-title", stName(sid, a));
        cc.setText("wall-map-sub", wt("wall.emg.banner"));
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
        var now = Date.now(), list = openAlarms(), all = lib.steps();
        var idx = Math.floor(now / W.cfg.dwell_ms) % all.length, st = all[idx];
        var emg = list.filter(lib.isEmergency).sort(function (a, b) { return (b.raised_ts_ms || 0) - (a.raised_ts_ms || 0); });
        var mode = emg.length ? "emergency" : "daily";
        if (mode !== W.mode) {
            W.mode = mode;
            W.lastView = null;
            W.modeChanges.push({mode: mode, at: now});  // for latency measurements (bench/bench_wall.py)
            if (W.modeChanges.length > 20) { W.modeChanges.shift(); }
            if (mode === "emergency") { W.emergencies += 1; } else { stopCamera(); W.focus = null; W.focusStation = null; W.stepKey = null; }
        }
        cc.setAttr(root, "data-mode", mode);
        cc.setCls(root, "cc-wall cc-w-part-" + W.cfg.part + " cc-w-mode-" + mode);
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
                    cc.setProps("wall-focus", {data: {station_id: a.station_id, alarm_id: a.id}});
                }
            }
            cc.setAttr(root, "data-focus", a.id);
            cc.setAttr(root, "data-scene", "emergency");
            renderEmergency(a, emg.slice(1));
            sel = a.station_id;
        } else {
            cc.setAttr(root, "data-focus", "");
            if (W.stepKey !== st.key) { W.stepKey = st.key; W.step = st; }
            cc.setAttr(root, "data-scene", st.scene);
            cc.setAttr(root, "data-step", st.key);
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
            cc.setProps("wall-stations", {hideout: {states: Object.assign({}, W.states), lang: W.lang, selected: sel}});
        }
        if (W.regionSel !== W.regionShown) {
            W.regionShown = W.regionSel;
            cc.setProps("wall-regions", {hideout: {lang: W.lang, selected: W.regionSel}});
        }
        if (!W.mapReadyAt) {
            var ready = W.cfg.part === "panel" ? W.snapshots > 0
                : !!document.querySelector("#wall-map .cc-st, #wall-map .cc-cl");
            if (ready) { W.mapReadyAt = Date.now(); cc.setAttr(root, "data-map-ready", "1"); }
        }
    }

    W.render = render;
}());
