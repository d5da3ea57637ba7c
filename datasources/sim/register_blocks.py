"""Register blocks of the simulated devices: how a device profile is laid out in pymodbus's datastore, how engineering
values are encoded into a block before a read and how a client's write is decoded back into values.

Used by :class:`datasources.sim.simulator.FleetSimulator`. The four register types are kept apart (non-shared
blocks), as on a real controller: ``coil 0`` and ``holding 0`` are different cells. Each block spans its profile's
addresses (gaps read 0); bit blocks (coils, discrete inputs) start on a multiple of 16, 16 bits per word. Register
encoding is :func:`datasources.modbus.codec.encode` / :func:`~datasources.modbus.codec.decode` with the device's
profile. Exception codes are those of the Modbus Application Protocol V1.1b3 §7.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimData

from datasources.modbus.codec import DecodeError, decode, encode
from datasources.modbus.profiles import DeviceProfile, RegisterSpec
from datasources.sql.fleet_spec import DeviceSpec

log = logging.getLogger(__name__)

#: function code → register type (Modbus Application Protocol V1.1b3 §6)
FC_REGISTER_TYPE = {1: "coil", 5: "coil", 15: "coil", 2: "discrete_input", 4: "input",
                    3: "holding", 6: "holding", 16: "holding", 22: "holding", 23: "holding"}
REGISTER_TYPES = ("coil", "discrete_input", "holding", "input")
#: addresses covered by the unit-id-0 catch-all device (unknown unit ids)
CATCH_ALL_SPAN = 1024
_PLACEHOLDER_ADDRESS = 60000       # a cell far from any profile address, when a register type is empty
_INT_RANGES = {"int16": (-(2**15), 2**15 - 1), "uint16": (0, 2**16 - 1), "int32": (-(2**31), 2**31 - 1),
               "uint32": (0, 2**32 - 1)}


@dataclass
class RegisterBlock:
    """One register type of one device as pymodbus holds it: ``n_words`` words from ``start`` (bits: a multiple
    of 16, 16 bits per word)."""

    rtype: str
    start: int
    n_words: int
    specs: tuple[RegisterSpec, ...]
    by_address: dict[int, RegisterSpec] = field(default_factory=dict)

    @property
    def is_bit(self) -> bool:
        """True for coils and discrete inputs."""
        return self.rtype in ("coil", "discrete_input")


@dataclass
class ServedDevice:
    """A device as the simulator serves it: its spec, profile and blocks (shared per model, read-only), the
    :meth:`~datasources.sim.simulator.FleetSimulator.set_value` overrides, the writable registers the physics does
    not model (``memory``), and per register type the physics version last encoded into the block."""

    spec: DeviceSpec
    profile: DeviceProfile
    blocks: dict[str, RegisterBlock]
    overrides: dict[str, float | int] = field(default_factory=dict)
    memory: dict[str, float | int] = field(default_factory=dict)
    encoded_at: dict[str, int] = field(default_factory=dict)


def block_layout(profile: DeviceProfile) -> dict[str, RegisterBlock]:
    """``{register type: RegisterBlock}`` of a profile; register types without registers are absent."""
    blocks: dict[str, RegisterBlock] = {}
    for rtype in REGISTER_TYPES:
        specs = tuple(sorted((s for s in profile.registers if s.register_type == rtype), key=lambda s: s.address))
        if not specs:
            continue
        lo = min(s.address for s in specs)
        hi = max(s.address + s.count for s in specs)
        if rtype in ("coil", "discrete_input"):
            start = lo - lo % 16
            n_words = (hi - start + 15) // 16
        else:
            start, n_words = lo, hi - lo
        blocks[rtype] = RegisterBlock(rtype, start, n_words, specs, {s.address: s for s in specs})
    return blocks


def block_simdata(blocks: dict[str, RegisterBlock], span: int | None = None) -> tuple[list[SimData], ...]:
    """The four non-shared pymodbus blocks (coils, discrete inputs, holding, input) of a device layout; ``span``:
    instead, every type covers addresses ``0 … span − 1`` (the catch-all device)."""
    out: list[list[SimData]] = []
    for rtype in REGISTER_TYPES:
        bits = rtype in ("coil", "discrete_input")
        # scalar value × count: pymodbus validates and packs one value instead of a list (fast for 75,000 devices)
        if span is not None:
            start, count = 0, span
        elif rtype in blocks:
            start, count = blocks[rtype].start, blocks[rtype].n_words * (16 if bits else 1)
        else:
            start, count = _PLACEHOLDER_ADDRESS, 1
        out.append([SimData(start, count=count, values=False, datatype=DataType.BITS) if bits
                    else SimData(start, count=count, values=0, datatype=DataType.REGISTERS)])
    return tuple(out)


def _value_bounds(spec: RegisterSpec) -> tuple[float, float]:
    lo, hi = _INT_RANGES[spec.data_type]
    a, b = lo * spec.scale + spec.offset, hi * spec.scale + spec.offset
    return (a, b) if a <= b else (b, a)


def encode_clamped(device_id: str, spec: RegisterSpec, value: float | int,
                   warned: set[tuple[str, str]]) -> list[int] | list[bool]:
    """Register words of ``value`` (engineering units); a value that does not fit is clamped to the register's
    range (NaN → 0) and logged once per ``(device_id, register)`` (remembered in ``warned``)."""
    try:
        return encode(spec, value)
    except (DecodeError, ValueError, OverflowError) as exc:
        if (device_id, spec.name) not in warned:
            warned.add((device_id, spec.name))
            log.warning("%s.%s = %r does not fit the register; clamped (%s)", device_id, spec.name, value, exc)
        lo, hi = _value_bounds(spec)
        v = 0.0 if isinstance(value, float) and math.isnan(value) else min(max(float(value), lo), hi)
        return encode(spec, v)


def encode_block(device_id: str, block: RegisterBlock, values: dict[str, float | int], registers: list[int],
                 warned: set[tuple[str, str]]) -> None:
    """Write ``values`` (engineering units by register name; missing names read 0) into pymodbus's live register
    list of ``block``, in place."""
    if block.is_bit:
        words = [0] * block.n_words
        for spec in block.specs:
            if values.get(spec.name):
                b = spec.address - block.start
                words[b >> 4] |= 1 << (b & 15)
        registers[:block.n_words] = words
    else:
        for spec in block.specs:
            o = spec.address - block.start
            registers[o:o + spec.count] = encode_clamped(device_id, spec, values.get(spec.name, 0), warned)


def decode_write(block: RegisterBlock, address: int, values: list, registers: list[int],
                 ) -> dict[str, float | int] | ExcCodes:
    """Engineering values ``{register name: value}`` of a client write of ``values`` (bits or words) at
    ``address`` into ``block`` (``registers``: the block's live words before the write; a write covering part of a
    32-bit register is completed from them). Bit addresses without a register are ignored.

    Returns:
        the values, or ``ExcCodes.ILLEGAL_ADDRESS`` (a read-only register is written) / ``ExcCodes.ILLEGAL_VALUE``
        (the words do not decode).
    """
    changes: dict[str, float | int] = {}
    if block.is_bit:
        for k, bit in enumerate(values):
            spec = block.by_address.get(address + k)
            if spec is None:
                continue
            if not spec.writable:
                return ExcCodes.ILLEGAL_ADDRESS
            changes[spec.name] = int(bool(bit))
        return changes
    words = list(registers[:block.n_words])
    lo = address - block.start
    words[lo:lo + len(values)] = [int(v) for v in values]
    end = address + len(values)
    for spec in block.specs:
        if spec.address < end and spec.address + spec.count > address:
            if not spec.writable:
                return ExcCodes.ILLEGAL_ADDRESS
            o = spec.address - block.start
            try:
                changes[spec.name] = decode(spec, words[o:o + spec.count])
            except DecodeError:
                return ExcCodes.ILLEGAL_VALUE
    return changes
