"""Operations payload models (dashboard/web/payloads.py): one model per payload, shared by HTTP and Socket.IO."""
from __future__ import annotations

import pytest

from dashboard.web.operations import OpsError
from dashboard.web.payloads import AlarmActionBody, AlarmEvent, Control, Dispatch, OrderEvent, Setpoint, parse


def test_lax_coercion_as_before():
    a = parse(AlarmEvent, {"alarm_id": "17", "comment": None, "duration_s": 900}, "ops:shelve")
    assert (a.alarm_id, a.comment, a.duration_s) == (17, "", 900)
    assert parse(AlarmActionBody, {"comment": 5}, "acknowledge").comment == "5"
    d = parse(Dispatch, {"station_id": "", "engineer_id": 7}, "dispatch")
    assert (d.alarm_id, d.station_id, d.engineer_id) == (None, None, "7")
    assert parse(Dispatch, {}, "dispatch").engineer_id == "auto"
    assert parse(Dispatch, {"engineer_id": None}, "dispatch").engineer_id is None  # null: to the pool
    c = parse(Control, {"device_id": "ST1-C1", "command": "stop", "confirmed": "yes"}, "control")
    assert (c.device_id, c.command, c.confirmed) == ("ST1-C1", "stop", False)  # only JSON true confirms
    assert parse(Control, {"confirmed": True}, "control").confirmed is True
    assert parse(Setpoint, ["not", "an", "object"], "setpoint").name == ""  # a non-object counts as {}


def test_order_event_passes_other_keys_to_the_action():
    o = parse(OrderEvent, {"order_id": 3, "action": "check_in", "lon": 116.4, "lat": 39.9}, "ops:order")
    assert (o.order_id, o.action, o.arguments()) == (3, "check_in", {"lon": 116.4, "lat": 39.9})


@pytest.mark.parametrize("model,data,source,text", [
    (AlarmEvent, {}, "ops:acknowledge", "ops:acknowledge: alarm_id: must be an integer"),
    (AlarmEvent, {"alarm_id": "x"}, "ops:acknowledge", "ops:acknowledge: alarm_id: must be an integer"),
    (AlarmEvent, {"alarm_id": True}, "ops:acknowledge", "ops:acknowledge: alarm_id: must be an integer"),
    (Dispatch, {"alarm_id": [1]}, "dispatch", "dispatch: alarm_id: must be an integer"),
    (OrderEvent, {"action": "grab"}, "ops:order", "ops:order: order_id: must be an integer"),
])
def test_bad_payload_is_a_400_naming_the_field(model, data, source, text):
    with pytest.raises(OpsError) as err:
        parse(model, data, source)
    assert err.value.status == 400 and str(err.value) == text
