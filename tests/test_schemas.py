"""ops/schema: one translation of pydantic's ValidationError into '<source>: <field>: <reason>'."""
from __future__ import annotations

import pytest
from pydantic import ValidationError, model_validator

from ops.schema import FieldError, StrictModel, error_parts, error_text, field_path, validate


class Item(StrictModel):
    name: str
    qty: int = 0


class Order(StrictModel):
    version: int
    items: list[Item]

    @model_validator(mode="after")
    def _unique(self):
        names = [i.name for i in self.items]
        for k, n in enumerate(names):
            if n in names[:k]:
                raise FieldError(("items", k, "name"), f"{n!r} already used by items[{names.index(n)}]")
        return self


class OrderError(ValueError):
    pass


def test_field_path():
    assert field_path(("registers", 3, "data_type")) == "registers[3].data_type"
    assert field_path(()) == ""
    assert field_path(("v",), {"v": "version"}) == "version"


@pytest.mark.parametrize("data,text", [
    ({"items": []}, "o.yaml: version: required field is missing"),
    ({"version": "1", "items": []}, "o.yaml: version: Input should be a valid integer"),
    ({"version": 1, "items": [{"name": "a", "qty": True}]}, "o.yaml: items[0].qty: Input should be a valid integer"),
    ({"version": 1, "items": [{"name": "a", "colour": 1}]}, "o.yaml: items[0].colour: unknown field"),
    ({"version": 1, "items": [{"name": "a"}, {"name": "a"}]}, "o.yaml: items[1].name: 'a' already used by items[0]"),
])
def test_validate_raises_the_callers_error_naming_source_and_field(data, text):
    with pytest.raises(OrderError) as err:
        validate(Order, data, "o.yaml", OrderError)
    assert str(err.value) == text


def test_error_parts_and_all_errors():
    with pytest.raises(ValidationError) as err:
        Order.model_validate({"version": None, "items": [{"name": 1}]})
    parts = error_parts(err.value)
    assert [(p.path, p.type) for p in parts] == [("version", "int_type"), ("items[0].name", "string_type")]
    assert error_text(err.value, "o", first_only=False).count(";") == 1
