/*
 * Map drawing functions of the command center, referenced from Python as
 * {"variable": "dashExtensions.cc.<name>"} (dash-leaflet resolves them on window and passes the component's
 * props — among them `hideout` — as the last argument).
 *
 *   stationPoint(feature, latlng, ctx)          one station: a divIcon coloured by hideout.states[id]
 *   stationCluster(feature, latlng, index, ctx) a cluster: count + ring split by the states of its stations
 *   regionStyle(feature, ctx), regionHover      province / city boundaries
 *   regionLabel(feature, latlng, ctx)           region name at its label point
 *
 * Sizes follow the root font size (rem), which follows the viewport width, so markers are as legible on the
 * 3840×2160 wall as on a 1920×1080 desktop.
 */
(function () {
    "use strict";
    var STATES = ["alarm", "offline", "running", "idle", "not_built"];
    var COLORS = {
        running: "#22d37a", idle: "#4f8fd9", alarm: "#ff3b4e", offline: "#5b6675", not_built: "#f2a93b"
    };

    function rem() {
        var fs = parseFloat(window.getComputedStyle(document.documentElement).fontSize);
        return isFinite(fs) && fs > 0 ? fs : 16;
    }

    function tr(key, lang) {
        var c = window.ccI18n && window.ccI18n.catalog;
        if (!c) { return key; }
        var table = c[lang] || c[window.ccI18n["default"]] || {};
        return table[key] || (c.zh && c.zh[key]) || key;
    }

    function esc(s) {
        return String(s == null ? "" : s).replace(/[&<>"']/g, function (ch) {
            return {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"}[ch];
        });
    }

    function stateOf(props, hideout) {
        var states = (hideout && hideout.states) || {};
        return states[props.id] || props.state || "offline";
    }

    function stationPoint(feature, latlng, ctx) {
        var hideout = (ctx && ctx.hideout) || {};
        var p = feature.properties || {};
        var state = stateOf(p, hideout);
        var lang = pageLang(hideout);
        // sized by capacity: 0.85 rem (≤ 20 m³/min) … 1.6 rem (≥ 200 m³/min), area ∝ capacity
        var cap = Math.max(0, Number(p.capacity_m3_min) || 0);
        var size = Math.round(rem() * (0.85 + 0.75 * Math.min(1, Math.sqrt(Math.max(0, cap - 20) / 180))));
        var selected = hideout.selected && hideout.selected === p.id;
        var cls = "cc-st cc-st-" + state + (selected ? " cc-st-selected" : "") +
            (p.lifecycle && p.lifecycle !== "built" ? " cc-lc-" + p.lifecycle : "");
        var icon = L.divIcon({
            className: "cc-st-icon",
            html: "<div class=\"" + cls + "\" data-sid=\"" + esc(p.id) + "\" data-state=\"" + state + "\"></div>",
            iconSize: [size, size],
            iconAnchor: [size / 2, size / 2]
        });
        var marker = L.marker(latlng, {icon: icon, keyboard: false, riseOnHover: true,
                                       zIndexOffset: state === "alarm" ? 1000 : (selected ? 2000 : 0)});
        var name = lang === "en" && p.name_en ? p.name_en : p.name;
        var sub = tr("kind." + p.kind, lang) + (p.lifecycle !== "built" ? " · " + tr("lifecycle." + p.lifecycle, lang) : "");
        marker.bindTooltip(
            "<div class=\"cc-tip-name\">" + esc(name) + "</div>" +
            "<div class=\"cc-tip-sub\"><span class=\"cc-tip-dot cc-bg-" + state + "\"></span>" +
            esc(tr("state." + state, lang)) + " · " + esc(sub) + "</div>" +
            "<div class=\"cc-tip-sub\">" + esc(tr("panel.capacity", lang)) + " " + esc(cap) + " m³/min" +
            (p.partner ? " · " + esc(tr("panel.partner", lang)) + " " + esc(p.partner) : "") + "</div>",
            {direction: "top", offset: [0, -size / 2], className: "cc-tip", opacity: 1});
        return marker;
    }

    function stationCluster(feature, latlng, index, ctx) {
        var hideout = (ctx && ctx.hideout) || {};
        var count = feature.properties.point_count;
        var counts = {alarm: 0, offline: 0, running: 0, idle: 0, not_built: 0};
        try {
            var leaves = index.getLeaves(feature.properties.cluster_id, Infinity);
            for (var i = 0; i < leaves.length; i++) {
                var s = stateOf(leaves[i].properties, hideout);
                counts[s] = (counts[s] || 0) + 1;
            }
        } catch (e) { /* supercluster not ready: plain ring */ }
        var stops = [], acc = 0, order = ["running", "idle", "alarm", "offline", "not_built"];
        for (var j = 0; j < order.length; j++) {
            var n = counts[order[j]] || 0;
            if (!n) { continue; }
            var a0 = acc / count * 360, a1 = (acc + n) / count * 360;
            stops.push(COLORS[order[j]] + " " + a0.toFixed(1) + "deg " + a1.toFixed(1) + "deg");
            acc += n;
        }
        var ring = stops.length ? "conic-gradient(" + stops.join(",") + ")" : "#3a4656";
        var r = rem();
        var size = Math.round(r * (2.1 + Math.min(1.6, Math.log10(Math.max(count, 1)) * 0.9)));
        var cls = "cc-cl" + (counts.alarm ? " cc-cl-alarm" : "");
        var html = "<div class=\"" + cls + "\" data-count=\"" + count + "\" style=\"background:" + ring + "\">" +
            "<span class=\"cc-cl-n\">" + count + "</span>" +
            (counts.alarm ? "<i class=\"cc-cl-badge\">" + counts.alarm + "</i>" : "") + "</div>";
        var icon = L.divIcon({className: "cc-cl-icon", html: html, iconSize: [size, size],
                              iconAnchor: [size / 2, size / 2]});
        return L.marker(latlng, {icon: icon, keyboard: false, zIndexOffset: counts.alarm ? 900 : 0});
    }

    function regionStyle(feature, ctx) {
        var hideout = (ctx && ctx.hideout) || {};
        var sel = hideout.selected && feature.properties && feature.properties.adcode === hideout.selected;
        return {
            color: sel ? "#5fe3ff" : "#2c7fa8", weight: sel ? 2.2 : 1.1, opacity: sel ? 1 : 0.85,
            fillColor: sel ? "#0f3a55" : "#0d2233", fillOpacity: sel ? 0.55 : 0.42
        };
    }

    function regionHover() {
        return {color: "#7fe9ff", weight: 2, fillColor: "#12405c", fillOpacity: 0.6};
    }

    function pageLang(hideout) {
        // the page language (set by the language callbacks) wins over a hideout that may lag behind a URL load
        var l = document.documentElement.lang || (hideout && hideout.lang) || "zh";
        return l.indexOf("en") === 0 ? "en" : "zh";
    }

    function regionLabel(feature, latlng, ctx) {
        var p = feature.properties || {};
        var name = pageLang(ctx && ctx.hideout) === "en" && p.name_en ? p.name_en :
            String(p.name_zh || "").replace(/(维吾尔自治区|壮族自治区|回族自治区|特别行政区|自治区|省|市)$/, "");
        var icon = L.divIcon({className: "cc-region-label", html: "<span>" + esc(name) + "</span>",
                              iconSize: null});
        return L.marker(latlng, {icon: icon, interactive: false, keyboard: false, zIndexOffset: -1000});
    }

    // merge into dashExtensions.cc: other asset files (cc_city.js) add their functions to the same namespace
    window.dashExtensions = Object.assign({}, window.dashExtensions, {
        cc: Object.assign((window.dashExtensions && window.dashExtensions.cc) || {}, {
            stationPoint: stationPoint, stationCluster: stationCluster, regionStyle: regionStyle,
            regionHover: regionHover, regionLabel: regionLabel, colors: COLORS, states: STATES, tr: tr
        })
    });
}());
