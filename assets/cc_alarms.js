/*
 * Clientside callbacks of operations (namespace "ccOps"; wired in callbacks/alarms.py, dispatch.py, control.py).
 *
 *   alarmsApply     alarm snapshot (server, per scope) + live "alarm" events → the alarm list under the map, the
 *                   severity counters; new severity I / II alarms flash the screen and beep (Web Audio, generated
 *                   here — no audio file) unless muted. Unacknowledged I / II rows blink until acknowledged.
 *   alarmGo         a click on an alarm → fly the map to the station and open its site panel
 *   openAlarm / dispatchReq / openOrder / controlPending   which dialog shows what
 *   dockTab, mute   dock tabs, sound toggle (kept in localStorage)
 *   controlState    compressor run states and the room's occupancy in the site panel (live station_values)
 *   cameraOpen      the camera panel opens by itself on remote operations and on alarms the server flags opens_camera
 *   stationRefresh / alarmRefresh / orderRefresh   live events that concern the open station / alarm / order
 *
 * Also: ages and SLA countdowns tick every second in place (elements with data-since / data-deadline), sign-out.
 * State is kept on cc.ops (tests read cc.ops.beeps / cc.ops.flashes). The alerting rule is the server's: every
 * alarm carries `alerting`, every work order `open` (ops/vocab.py); the annunciation parameters, severity numerals,
 * state names and the SLA clock face come from cc.vocab.
 */
(function () {
    "use strict";
    var cc = window.cc;
    var ops = cc.ops = {
        alarms: {},        // id → alarm (open alarms of the current scope)
        seenTs: {},        // id → ts_ms of the newest message applied
        closedTs: {},      // id → ts_ms it was closed
        beeps: 0,          // beeps requested (audible or muted)
        beepsAudible: 0,
        flashes: 0,
        received: []       // [{id, event, ts_ms, at}] for latency measurements
    };
    var fns = {};

    function annunciation() { return cc.vocab.alerting || {}; }
    function can(me, perm) { return !!(me && me.permissions && me.permissions.indexOf(perm) >= 0); }

    // ------------------------------------------------------------------ sound and flash
    // severity I: a two-tone siren; others: two beeps
    var TONES_SEV1 = [[988, 0, 0.16], [740, 0.2, 0.16], [988, 0.4, 0.16], [740, 0.6, 0.16]];
    var TONES = [[784, 0, 0.22], [784, 0.32, 0.22]];

    function alarmBeep(severity) {
        ops.beeps += 1;
        if (ops.muted) { return; }
        if (cc.beep(severity === 1 ? TONES_SEV1 : TONES, "square", 0.12)) { ops.beepsAudible += 1; }
    }

    function flash(severity) {
        ops.flashes += 1;
        var el = document.getElementById("alarm-flash");
        if (!el) { return; }
        el.className = "cc-flash";
        void el.offsetWidth;  // restart the animation
        el.className = "cc-flash cc-flash-on cc-flash-sev" + severity;
        clearTimeout(ops._flashTimer);
        ops._flashTimer = setTimeout(function () { el.className = "cc-flash"; }, 3200);
    }

    // repeat the beep while an alerting alarm of the vocabulary's repeat severity (I) stays so (unless muted);
    // armed once the vocabulary is there (a page without it has no alarms to ring for)
    function repeatBeep() {
        var rule = annunciation();
        var ids = Object.keys(ops.alarms);
        for (var i = 0; i < ids.length; i++) {
            var a = ops.alarms[ids[i]];
            if (a.alerting && a.severity === rule.repeat_beep_severity) { alarmBeep(a.severity); return; }
        }
    }
    function armRepeatBeep() {
        if (!ops.repeatTimer && annunciation().repeat_beep_ms) {
            ops.repeatTimer = setInterval(repeatBeep, annunciation().repeat_beep_ms);
        }
    }
    armRepeatBeep();

    // ------------------------------------------------------------------ alarm list
    function sortAlarms(list) {
        return list.sort(function (a, b) {
            if (a.severity !== b.severity) { return a.severity - b.severity; }
            if (!!a.shelved !== !!b.shelved) { return a.shelved ? 1 : -1; }
            if (a.active !== b.active) { return a.active ? -1 : 1; }
            return (b.raised_ts_ms || 0) - (a.raised_ts_ms || 0);
        });
    }

    function stationName(a, lang) {
        var s = a.station || {};
        var zh = a.station_name || s.name, en = a.station_name_en || s.name_en;
        return (lang === "en" ? en || zh : zh) || a.station_id;
    }

    function valueText(a, lang) {
        if (a.value === null || a.value === undefined || a.kind === "digital" || a.kind === "comm_loss") { return ""; }
        var v = Number(a.value), txt = Math.abs(v) < 1 ? v.toPrecision(3) : v.toFixed(1);
        txt += " " + (a.unit || "");
        if (a.threshold !== null && a.threshold !== undefined) { txt += " / " + cc.tr("ops.limit", lang) + " " + a.threshold; }
        return txt;
    }

    function stateOf(a) { return a.shelved ? "shelved" : a.state; }

    // Alarm rows are drawn straight into #alarm-list (which Dash leaves empty), not returned to Dash as component
    // trees: with pattern-matching ids on every button, each re-render of a 30-row list made the renderer remount
    // and re-index hundreds of components and fell seconds behind the bus (bench/bench_alarm_latency.py). A click
    // on a row's parts sets the store "al-pick" ({kind: go | ack | disp | order, id, at}) through set_props.
    function h(tag, attrs, children) {
        // an element with attributes (className or any other) and children (text or elements; empty ones skipped),
        // built with the core's DOM helpers (assets/cc.js)
        var other = {};
        Object.keys(attrs || {}).forEach(function (k) { if (k !== "className") { other[k] = attrs[k]; } });
        return cc.kids(cc.el(tag, (attrs || {}).className, null, other), (children || []).filter(function (c) {
            return c !== null && c !== undefined && c !== "";
        }));
    }

    function alarmRow(a, lang, me, order) {
        var state = stateOf(a);
        var blink = !!a.alerting;  // the server's flag (ops/vocab.py alerting)
        var cls = "cc-al-row cc-al-sev" + a.severity + " cc-al-st-row-" + state +
            (a.acknowledged ? "" : " cc-al-unack") + (blink ? " cc-al-blink" : "") +
            (ops.selected === a.id ? " cc-al-sel" : "");
        var acts = [];
        var canAck = can(me, "alarm.acknowledge") && !a.acknowledged;
        acts.push(h("button", {className: "cc-al-btn" + (canAck ? " cc-al-btn-ack" : ""), "data-pick": "ack",
                               "data-id": String(a.id)}, [cc.tr(canAck ? "ops.ack" : "ops.handle", lang)]));
        if (can(me, "workorder.create") && !order) {
            acts.push(h("button", {className: "cc-al-btn cc-al-btn-disp", "data-pick": "disp", "data-id": String(a.id)},
                        [cc.tr("ops.dispatch", lang)]));
        }
        var orderCell = order ? h("span", {
            className: "cc-al-orderchip cc-wo-st-" + order.state + (order.overdue ? " cc-wo-overdue-chip" : ""),
            "data-pick": "order", "data-id": String(order.id), role: "button"},
            ["#" + order.id + " " + (order.assignee_name || cc.tr("wo.pool", lang)) + " · " +
             cc.orderStateLabel(order.state, lang)]) : "";
        var device = a.device_id && a.device_id !== a.station_id ? a.device_id.replace(a.station_id + "-", "") : "";
        return h("div", {className: cls, "data-alarm-id": String(a.id)}, [
            h("span", {className: "cc-al-sev cc-sevbg" + a.severity}, [cc.sevRoman(a.severity)]),
            h("span", {className: "cc-al-c-time cc-al-time"}, [cc.hms(a.raised_ts_ms)]),
            h("span", {className: "cc-al-c-age cc-al-age", "data-since": String(a.raised_ts_ms)},
              [cc.age(a.raised_ts_ms, lang)]),
            h("div", {className: "cc-al-c-main cc-al-main", title: cc.tr("ops.goto_station", lang), "data-pick": "go",
                      "data-id": String(a.id), role: "button"}, [
                h("span", {className: "cc-al-station"}, [stationName(a, lang)]),
                h("span", {className: "cc-al-dev"}, [device]),
                h("span", {className: "cc-al-msg"}, [cc.bilingual(a.message, lang)])]),
            h("span", {className: "cc-al-c-val cc-al-val"}, [valueText(a, lang)]),
            h("span", {className: "cc-al-c-state cc-al-state cc-al-st-" + state}, [
                state === "shelved" && a.shelved_until_ms ?
                    cc.tr("ops.shelved_until", lang) + " " + cc.hms(a.shelved_until_ms).slice(0, 5) :
                    cc.alarmStateLabel(state, lang)]),
            h("span", {className: "cc-al-c-order"}, [orderCell]),
            h("span", {className: "cc-al-c-act cc-al-acts"}, acts)
        ]);
    }

    function drawAlarms(shown, lang, me, orders) {
        var sig = JSON.stringify([lang, ops.selected, (me || {}).role, shown, Object.keys(orders).map(function (k) {
            var o = orders[k]; return [k, o.id, o.state, o.overdue, o.assignee_name];
        })]);
        cc.drawList("alarm-list", sig, function () {
            return shown.length ? shown.slice(0, 300).map(function (a) { return alarmRow(a, lang, me, orders[a.id]); })
                : [h("div", {className: "cc-empty"}, [cc.tr("ops.no_alarms", lang)])];
        });
    }

    function pickAlarm(e) {
        var t = e.target && e.target.closest && e.target.closest("#alarm-list [data-pick]");
        if (!t) { return; }
        window.dash_clientside.set_props("al-pick", {data: {kind: t.getAttribute("data-pick"),
                                                            id: Number(t.getAttribute("data-id")), at: Date.now()}});
    }
    document.addEventListener("click", pickAlarm);

    function picked(kind) {
        // the "al-pick" store's value when it triggered this callback with ``kind``, else null
        var t = cc.triggered().filter(function (x) { return x.prop_id === "al-pick.data"; })[0];
        return t && t.value && t.value.kind === kind ? t.value : null;
    }

    fns.alarmsApply = function (snapshot, evt, sevFilter, unackFilter, lang, brief, muted, scope, me) {
        scope = scope || "nation";
        lang = lang || "zh";
        ops.muted = !!muted;
        ops.me = me;
        armRepeatBeep();
        if (cc.fired("alarm-snapshot") && snapshot && snapshot.scope === scope) {
            var next = {}, snapTs = snapshot.ts_ms || 0;
            (snapshot.alarms || []).forEach(function (a) {
                var mine = ops.alarms[a.id];
                if ((ops.closedTs[a.id] || 0) > snapTs) { return; }
                next[a.id] = mine && (ops.seenTs[a.id] || 0) > snapTs ? mine : a;
            });
            // raised after the snapshot was taken, in this scope
            Object.keys(ops.alarms).forEach(function (id) {
                var a = ops.alarms[id];
                if (!next[id] && ops.scope === scope && (ops.seenTs[id] || 0) > snapTs) { next[id] = a; }
            });
            ops.alarms = next;
            ops.scope = scope;
        }
        if (cc.fired("socket.data-alarm") && evt && evt.alarm &&
                (!evt.scopes || evt.scopes.indexOf(scope) >= 0)) {
            var a = evt.alarm, prev = ops.alarms[a.id];
            ops.received.push({id: a.id, event: evt.event, ts_ms: evt.ts_ms, at: Date.now()});
            if (ops.received.length > 500) { ops.received.splice(0, 250); }
            if ((ops.seenTs[a.id] || 0) <= (evt.ts_ms || 0)) {
                ops.seenTs[a.id] = evt.ts_ms || Date.now();
                if (!cc.alarmOpen(a.state)) {
                    delete ops.alarms[a.id];
                    ops.closedTs[a.id] = evt.ts_ms || Date.now();
                } else {
                    if (evt.station) { a.station = evt.station; }
                    else if (prev) { a.station = prev.station; }
                    ops.alarms[a.id] = a;
                }
                var rule = annunciation();
                if ((rule.annunciate_events || []).indexOf(evt.event) >= 0 && evt.annunciate !== false &&
                        a.severity <= rule.annunciate_max_severity) {
                    alarmBeep(a.severity);
                    flash(a.severity);
                }
            }
        }
        var orders = {};
        (brief || []).forEach(function (o) {
            if (o.alarm_id && o.open) { orders[o.alarm_id] = o; }
        });
        var all = Object.keys(ops.alarms).map(function (id) { return ops.alarms[id]; });
        var sev = {1: 0, 2: 0, 3: 0, 4: 0}, unacked = 0;
        all.forEach(function (a) {
            if (a.active && !a.shelved) { sev[a.severity] = (sev[a.severity] || 0) + 1; }
            if (!a.acknowledged) { unacked += 1; }
        });
        var sevOk = {};
        (sevFilter || []).forEach(function (s) { sevOk[s] = true; });
        var onlyUnack = (unackFilter || []).indexOf("unack") >= 0;
        var shown = sortAlarms(all.filter(function (a) {
            return sevOk[String(a.severity)] && (!onlyUnack || !a.acknowledged);
        }));
        drawAlarms(shown, lang, me, orders);
        var hot = all.some(function (a) { return a.alerting; });
        return [String(all.length), String(sev[1]), String(sev[2]), String(sev[3]), String(sev[4]),
                String(unacked), "cc-dock-badge" + (hot ? " cc-dock-badge-hot" : "")];
    };

    fns.alarmGo = function (pick, siteGoClicks, current) {
        var go = picked("go");
        var hit = go ? {id: {id: go.id}} : cc.patternTrigger();
        if (!hit) { return [cc.noUpdate(), cc.noUpdate()]; }
        var a = ops.alarms[hit.id.id];
        if (!a) { return [cc.noUpdate(), cc.noUpdate()]; }
        ops.selected = a.id;
        document.querySelectorAll(".cc-al-sel").forEach(function (el) { el.classList.remove("cc-al-sel"); });
        var row = document.querySelector('[data-alarm-id="' + a.id + '"]');
        if (row) { row.classList.add("cc-al-sel"); }
        var st = a.station || {};
        var lat = st.lat, lon = st.lon;
        var viewport = (lat !== undefined && lat !== null) ? {center: [lat, lon], zoom: 12, transition: "flyTo",
                                                              options: {duration: 0.9}} : cc.noUpdate();
        return [a.station_id === current ? cc.noUpdate() : a.station_id, viewport];
    };

    fns.openAlarm = function (pick, siteClicks, closeClicks, current) {
        var tr0 = cc.triggered()[0];
        if (tr0 && tr0.prop_id.indexOf("alarm-dialog-x") === 0) { return tr0.value ? null : cc.noUpdate(); }
        var ack = picked("ack");
        if (ack) { return ack.id; }
        if (tr0 && tr0.prop_id === "al-pick.data") { return cc.noUpdate(); }
        var hit = cc.patternTrigger();
        if (!hit) { return cc.noUpdate(); }
        return hit.id.id;
    };

    fns.dockTab = function (a, o, s, current) {
        var tr0 = cc.triggered()[0];
        var tab = current || "alarms";
        if (tr0 && tr0.value) {
            if (tr0.prop_id.indexOf("dock-tab-orders") === 0) { tab = "orders"; }
            else if (tr0.prop_id.indexOf("dock-tab-stats") === 0) { tab = "stats"; }
            else if (tr0.prop_id.indexOf("dock-tab-alarms") === 0) { tab = "alarms"; }
        }
        var keys = ["alarms", "orders", "stats"];
        var out = [tab];
        keys.forEach(function (k) { out.push("cc-dock-tab" + (k === tab ? " cc-dock-tab-on" : "")); });
        keys.forEach(function (k) { out.push("cc-dock-body" + (k === tab ? "" : " cc-dock-hidden")); });
        out.push(tab !== "stats");
        return out;
    };

    fns.mute = function (n, lang, muted) {
        var tr0 = cc.triggered()[0];
        var m = !!muted;
        if (tr0 && tr0.prop_id.indexOf("alarm-mute") === 0 && tr0.value) { m = !m; cc.audio(); }
        ops.muted = m;
        return [m, "cc-mute" + (m ? " cc-mute-on" : ""), cc.tr(m ? "ops.sound_off" : "ops.sound_on", lang || "zh")];
    };

    // ------------------------------------------------------------------ dispatch, work orders
    fns.dispatchReq = function (dispClicks, dialogClicks, siteClicks, cancelClicks, xClicks, alarmOpen, stationOpen) {
        var tr0 = cc.triggered()[0];
        if (!tr0) { return cc.noUpdate(); }
        var pid = tr0.prop_id;
        if (pid.indexOf("dispatch-cancel") === 0 || pid.indexOf("dispatch-dialog-x") === 0) {
            return tr0.value ? null : cc.noUpdate();
        }
        if (pid.indexOf("alarm-do-dispatch") === 0) {
            return tr0.value && alarmOpen ? {alarm_id: alarmOpen, ts: Date.now()} : cc.noUpdate();
        }
        if (pid.indexOf("site-dispatch") === 0) {
            return tr0.value && stationOpen ? {station_id: stationOpen, ts: Date.now()} : cc.noUpdate();
        }
        var disp = picked("disp");
        return disp ? {alarm_id: disp.id, ts: Date.now()} : cc.noUpdate();
    };

    fns.openOrder = function (rowClicks, pick, xClicks, current) {
        var tr0 = cc.triggered()[0];
        if (tr0 && tr0.prop_id.indexOf("order-dialog-x") === 0) { return tr0.value ? null : cc.noUpdate(); }
        var chip = picked("order");
        if (chip) { return chip.id; }
        if (tr0 && tr0.prop_id === "al-pick.data") { return cc.noUpdate(); }
        var hit = cc.patternTrigger();
        return hit ? hit.id.id : cc.noUpdate();
    };

    // ------------------------------------------------------------------ refresh gates
    // A server callback that takes both "the dialog / panel that is open" and live socket events must not answer
    // an unrelated event with no_update: Dash drops a still-running call of a callback when the same callback is
    // triggered again, so the open's own answer would be lost and the panel left empty. These gates turn only
    // the events that concern what is open into a refresh token; the server callbacks then always draw in full.
    function refreshToken() { return {ts: Date.now()}; }

    fns.stationRefresh = function (alarmEvt, orderEvt, resync, stationOpen) {
        if (!stationOpen) { return cc.noUpdate(); }
        var hit = cc.triggered().some(function (t) {
            if (t.prop_id.indexOf("socket.data-ops_resync") === 0) { return true; }
            var evt = t.prop_id.indexOf("socket.data-alarm") === 0 ? alarmEvt : orderEvt;
            var body = evt && (evt.alarm || evt.order);
            return !!body && body.station_id === stationOpen;
        });
        return hit ? refreshToken() : cc.noUpdate();
    };

    fns.alarmRefresh = function (alarmEvt, orderEvt, alarmOpen) {
        if (!alarmOpen) { return cc.noUpdate(); }
        var a = alarmEvt && alarmEvt.alarm, o = orderEvt && orderEvt.order;
        var hit = (cc.fired("socket.data-alarm") && a && String(a.id) === String(alarmOpen)) ||
            (cc.fired("socket.data-workorder") && o && String(o.alarm_id) === String(alarmOpen));
        return hit ? refreshToken() : cc.noUpdate();
    };

    fns.orderRefresh = function (orderEvt, orderOpen) {
        var o = orderEvt && orderEvt.order;
        return orderOpen && o && String(o.id) === String(orderOpen) ? refreshToken() : cc.noUpdate();
    };

    // ------------------------------------------------------------------ remote control
    var live = cc.live;
    fns.controlState = function (snapshot, evt, rows, lang, stationOpen, me) {
        var ctx = window.dash_clientside.callback_context;
        var outs = ctx.outputs_list;
        lang = lang || "zh";
        var st = live.station && live.station.id === stationOpen ? live.station : null;
        var devices = (st && st.devices) || {};
        if (!st && snapshot && snapshot.station && snapshot.station.id === stationOpen) {
            (snapshot.devices || []).forEach(function (d) { devices[d.device_id] = d; });
        }
        if (evt && evt.station_id === stationOpen) {
            (evt.devices || []).forEach(function (d) { if (d.online) { devices[d.device_id] = d; } });
        }
        var occ = null;
        Object.keys(devices).forEach(function (k) {
            var d = devices[k];
            if (d.kind === "station_io" && d.online && d.values && d.values.occupancy !== undefined) {
                occ = Number(d.values.occupancy) === 1;
            }
        });
        var stateTexts = [], stateClasses = [];
        (outs[0] || []).forEach(function (o) {
            var d = devices[o.id.dev];
            var v = d && d.values ? d.values.run_state : undefined;
            if (!d || !d.online || v === undefined || v === null) {
                stateTexts.push(d && !d.online ? cc.tr("device.offline", lang) : "—");
                stateClasses.push("cc-ctl-state cc-rs-none");
            } else {
                stateTexts.push(cc.tr("enum.run_state." + Math.round(v), lang));
                stateClasses.push("cc-ctl-state cc-rs-" + Math.round(v));
            }
        });
        var allowed = can(me, "control.command") && occ === false;
        var disabled = (outs[2] || []).map(function () { return !allowed; });
        var occText = occ === null ? cc.tr("ops.occ_unknown", lang) : cc.tr(occ ? "ops.occ_on" : "ops.occ_off", lang);
        var occCls = "cc-occ " + (occ === null ? "cc-occ-unknown" : occ ? "cc-occ-on" : "cc-occ-off");
        return [stateTexts, stateClasses, disabled, occText, occCls];
    };

    fns.controlPending = function (btnClicks, cancel, x, stationOpen, spValues) {
        var tr0 = cc.triggered()[0];
        if (tr0 && (tr0.prop_id.indexOf("ctl-cancel") === 0 || tr0.prop_id.indexOf("ctl-dialog-x") === 0)) {
            return tr0.value ? null : cc.noUpdate();
        }
        var hit = cc.patternTrigger();
        if (!hit) { return cc.noUpdate(); }
        var out = {device_id: hit.id.dev, command: hit.id.cmd, station_id: stationOpen, ts: Date.now()};
        if (String(hit.id.cmd).indexOf("sp:") === 0) {
            // set-point button: carry the value typed in its input (engineering units; the server checks it)
            var name = hit.id.cmd.slice(3), ctx = window.dash_clientside.callback_context;
            var states = (ctx.states_list || []).filter(function (s) { return Array.isArray(s); })[0] || [];
            states.forEach(function (s) {
                if (s.id && s.id.dev === hit.id.dev && s.id.name === name) { out.value = s.value; }
            });
            out.command = "setpoint";
            out.name = name;
        }
        return out;
    };

    // ------------------------------------------------------------------ cameras
    fns.cameraOpen = function (alarmEvt, controlEvt, confirmClicks, videoClicks, closeClicks, pending, stationOpen,
                               current, scope) {
        var tr0 = cc.triggered()[0];
        if (!tr0) { return cc.noUpdate(); }
        var pid = tr0.prop_id, now = Date.now();
        if (pid.indexOf("cam-close") === 0) { return tr0.value ? null : cc.noUpdate(); }
        if (pid.indexOf("site-video") === 0) {
            return tr0.value && stationOpen ? {station_id: stationOpen, reason: "manual", ts: now} : cc.noUpdate();
        }
        if (pid.indexOf("ctl-confirm") === 0) {
            return tr0.value && pending ? {station_id: pending.station_id, reason: "control", ts: now} : cc.noUpdate();
        }
        if (pid.indexOf("socket.data-control") === 0) {
            if (controlEvt && controlEvt.phase === "started" &&
                    !(current && current.station_id === controlEvt.station_id && current.reason === "control")) {
                return {station_id: controlEvt.station_id, reason: "control", ts: now};
            }
            return cc.noUpdate();
        }
        if (pid.indexOf("socket.data-alarm") === 0) {
            var a = alarmEvt && alarmEvt.alarm;
            if (a && alarmEvt.event === "raised" && a.opens_camera &&
                    (!alarmEvt.scopes || alarmEvt.scopes.indexOf(scope || "nation") >= 0)) {
                return {station_id: a.station_id, reason: a.rule, alarm_id: a.id, ts: now};
            }
        }
        return cc.noUpdate();
    };

    // ------------------------------------------------------------------ camera frames
    // each tile shows /cameras/<id>/snapshot.jpg, reloaded as soon as the previous frame has arrived (at most
    // CAMERA_FPS a second): short requests, so the page never holds a connection per camera (a browser opens six
    // per host, and the page's own callbacks need them)
    var CAMERA_FPS = 2;
    setInterval(function () {
        var imgs = document.querySelectorAll("#cam-panel:not(.cc-cam-hidden) img[data-cam-snap]");
        for (var i = 0; i < imgs.length; i++) {
            var img = imgs[i];
            if (img.complete && !img.dataset.ccLoading) {
                img.dataset.ccLoading = "1";
                img.onload = img.onerror = function () { delete this.dataset.ccLoading; };
                img.src = img.getAttribute("data-cam-snap") + "?t=" + Date.now();
                ops.cameraFrames = (ops.cameraFrames || 0) + 1;
            }
        }
    }, 1000 / CAMERA_FPS);

    // ------------------------------------------------------------------ ticking ages and SLA clocks, sign-out
    setInterval(function () {
        var lang = cc.pageLang();
        var nodes = document.querySelectorAll("[data-since]");
        for (var i = 0; i < nodes.length; i++) {
            var since = Number(nodes[i].getAttribute("data-since"));
            if (since) { nodes[i].textContent = cc.age(since, lang); }
        }
        cc.tickDeadlines(document.querySelectorAll("[data-deadline]"), lang);
    }, 1000);

    document.addEventListener("click", function (ev) {
        var btn = ev.target && ev.target.closest ? ev.target.closest("#cc-logout") : null;
        if (!btn) { return; }
        ev.preventDefault();
        cc.logout("/auth/login?lang=" + cc.pageLang());
    });

    cc.clientside("ccOps", fns);
}());
