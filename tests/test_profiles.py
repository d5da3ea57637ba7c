"""Device profiles (YAML register maps) and the register codec."""
from __future__ import annotations

import math
import textwrap

import pytest

from datasources.modbus_codec import (MAX_REGISTERS_PER_READ, DecodeError, decode, decode_block, encode,
                                      plan_blocks)
from datasources.profiles import (DATA_TYPES, DEVICE_KINDS, PROFILE_DIR, ProfileError, RegisterSpec,
                                  default_profiles, load_profile, load_profiles, profile_from_dict)

# ---------------------------------------------------------------------------------------------- packaged files
PACKAGED = sorted(PROFILE_DIR.glob("*.yaml"))


def test_there_are_packaged_profiles():
    assert len(PACKAGED) >= 6


@pytest.mark.parametrize("path", PACKAGED, ids=lambda p: p.name)
def test_every_packaged_profile_loads(path):
    prof = load_profile(path)
    assert prof.kind in DEVICE_KINDS and prof.model and prof.source == path.name
    assert prof.registers and len(prof.by_name) == len(prof.registers)
    blocks = plan_blocks(prof)
    covered = [s.name for b in blocks for s in b.specs]
    assert sorted(covered) == sorted(prof.by_name)  # every register is read exactly once
    for spec in prof.registers:  # every register round-trips a representative value through the codec
        value = 1 if spec.is_bit else (spec.offset + 12 * spec.scale)
        assert decode(spec, encode(spec, value)) == pytest.approx(value, rel=1e-6)


def test_default_profiles_by_model():
    profs = default_profiles()
    assert set(profs) == {load_profile(p).model for p in PACKAGED}
    assert profs["cc-fixed-speed-compressor"].register("run_state").register_type == "input"
    with pytest.raises(KeyError, match="cc-fixed-speed-compressor"):
        profs["cc-fixed-speed-compressor"].register("nope")


# ------------------------------------------------------------------------------------------------ broken files
GOOD_HEADER = "model: test-model\nkind: compressor\nregisters:\n"


def _write(tmp_path, body: str, name: str = "broken.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


BROKEN = {
    # case: (file text, words that must appear in the message besides the file name)
    "yaml_syntax": (GOOD_HEADER + "  - {name: a, register_type: holding, address: 0, data_type: uint16\n",
                    ["YAML"]),
    "missing_field": (GOOD_HEADER + "  - {name: a, register_type: holding, data_type: uint16}\n",
                      ["registers[0].address", "missing"]),
    "missing_model": ("kind: compressor\nregisters:\n  - {name: a, register_type: holding, address: 0}\n",
                      ["model", "missing"]),
    "unknown_data_type": (GOOD_HEADER + "  - {name: a, register_type: holding, address: 0, data_type: float}\n",
                          ["registers[0].data_type", "'float'"]),
    "bit_with_numeric_type": (GOOD_HEADER + "  - {name: a, register_type: coil, address: 0, data_type: uint16}\n",
                              ["registers[0].data_type", "coil"]),
    "numeric_with_bool": (GOOD_HEADER + "  - {name: a, register_type: holding, address: 0, data_type: bool}\n",
                          ["registers[0].data_type", "holding"]),
    "writable_input": (GOOD_HEADER + "  - {name: a, register_type: input, address: 0, data_type: uint16,"
                                     " writable: true}\n", ["registers[0].writable", "input"]),
    "writable_discrete_input": (GOOD_HEADER + "  - {name: a, register_type: discrete_input, address: 0,"
                                              " writable: true}\n", ["registers[0].writable"]),
    "duplicate_name": (GOOD_HEADER + "  - {name: a, register_type: holding, address: 0, data_type: uint16}\n"
                                     "  - {name: a, register_type: holding, address: 5, data_type: uint16}\n",
                       ["registers[1].name", "'a'"]),
    "overlapping_addresses": (GOOD_HEADER + "  - {name: a, register_type: holding, address: 0, data_type: uint32}\n"
                                            "  - {name: b, register_type: holding, address: 1, data_type: uint16}\n",
                              ["registers[1].address", "overlaps", "'a'"]),
    "scale_zero": (GOOD_HEADER + "  - {name: a, register_type: holding, address: 0, data_type: uint16, scale: 0}\n",
                   ["registers[0].scale"]),
    "scale_not_number": (GOOD_HEADER + "  - {name: a, register_type: holding, address: 0, data_type: uint16,"
                                       " scale: fast}\n", ["registers[0].scale"]),
    "unknown_register_type": (GOOD_HEADER + "  - {name: a, register_type: eeprom, address: 0}\n",
                              ["registers[0].register_type", "'eeprom'"]),
    "unknown_word_order": (GOOD_HEADER + "  - {name: a, register_type: holding, address: 0, data_type: uint32,"
                                         " word_order: middle}\n", ["registers[0].word_order"]),
    "address_out_of_range": (GOOD_HEADER + "  - {name: a, register_type: holding, address: 70000,"
                                           " data_type: uint16}\n", ["registers[0].address"]),
    "address_runs_past_end": (GOOD_HEADER + "  - {name: a, register_type: holding, address: 65535,"
                                            " data_type: uint32}\n", ["registers[0].address"]),
    "bad_name": (GOOD_HEADER + "  - {name: Flow-Rate, register_type: holding, address: 0, data_type: uint16}\n",
                 ["registers[0].name"]),
    "unknown_field": (GOOD_HEADER + "  - {name: a, register_type: holding, address: 0, data_type: uint16,"
                                    " scan_interval: 5}\n", ["registers[0]", "scan_interval"]),
    "unknown_kind": ("model: m\nkind: boiler\nregisters:\n  - {name: a, register_type: coil, address: 0}\n",
                     ["kind", "'boiler'"]),
    "empty_registers": ("model: m\nkind: dryer\nregisters: []\n", ["registers"]),
    "not_a_mapping": ("- just\n- a list\n", ["top level"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_file_raises_naming_file_and_field(tmp_path, case):
    text, words = BROKEN[case]
    path = _write(tmp_path, text, name=f"{case}.yaml")
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    msg = str(err.value)
    assert f"{case}.yaml" in msg, msg
    for word in words:
        assert word in msg, (word, msg)


def test_overlap_is_per_register_type(tmp_path):
    """holding 0 and input 0 are different cells: no overlap."""
    path = _write(tmp_path, GOOD_HEADER + "  - {name: a, register_type: holding, address: 0, data_type: uint16}\n"
                                          "  - {name: b, register_type: input, address: 0, data_type: uint16}\n"
                                          "  - {name: c, register_type: coil, address: 0}\n")
    prof = load_profile(path)
    assert [r.name for r in prof.registers] == ["a", "b", "c"]
    assert prof.register("c").data_type == "bool"  # bits default to bool


def test_duplicate_model_across_files(tmp_path):
    body = GOOD_HEADER + "  - {name: a, register_type: holding, address: 0, data_type: uint16}\n"
    _write(tmp_path, body, "one.yaml")
    _write(tmp_path, body, "two.yaml")
    with pytest.raises(ProfileError, match=r"two\.yaml.*test-model.*one\.yaml"):
        load_profiles(tmp_path)


def test_unreadable_file(tmp_path):
    with pytest.raises(ProfileError, match="missing.yaml"):
        load_profile(tmp_path / "missing.yaml")


# -------------------------------------------------------------------------------------------------------- codec
def spec(data_type: str, word_order: str = "big", scale: float = 1.0, offset: float = 0.0,
         register_type: str = "holding") -> RegisterSpec:
    return RegisterSpec(name="v", register_type=register_type, address=0, data_type=data_type,
                        word_order=word_order, scale=scale, offset=offset)


NUMERIC = [t for t in DATA_TYPES if t != "bool"]
VALUES = {
    "int16": [0, 1, -1, -32768, 32767, -1234],
    "uint16": [0, 1, 65535, 40000],
    "int32": [0, -1, -(2**31), 2**31 - 1, -123456789, 70000],
    "uint32": [0, 1, 2**32 - 1, 305419896, 65536],
    "float32": [0.0, -2.25, 1.5, 3.0e6, -1.0e-3, 123.456],
}


@pytest.mark.parametrize("word_order", ["big", "little"])
@pytest.mark.parametrize("data_type", NUMERIC)
def test_codec_round_trip_raw(data_type, word_order):
    s = spec(data_type, word_order)
    for value in VALUES[data_type]:
        words = encode(s, value)
        assert len(words) == DATA_TYPES[data_type] and all(0 <= w <= 0xFFFF for w in words)
        back = decode(s, words)
        if data_type == "float32":
            assert back == pytest.approx(value, rel=1e-6, abs=1e-9)
        else:
            assert back == value and isinstance(back, int)


@pytest.mark.parametrize("word_order", ["big", "little"])
@pytest.mark.parametrize("data_type", NUMERIC)
@pytest.mark.parametrize("scale,offset", [(0.1, 0.0), (0.001, -5.0), (10.0, 273.15), (-0.5, 1.0)])
def test_codec_round_trip_scaled(data_type, word_order, scale, offset):
    s = spec(data_type, word_order, scale, offset)
    signed = data_type in ("int16", "int32", "float32")
    raws = [0, 7, 1234] + ([-1, -1234] if signed else [])
    for raw in raws:
        value = raw * scale + offset
        back = decode(s, encode(s, value))
        assert isinstance(back, float)
        assert back == pytest.approx(value, rel=1e-6, abs=abs(scale) * 1e-6)


def test_word_order_swaps_words():
    assert encode(spec("uint32", "big"), 0x12345678) == [0x1234, 0x5678]
    assert encode(spec("uint32", "little"), 0x12345678) == [0x5678, 0x1234]
    assert decode(spec("int32", "little"), [0x0001, 0x0002]) == 0x00020001
    assert decode(spec("int32", "big"), [0x0001, 0x0002]) == 0x00010002
    big = encode(spec("float32", "big"), -2.25)
    assert big == [0xC010, 0x0000] and encode(spec("float32", "little"), -2.25) == big[::-1]
    assert decode(spec("int16"), [0xFFFE]) == -2 and decode(spec("uint16"), [0xFFFE]) == 65534


@pytest.mark.parametrize("word_order", ["big", "little"])
@pytest.mark.parametrize("data_type", NUMERIC)
def test_decode_agrees_with_pymodbus(data_type, word_order):
    """decode()'s inline struct path gives what pymodbus's convert_from_registers gives, for edge and random words."""
    import random

    from pymodbus.client.mixin import ModbusClientMixin

    dt = getattr(ModbusClientMixin.DATATYPE, data_type.upper())
    rng = random.Random(7)
    n = DATA_TYPES[data_type]
    words = [[0] * n, [0xFFFF] * n, [0x8000] + [0] * (n - 1), [0x7FFF] + [0xFFFF] * (n - 1)]
    words += [[rng.randrange(0x10000) for _ in range(n)] for _ in range(200)]
    for w in words:
        want = ModbusClientMixin.convert_from_registers(w, dt, word_order)
        got = decode(spec(data_type, word_order), w)
        assert got == want or (math.isnan(got) and math.isnan(want)), (w, got, want)


def test_bits():
    s = spec("bool", register_type="coil")
    assert encode(s, 1) == [True] and encode(s, 0) == [False]
    assert decode(s, [True]) == 1 and decode(s, [False]) == 0
    with pytest.raises(DecodeError):
        decode(s, [True, False])


@pytest.mark.parametrize("data_type,value,scale", [
    ("uint16", -1, 1.0), ("uint16", 65536, 1.0), ("int16", 32768, 1.0), ("int16", -32769, 1.0),
    ("uint32", -1, 1.0), ("uint32", 2**32, 1.0), ("int32", 2**31, 1.0), ("int32", -(2**31) - 1, 1.0),
    ("uint16", 70.0, 0.001),  # 70 MPa at 0.001 MPa per count needs 70000 counts
])
def test_encode_out_of_range_raises(data_type, value, scale):
    with pytest.raises(DecodeError, match="does not fit"):
        encode(spec(data_type, scale=scale), value)


def test_decode_rejects_wrong_length_and_bad_words():
    with pytest.raises(DecodeError, match="expected 2 registers"):
        decode(spec("uint32"), [1])
    with pytest.raises(DecodeError, match="out of range"):
        decode(spec("uint16"), [70000])
    assert math.isnan(decode(spec("float32"), [0x7FC0, 0x0000]))  # NaN on the wire decodes (summary decides)


# --------------------------------------------------------------------------------------------------- blocks
def _profile(regs):
    return profile_from_dict({"model": "m", "kind": "dryer", "registers": regs}, source="m.yaml")


def test_plan_blocks_groups_and_splits():
    prof = _profile([
        {"name": "a", "register_type": "input", "address": 0, "data_type": "uint16"},
        {"name": "b", "register_type": "input", "address": 1, "data_type": "float32"},
        {"name": "c", "register_type": "input", "address": 19, "data_type": "uint16"},   # gap 16: same block
        {"name": "d", "register_type": "input", "address": 40, "data_type": "uint16"},   # gap 20: new block
        {"name": "e", "register_type": "holding", "address": 0, "data_type": "uint16"},
        {"name": "f", "register_type": "coil", "address": 3},
        {"name": "g", "register_type": "coil", "address": 0},
    ])
    blocks = plan_blocks(prof)
    shape = [(b.register_type, b.start, b.count, [s.name for s in b.specs]) for b in blocks]
    assert shape == [("coil", 0, 4, ["g", "f"]), ("holding", 0, 1, ["e"]), ("input", 0, 20, ["a", "b", "c"]),
                     ("input", 40, 1, ["d"])]
    values = decode_block(blocks[2], [5] + encode(prof.register("b"), 2.5) + [0] * 16 + [9])
    assert values == {"a": 5, "b": 2.5, "c": 9}
    with pytest.raises(DecodeError, match="expected 20"):
        decode_block(blocks[2], [0] * 19)


def test_plan_blocks_respects_the_modbus_read_limit():
    regs = [{"name": f"r{i}", "register_type": "holding", "address": i * 2, "data_type": "uint32"}
            for i in range(100)]  # 200 contiguous registers
    blocks = plan_blocks(_profile(regs))
    assert len(blocks) == 2 and all(b.count <= MAX_REGISTERS_PER_READ for b in blocks)
    assert sum(len(b.specs) for b in blocks) == 100
