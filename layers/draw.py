"""Names of the browser's map drawing functions, for dash-leaflet's function props.

dash-leaflet props such as ``pointToLayer``, ``clusterToLayer``, ``style``, ``hoverStyle`` and ``onEachFeature`` take
a JavaScript function; from Python it is named, not written: ``DRAW("stationPoint")`` is
``{"variable": "cc.draw.stationPoint"}`` (:class:`dash_extensions.javascript.Namespace`), which dash-leaflet resolves on
``window`` when it renders. The functions live in ``assets/`` under the one browser namespace ``window.cc.draw``:

==================  =======================================================================================
``assets/cc_map.js``   ``stationPoint``, ``stationCluster``, ``regionStyle``, ``regionHover``, ``regionLabel``
``assets/cc_city.js``  ``cityPoint``, ``cityCluster``, ``choroplethStyle``, ``regionTooltip``, ``regionStatLabel``,
                       ``pipeStyle``, ``pipeTooltip``, ``placeStyle``
==================  =======================================================================================

``tests/test_assets_js.py`` checks that every name used from Python is defined there.
"""
from __future__ import annotations

from dash_extensions.javascript import Namespace

#: ``DRAW(name)`` → ``{"variable": "cc.draw.<name>"}`` for a dash-leaflet function prop
DRAW = Namespace("cc", "draw")
