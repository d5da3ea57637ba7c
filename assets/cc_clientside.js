/*
 * Clientside callbacks of the command center (namespace "cc"; wired in callbacks/*.py with ClientsideFunction).
 *
 * Live data arrives as props of the DashSocketIO component ("data-station_states", "data-kpis",
 * "data-station_values") and is applied here without a server round trip:
 *   - map: a new `hideout` object (states map) → dash-leaflet restyles markers, `data` is untouched;
 *   - KPI tiles, state mix, attention list, site panel values: children / className of fixed or pattern ids.
 * Snapshots (scope-snapshot, station-snapshot stores, returned by the server when a room is joined) go through
 * the same functions, ordered by timestamps so an older snapshot never overwrites a newer delta.
 *
 * All words come from window.ccI18n (served from /i18n/catalog.js, built from the Python i18n catalog).
 */
(function () {
    "use strict";
    var STATES = ["running", "idle", "alarm", "offline", "not_built"];
    var live = window.ccLive = window.ccLive || {};
    // asset files load in name order and another one may create window.ccLive first: fill in what is missing here
    var LIVE_DEFAULTS = {stateTs: {}, kpis: null, kpisTs: -1, station: null, events: [], names: {}};
    Object.keys(LIVE_DEFAULTS).forEach(function (k) { if (!(k in live)) { live[k] = LIVE_DEFAULTS[k]; } });

    function tr(key, lang) {
        var c = window.ccI18n && window.ccI18n.catalog;
        if (!c) { return key; }
        var t = (c[lang] || {})[key];
        if (t === undefined || t === null) { t = (c.zh || {})[key]; }
        return t === undefined || t === null ? key : t;
    }

    function triggeredIds() {
        var ctx = window.dash_clientside.callback_context;
        return (ctx && ctx.triggered ? ctx.triggered : []).map(function (t) { return t.prop_id; });
    }

    function triggered(prefix) {
        return triggeredIds().some(function (p) { return p.indexOf(prefix) === 0; });
    }

    function locale(lang) { return lang === "en" ? "en-US" : "zh-CN"; }

    function num(v, dp, lang) {
        if (v === null || v === undefined || v === "" || isNaN(v)) { return "—"; }
        return Number(v).toLocaleString(locale(lang), {minimumFractionDigits: dp, maximumFractionDigits: dp});
    }

    function pad(n) { return (n < 10 ? "0" : "") + n; }

    function hms(ms) {
        if (!ms) { return "—"; }
        var d = new Date(ms);
        return pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    }

    var cc = {};
    var NO;  // set at call time: the renderer may define dash_clientside after this file is loaded
    function noUpdate() { return window.dash_clientside.no_update; }

    // ------------------------------------------------------------------ chrome
    cc.chooseLang = function (search, nClicks, current) {
        NO = noUpdate();
        var lang = current || "zh";
        if (triggered("lang-toggle")) {
            lang = lang === "en" ? "zh" : "en";
        } else {
            var m = /[?&]lang=(en|zh)/i.exec(search || "");
            if (m) { lang = m[1].toLowerCase(); }
        }
        document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
        document.title = tr("app.title", lang);
        return lang === current ? NO : lang;
    };

    cc.applyLang = function (lang, ids) {
        var texts = (ids || []).map(function (id) { return tr(id.key, lang); });
        document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
        document.title = tr("app.title", lang);
        return [texts, tr("app.lang_switch", lang), tr("app.lang_switch_title", lang), tr("app.nation", lang),
                tr("panel.close", lang)];
    };

    cc.clock = function (n, lang) {
        var d = new Date();
        var time = pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
        var wd = tr("clock.weekdays", lang).split(",")[d.getDay()];
        var date;
        if (lang === "en") {
            date = wd + " " + d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate());
        } else {
            date = d.getFullYear() + "年" + pad(d.getMonth() + 1) + "月" + pad(d.getDate()) + "日 " +
                tr("clock.weekday_prefix", lang) + wd;
        }
        return [time, date];
    };

    // the feed heartbeat (dashboard/bridge.py feed_status): a connected socket is not proof that data flows
    var feedSeen = {obj: null, at: 0, out: null};
    var HEARTBEAT_LOST_S = 15;  // three missed heartbeats (CC_FEED_HEARTBEAT_S = 5 s)
    var STALE_TITLES = {silent: "conn.title_stale_silent", bus: "conn.title_stale_bus", age: "conn.title_stale_age"};

    function fmtAge(s) {
        s = Math.max(0, Math.round(s));
        if (s < 120) { return s + " s"; }
        if (s < 7200) { return Math.round(s / 60) + " min"; }
        return Math.round(s / 3600) + " h";
    }

    cc.feedState = function (connected, feed, nowMs) {
        if (!connected) { return {state: "down"}; }
        if (feed && feed !== feedSeen.obj) { feedSeen.obj = feed; feedSeen.at = nowMs; }
        if (!feed) { return {state: "live"}; }  // until the first heartbeat (sent on join)
        var silentS = (nowMs - feedSeen.at) / 1000;
        if (silentS > HEARTBEAT_LOST_S) { return {state: "stale", why: "silent", age: silentS}; }
        if (!feed.bus) { return {state: "stale", why: "bus", age: silentS}; }
        if (feed.newest_reading_ms) {
            var ageS = (feed.ts_ms - feed.newest_reading_ms) / 1000 + silentS;
            if (ageS > (feed.stale_after_s || 30)) { return {state: "stale", why: "age", age: ageS}; }
        }
        return {state: "live"};
    };

    cc.connection = function (connected, feed, tick, lang) {
        var f = cc.feedState(connected, feed, Date.now());
        var out;
        if (f.state === "down") {
            out = ["cc-conn cc-conn-down", tr("conn.reconnecting", lang), tr("conn.title_reconnecting", lang)];
        } else if (f.state === "stale") {
            var age = fmtAge(f.age);
            out = ["cc-conn cc-conn-stale", tr("conn.stale", lang) + " " + age,
                   tr(STALE_TITLES[f.why], lang).replace("{age}", age)];
        } else {
            out = ["cc-conn cc-conn-live", tr("conn.live", lang), tr("conn.title_live", lang)];
        }
        var key = out.join("|");
        if (key === feedSeen.out) { return [noUpdate(), noUpdate(), noUpdate()]; }
        feedSeen.out = key;
        return out;
    };

    cc.clusterOptions = function () {
        var fs = parseFloat(window.getComputedStyle(document.documentElement).fontSize) || 14;
        return {radius: Math.round(fs * 3), extent: 256, maxZoom: 11};
    };

    // ------------------------------------------------------------------ map states
    cc.applyStates = function (snapshot, delta, openStation, lang, hideout, scope) {
        NO = noUpdate();
        hideout = hideout || {};
        var states = hideout.states || {};
        var changed = false;
        var next = null;
        scope = scope || "nation";
        if (triggered("scope-snapshot") && snapshot && snapshot.scope === scope) {
            if (live.eventsScope !== scope) { live.events = []; live.eventsScope = scope; }
            next = {};
            var snapTs = snapshot.ts_ms || 0;
            Object.keys(snapshot.states || {}).forEach(function (sid) {
                // a delta newer than the snapshot wins
                next[sid] = (live.stateTs[sid] || 0) > snapTs && states[sid] ? states[sid] : snapshot.states[sid];
            });
            changed = true;
        }
        if (triggered("socket.data-station_states") && delta && delta.scope === scope) {
            if (delta.full) {
                next = Object.assign({}, delta.states);
            } else {
                next = Object.assign({}, next || states);
                Object.keys(delta.states || {}).forEach(function (sid) {
                    var before = next[sid];
                    next[sid] = delta.states[sid];
                    live.stateTs[sid] = delta.ts_ms || Date.now();
                    if (before && before !== delta.states[sid]) {
                        live.events.unshift({ts: delta.ts_ms || Date.now(), sid: sid, from: before,
                                             to: delta.states[sid]});
                    }
                });
                if (live.events.length > 60) { live.events.length = 60; }
            }
            changed = true;
        }
        var selected = openStation || null;
        if (!changed && hideout.selected === selected && hideout.lang === lang) { return NO; }
        return Object.assign({}, hideout, {states: next || states, selected: selected, lang: lang});
    };

    // ------------------------------------------------------------------ KPIs
    function kpiOutputs(k, lang) {
        var blank = "—";
        if (!k) {
            var none = [blank, blank, blank, blank, blank, blank, blank, blank, blank, "cc-kpi cc-kpi-stations_alarm"];
            STATES.forEach(function () { none.push({width: "0%"}); });
            STATES.forEach(function () { none.push(blank); });
            STATES.forEach(function () { none.push(""); });
            none.push(blank);
            return none;
        }
        var out = [
            num(k.stations_online, 0, lang), num(k.stations_total, 0, lang),
            num(k.compressors_loaded, 0, lang), num(k.compressors_total, 0, lang),
            num(k.flow_m3_min, k.flow_m3_min >= 10000 ? 0 : 1, lang), num(k.power_kw, 0, lang),
            k.air_to_power_m3_per_kwh === null ? "—" : num(k.air_to_power_m3_per_kwh, 2, lang),
            num(k.stations_alarm, 0, lang), num(k.stations_offline, 0, lang),
            "cc-kpi cc-kpi-stations_alarm" + (k.stations_alarm > 0 ? " cc-kpi-hot" : "")
        ];
        var total = k.stations_total || 0;
        var states = k.states || {};
        STATES.forEach(function (s) {
            out.push({width: (total ? (100 * (states[s] || 0) / total) : 0).toFixed(2) + "%"});
        });
        STATES.forEach(function (s) { out.push(num(states[s] || 0, 0, lang)); });
        STATES.forEach(function (s) {
            out.push(total ? (100 * (states[s] || 0) / total).toFixed(1) + "%" : "");
        });
        out.push(k.ts_ms ? hms(k.ts_ms) : "—");
        return out;
    }

    // KPIs: the scope's snapshot and a language change come through the Dash callback below; the live ``kpis`` events
    // (one per bridge flush: up to ~10 a second on a national view) are read from the socket component's props by a
    // store watcher (socketWatch) and drawn at most once per KPI_DRAW_MS. Wired as a Dash callback input, each
    // event ran the renderer's callback machinery — about ten store dispatches, each visiting every component of the
    // page, ~100 ms of main thread per event: the page spent more than half its time there, tasks of up to ~2 s and
    // 100 ms timers seconds late once a fire alarm added its own work (bench/bench_officer_responsiveness.py).
    var KPI_DRAW_MS = 250;

    function drawKpisNow() {
        var scope = live.kpiScope || "nation", lang = live.kpiLang || "zh";
        var k = live.kpis && live.kpis.scope === scope ? live.kpis : null;
        drawKpis(kpiOutputs(k, lang));
        ranking(k, lang);
    }

    function applyKpiEvent(evt) {
        if (!evt || evt.scope !== (live.kpiScope || "nation")) { return false; }
        if ((evt.ts_ms || 0) < live.kpisTs && live.kpis && live.kpis.scope === evt.scope) { return false; }
        live.kpis = evt;
        live.kpisTs = evt.ts_ms || 0;
        return true;
    }

    // --------------------------------------------------------------- socket props without Dash callbacks
    // socketWatch(prop, fn): fn(value) with the newest value of the socket component's prop, at most once every
    // KPI_DRAW_MS (values in between are coalesced: only the newest is passed). One store subscription for all
    // props; its listener only compares the layout's identity and arms a timer, so it costs next to nothing per
    // store dispatch. Uses the public window.dash_component_api.getLayout (Dash ≥ 3) and window.dash_stores.
    var watch = {props: {}, store: null, layout: null, timer: null, last: 0};

    function watchFlush() {
        watch.timer = null;
        watch.last = Date.now();
        var api = window.dash_component_api, comp = api && api.getLayout ? api.getLayout("socket") : null;
        var props = (comp && comp.props) || {};
        Object.keys(watch.props).forEach(function (prop) {
            var w = watch.props[prop], v = props[prop];
            if (v === w.value) { return; }
            w.value = v;
            try { w.fn(v); } catch (e) { window.console.error("socketWatch " + prop, e); }
        });
    }

    function watchArm() {
        if (watch.timer !== null) { return; }
        var wait = Math.max(0, KPI_DRAW_MS - (Date.now() - watch.last));
        watch.timer = window.setTimeout(watchFlush, wait);
    }

    function socketWatch(prop, fn) {
        if (!watch.props[prop]) { watch.props[prop] = {fn: fn, value: undefined}; }
        var stores = window.dash_stores || [];
        if (watch.store || !stores.length) { return !!watch.store; }
        watch.store = stores[0];
        watch.layout = watch.store.getState().layout;
        watch.store.subscribe(function () {
            var layout = watch.store.getState().layout;
            if (layout !== watch.layout) { watch.layout = layout; watchArm(); }
        });
        watchArm();
        return true;
    }
    cc.socketWatch = socketWatch;

    cc.applyKpis = function (snapshot, lang, scope) {
        scope = scope || "nation";
        live.kpiScope = scope;
        live.kpiLang = lang || "zh";
        if (snapshot && snapshot.kpis && snapshot.scope === scope) {
            if (!live.kpis || live.kpis.scope !== scope || (snapshot.kpis.ts_ms || 0) >= live.kpisTs) {
                live.kpis = snapshot.kpis;
                live.kpisTs = snapshot.kpis.ts_ms || 0;
            }
        }
        if (snapshot && snapshot.names) {
            Object.assign(live.names, snapshot.names);
        }
        socketWatch("data-kpis", function (evt) { if (applyKpiEvent(evt)) { drawKpisNow(); } });
        drawKpisNow();
        return noUpdate();
    };

    // The elements kpiOutputs() fills, in its order (ids made by dashboard/layout.py): written straight into the
    // DOM like the lists below, so a kpis event costs one callback run and no store updates.
    var KPI_KEYS = ["stations_online", "stations_online-total", "compressors_loaded", "compressors_loaded-total",
                    "flow", "power", "ratio", "stations_alarm", "stations_offline"];
    var KPI_TARGETS = KPI_KEYS.map(function (k) { return ["kpi-" + k, "text"]; })
        .concat([["kpi-tile-stations_alarm", "class"]])
        .concat(STATES.map(function (s) { return ["mix-seg-" + s, "style"]; }))
        .concat(STATES.map(function (s) { return ["mix-n-" + s, "text"]; }))
        .concat(STATES.map(function (s) { return ["mix-pct-" + s, "text"]; }))
        .concat([["kpi-updated", "text"]]);

    function drawKpis(values) {
        KPI_TARGETS.forEach(function (target, i) {
            var e = document.getElementById(target[0]), v = values[i];
            if (!e) { return; }
            if (target[1] === "text") { setText(e, v); }
            else if (target[1] === "class" && e.className !== v) { e.className = v; }
            else if (target[1] === "style" && e.style.width !== v.width) { e.style.width = v.width; }
        });
    }

    function regionLabel(room, lang) {
        var n = live.names[room];
        var name = n ? (lang === "en" ? n[1] || n[0] : n[0]) : room.split(":")[1];
        return shortName(name, lang);
    }

    function shortName(name, lang) {
        if (lang === "en" || !name) { return name; }
        return name.replace(/(维吾尔自治区|壮族自治区|回族自治区|特别行政区|自治区|省|市)$/, "");
    }

    // ------------------------------------------------------------------ lists drawn straight into the DOM
    // The ranking, the attention list and the event log change with every live event. Returned to Dash as
    // component trees they made the renderer mount hundreds of components a second (one store dispatch each,
    // every dispatch visiting every component of the page): measured in bench/bench_alarm_latency.py, that pushed
    // an alarm seconds behind the bus. They are drawn here instead into containers that Dash leaves empty, and only
    // when what they show has changed (signature).
    function el(tag, cls, text, attrs) {
        var e = document.createElement(tag);
        if (cls) { e.className = cls; }
        if (text !== undefined && text !== null) { e.textContent = text; }
        Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
        return e;
    }

    function kids(parent, children) {
        children.forEach(function (c) { parent.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
        return parent;
    }

    function drawList(id, sig, build) {
        var box = document.getElementById(id);
        if (!box || box.ccSig === sig) { return; }
        box.ccSig = sig;
        box.replaceChildren.apply(box, build());
    }

    // shared with assets/cc_alarms.js (looked up at call time: asset files load in name order)
    window.ccDom = {el: el, kids: kids, drawList: drawList};

    function drawEmpty(id, text) {
        drawList(id, "empty|" + text, function () { return [el("div", "cc-empty", text)]; });
    }

    function ranking(k, lang) {
        var rows = ((k && k.children) || []).slice();
        if (!rows.length) { drawEmpty("rank-list", tr("app.no_data", lang)); return; }
        rows.sort(function (a, b) {
            return (b.stations_online - a.stations_online) || (b.flow_m3_min - a.flow_m3_min) ||
                (b.stations_total - a.stations_total);
        });
        var maxFlow = rows.reduce(function (m, r) { return Math.max(m, r.flow_m3_min || 0); }, 0) || 1;
        var shown = rows.slice(0, 8).map(function (r) {
            return [regionLabel(r.scope, lang), r.stations_online + "/" + r.stations_total, r.stations_alarm,
                    num(r.flow_m3_min, 1, lang), (100 * (r.flow_m3_min || 0) / maxFlow).toFixed(1) + "%"];
        });
        drawList("rank-list", lang + JSON.stringify(shown), function () {
            return shown.map(function (r, i) {
                var bar = el("span", "cc-rank-bar");
                bar.style.width = r[4];
                return kids(el("div", "cc-rank-row" + (r[2] ? " cc-rank-hot" : "")), [
                    el("span", "cc-rank-i", String(i + 1)),
                    kids(el("span", "cc-rank-name"), [r[0], bar]),
                    el("span", "cc-num", r[1]),
                    el("span", "cc-num" + (r[2] ? " cc-rank-alarm" : ""), String(r[2])),
                    el("span", "cc-num", r[3])
                ]);
            });
        });
    }

    // ------------------------------------------------------------------ attention list
    cc.attention = function (hideout, data) {
        var states = (hideout && hideout.states) || {};
        var lang = (hideout && hideout.lang) || "zh";
        var feats = (data && data.features) || [];
        var rows = [];
        for (var i = 0; i < feats.length; i++) {
            var p = feats[i].properties;
            var s = states[p.id] || p.state;
            if (s === "alarm" || s === "offline") { rows.push({p: p, s: s}); }
        }
        rows.sort(function (a, b) {
            if (a.s !== b.s) { return a.s === "alarm" ? -1 : 1; }
            return a.p.id < b.p.id ? -1 : 1;
        });
        eventLog(feats, lang);
        if (!rows.length) {
            drawEmpty("attn-list", tr("app.attention_empty", lang));
            return "0";
        }
        var shown = rows.slice(0, 60).map(function (r) {
            return [r.p.id, r.s, lang === "en" && r.p.name_en ? r.p.name_en : r.p.name];
        });
        drawList("attn-list", lang + JSON.stringify(shown), function () {
            return shown.map(function (r) {
                return kids(el("div", "cc-attn-row cc-attn-" + r[1], null, {"data-sid": r[0], role: "button",
                                                                             tabindex: "0"}), [
                    el("span", "cc-sym cc-sym-" + r[1]),
                    el("span", "cc-attn-name", r[2]),
                    el("span", "cc-attn-id", r[0]),
                    el("span", "cc-attn-state", tr("state." + r[1], lang))
                ]);
            });
        });
        return String(rows.length);
    };

    // a click (or Enter) on an attention row opens that station's site panel (store "attn-pick" → chooseStation)
    function pickAttention(e) {
        var row = e.target && e.target.closest && e.target.closest("#attn-list .cc-attn-row[data-sid]");
        if (!row || (e.type === "keydown" && e.key !== "Enter")) { return; }
        window.dash_clientside.set_props("attn-pick", {data: {sid: row.getAttribute("data-sid"), at: Date.now()}});
    }
    document.addEventListener("click", pickAttention);
    document.addEventListener("keydown", pickAttention);

    function eventLog(feats, lang) {
        if (!live.events.length) { drawEmpty("event-log", tr("app.events_empty", lang)); return; }
        // station names of every scope seen so far (stations do not get renamed while the page is open)
        var names = live.nameIndex = live.nameIndex || {};
        if (live.nameIndexData !== feats) {
            live.nameIndexData = feats;
            feats.forEach(function (f) { names[f.properties.id] = f.properties; });
        }
        var shown = live.events.slice(0, 30).map(function (e) {
            var p = names[e.sid] || {};
            return [hms(e.ts), e.from, e.to, lang === "en" && p.name_en ? p.name_en : (p.name || e.sid)];
        });
        drawList("event-log", lang + JSON.stringify(shown), function () {
            return shown.map(function (e) {
                return kids(el("div", "cc-event cc-event-" + e[2]), [
                    el("span", "cc-event-time", e[0]),
                    el("span", "cc-sym cc-sym-" + e[2]),
                    el("span", "cc-event-name", e[3]),
                    kids(el("span", "cc-event-change"), [
                        el("span", "cc-event-from", tr("state." + e[1], lang)), " → ",
                        el("span", "cc-event-to cc-fg-" + e[2], tr("state." + e[2], lang))
                    ])
                ]);
            });
        });
    }

    // ------------------------------------------------------------------ scope & station choice
    cc.chooseScope = function (regionClick, nationClicks, crumbClicks, current) {
        NO = noUpdate();
        var ids = triggeredIds();
        if (!ids.length) { return NO; }
        var pid = ids[0];
        if (pid.indexOf("crumb-nation") === 0) { return current === "nation" ? NO : "nation"; }
        if (pid.indexOf("regions.") === 0) {
            var p = regionClick && regionClick.properties;
            if (!p || !p.adcode) { return NO; }
            // the nation draws provinces, a province or city scope draws cities — by scope, not by the feature's
            // level: Hong Kong, Macao and Taiwan are their own (only) city and their feature says "province"
            var level = (current || "nation") === "nation" ? "province" : "city";
            var next = level + ":" + p.adcode;
            return next === current ? NO : next;
        }
        if (pid.indexOf("{") === 0) {
            var trig = window.dash_clientside.callback_context.triggered[0];
            if (!trig.value) { return NO; }
            var id = JSON.parse(pid.slice(0, pid.lastIndexOf(".")));
            return id.scope === current ? NO : id.scope;
        }
        return NO;
    };

    cc.chooseStation = function (clickData, attnPick, closeClicks, current) {
        NO = noUpdate();
        var ctx = window.dash_clientside.callback_context;
        var trig = (ctx.triggered || [])[0];
        if (!trig) { return NO; }
        var pid = trig.prop_id;
        if (pid.indexOf("site-close") === 0) { return trig.value ? null : NO; }
        if (pid.indexOf("stations.") === 0) {
            var p = clickData && clickData.properties;
            if (!p || p.cluster) { return NO; }
            return p.id === current ? NO : p.id;
        }
        if (pid.indexOf("attn-pick.") === 0) {
            return attnPick && attnPick.sid && attnPick.sid !== current ? attnPick.sid : NO;
        }
        return NO;
    };

    // ------------------------------------------------------------------ site panel values
    function fmtValue(model, kind, name, v, lang) {
        var formats = (window.ccI18n && window.ccI18n.formats) || {};
        var f = ((formats[model] || {}).values || {})[name] || {};
        var cls = "cc-dv-val";
        if (v === null || v === undefined) { return ["—", cls + " cc-dv-none"]; }
        if (typeof v === "boolean") { v = v ? 1 : 0; }
        if (f.enum !== undefined) {
            var label = tr("enum." + f.enum + "." + Math.round(v), lang);
            var alarm = (f.alarm || []).indexOf(Math.round(v)) >= 0;
            return [label.indexOf("enum.") === 0 ? String(v) : label, cls + " cc-dv-enum" + (alarm ? " cc-dv-alarm" : "")];
        }
        if (f.enum0 && Number(v) === 0) { return [tr("enum." + f.enum0 + ".0", lang), cls + " cc-dv-enum"]; }
        if (f.alarm_nonzero && Number(v) !== 0) { return [String(v), cls + " cc-dv-alarm"]; }
        if (typeof v === "number") { return [num(v, f.dp === undefined ? 2 : f.dp, lang), cls]; }
        return [String(v), cls];
    }

    function mergeStation(payload) {
        // keep the newest values per device; a snapshot older than what a live event already gave is ignored
        if (!payload) { return; }
        var sid = payload.station_id || (payload.station && payload.station.id);
        if (!live.station || live.station.id !== sid) {
            live.station = {id: sid, devices: {}, summary: null, summaryTs: -1, state: null};
        }
        var st = live.station;
        (payload.devices || []).forEach(function (d) {
            var old = st.devices[d.device_id];
            var ts = d.ts_ms || 0;
            if (!old || ts >= (old.ts_ms || 0)) {
                var values = d.online || !old ? Object.assign({}, (old && old.values) || {}, d.values || {})
                    : old.values;
                st.devices[d.device_id] = {online: d.online, ts_ms: ts, values: values, model: d.model,
                                           kind: d.kind, error: d.error};
            }
        });
        var sts = (payload.summary && payload.summary.ts_ms) || payload.ts_ms || 0;
        if (payload.summary && sts >= st.summaryTs) {
            st.summary = payload.summary;
            st.summaryTs = sts;
            st.state = payload.state || st.state;
        } else if (!st.state) {
            st.state = payload.state;
        }
    }

    cc.stationValues = function (snapshot, evt, openStation, lang) {
        if (triggered("station-snapshot") && snapshot && snapshot.station && snapshot.station.id === openStation) {
            if (live.station && live.station.id !== openStation) { live.station = null; }
            mergeStation(snapshot);
        }
        if (triggered("socket.data-station_values") && evt && evt.station_id === openStation) {
            mergeStation(evt);
        }
        live.stationOpen = openStation;
        live.stationLang = lang;
        // a snapshot comes with new device cards, which React may commit after this call: draw again when they
        // land (childList of #site-devices only; the values drawStation writes deeper down do not trigger it)
        var box = document.getElementById("site-devices");
        if (box && !box.ccObserved) {
            box.ccObserved = true;
            new MutationObserver(drawStation).observe(box, {childList: true});
        }
        drawStation();
        return noUpdate();
    };

    function setText(id, text, cls) {
        var e = typeof id === "string" ? document.getElementById(id) : id;
        if (!e) { return; }
        if (e.textContent !== text) { e.textContent = text; }
        if (cls !== undefined && e.className !== cls) { e.className = cls; }
    }

    // the site panel's values, written into the elements dashboard's device cards made (data-dv / data-dev)
    function drawStation() {
        var openStation = live.stationOpen, lang = live.stationLang;
        var st = live.station && live.station.id === openStation ? live.station : null;
        var box = document.getElementById("site-devices");
        if (box) {
            box.querySelectorAll("[data-dv]").forEach(function (e) {
                var key = e.getAttribute("data-dv"), bar = key.indexOf("|");
                var d = st && st.devices[key.slice(0, bar)], name = key.slice(bar + 1);
                var r = d ? fmtValue(d.model, d.kind, name, (d.values || {})[name], lang) : ["—", "cc-dv-val cc-dv-none"];
                setText(e, r[0], r[1] + (d && !d.online ? " cc-dv-stale" : ""));
            });
            box.querySelectorAll("[data-dev]").forEach(function (e) {
                var d = st && st.devices[e.getAttribute("data-dev")];
                if (!d) { setText(e, "—", "cc-dev-st"); return; }
                setText(e, tr(d.online ? "device.online" : "device.offline", lang),
                        "cc-dev-st " + (d.online ? "cc-dev-on" : "cc-dev-off"));
            });
        }
        var s = (st && st.summary) || {};
        var state = (st && st.state) || "offline";
        var ratio = s.power_kw > 0 ? s.flow_m3_min * 60 / s.power_kw : null;
        var newest = 0;
        if (st) { Object.keys(st.devices).forEach(function (k) { newest = Math.max(newest, st.devices[k].ts_ms || 0); }); }
        setText("site-state", tr("state." + state, lang), "cc-state-badge cc-bg-" + state);
        setText("site-flow", num(s.flow_m3_min, 2, lang));
        setText("site-power", num(s.power_kw, 1, lang));
        setText("site-ratio", ratio === null ? "—" : num(ratio, 2, lang));
        setText("site-pressure", num(s.discharge_pressure_mpa, 3, lang));
        setText("site-updated", newest ? hms(newest) : "—");
        var alarms = s.alarm_inputs || [];
        drawList("site-alarms", lang + JSON.stringify(alarms), function () {
            if (!alarms.length) { return []; }
            return [el("span", "cc-alarm-label", tr("panel.alarm_inputs", lang))].concat(alarms.map(function (a) {
                return el("span", "cc-alarm-chip", tr("alarm_input." + a, lang));
            }));
        });
    }

    window.dash_clientside = Object.assign({}, window.dash_clientside, {cc: cc});
}());
