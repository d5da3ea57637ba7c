"""The layer registry (:mod:`layers.registry`): discovery from the package, one shape per layer, and everything that
lists layers reading it — the layer control, the panes, the import names, the HTTP routes, the callbacks (one
pattern-matching callback for all layers, not one per layer)."""
from __future__ import annotations

import inspect

import pytest

from i18n import CATALOG
from layers import registry
from layers.base import Layer, LayerContext, Scope


def test_every_layer_module_is_discovered_once_in_order():
    keys = [layer.key for layer in registry.layers()]
    assert keys[:7] == ["regions", "stations", "cameras", "pipelines", "shops", "heat", "staff"]
    assert len(keys) == len(set(keys))
    assert [layer.key for layer in registry.controlled()] == ["stations", "cameras", "pipelines", "shops", "heat",
                                                               "staff"]
    assert registry.api_keys()[:4] == ["cameras", "pipelines", "shops", "places"]
    from layers.importing import import_layers  # noqa: PLC0415

    assert import_layers() == ("stations", "cameras", "pipelines", "shops", "enterprises")
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(type("Other", (Layer,), {"key": "cameras"}))


def test_one_shape_per_layer():
    from dashboard.pages.city import PANES  # noqa: PLC0415

    panes = {name for name, _z in PANES}
    for layer in registry.layers():
        assert isinstance(layer, Layer)
        params = list(inspect.signature(layer.data).parameters)
        assert params[:3] == ["scope", "ctx", "lang"], layer.key
        if layer.pane:
            assert layer.pane in panes and isinstance(layer.component_props(), dict)
        if layer.control:
            for lang in ("zh", "en"):
                assert f"layers.{layer.key}" in CATALOG[lang], (layer.key, lang)
                if layer.title_key:
                    assert layer.title_key in CATALOG[lang]
                    assert layer.legend(lang, {"level": "city"}), layer.key
        for prop, key in layer.popup_fields:
            assert key in CATALOG["zh"] and key in CATALOG["en"], (layer.key, prop, key)
    assert registry.by_click_kind("park").key == registry.by_click_kind("building").key == "heat"
    assert registry.by_import_key("enterprises").key == "heat"


def test_city_layers_answer_nothing_outside_a_city():
    ctx = LayerContext(engine=None, redis=None)
    for layer in registry.drawn():
        if layer.city_only:
            assert not layer.has_data(Scope.parse("nation")) and layer.has_data(Scope.parse("city:310100"))
    assert registry.get("heat").has_data(Scope.parse("city:310100"))
    assert not registry.get("heat").has_data(Scope.parse("province:310000"))
    assert ctx.stale_after_s == 30.0


def test_one_callback_fills_every_layer(tmp_path, redis_url):
    from dashboard.web.app import create_app  # noqa: PLC0415
    from datasources.settings import Settings  # noqa: PLC0415
    from datasources.sql.db import make_engine, migrate  # noqa: PLC0415

    url = f"sqlite:///{tmp_path / 'cc.db'}"
    migrate(url)
    engine = make_engine(url)
    try:
        app, _ = create_app(Settings(data_dir=tmp_path, redis_url=redis_url, database_url=url), engine=engine,
                            redis_url=redis_url, start_bridge=False)
        outputs = [str(k) for k in app.callback_map]
    finally:
        engine.dispose()
    layer_outputs = [o for o in outputs if '"type":"cc-layer"' in o.replace(" ", "")]
    matched = [o for o in layer_outputs if "MATCH" in o or '["MATCH"]' in o]
    assert len(matched) == 1 and len(layer_outputs) == 2, layer_outputs  # one MATCH callback (+ applyPipes)
    for key in ("cameras", "shops", "pipelines"):
        assert not any(o.startswith(f"{key}.") or f"..{key}." in o for o in outputs), key  # no per-layer ids left
