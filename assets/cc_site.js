/*
 * The site panel of the officer page (dashboard/pages/layout.py site panel, callbacks/site.py): the open station's
 * live device values, written into the elements the server's device cards made (data-dv / data-dev), and its
 * summary (state badge, flow, power, air-to-power ratio, discharge pressure, alarm inputs).
 *
 * Clientside callback "cc.stationValues" (namespace "cc", callbacks/site.py). The open station is cc.live.station
 * (the remote-control panel in cc_alarms.js reads it too). Value formats come from window.ccI18n.formats.
 */
(function () {
    "use strict";
    var cc = window.cc, live = cc.live;
    var fns = {};

    // ------------------------------------------------------------------ site panel values
    function fmtValue(model, kind, name, v, lang) {
        var formats = (window.ccI18n && window.ccI18n.formats) || {};
        var f = ((formats[model] || {}).values || {})[name] || {};
        var cls = "cc-dv-val";
        if (v === null || v === undefined) { return ["—", cls + " cc-dv-none"]; }
        if (typeof v === "boolean") { v = v ? 1 : 0; }
        if (f.enum !== undefined) {
            var label = cc.tr("enum." + f.enum + "." + Math.round(v), lang);
            var alarm = (f.alarm || []).indexOf(Math.round(v)) >= 0;
            return [label.indexOf("enum.") === 0 ? String(v) : label, cls + " cc-dv-enum" + (alarm ? " cc-dv-alarm" : "")];
        }
        if (f.enum0 && Number(v) === 0) { return [cc.tr("enum." + f.enum0 + ".0", lang), cls + " cc-dv-enum"]; }
        if (f.alarm_nonzero && Number(v) !== 0) { return [String(v), cls + " cc-dv-alarm"]; }
        if (typeof v === "number") { return [cc.num(v, f.dp === undefined ? 2 : f.dp, lang), cls]; }
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

    fns.stationValues = function (snapshot, evt, openStation, lang) {
        if (cc.fired("station-snapshot") && snapshot && snapshot.station && snapshot.station.id === openStation) {
            if (live.station && live.station.id !== openStation) { live.station = null; }
            mergeStation(snapshot);
        }
        if (cc.fired("socket.data-station_values") && evt && evt.station_id === openStation) {
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
        return cc.noUpdate();
    };

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
                cc.setText(e, r[0], r[1] + (d && !d.online ? " cc-dv-stale" : ""));
            });
            box.querySelectorAll("[data-dev]").forEach(function (e) {
                var d = st && st.devices[e.getAttribute("data-dev")];
                if (!d) { cc.setText(e, "—", "cc-dev-st"); return; }
                cc.setText(e, cc.tr(d.online ? "device.online" : "device.offline", lang),
                        "cc-dev-st " + (d.online ? "cc-dev-on" : "cc-dev-off"));
            });
        }
        var s = (st && st.summary) || {};
        var state = (st && st.state) || cc.vocab.station_fallback_state;
        var ratio = s.power_kw > 0 ? s.flow_m3_min * 60 / s.power_kw : null;
        var newest = 0;
        if (st) { Object.keys(st.devices).forEach(function (k) { newest = Math.max(newest, st.devices[k].ts_ms || 0); }); }
        cc.setText("site-state", cc.stateLabel(state, lang), "cc-state-badge cc-bg-" + state);
        cc.setText("site-flow", cc.num(s.flow_m3_min, 2, lang));
        cc.setText("site-power", cc.num(s.power_kw, 1, lang));
        cc.setText("site-ratio", ratio === null ? "—" : cc.num(ratio, 2, lang));
        cc.setText("site-pressure", cc.num(s.discharge_pressure_mpa, 3, lang));
        cc.setText("site-updated", newest ? cc.hms(newest) : "—");
        var alarms = s.alarm_inputs || [];
        cc.drawList("site-alarms", lang + JSON.stringify(alarms), function () {
            if (!alarms.length) { return []; }
            return [cc.el("span", "cc-alarm-label", cc.tr("panel.alarm_inputs", lang))].concat(alarms.map(function (a) {
                return cc.el("span", "cc-alarm-chip", cc.tr("alarm_input." + a, lang));
            }));
        });
    }

    cc.clientside("cc", fns);
}());
