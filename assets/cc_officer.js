/*
 * The officer page (dashboard/pages/layout.py): chrome, live map states, KPIs, ranking, attention list, event log,
 * scope and station choice. Clientside callbacks in namespace "cc" (wired in callbacks/chrome.py, live.py, map.py,
 * site.py with ClientsideFunction); the site panel's values are in cc_site.js (same namespace).
 *
 * Live data arrives as props of the DashSocketIO component ("data-station_states", "data-kpis",
 * "data-station_values") and is applied here without a server round trip:
 *   - map: a new `hideout` object (states map) → dash-leaflet restyles markers, `data` is untouched;
 *   - KPI tiles, state mix, attention list, site panel values: children / className of fixed or pattern ids.
 * Snapshots (scope-snapshot, station-snapshot stores, returned by the server when a room is joined) go through
 * the same functions, ordered by timestamps so an older snapshot never overwrites a newer delta.
 *
 * Helpers (words, numbers, DOM, callbacks) are the core's (assets/cc.js); state is cc.live.
 */
(function () {
    "use strict";
    var cc = window.cc, live = cc.live;
    // the state mix's order (legend / mix bar; the layout made one tile per state in it): cc.vocab
    function stateOrder() { return cc.vocab.station_legend_order || []; }
    var fns = {};
    var NO;  // set at call time: the renderer may define dash_clientside after this file is loaded

    // ------------------------------------------------------------------ chrome
    fns.chooseLang = function (search, nClicks, current) {
        NO = cc.noUpdate();
        var lang = current || "zh";
        if (cc.fired("lang-toggle")) {
            lang = lang === "en" ? "zh" : "en";
        } else {
            var m = /[?&]lang=(en|zh)/i.exec(search || "");
            if (m) { lang = m[1].toLowerCase(); }
        }
        document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
        document.title = cc.tr("app.title", lang);
        return lang === current ? NO : lang;
    };

    fns.applyLang = function (lang, ids) {
        var texts = (ids || []).map(function (id) { return cc.tr(id.key, lang); });
        document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
        document.title = cc.tr("app.title", lang);
        return [texts, cc.tr("app.lang_switch", lang), cc.tr("app.lang_switch_title", lang), cc.tr("app.nation", lang),
                cc.tr("panel.close", lang)];
    };

    fns.clock = function (n, lang) {
        var d = new Date();
        var time = cc.hms(d.getTime());
        var wd = cc.tr("clock.weekdays", lang).split(",")[d.getDay()];
        var date;
        if (lang === "en") {
            date = wd + " " + d.getFullYear() + "-" + cc.pad(d.getMonth() + 1) + "-" + cc.pad(d.getDate());
        } else {
            date = d.getFullYear() + "年" + cc.pad(d.getMonth() + 1) + "月" + cc.pad(d.getDate()) + "日 " +
                cc.tr("clock.weekday_prefix", lang) + wd;
        }
        return [time, date];
    };

    // the feed heartbeat (dashboard/bridge.py feed_status): a connected socket is not proof that data flows
    var feedSeen = {obj: null, at: 0, out: null};
    var STALE_TITLES = {silent: "conn.title_stale_silent", bus: "conn.title_stale_bus", age: "conn.title_stale_age"};

    function fmtAge(s) {
        s = Math.max(0, Math.round(s));
        if (s < 120) { return s + " s"; }
        if (s < 7200) { return Math.round(s / 60) + " min"; }
        return Math.round(s / 3600) + " h";
    }

    fns.feedState = function (connected, feed, nowMs) {
        if (!connected) { return {state: "down"}; }
        if (feed && feed !== feedSeen.obj) { feedSeen.obj = feed; feedSeen.at = nowMs; }
        if (!feed) { return {state: "live"}; }  // until the first heartbeat (sent on join)
        var silentS = (nowMs - feedSeen.at) / 1000;
        // the server's limit (feed.lost_after_s = three missed heartbeats, dashboard/live/bridge.py feed_status)
        if (feed.lost_after_s && silentS > feed.lost_after_s) { return {state: "stale", why: "silent", age: silentS}; }
        if (!feed.bus) { return {state: "stale", why: "bus", age: silentS}; }
        if (feed.newest_reading_ms) {
            var ageS = (feed.ts_ms - feed.newest_reading_ms) / 1000 + silentS;
            if (ageS > (feed.stale_after_s || 30)) { return {state: "stale", why: "age", age: ageS}; }
        }
        return {state: "live"};
    };

    fns.connection = function (connected, feed, tick, lang) {
        var f = fns.feedState(connected, feed, Date.now());
        var out;
        if (f.state === "down") {
            out = ["cc-conn cc-conn-down", cc.tr("conn.reconnecting", lang), cc.tr("conn.title_reconnecting", lang)];
        } else if (f.state === "stale") {
            var ageText = fmtAge(f.age);
            out = ["cc-conn cc-conn-stale", cc.tr("conn.stale", lang) + " " + ageText,
                   cc.tr(STALE_TITLES[f.why], lang, {age: ageText})];
        } else {
            out = ["cc-conn cc-conn-live", cc.tr("conn.live", lang), cc.tr("conn.title_live", lang)];
        }
        var key = out.join("|");
        if (key === feedSeen.out) { return [cc.noUpdate(), cc.noUpdate(), cc.noUpdate()]; }
        feedSeen.out = key;
        return out;
    };

    fns.clusterOptions = function () {
        var fs = parseFloat(window.getComputedStyle(document.documentElement).fontSize) || 14;
        return {radius: Math.round(fs * 3), extent: 256, maxZoom: 11};
    };

    // ------------------------------------------------------------------ map states
    fns.applyStates = function (snapshot, delta, openStation, lang, hideout, scope) {
        NO = cc.noUpdate();
        hideout = hideout || {};
        var states = hideout.states || {};
        var changed = false;
        var next = null;
        scope = scope || "nation";
        if (cc.fired("scope-snapshot") && snapshot && snapshot.scope === scope) {
            if (live.eventsScope !== scope) { live.events = []; live.eventsScope = scope; }
            next = {};
            var snapTs = snapshot.ts_ms || 0;
            Object.keys(snapshot.states || {}).forEach(function (sid) {
                // a delta newer than the snapshot wins
                next[sid] = (live.stateTs[sid] || 0) > snapTs && states[sid] ? states[sid] : snapshot.states[sid];
            });
            changed = true;
        }
        if (cc.fired("socket.data-station_states") && delta && delta.scope === scope) {
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
            stateOrder().forEach(function () { none.push({width: "0%"}); });
            stateOrder().forEach(function () { none.push(blank); });
            stateOrder().forEach(function () { none.push(""); });
            none.push(blank);
            return none;
        }
        var out = [
            cc.num(k.stations_online, 0, lang), cc.num(k.stations_total, 0, lang),
            cc.num(k.compressors_loaded, 0, lang), cc.num(k.compressors_total, 0, lang),
            cc.num(k.flow_m3_min, k.flow_m3_min >= 10000 ? 0 : 1, lang), cc.num(k.power_kw, 0, lang),
            k.air_to_power_m3_per_kwh === null ? "—" : cc.num(k.air_to_power_m3_per_kwh, 2, lang),
            cc.num(k.stations_alarm, 0, lang), cc.num(k.stations_offline, 0, lang),
            "cc-kpi cc-kpi-stations_alarm" + (k.stations_alarm > 0 ? " cc-kpi-hot" : "")
        ];
        var total = k.stations_total || 0;
        var states = k.states || {};
        stateOrder().forEach(function (s) {
            out.push({width: (total ? (100 * (states[s] || 0) / total) : 0).toFixed(2) + "%"});
        });
        stateOrder().forEach(function (s) { out.push(cc.num(states[s] || 0, 0, lang)); });
        stateOrder().forEach(function (s) {
            out.push(total ? (100 * (states[s] || 0) / total).toFixed(1) + "%" : "");
        });
        out.push(k.ts_ms ? cc.hms(k.ts_ms) : "—");
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

    fns.applyKpis = function (snapshot, lang, scope) {
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
        return cc.noUpdate();
    };

    // The elements kpiOutputs() fills, in its order (ids made by dashboard/layout.py): written straight into the
    // DOM like the lists below, so a kpis event costs one callback run and no store updates.
    var KPI_KEYS = ["stations_online", "stations_online-total", "compressors_loaded", "compressors_loaded-total",
                    "flow", "power", "ratio", "stations_alarm", "stations_offline"];
    var kpiTargets = null;  // made on first use, from the vocabulary's state order
    function targets() {
        kpiTargets = kpiTargets || KPI_KEYS.map(function (k) { return ["kpi-" + k, "text"]; })
            .concat([["kpi-tile-stations_alarm", "class"]])
            .concat(stateOrder().map(function (s) { return ["mix-seg-" + s, "style"]; }))
            .concat(stateOrder().map(function (s) { return ["mix-n-" + s, "text"]; }))
            .concat(stateOrder().map(function (s) { return ["mix-pct-" + s, "text"]; }))
            .concat([["kpi-updated", "text"]]);
        return kpiTargets;
    }

    function drawKpis(values) {
        targets().forEach(function (target, i) {
            var e = document.getElementById(target[0]), v = values[i];
            if (!e) { return; }
            if (target[1] === "text") { cc.setText(e, v); }
            else if (target[1] === "class" && e.className !== v) { e.className = v; }
            else if (target[1] === "style" && e.style.width !== v.width) { e.style.width = v.width; }
        });
    }

    function regionLabel(room, lang) {
        var n = live.names[room];
        var name = n ? (lang === "en" ? n[1] || n[0] : n[0]) : room.split(":")[1];
        return cc.shortName(name, lang);
    }

    // ------------------------------------------------------------------ lists drawn straight into the DOM
    // The ranking, the attention list and the event log change with every live event. Returned to Dash as
    // component trees they made the renderer mount hundreds of components a second (one store dispatch each,
    // every dispatch visiting every component of the page): measured in bench/bench_alarm_latency.py, that pushed
    // an alarm seconds behind the bus. They are drawn here instead into containers that Dash leaves empty, and only
    // when what they show has changed (signature).
    function drawEmpty(id, text) {
        cc.drawList(id, "empty|" + text, function () { return [cc.el("div", "cc-empty", text)]; });
    }

    function ranking(k, lang) {
        var rows = ((k && k.children) || []).slice();
        if (!rows.length) { drawEmpty("rank-list", cc.tr("app.no_data", lang)); return; }
        rows.sort(function (a, b) {
            return (b.stations_online - a.stations_online) || (b.flow_m3_min - a.flow_m3_min) ||
                (b.stations_total - a.stations_total);
        });
        var maxFlow = rows.reduce(function (m, r) { return Math.max(m, r.flow_m3_min || 0); }, 0) || 1;
        var shown = rows.slice(0, 8).map(function (r) {
            return [regionLabel(r.scope, lang), r.stations_online + "/" + r.stations_total, r.stations_alarm,
                    cc.num(r.flow_m3_min, 1, lang), (100 * (r.flow_m3_min || 0) / maxFlow).toFixed(1) + "%"];
        });
        cc.drawList("rank-list", lang + JSON.stringify(shown), function () {
            return shown.map(function (r, i) {
                var bar = cc.el("span", "cc-rank-bar");
                bar.style.width = r[4];
                return cc.kids(cc.el("div", "cc-rank-row" + (r[2] ? " cc-rank-hot" : "")), [
                    cc.el("span", "cc-rank-i", String(i + 1)),
                    cc.kids(cc.el("span", "cc-rank-name"), [r[0], bar]),
                    cc.el("span", "cc-num", r[1]),
                    cc.el("span", "cc-num" + (r[2] ? " cc-rank-alarm" : ""), String(r[2])),
                    cc.el("span", "cc-num", r[3])
                ]);
            });
        });
    }

    // ------------------------------------------------------------------ attention list
    fns.attention = function (hideout, data) {
        var states = (hideout && hideout.states) || {};
        var lang = (hideout && hideout.lang) || "zh";
        var feats = (data && data.features) || [];
        var attn = cc.vocab.station_attention_states || [];  // ops/vocab.py STATION_ATTENTION_STATES, in list order
        var rows = [];
        for (var i = 0; i < feats.length; i++) {
            var p = feats[i].properties;
            var s = states[p.id] || p.state;
            if (attn.indexOf(s) >= 0) { rows.push({p: p, s: s}); }
        }
        rows.sort(function (a, b) {
            if (a.s !== b.s) { return attn.indexOf(a.s) - attn.indexOf(b.s); }
            return a.p.id < b.p.id ? -1 : 1;
        });
        eventLog(feats, lang);
        if (!rows.length) {
            drawEmpty("attn-list", cc.tr("app.attention_empty", lang));
            return "0";
        }
        var shown = rows.slice(0, 60).map(function (r) {
            return [r.p.id, r.s, lang === "en" && r.p.name_en ? r.p.name_en : r.p.name];
        });
        cc.drawList("attn-list", lang + JSON.stringify(shown), function () {
            return shown.map(function (r) {
                return cc.kids(cc.el("div", "cc-attn-row cc-attn-" + r[1], null, {"data-sid": r[0], role: "button",
                                                                             tabindex: "0"}), [
                    cc.el("span", "cc-sym cc-sym-" + r[1]),
                    cc.el("span", "cc-attn-name", r[2]),
                    cc.el("span", "cc-attn-id", r[0]),
                    cc.el("span", "cc-attn-state", cc.stateLabel(r[1], lang))
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
        if (!live.events.length) { drawEmpty("event-log", cc.tr("app.events_empty", lang)); return; }
        // station names of every scope seen so far (stations do not get renamed while the page is open)
        var names = live.nameIndex = live.nameIndex || {};
        if (live.nameIndexData !== feats) {
            live.nameIndexData = feats;
            feats.forEach(function (f) { names[f.properties.id] = f.properties; });
        }
        var shown = live.events.slice(0, 30).map(function (e) {
            var p = names[e.sid] || {};
            return [cc.hms(e.ts), e.from, e.to, lang === "en" && p.name_en ? p.name_en : (p.name || e.sid)];
        });
        cc.drawList("event-log", lang + JSON.stringify(shown), function () {
            return shown.map(function (e) {
                return cc.kids(cc.el("div", "cc-event cc-event-" + e[2]), [
                    cc.el("span", "cc-event-time", e[0]),
                    cc.el("span", "cc-sym cc-sym-" + e[2]),
                    cc.el("span", "cc-event-name", e[3]),
                    cc.kids(cc.el("span", "cc-event-change"), [
                        cc.el("span", "cc-event-from", cc.stateLabel(e[1], lang)), " → ",
                        cc.el("span", "cc-event-to cc-fg-" + e[2], cc.stateLabel(e[2], lang))
                    ])
                ]);
            });
        });
    }

    // ------------------------------------------------------------------ scope & station choice
    fns.chooseScope = function (regionClick, nationClicks, crumbClicks, current) {
        NO = cc.noUpdate();
        var ids = cc.triggeredIds();
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
            if (!cc.triggered()[0].value) { return NO; }
            var id = cc.idOf(pid);
            return id.scope === current ? NO : id.scope;
        }
        return NO;
    };

    fns.chooseStation = function (clickData, attnPick, closeClicks, current) {
        NO = cc.noUpdate();
        var trig = cc.triggered()[0];
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

    cc.clientside("cc", fns);
}());
