/*
 * Drill-down map and city layers (issue 3): map drawing functions and clientside callbacks.
 *
 * Drawing functions, in cc.draw (named from Python with layers/draw.py, i.e. {"variable": "cc.draw.<name>"};
 * dash-leaflet passes the component's props — with `hideout` — last):
 *   cityPoint(feature, latlng, ctx)            cameras (icon by status) and shops (circle by grade, f.properties._color)
 *   cityCluster(feature, latlng, index, ctx)   a cluster of shops: count over a ring split by grade colour
 *   choroplethStyle(feature)                   province / city fill by station count (cc.city.regionStats)
 *   regionTooltip(feature, layer, ctx)         sticky tooltip: stations by lifecycle, service staff, partners
 *   regionStatLabel(feature, latlng, ctx)      region name and its station count (data-* attributes carry the figures)
 *   pipeStyle(feature, ctx), pipeTooltip       pipelines coloured by live status (hideout.pipes[id] = [status, MPa])
 *   placeStyle(feature)                        parks and buildings of the enterprise heat layer
 *
 * Clientside callbacks (window.dash_clientside.ccCity): drillRoute (URL ⇄ scope, back button), layerState,
 * chooseFeature, applyPipes, layerLive, pickHit, flyPending.
 *
 * cc.city holds the state; cc.city.map is the Leaflet map (captured by an init hook): search results fly on it.
 */
(function () {
    "use strict";
    var cc = window.cc;
    var city = cc.city = {regionStats: {}, regionMeta: {}, pipes: {}, pendingFly: null};

    cc.onMap(function (map) {
        city.map = map;
        var born = Date.now(), touched = false;
        map.whenReady(function () {
            var el = map.getContainer();
            ["mousedown", "wheel", "touchstart", "keydown"].forEach(function (ev) {
                el.addEventListener(ev, function () { touched = true; }, {passive: true});
            });
        });
        // the page's panels settle after the map is made (the map gets smaller): keep the opening view whole
        map.on("resize", function () {
            if (!touched && city.initialBounds && Date.now() - born < 10000) {
                map.fitBounds(city.initialBounds, {padding: [6, 6], animate: false});
            }
        });
    });

    // ------------------------------------------------------------------ city points and clusters
    function cityPoint(feature, latlng, ctx) {
        var hideout = (ctx && ctx.hideout) || {};
        var p = feature.properties || {};
        if (hideout.kind === "camera") {
            var size = Math.round(cc.rem() * 1.55);
            var st = p.status === "online" ? "online" : "offline";
            var icon = L.divIcon({
                className: "cc-cpin-icon",
                html: "<div class=\"cc-cpin cc-cpin-" + st + "\" data-cam=\"" + cc.esc(p.id) + "\" data-status=\"" + st +
                    "\"><svg viewBox=\"0 0 24 24\" aria-hidden=\"true\"><path d=\"M3 7.5h11a1.5 1.5 0 0 1 1.5 1.5v1.8l4.6-2.9a.6.6 0 0 1 .9.5v7.2a.6.6 0 0 1-.9.5l-4.6-2.9V15a1.5 1.5 0 0 1-1.5 1.5H3A1.5 1.5 0 0 1 1.5 15V9A1.5 1.5 0 0 1 3 7.5z\"/></svg></div>",
                iconSize: [size, size], iconAnchor: [size / 2, size / 2]
            });
            return L.marker(latlng, {icon: icon, keyboard: false, riseOnHover: true});
        }
        return L.circleMarker(latlng, {
            radius: p._r || Math.max(4, Math.round(cc.rem() * 0.38)), color: "#0b1520", weight: 1,
            fillColor: p._color || (hideout.colors || {}).none, fillOpacity: 0.92, pane: "cc-points",
            className: "cc-city-pt" + (p.rating ? " cc-city-pt-" + p.rating : "")
        });
    }

    function cityCluster(feature, latlng, index, ctx) {
        var count = feature.properties.point_count;
        var colors = {}, noGrade = (((ctx && ctx.hideout) || {}).colors || {}).none;
        try {
            var leaves = index.getLeaves(feature.properties.cluster_id, Infinity);
            for (var i = 0; i < leaves.length; i++) {
                var c = leaves[i].properties._color || noGrade;
                colors[c] = (colors[c] || 0) + 1;
            }
        } catch (e) { /* index not ready: plain ring */ }
        var stops = [], acc = 0;
        Object.keys(colors).sort().forEach(function (c) {
            var a0 = acc / count * 360, a1 = (acc + colors[c]) / count * 360;
            stops.push(c + " " + a0.toFixed(1) + "deg " + a1.toFixed(1) + "deg");
            acc += colors[c];
        });
        var ring = stops.length ? "conic-gradient(" + stops.join(",") + ")" : "#3a4656";
        var size = Math.round(cc.rem() * (1.9 + Math.min(1.5, Math.log10(Math.max(count, 1)) * 0.7)));
        var icon = L.divIcon({
            className: "cc-city-cl-icon",
            html: "<div class=\"cc-city-cl\" data-count=\"" + count + "\" style=\"background:" + ring + "\">" +
                "<span>" + count + "</span></div>",
            iconSize: [size, size], iconAnchor: [size / 2, size / 2]
        });
        return L.marker(latlng, {icon: icon, keyboard: false});
    }

    // ------------------------------------------------------------------ choropleth of station counts
    var RAMP = [[0, [14, 47, 72]], [0.35, [17, 92, 132]], [0.7, [22, 150, 200]], [1, [52, 214, 255]]];

    function ramp(t) {
        t = Math.max(0, Math.min(1, t));
        for (var i = 1; i < RAMP.length; i++) {
            if (t <= RAMP[i][0]) {
                var a = RAMP[i - 1], b = RAMP[i], u = (t - a[0]) / (b[0] - a[0]);
                var c = [0, 1, 2].map(function (k) { return Math.round(a[1][k] + (b[1][k] - a[1][k]) * u); });
                return "rgb(" + c.join(",") + ")";
            }
        }
        return "rgb(52,214,255)";
    }
    city.ramp = ramp;

    // the figures of the scope drawn now (set by applyFigures; see callbacks/drilldown.py for why not hideout)
    function statsOf() {
        return city.regionStats || {};
    }

    function choroplethStyle(feature) {
        var p = feature.properties || {};
        var meta = city.regionMeta || {};
        var s = statsOf()[p.adcode];
        var n = s ? s.stations : 0;
        var max = meta.max || 0;
        var sel = meta.selected && p.adcode === meta.selected;
        if (meta.selected) {  // a city view: the city's own features matter, the fill steps back
            return {color: sel ? "#5fe3ff" : "#24607f", weight: sel ? 2.2 : 1, opacity: sel ? 1 : 0.7,
                    fillColor: sel ? "#0e2c44" : "#081624", fillOpacity: sel ? 0.55 : 0.5,
                    className: "cc-region" + (sel ? " cc-region-sel" : "")};
        }
        var fill = n > 0 && max > 0 ? ramp(Math.sqrt(n / max)) : "#0b1c2c";
        return {
            color: sel ? "#7fe9ff" : "#2c7fa8", weight: sel ? 2.4 : 1.1, opacity: sel ? 1 : 0.9,
            fillColor: fill, fillOpacity: n > 0 ? (sel ? 0.78 : 0.62) : 0.35,
            className: "cc-region" + (sel ? " cc-region-sel" : "")
        };
    }

    function regionTipHtml(p) {
        var lg = cc.pageLang();
        var s = city.regionStats[p.adcode];
        var name = lg === "en" && p.name_en ? p.name_en : p.name_zh;
        var h = "<div class=\"cc-tip-name\">" + cc.esc(name) + "</div>";
        if (!s) {
            return h + "<div class=\"cc-tip-sub\">" + cc.esc(cc.tr("drill.no_stations", lg)) + "</div>";
        }
        h += "<div class=\"cc-rt\" data-adcode=\"" + cc.esc(p.adcode) + "\">" +
            "<div class=\"cc-rt-total\"><b data-k=\"stations\">" + s.stations + "</b> " +
            cc.esc(cc.tr("drill.tip.stations", lg)) + "</div><div class=\"cc-rt-grid\">";
        ["built", "under_construction", "idle", "maintenance"].forEach(function (k) {
            h += "<span class=\"cc-rt-k cc-rt-" + k + "\">" + cc.esc(cc.tr("lifecycle." + k, lg)) + "</span>" +
                "<b data-k=\"" + k + "\">" + s[k] + "</b>";
        });
        h += "</div><div class=\"cc-rt-people\">" +
            "<span>" + cc.esc(cc.tr("drill.tip.staff", lg)) + " <b data-k=\"staff\">" + s.staff + "</b>" +
            " <i>(" + cc.esc(cc.tr("drill.tip.online", lg)) + " " + s.staff_online + ")</i></span>" +
            "<span>" + cc.esc(cc.tr("drill.tip.experts", lg)) + " <b data-k=\"experts\">" + s.experts + "</b></span>" +
            "<span>" + cc.esc(cc.tr("drill.tip.partners", lg)) + " <b data-k=\"partners\">" + s.partners + "</b></span>" +
            "</div></div>";
        if (city.regionMeta.level !== "city" || city.regionMeta.scope === "nation") {
            h += "<div class=\"cc-rt-hint\">" + cc.esc(cc.tr("drill.tip.click", lg)) + "</div>";
        }
        return h;
    }
    city.regionTipHtml = regionTipHtml;

    // one tooltip for all regions (the features are redrawn whenever their figures change: a tooltip bound to each
    // layer could outlive its layer and leave two on screen)
    function regionTip(map) {
        if (!city.regionTip) {
            city.regionTip = L.tooltip({sticky: true, direction: "right", offset: [14, 0],
                                        className: "cc-tip cc-region-tip", opacity: 1});
        }
        return city.regionTip;
    }

    function regionTooltip(feature, layer) {
        layer.on("mouseover mousemove", function (e) {
            var map = layer._map || city.map;
            if (!map) { return; }
            var tip = regionTip(map);
            tip.setLatLng(e.latlng);
            if (e.type === "mouseover" || !map.hasLayer(tip) || tip._ccCode !== feature.properties.adcode) {
                tip._ccCode = feature.properties.adcode;
                tip.setContent(regionTipHtml(feature.properties || {}));
                if (!map.hasLayer(tip)) { tip.openOn(map); }
            }
        });
        layer.on("mouseout remove", function () {
            var map = layer._map || city.map;
            if (city.regionTip && map && map.hasLayer(city.regionTip)) { map.closeTooltip(city.regionTip); }
        });
    }

    function regionStatLabel(feature, latlng, ctx) {
        var hideout = (ctx && ctx.hideout) || {};
        var p = feature.properties || {};
        var lg = cc.pageLang(hideout);
        var s = statsOf()[p.adcode];
        var name = lg === "en" && p.name_en ? p.name_en : cc.shortName(p.name_zh, lg);
        var data = " data-adcode=\"" + cc.esc(p.adcode) + "\"";
        if (s) {
            ["stations", "built", "under_construction", "idle", "maintenance", "staff", "experts", "partners"]
                .forEach(function (k) { data += " data-" + k.replace(/_/g, "-") + "=\"" + (s[k] || 0) + "\""; });
        }
        var html = "<div class=\"cc-rl" + (s && s.stations ? " cc-rl-has" : "") + "\"" + data + ">" +
            "<span class=\"cc-rl-name\">" + cc.esc(name) + "</span>" +
            (s && s.stations ? "<span class=\"cc-rl-n\">" + s.stations + "</span>" : "") + "</div>";
        var icon = L.divIcon({className: "cc-region-label cc-region-stat", html: html, iconSize: null});
        return L.marker(latlng, {icon: icon, interactive: false, keyboard: false, zIndexOffset: -1000});
    }

    // ------------------------------------------------------------------ pipelines and places
    // pipe styles and status names are the vocabulary's (cc.vocab.pipe_styles, ops/vocab.py PIPE_STYLES)
    function pipeStyleOf(status) {
        var styles = cc.vocab.pipe_styles || {};
        return styles[status] || styles.no_sensor || {};
    }

    function pipeState(p, hideout) {
        var live = (hideout && hideout.pipes && hideout.pipes[p.id]) || city.pipes[p.id];
        return live ? {status: live[0], p: live[1]} : {status: p.status, p: p.pressure_mpa};
    }

    function pipeStyle(feature, ctx) {
        var hideout = (ctx && ctx.hideout) || {};
        var p = feature.properties || {};
        var st = pipeState(p, hideout).status || "no_sensor";
        var s = Object.assign({}, pipeStyleOf(st));
        s.className = "cc-pipe cc-pipe-" + st + " cc-pipe-" + (p.kind || "line");
        var w = cc.rem() / 14;
        s.weight = s.weight * Math.max(1, w);
        return s;
    }

    function pipeLabel(status, lg) {
        return cc.tr((cc.vocab.pipe_label_keys || {})[status] || "pipe.status." + status, lg);
    }

    function pipeTooltip(feature, layer) {
        layer.bindTooltip(function () {
            var p = feature.properties || {};
            var lg = cc.pageLang();
            var live = pipeState(p, {});
            var name = lg === "en" && p.name_en ? p.name_en : p.name;
            var v = live.p === null || live.p === undefined ? "—" : Number(live.p).toFixed(3) + " MPa";
            return "<div class=\"cc-tip-name\">" + cc.esc(name) + "</div>" +
                "<div class=\"cc-tip-sub\">" + cc.esc(cc.tr("pipe.kind." + p.kind, lg)) + " · " +
                cc.esc(cc.tr("pipe.medium." + p.medium, lg)) + "</div>" +
                "<div class=\"cc-tip-sub cc-pipe-tip-" + live.status + "\" data-pipe=\"" + cc.esc(p.id) + "\">" +
                cc.esc(cc.tr("pipe.pressure", lg)) + " <b>" + v + "</b> · " + cc.esc(cc.tr("pipe.nominal", lg)) + " " +
                p.nominal_pressure_mpa + " MPa · " + cc.esc(pipeLabel(live.status, lg)) + "</div>";
        }, {sticky: true, className: "cc-tip", opacity: 1});
    }

    function placeStyle(feature) {
        var park = feature.properties && feature.properties.kind === "park";
        return park ? {color: "#b48cff", weight: 1.6, opacity: 0.9, fillColor: "#b48cff", fillOpacity: 0.08,
                       dashArray: "6 4", className: "cc-place cc-place-park"}
            : {color: "#5fe3ff", weight: 1.2, opacity: 0.95, fillColor: "#5fe3ff", fillOpacity: 0.28,
               className: "cc-place cc-place-building"};
    }

    Object.assign(cc.draw, {
        cityPoint: cityPoint, cityCluster: cityCluster, choroplethStyle: choroplethStyle,
        regionTooltip: regionTooltip, regionStatLabel: regionStatLabel, pipeStyle: pipeStyle,
        pipeTooltip: pipeTooltip, placeStyle: placeStyle
    });

    // ================================================================== clientside callbacks
    var SCOPE_RE = /^(nation|province:\d{6}|city:\d{6})$/;

    function scopeFromSearch(search) {
        var m = /[?&]scope=([^&#]*)/.exec(search || "");
        var s = m ? decodeURIComponent(m[1]) : "nation";
        return SCOPE_RE.test(s) ? s : "nation";
    }

    function searchWithScope(search, scope) {
        var parts = String(search || "").replace(/^\?/, "").split("&").filter(function (kv) {
            return kv && kv.indexOf("scope=") !== 0;
        });
        if (scope && scope !== "nation") { parts.unshift("scope=" + scope); }
        return parts.length ? "?" + parts.join("&") : "";
    }

    function parentScope(scope) {
        if (!scope || scope === "nation") { return "nation"; }
        var code = scope.split(":")[1];
        if (scope.indexOf("city:") === 0) { return "province:" + code.slice(0, 2) + "0000"; }
        return "nation";
    }

    var fns = {};

    /* the bounds the page opened on (nation or a bookmarked scope), refitted while the layout settles */
    fns.initialView = function (bounds) {
        city.initialBounds = bounds;
        if (city.map && bounds) { city.map.fitBounds(bounds, {padding: [6, 6], animate: false}); }
        return cc.noUpdate();
    };

    /* region figures (server) → the map's choropleth: a global the drawing functions read, and new hideouts */
    fns.applyFigures = function (figs, lg, scope) {
        figs = figs || {};
        var sig = lg + "|" + scope + "|" + JSON.stringify(figs);
        if (sig === city.figsSig) { return [cc.noUpdate(), cc.noUpdate()]; }  // redraw only when something changed
        city.figsSig = sig;
        var code = scope && scope !== "nation" ? scope.split(":")[1] : null;
        city.regionStats = figs.regions || {};
        city.regionMeta = {max: figs.max_stations || 0, scope: figs.scope || scope, level: figs.level,
                           selected: scope && scope.indexOf("city:") === 0 ? code : null};
        var stamp = (figs.scope || "") + ":" + sig.length + ":" + Date.now();
        return [{lang: lg, selected: city.regionMeta.selected, figs: stamp},
                {lang: lg, figs: stamp}];
    };

    /* url.search ⇄ scope, and the back button. One callback, so the two directions form no callback cycle. */
    fns.drillRoute = function (search, scope, backClicks) {
        var NO = cc.noUpdate();
        var ids = cc.triggeredIds();
        scope = scope || "nation";
        var outScope = NO, outSearch = NO;
        if (ids.some(function (p) { return p.indexOf("crumb-back") === 0; }) && backClicks) {
            var up = parentScope(scope);
            if (up !== scope) {
                outScope = up;
                outSearch = searchWithScope(search, up);
                scope = up;
            }
        } else if (ids.some(function (p) { return p.indexOf("url.") === 0; })) {
            var wanted = scopeFromSearch(search);
            if (wanted !== scope) { outScope = wanted; scope = wanted; }
        } else {
            var want = searchWithScope(search, scope);
            if (want !== (search || "")) { outSearch = want; }
        }
        city.scope = scope;
        var cls = "cc-crumb cc-crumb-back" + (scope === "nation" ? " cc-crumb-disabled" : "");
        return [outScope, outSearch, cls];
    };

    /* toggles → which layers are drawn: stations by a class on <html>, city-only rows dimmed outside a city */
    fns.layerState = function (toggles, scope) {
        toggles = toggles || [];
        var level = (scope || "nation").split(":")[0];
        document.documentElement.classList.toggle("cc-hide-stations", toggles.indexOf("stations") < 0);
        var heatOn = toggles.indexOf("heat") >= 0;
        return ["cc-lc cc-lc-scope-" + level + (heatOn ? " cc-lc-heat-on" : ""),
                "cc-lc-heat" + (heatOn ? "" : " cc-lc-heat-off"),
                {toggles: toggles, level: level}];
    };

    /* a click on a feature of a registered layer (ids {"type": "cc-layer", "key": k}) opens the feature panel as
       kinds[k] (layer-kinds store; "place" = the feature's park / building kind); ✕, a scope change or an opened
       station closes it (and a feature closes an open station) */
    fns.chooseFeature = function (clicks, closeClicks, scope, stationOpen, current, kinds) {
        var NO = cc.noUpdate();
        var t = cc.triggered()[0];
        if (!t) { return [NO, NO]; }
        var pid = t.prop_id;
        function open(kind, id) {
            var next = {kind: kind, id: id, scope: scope};
            if (current && current.kind === kind && current.id === id) { return [NO, NO]; }
            return [next, stationOpen ? null : NO];
        }
        if (pid.indexOf("feature-close") === 0) { return [t.value ? null : NO, NO]; }
        if (pid.indexOf("scope.") === 0) { return [current && current.scope !== scope ? null : NO, NO]; }
        if (pid.indexOf("station-open") === 0) { return [stationOpen && current ? null : NO, NO]; }
        var p = t.value && t.value.properties;
        if (!p || p.cluster) { return [NO, NO]; }
        if (pid.charAt(0) !== "{") { return [NO, NO]; }
        var kind = (kinds || {})[JSON.parse(pid.slice(0, pid.lastIndexOf("."))).key];
        if (!kind) { return [NO, NO]; }
        return open(kind === "place" ? (p.kind === "park" ? "park" : "building") : kind, p.id);
    };

    /* pipe_states deltas (Socket.IO) → pipelines hideout: lines restyle in place, tooltips read the new values */
    fns.applyPipes = function (evt, hideout, scope) {
        var NO = cc.noUpdate();
        if (!evt || evt.scope !== scope) { return NO; }
        hideout = hideout || {};
        var pipes = Object.assign({}, hideout.pipes || {}, evt.pipes || {});
        Object.assign(city.pipes, evt.pipes || {});
        return Object.assign({}, hideout, {pipes: pipes, ts: evt.ts_ms});
    };

    /* the refresh gate of a layer with live_events (layers/base.py): one of its Socket.IO events → its
       {"type": "cc-layer-live", "key": k} token, only while the layer is on and when the event concerns the page's
       scope (payload.scopes, when it has them); other events leave the registry callback alone (see cc_alarms.js
       "refresh gates": Dash drops a running call when the same callback is triggered again) */
    fns.layerLive = function () {
        var NO = cc.noUpdate();
        var args = Array.prototype.slice.call(arguments);
        var scope = args.pop() || "nation", toggles = args.pop() || [];
        var out = window.dash_clientside.callback_context.outputs_list;
        var id = (Array.isArray(out) ? out[0] : out || {}).id;
        if (typeof id === "string") { id = JSON.parse(id); }
        if (!id || toggles.indexOf(id.key) < 0) { return NO; }
        var hit = cc.triggered().some(function (t) {
            var evt = t.value;
            return !!evt && (!Array.isArray(evt.scopes) || evt.scopes.indexOf(scope) >= 0);
        });
        if (!hit) { return NO; }
        city.liveN = (city.liveN || 0) + 1;
        return {ts: Date.now(), n: city.liveN};
    };

    /* a search hit: change scope when needed, then fly to the hit (after the scope's own flight) */
    fns.pickHit = function (clicks, nSubmit, hits, scope) {
        var NO = cc.noUpdate();
        var t = cc.triggered()[0];
        if (!t || !t.value || !hits || !hits.length) { return [NO, NO, NO, NO, NO]; }
        var h;
        if (t.prop_id.indexOf("search-input.") === 0) {
            h = hits[0];
        } else {
            h = hits[cc.idOf(t.prop_id).i];
        }
        if (!h) { return [NO, NO, NO, NO, NO]; }
        var target;
        if (h.kind === "region") {
            target = (h.zoom >= 10 ? "city:" : "province:") + h.id;
        } else {
            target = h.city_adcode ? "city:" + h.city_adcode : scope;
        }
        var fly = h.kind === "region" ? null : {center: [h.dlat, h.dlon], zoom: h.zoom};
        var station = h.kind === "station" ? h.id : NO;
        var feature = h.kind === "shop" ? {kind: "shop", id: h.id, scope: target} : NO;
        city.lastHit = {kind: h.kind, id: h.id, lat: h.dlat, lon: h.dlon, zoom: h.zoom, scope: target};
        if (target !== scope) {
            city.pendingFly = fly ? {scope: target, center: fly.center, zoom: fly.zoom} : null;
            return [target, NO, "cc-search-results cc-search-empty", station, feature];
        }
        city.pendingFly = null;
        var vp = fly ? {center: fly.center, zoom: fly.zoom, transition: "flyTo", options: {duration: 1.0}} : NO;
        return [NO, vp, "cc-search-results cc-search-empty", station, feature];
    };

    /* the map's viewport was set (the scope's flight): a pending search hit now takes over */
    fns.flyPending = function (viewport, scope) {
        var f = city.pendingFly;
        if (f && f.scope === scope) {
            city.pendingFly = null;
            var go = function () {
                if (city.map) { city.map.flyTo(f.center, f.zoom, {duration: 1.0}); }
            };
            window.requestAnimationFrame(function () { window.setTimeout(go, 60); });
        }
        return cc.noUpdate();
    };

    cc.clientside("ccCity", fns);
}());
