"""Encode/decode profile values to and from Modbus registers, and plan block reads.

Conversion of 16-bit registers to int16/uint16/int32/uint32/float32 with word order is pymodbus's own
(``ModbusClientMixin.convert_to_registers``; decoding uses the same big-endian ``struct`` layout as
``convert_from_registers`` inline, because the poller decodes every value of the fleet every second, and the tests
check both against hand-made words); this module adds scale/offset and the
grouping of a profile's registers into as few block reads as the map allows (Modbus limits: 125 registers or
2000 bits per read, Modbus Application Protocol Specification V1.1b3 §6.1–6.4).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from pymodbus.client.mixin import ModbusClientMixin

from datasources.profiles import DeviceProfile, RegisterSpec

_DT = ModbusClientMixin.DATATYPE
_PYMODBUS_TYPES = {"int16": _DT.INT16, "uint16": _DT.UINT16, "int32": _DT.INT32, "uint32": _DT.UINT32,
                   "float32": _DT.FLOAT32}
_RANGES = {"int16": (-(2**15), 2**15 - 1), "uint16": (0, 2**16 - 1), "int32": (-(2**31), 2**31 - 1),
           "uint32": (0, 2**32 - 1)}
#: decode fast path (the poller decodes ~10⁵ values/s): two big-endian words → 32-bit value
_WORDS = struct.Struct(">HH")
_STRUCT32 = {"int32": struct.Struct(">i"), "uint32": struct.Struct(">I"), "float32": struct.Struct(">f")}
MAX_REGISTERS_PER_READ = 125
MAX_BITS_PER_READ = 2000


class DecodeError(ValueError):
    """Registers do not fit the declared register (wrong length or out-of-range value)."""


def decode(spec: RegisterSpec, raw: list[int] | list[bool]) -> float | int | bool:
    """Engineering value of ``spec`` from its raw registers (``spec.count`` words) or one bit.

    Integers with scale 1 and offset 0 stay ``int``; bits give ``int`` 0/1; everything else ``float``.

    Raises:
        DecodeError: wrong number of registers or a word outside 0..65535.
    """
    if spec.is_bit:
        if len(raw) != 1:
            raise DecodeError(f"{spec.name}: expected 1 bit, got {len(raw)}")
        return int(bool(raw[0]))
    if len(raw) != spec.count:
        raise DecodeError(f"{spec.name}: expected {spec.count} registers, got {len(raw)}")
    if any((not isinstance(w, int)) or w < 0 or w > 0xFFFF for w in raw):
        raise DecodeError(f"{spec.name}: register words out of range: {raw!r}")
    dtype = spec.data_type
    if dtype == "uint16":
        value = raw[0]
    elif dtype == "int16":
        value = raw[0] - 0x10000 if raw[0] & 0x8000 else raw[0]
    else:  # the same big-endian struct unpacking as ModbusClientMixin.convert_from_registers, without its overhead
        hi, lo = (raw[0], raw[1]) if spec.word_order == "big" else (raw[1], raw[0])
        value = _STRUCT32[dtype].unpack(_WORDS.pack(hi, lo))[0]
    if spec.data_type != "float32" and spec.scale == 1.0 and spec.offset == 0.0:
        return int(value)
    return float(value) * spec.scale + spec.offset


def encode(spec: RegisterSpec, value: float | int | bool) -> list[int] | list[bool]:
    """Raw registers (or ``[bit]``) that :func:`decode` turns back into ``value`` (within scale resolution).

    Raises:
        DecodeError: the scaled value does not fit the data type.
    """
    if spec.is_bit:
        return [bool(value)]
    raw = (float(value) - spec.offset) / spec.scale
    if spec.data_type == "float32":
        return ModbusClientMixin.convert_to_registers(float(raw), _DT.FLOAT32, spec.word_order)
    ival = int(round(raw))
    lo, hi = _RANGES[spec.data_type]
    if not lo <= ival <= hi:
        raise DecodeError(f"{spec.name}: {value!r} → raw {ival} does not fit {spec.data_type} [{lo}, {hi}]")
    return ModbusClientMixin.convert_to_registers(ival, _PYMODBUS_TYPES[spec.data_type], spec.word_order)


@dataclass(frozen=True)
class Block:
    """One read request: ``count`` registers (or bits) of ``register_type`` from ``start``, covering ``specs``."""

    register_type: str
    start: int
    count: int
    specs: tuple[RegisterSpec, ...]


def plan_blocks(profile: DeviceProfile, max_gap: int = 16) -> list[Block]:
    """Group a profile's registers into as few reads as allowed.

    Registers of one type whose addresses are at most ``max_gap`` apart share a read, up to 125 registers /
    2000 bits per read. Returns blocks sorted by (register type, start).
    """
    blocks: list[Block] = []
    for rtype in ("coil", "discrete_input", "holding", "input"):
        specs = sorted((s for s in profile.registers if s.register_type == rtype), key=lambda s: s.address)
        limit = MAX_BITS_PER_READ if rtype in ("coil", "discrete_input") else MAX_REGISTERS_PER_READ
        cur: list[RegisterSpec] = []
        for s in specs:
            if cur:
                start = cur[0].address
                end = max(c.address + c.count for c in cur)
                if s.address - end > max_gap or s.address + s.count - start > limit:
                    blocks.append(Block(rtype, start, end - start, tuple(cur)))
                    cur = []
            cur.append(s)
        if cur:
            start = cur[0].address
            end = max(c.address + c.count for c in cur)
            blocks.append(Block(rtype, start, end - start, tuple(cur)))
    return blocks


def decode_block(block: Block, raw: list[int] | list[bool]) -> dict[str, float | int]:
    """Values of every register of ``block`` from the raw words/bits a read returned.

    Raises:
        DecodeError: the reply is shorter than the block (bits replies may be padded to a byte; extra is ignored).
    """
    if len(raw) < block.count:
        raise DecodeError(f"{block.register_type}@{block.start}: reply has {len(raw)} items, expected {block.count}")
    out: dict[str, float | int] = {}
    for s in block.specs:
        i = s.address - block.start
        out[s.name] = decode(s, list(raw[i:i + s.count]))
    return out
