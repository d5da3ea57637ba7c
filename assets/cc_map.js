/*
 * Station map drawing functions (officer map and wall), in cc.draw: Python names them with layers/draw.py
 * (dash_extensions.javascript.Namespace("cc", "draw") → {"variable": "cc.draw.<name>"}); dash-leaflet resolves them
 * on window and passes the component's props — among them `hideout` — as the last argument.
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
    var cc = window.cc;
    // state colours, names and orders are the vocabulary's (cc.vocab, ops/vocab.py)

    function stateOf(props, hideout) {
        var states = (hideout && hideout.states) || {};
        return states[props.id] || props.state || cc.vocab.station_fallback_state;
    }

    function stationPoint(feature, latlng, ctx) {
        var hideout = (ctx && ctx.hideout) || {};
        var p = feature.properties || {};
        var state = stateOf(p, hideout);
        var lang = cc.pageLang(hideout);
        // sized by capacity: 0.85 rem (≤ 20 m³/min) … 1.6 rem (≥ 200 m³/min), area ∝ capacity
        var cap = Math.max(0, Number(p.capacity_m3_min) || 0);
        var size = Math.round(cc.rem() * (0.85 + 0.75 * Math.min(1, Math.sqrt(Math.max(0, cap - 20) / 180))));
        var selected = hideout.selected && hideout.selected === p.id;
        var cls = "cc-st cc-st-" + state + (selected ? " cc-st-selected" : "") +
            (p.lifecycle && p.lifecycle !== "built" ? " cc-lc-" + p.lifecycle : "");
        var icon = L.divIcon({
            className: "cc-st-icon",
            html: "<div class=\"" + cls + "\" data-sid=\"" + cc.esc(p.id) + "\" data-state=\"" + state + "\"></div>",
            iconSize: [size, size],
            iconAnchor: [size / 2, size / 2]
        });
        var marker = L.marker(latlng, {icon: icon, keyboard: false, riseOnHover: true,
                                       zIndexOffset: state === "alarm" ? 1000 : (selected ? 2000 : 0)});
        var name = lang === "en" && p.name_en ? p.name_en : p.name;
        var sub = cc.tr("kind." + p.kind, lang) + (p.lifecycle !== "built" ? " · " + cc.tr("lifecycle." + p.lifecycle, lang) : "");
        marker.bindTooltip(
            "<div class=\"cc-tip-name\">" + cc.esc(name) + "</div>" +
            "<div class=\"cc-tip-sub\"><span class=\"cc-tip-dot cc-bg-" + state + "\"></span>" +
            cc.esc(cc.stateLabel(state, lang)) + " · " + cc.esc(sub) + "</div>" +
            "<div class=\"cc-tip-sub\">" + cc.esc(cc.tr("panel.capacity", lang)) + " " + cc.esc(cap) + " m³/min" +
            (p.partner ? " · " + cc.esc(cc.tr("panel.partner", lang)) + " " + cc.esc(p.partner) : "") + "</div>",
            {direction: "top", offset: [0, -size / 2], className: "cc-tip", opacity: 1});
        return marker;
    }

    function stationCluster(feature, latlng, index, ctx) {
        var hideout = (ctx && ctx.hideout) || {};
        var count = feature.properties.point_count;
        var counts = {alarm: 0}, order = cc.vocab.station_legend_order || [];  // ring order
        try {
            var leaves = index.getLeaves(feature.properties.cluster_id, Infinity);
            for (var i = 0; i < leaves.length; i++) {
                var s = stateOf(leaves[i].properties, hideout);
                counts[s] = (counts[s] || 0) + 1;
            }
        } catch (e) { /* supercluster not ready: plain ring */ }
        var stops = [], acc = 0;
        for (var j = 0; j < order.length; j++) {
            var n = counts[order[j]] || 0;
            if (!n) { continue; }
            var a0 = acc / count * 360, a1 = (acc + n) / count * 360;
            stops.push(cc.stateColour(order[j]) + " " + a0.toFixed(1) + "deg " + a1.toFixed(1) + "deg");
            acc += n;
        }
        var ring = stops.length ? "conic-gradient(" + stops.join(",") + ")" : "#3a4656";
        var r = cc.rem();
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

    function regionLabel(feature, latlng, ctx) {
        var p = feature.properties || {};
        var name = cc.pageLang(ctx && ctx.hideout) === "en" && p.name_en ? p.name_en :
            cc.shortName(p.name_zh || "", "zh");
        var icon = L.divIcon({className: "cc-region-label", html: "<span>" + cc.esc(name) + "</span>",
                              iconSize: null});
        return L.marker(latlng, {icon: icon, interactive: false, keyboard: false, zIndexOffset: -1000});
    }

    Object.assign(cc.draw, {
        stationPoint: stationPoint, stationCluster: stationCluster, regionStyle: regionStyle,
        regionHover: regionHover, regionLabel: regionLabel
    });
}());
