"""Encode/decode profile values to and from Modbus registers, and plan block reads.

Data types (``datasources.modbus.profiles``): int16 uint16 int32 uint32 float32 int64 uint64 float64 over 1/2/4 registers,
``string`` over ``length`` registers, single bits of an int16/uint16 status word (``bit``), and coil/discrete-input
bits. Multi-register values honour ``word_order`` (big = most significant register first) and every register type
``byte_order`` (big = high byte first), which gives the four orders ABCD / CDAB / BADC / DCBA. The register layout is
the one of pymodbus's ``ModbusClientMixin.convert_from_registers`` for byte order big (the tests check both against
each other and against hand-made words); decoding is done here with precompiled ``struct`` closures because the
poller decodes every value of the fleet every second (~10⁵ values/s).

This module also adds scale/offset (value = raw × scale + offset) and groups a profile's registers into as few block
reads as the map allows (Modbus limits: 125 registers or 2000 bits per read, Modbus Application Protocol
Specification V1.1b3 §6.1–6.4; a gateway may allow fewer: ``max_registers_per_read``).
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Callable

from datasources.modbus.profiles import DeviceProfile, RegisterSpec

_RANGES = {"int16": (-(2**15), 2**15 - 1), "uint16": (0, 2**16 - 1), "int32": (-(2**31), 2**31 - 1),
           "uint32": (0, 2**32 - 1), "int64": (-(2**63), 2**63 - 1), "uint64": (0, 2**64 - 1)}
#: struct format (big-endian) of each numeric type once its words are put in big word/byte order
_FORMATS = {"int16": ">h", "uint16": ">H", "int32": ">i", "uint32": ">I", "float32": ">f", "int64": ">q",
            "uint64": ">Q", "float64": ">d"}
_INT_TYPES = ("int16", "uint16", "int32", "uint32", "int64", "uint64")
MAX_REGISTERS_PER_READ = 125
MAX_BITS_PER_READ = 2000

Value = float | int | str
#: ``decoder(raw, i)``: value of one register spec whose first word/bit is ``raw[i]``
Decoder = Callable[[list], Value]


class DecodeError(ValueError):
    """Registers do not fit the declared register (wrong length or out-of-range value), or a value does not fit."""


def _swap16(w: int) -> int:
    return ((w & 0xFF) << 8) | (w >> 8)


def _make_decoder(spec: RegisterSpec) -> Callable[[list, int], Value]:
    """A closure ``f(raw, i)`` decoding ``spec`` from ``raw[i:i + spec.count]`` (no validation: callers check words)."""
    if spec.is_bit:
        return lambda raw, i: 1 if raw[i] else 0
    dtype, scale, offset = spec.data_type, spec.scale, spec.offset
    swap_bytes = spec.byte_order == "little"
    if spec.bit is not None:
        bit = spec.bit
        if swap_bytes:
            return lambda raw, i: (_swap16(raw[i]) >> bit) & 1
        return lambda raw, i: (raw[i] >> bit) & 1
    n = spec.count
    if dtype == "string":
        def dec_str(raw: list, i: int) -> str:
            words = raw[i:i + n]
            data = b"".join(((w & 0xFF) << 8 | w >> 8 if swap_bytes else w).to_bytes(2, "big") for w in words)
            return data.rstrip(b"\x00 ").decode("utf-8", errors="replace").rstrip("\x00 ")
        return dec_str
    plain = dtype in _INT_TYPES and scale == 1.0 and offset == 0.0
    if dtype == "uint16" and not swap_bytes:
        return (lambda raw, i: raw[i]) if plain else (lambda raw, i: raw[i] * scale + offset)
    if dtype == "int16" and not swap_bytes:
        if plain:
            return lambda raw, i: raw[i] - 0x10000 if raw[i] & 0x8000 else raw[i]
        return lambda raw, i: (raw[i] - 0x10000 if raw[i] & 0x8000 else raw[i]) * scale + offset
    unpack = struct.Struct(_FORMATS[dtype]).unpack
    pack = struct.Struct(f">{n}H").pack
    reverse = spec.word_order == "little" and n > 1
    if not reverse and not swap_bytes:
        def words_of(raw: list, i: int) -> list:
            return raw[i:i + n]
    elif reverse and not swap_bytes:
        def words_of(raw: list, i: int) -> list:
            return raw[i + n - 1:i - 1 if i else None:-1]
    else:
        def words_of(raw: list, i: int) -> list:
            ws = raw[i:i + n]
            if reverse:
                ws = ws[::-1]
            return [((w & 0xFF) << 8) | (w >> 8) for w in ws]
    if plain:
        return lambda raw, i: unpack(pack(*words_of(raw, i)))[0]
    if dtype in ("float32", "float64") and scale == 1.0 and offset == 0.0:
        return lambda raw, i: unpack(pack(*words_of(raw, i)))[0]
    return lambda raw, i: float(unpack(pack(*words_of(raw, i)))[0]) * scale + offset


_DECODERS: dict[RegisterSpec, Callable[[list, int], Value]] = {}


def decoder_of(spec: RegisterSpec) -> Callable[[list, int], Value]:
    """The cached decoding closure of ``spec``: ``f(raw, i) -> value`` (see :func:`decode` for value types)."""
    fn = _DECODERS.get(spec)
    if fn is None:
        fn = _DECODERS[spec] = _make_decoder(spec)
    return fn


def _check_words(name: str, raw: list) -> None:
    for w in raw:
        if not isinstance(w, int) or w < 0 or w > 0xFFFF:
            raise DecodeError(f"{name}: register words out of range: {raw!r}")


def decode(spec: RegisterSpec, raw: list[int] | list[bool]) -> Value:
    """Engineering value of ``spec`` from its raw registers (``spec.count`` words) or one bit.

    Integers (and bit fields) with scale 1 and offset 0 stay ``int``; coil/input bits give ``int`` 0/1; strings
    ``str``; everything else ``float`` (a float type may decode to NaN/±inf: the caller decides).

    Raises:
        DecodeError: wrong number of registers or a word outside 0..65535.
    """
    if spec.is_bit:
        if len(raw) != 1:
            raise DecodeError(f"{spec.name}: expected 1 bit, got {len(raw)}")
        return 1 if raw[0] else 0
    if len(raw) != spec.count:
        raise DecodeError(f"{spec.name}: expected {spec.count} registers, got {len(raw)}")
    _check_words(spec.name, raw)
    return decoder_of(spec)(list(raw), 0)


def _to_words(spec: RegisterSpec, data: bytes) -> list[int]:
    """Big-endian bytes of a value → registers in the spec's word and byte order."""
    words = [int.from_bytes(data[k:k + 2], "big") for k in range(0, len(data), 2)]
    if spec.word_order == "little":
        words.reverse()
    if spec.byte_order == "little":
        words = [_swap16(w) for w in words]
    return words


def encode(spec: RegisterSpec, value: float | int | bool | str) -> list[int] | list[bool]:
    """Raw registers (or ``[bit]``) that :func:`decode` turns back into ``value`` (within scale resolution).

    A bit field encodes to the one word with only that bit set (or 0): writing it would clear the other bits, so
    profiles declare bit fields read-only. A string is UTF-8 encoded and NUL-padded to ``length`` registers.

    Raises:
        DecodeError: not a number (or text for a string), not finite for an integer type, or the scaled value does
            not fit the data type / the string is longer than ``length`` registers.
    """
    if spec.is_bit:
        if isinstance(value, str) or not isinstance(value, (int, float, bool)):
            raise DecodeError(f"{spec.name}: {value!r} is not 0/1")
        return [bool(value)]
    if spec.data_type == "string":
        if not isinstance(value, str):
            raise DecodeError(f"{spec.name}: {value!r} is not text")
        data = value.encode("utf-8")
        if len(data) > 2 * spec.count:
            raise DecodeError(f"{spec.name}: {value!r} is {len(data)} bytes, does not fit {spec.count} registers")
        return _to_words(spec, data.ljust(2 * spec.count, b"\x00"))
    if isinstance(value, str) or not isinstance(value, (int, float)):
        raise DecodeError(f"{spec.name}: {value!r} is not a number")
    if spec.bit is not None:
        return _to_words(spec, (((1 if value else 0) << spec.bit)).to_bytes(2, "big"))
    raw = (float(value) - spec.offset) / spec.scale if (spec.scale != 1.0 or spec.offset != 0.0) else value
    fmt = _FORMATS[spec.data_type]
    if spec.data_type in ("float32", "float64"):
        try:
            data = struct.pack(fmt, float(raw))
        except (OverflowError, struct.error):
            raise DecodeError(f"{spec.name}: {value!r} does not fit {spec.data_type}") from None
        return _to_words(spec, data)
    if not math.isfinite(float(raw)):
        raise DecodeError(f"{spec.name}: {value!r} does not fit {spec.data_type} (not a finite number)")
    ival = int(raw) if isinstance(raw, int) else int(round(raw))
    lo, hi = _RANGES[spec.data_type]
    if not lo <= ival <= hi:
        raise DecodeError(f"{spec.name}: {value!r} → raw {ival} does not fit {spec.data_type} [{lo}, {hi}]")
    return _to_words(spec, struct.pack(fmt, ival))


@dataclass(frozen=True)
class Block:
    """One read request: ``count`` registers (or bits) of ``register_type`` from ``start``, covering ``specs``.

    ``decoders`` (filled by :func:`plan_blocks`): per spec ``(name, offset in the block, decoder_of(spec))``.
    """

    register_type: str
    start: int
    count: int
    specs: tuple[RegisterSpec, ...]
    decoders: tuple = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.decoders:
            object.__setattr__(self, "decoders", tuple((s.name, s.address - self.start, decoder_of(s))
                                                       for s in self.specs))


def plan_blocks(profile: DeviceProfile, max_gap: int = 16,
                max_registers_per_read: int = MAX_REGISTERS_PER_READ) -> list[Block]:
    """Group a profile's registers into as few reads as allowed.

    Registers of one type whose addresses are at most ``max_gap`` apart share a read, up to
    ``max_registers_per_read`` registers (≤ 125) / 2000 bits per read. Bit fields of one word share that word.
    Returns blocks sorted by (register type, start).

    Raises:
        ValueError: ``max_registers_per_read`` outside 1..125 or smaller than one of the profile's values.
    ``max_gap=-1`` gives one read per value (bit fields of one word still share it).
    """
    if not 1 <= max_registers_per_read <= MAX_REGISTERS_PER_READ:
        raise ValueError(f"max_registers_per_read {max_registers_per_read} must be 1..{MAX_REGISTERS_PER_READ}")
    blocks: list[Block] = []
    for rtype in ("coil", "discrete_input", "holding", "input"):
        specs = sorted((s for s in profile.registers if s.register_type == rtype), key=lambda s: s.address)
        limit = MAX_BITS_PER_READ if rtype in ("coil", "discrete_input") else max_registers_per_read
        cur: list[RegisterSpec] = []
        for s in specs:
            if s.count > limit:
                raise ValueError(f"{profile.model}: {s.name} spans {s.count} registers, more than "
                                 f"max_registers_per_read {limit}")
            if cur:
                start = cur[0].address
                end = max(c.address + c.count for c in cur)
                if s.address - end > max_gap or max(end, s.address + s.count) - start > limit:
                    blocks.append(Block(rtype, start, end - start, tuple(cur)))
                    cur = []
            cur.append(s)
        if cur:
            start = cur[0].address
            end = max(c.address + c.count for c in cur)
            blocks.append(Block(rtype, start, end - start, tuple(cur)))
    return blocks


def decode_block(block: Block, raw: list[int] | list[bool]) -> dict[str, Value]:
    """Values of every register of ``block`` from the raw words/bits a read returned.

    Raises:
        DecodeError: the reply is shorter than the block (bits replies may be padded to a byte; extra is ignored),
            or a word is outside 0..65535.
    """
    if len(raw) < block.count:
        raise DecodeError(f"{block.register_type}@{block.start}: reply has {len(raw)} items, expected {block.count}")
    if not isinstance(raw, list):
        raw = list(raw)
    if block.register_type in ("holding", "input") and raw:
        try:
            ok = 0 <= min(raw) and max(raw) <= 0xFFFF and all(type(w) is int for w in raw)
        except TypeError:
            ok = False
        if not ok:
            _check_words(f"{block.register_type}@{block.start}", raw)
            raise DecodeError(f"{block.register_type}@{block.start}: register words are not integers: {raw!r}")
    return {name: dec(raw, i) for name, i, dec in block.decoders}
