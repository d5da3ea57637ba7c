"""Device profiles (YAML register maps) and the register codec."""
from __future__ import annotations

import math
import textwrap

import pytest

from datasources.modbus.codec import (MAX_REGISTERS_PER_READ, DecodeError, decode, decode_block, encode,
                                      plan_blocks)
from datasources.modbus.profiles import (DATA_TYPES, DEVICE_KINDS, NUMERIC_TYPES, PROFILE_DIR, ProfileError, RegisterSpec,
                                  default_profiles, load_profile, load_profiles, load_profiles_lenient,
                                  profile_from_dict, profiles_dir)

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


NUMERIC = list(NUMERIC_TYPES)
VALUES = {
    "int16": [0, 1, -1, -32768, 32767, -1234],
    "uint16": [0, 1, 65535, 40000],
    "int32": [0, -1, -(2**31), 2**31 - 1, -123456789, 70000],
    "uint32": [0, 1, 2**32 - 1, 305419896, 65536],
    "float32": [0.0, -2.25, 1.5, 3.0e6, -1.0e-3, 123.456],
    "int64": [0, -1, -(2**63), 2**63 - 1, -1234567890123],
    "uint64": [0, 1, 2**64 - 1, 0x0123456789ABCDEF],
    "float64": [0.0, -2.25, 1.0e300, -1.0e-300, 123.456789012345],
}


@pytest.mark.parametrize("word_order", ["big", "little"])
@pytest.mark.parametrize("data_type", NUMERIC)
def test_codec_round_trip_raw(data_type, word_order):
    s = spec(data_type, word_order)
    for value in VALUES[data_type]:
        words = encode(s, value)
        assert len(words) == DATA_TYPES[data_type] and all(0 <= w <= 0xFFFF for w in words)
        back = decode(s, words)
        if data_type.startswith("float"):
            assert back == pytest.approx(value, rel=1e-6, abs=1e-9)
        else:
            assert back == value and isinstance(back, int)


@pytest.mark.parametrize("word_order", ["big", "little"])
@pytest.mark.parametrize("data_type", NUMERIC)
@pytest.mark.parametrize("scale,offset", [(0.1, 0.0), (0.001, -5.0), (10.0, 273.15), (-0.5, 1.0)])
def test_codec_round_trip_scaled(data_type, word_order, scale, offset):
    s = spec(data_type, word_order, scale, offset)
    signed = data_type in ("int16", "int32", "float32", "int64", "float64")
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


# ------------------------------------------------------------------------- byte orders, strings, bit fields, roles
def ospec(data_type: str, byte_order: str, word_order: str, **kw) -> RegisterSpec:
    return RegisterSpec(name="v", register_type="holding", address=0, data_type=data_type, word_order=word_order,
                        byte_order=byte_order, **kw)


#: 0x11223344 as the four orders put it on the wire (words written by hand)
ORDERS = {("big", "big"): [0x1122, 0x3344],       # ABCD
          ("big", "little"): [0x3344, 0x1122],    # CDAB
          ("little", "big"): [0x2211, 0x4433],    # BADC
          ("little", "little"): [0x4433, 0x2211]}  # DCBA


@pytest.mark.parametrize("byte_order,word_order", list(ORDERS))
def test_four_byte_word_orders(byte_order, word_order):
    words = ORDERS[(byte_order, word_order)]
    assert decode(ospec("uint32", byte_order, word_order), words) == 0x11223344
    assert encode(ospec("uint32", byte_order, word_order), 0x11223344) == words
    f = ospec("float32", byte_order, word_order)
    assert decode(f, encode(f, -2.25)) == -2.25
    u64 = ospec("uint64", byte_order, word_order)
    w64 = encode(u64, 0x1122334455667788)
    assert decode(u64, w64) == 0x1122334455667788
    assert w64[0] == {("big", "big"): 0x1122, ("big", "little"): 0x7788, ("little", "big"): 0x2211,
                      ("little", "little"): 0x8877}[(byte_order, word_order)]
    assert decode(ospec("int16", byte_order, word_order), [0xFEFF if byte_order == "little" else 0xFFFE]) == -2


def test_string_decode_and_encode():
    s = RegisterSpec(name="serial", register_type="holding", address=0, data_type="string", length=4)
    assert s.count == 4
    words = [0x4142, 0x4320, 0x0000, 0x0000]  # "ABC " + NULs
    assert decode(s, words) == "ABC"
    assert decode(s, encode(s, "空压")) == "空压"  # UTF-8: 6 bytes in 4 registers
    with pytest.raises(DecodeError, match="does not fit"):
        encode(s, "123456789")
    little = RegisterSpec(name="serial", register_type="holding", address=0, data_type="string", length=2,
                          byte_order="little")
    assert decode(little, [0x4241, 0x2044]) == "ABD"


def test_bit_fields_share_a_register():
    prof = _profile([
        {"name": "running", "register_type": "input", "address": 5, "data_type": "uint16", "bit": 0},
        {"name": "fault", "register_type": "input", "address": 5, "data_type": "uint16", "bit": 15},
        {"name": "warn", "register_type": "input", "address": 5, "data_type": "uint16", "bit": 3, "decimals": 0},
        {"name": "temp_c", "register_type": "input", "address": 6, "data_type": "int16", "scale": 0.1},
    ])
    (block,) = plan_blocks(prof)
    assert (block.start, block.count) == (5, 2)
    assert decode_block(block, [0x8001, 215]) == {"running": 1, "fault": 1, "warn": 0, "temp_c": pytest.approx(21.5)}
    assert prof.register("warn").decimals == 0


@pytest.mark.parametrize("regs,msg", [
    ([{"name": "a", "register_type": "input", "address": 5, "data_type": "uint16", "bit": 1},
      {"name": "b", "register_type": "input", "address": 5, "data_type": "uint16", "bit": 1}], "bit 1 overlaps 'a'"),
    ([{"name": "a", "register_type": "input", "address": 5, "data_type": "uint16"},
      {"name": "b", "register_type": "input", "address": 5, "data_type": "uint16", "bit": 1}], "overlaps 'a'"),
    ([{"name": "a", "register_type": "input", "address": 5, "data_type": "uint16", "bit": 1},
      {"name": "b", "register_type": "input", "address": 4, "data_type": "uint32"}], "overlaps 'a'"),
    ([{"name": "a", "register_type": "input", "address": 5, "data_type": "uint32", "bit": 1}], "registers[0].bit"),
    ([{"name": "a", "register_type": "input", "address": 5, "data_type": "uint16", "bit": 16}], "registers[0].bit"),
    ([{"name": "a", "register_type": "holding", "address": 5, "data_type": "uint16", "bit": 2, "writable": True}],
     "registers[0].writable"),
    ([{"name": "a", "register_type": "holding", "address": 5, "data_type": "string"}], "registers[0].length"),
    ([{"name": "a", "register_type": "holding", "address": 5, "data_type": "uint16", "length": 2}],
     "registers[0].length"),
    ([{"name": "a", "register_type": "holding", "address": 5, "data_type": "string", "length": 2, "scale": 0.1}],
     "registers[0].scale"),
    ([{"name": "a", "register_type": "holding", "address": 5, "data_type": "uint16", "byte_order": "middle"}],
     "registers[0].byte_order"),
    ([{"name": "a", "register_type": "holding", "address": 5, "data_type": "uint16", "decimals": -1}],
     "registers[0].decimals"),
    ([{"name": "a", "register_type": "holding", "address": 5, "data_type": "uint16", "role": "Run Command"}],
     "registers[0].role"),
    ([{"name": "a", "register_type": "coil", "address": 5, "role": "run_command"},
      {"name": "b", "register_type": "coil", "address": 6, "role": "run_command"}], "registers[1].role"),
])
def test_new_fields_validated_naming_file_and_field(regs, msg):
    with pytest.raises(ProfileError, match=r"m\.yaml") as err:
        _profile(regs)
    assert msg in str(err.value)


def test_roles_of_packaged_profiles():
    profs = default_profiles()
    for model in ("cc-fixed-speed-compressor", "cc-variable-speed-compressor"):
        p = profs[model]
        assert p.by_role("run_command").name == "run_command" and p.by_role("run_command").writable
        assert p.by_role("load_enable").name == "load_enable"
        assert p.by_role("run_state").name == "run_state"
    assert profs["cc-station-io"].by_role("occupancy").name == "occupancy"
    assert profs["cc-station-io"].by_role("run_command") is None


def test_plan_blocks_max_registers_per_read():
    prof = _profile([{"name": f"r{i}", "register_type": "holding", "address": i, "data_type": "uint32"}
                     for i in range(0, 40, 2)])
    assert [(b.start, b.count) for b in plan_blocks(prof, max_registers_per_read=16)] == [(0, 16), (16, 16),
                                                                                           (32, 8)]
    with pytest.raises(ValueError, match="max_registers_per_read"):
        plan_blocks(prof, max_registers_per_read=1)


# ------------------------------------------------------------------------------------------ profiles folder
def test_load_profiles_lenient_skips_the_invalid_file(tmp_path, caplog):
    good = (PROFILE_DIR / "dryer.yaml").read_text(encoding="utf-8")
    (tmp_path / "a_good.yaml").write_text(good, encoding="utf-8")
    (tmp_path / "b_bad.yaml").write_text(good.replace("data_type: int16", "data_type: float", 1), encoding="utf-8")
    (tmp_path / "c_dup.yaml").write_text(good, encoding="utf-8")
    (tmp_path / "d_other.yaml").write_text(textwrap.dedent("""
        model: test-other
        kind: flow_meter
        registers:
          - {name: flow_m3_min, register_type: input, address: 0, data_type: float32}
        """), encoding="utf-8")
    with caplog.at_level("ERROR", logger="datasources.modbus.profiles"):
        profs, errors = load_profiles_lenient(tmp_path)
    assert sorted(profs) == ["cc-refrigerated-dryer", "test-other"]
    assert len(errors) == 2
    assert "b_bad.yaml" in errors[0] and "data_type" in errors[0] and "'float'" in errors[0]
    assert "c_dup.yaml" in errors[1] and "already declared" in errors[1]
    assert any("b_bad.yaml" in r.getMessage() for r in caplog.records)
    with pytest.raises(ProfileError, match="b_bad.yaml"):
        load_profiles(tmp_path)  # the strict loader still refuses the folder


def test_load_profiles_lenient_missing_folder(tmp_path):
    profs, errors = load_profiles_lenient(tmp_path / "nope")
    assert profs == {} and "does not exist" in errors[0]


def test_profiles_dir_from_env(tmp_path, monkeypatch):
    monkeypatch.delenv("CC_PROFILES_DIR", raising=False)
    assert profiles_dir() == PROFILE_DIR
    monkeypatch.setenv("CC_PROFILES_DIR", str(tmp_path))
    assert profiles_dir() == tmp_path
    (tmp_path / "x.yaml").write_text("model: x\nkind: dryer\nregisters:\n"
                                     "  - {name: a_c, register_type: input, address: 0, data_type: int16}\n",
                                     encoding="utf-8")
    assert list(load_profiles_lenient()[0]) == ["x"]
