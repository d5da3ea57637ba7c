"""Device profiles: Modbus register maps declared as data (YAML), validated at load.

In the spirit of Home Assistant's Modbus integration (``homeassistant/components/modbus/validators.py``): a profile
only *describes* what to read; the poller owns connections and the simulator serves the same map.

File format (one device model per ``*.yaml`` file in ``datasources/profiles/``)::

    model: cc-fixed-speed-compressor     # unique model name, referenced by devices.model in SQL
    kind: compressor                     # compressor | dryer | flow_meter | power_meter | station_io
    description: 定频螺杆空压机 (load/unload)
    registers:
      - name: discharge_pressure_mpa     # value name on the bus; snake_case ending with its unit
        register_type: input             # holding | input | coil | discrete_input
        address: 0                       # 0-based protocol address
        data_type: uint16                # int16 | uint16 | int32 | uint32 | float32 | bool (coils/inputs)
        word_order: big                  # big | little (32-bit types: which register holds the high word)
        scale: 0.001                     # value = raw * scale + offset
        offset: 0
        unit: MPa
        writable: false                  # only holding registers and coils may be writable
        description: 排气压力

Errors name the file and the field, e.g. ``compressor.yaml: registers[3].data_type: 'float' is not one of ...``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

PROFILE_DIR = Path(__file__).parent / "profiles"

REGISTER_TYPES = ("holding", "input", "coil", "discrete_input")
BIT_TYPES = ("coil", "discrete_input")
DATA_TYPES = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "bool": 1}
WORD_ORDERS = ("big", "little")
DEVICE_KINDS = ("compressor", "dryer", "flow_meter", "power_meter", "station_io")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_MAX_ADDRESS = 65535


class ProfileError(ValueError):
    """A profile file is invalid. ``str(err)`` names the file and the field."""


@dataclass(frozen=True)
class RegisterSpec:
    """One value of a device. ``count`` is the number of 16-bit registers (1 for bits)."""

    name: str
    register_type: str
    address: int
    data_type: str
    word_order: str = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    writable: bool = False
    description: str = ""

    @property
    def count(self) -> int:
        return DATA_TYPES[self.data_type]

    @property
    def is_bit(self) -> bool:
        return self.register_type in BIT_TYPES


@dataclass(frozen=True)
class DeviceProfile:
    """A validated register map. ``registers`` keeps file order; ``by_name`` indexes it."""

    model: str
    kind: str
    description: str
    registers: tuple[RegisterSpec, ...]
    source: str = ""

    @property
    def by_name(self) -> dict[str, RegisterSpec]:
        return {r.name: r for r in self.registers}

    def register(self, name: str) -> RegisterSpec:
        """The register named ``name``. Raises KeyError naming the model."""
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"profile {self.model!r} has no register {name!r}") from None


def _req(obj: dict, key: str, where: str) -> Any:
    if key not in obj or obj[key] is None:
        raise ProfileError(f"{where}.{key}: required field is missing")
    return obj[key]


def _register_from_dict(raw: Any, where: str) -> RegisterSpec:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: must be a mapping, got {type(raw).__name__}")
    unknown = set(raw) - {f for f in RegisterSpec.__dataclass_fields__}
    if unknown:
        raise ProfileError(f"{where}: unknown field(s) {sorted(unknown)}")
    name = _req(raw, "name", where)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ProfileError(f"{where}.name: {name!r} must be snake_case (a-z, 0-9, _)")
    rtype = _req(raw, "register_type", where)
    if rtype not in REGISTER_TYPES:
        raise ProfileError(f"{where}.register_type: {rtype!r} is not one of {list(REGISTER_TYPES)}")
    address = _req(raw, "address", where)
    if not isinstance(address, int) or isinstance(address, bool) or not 0 <= address <= _MAX_ADDRESS:
        raise ProfileError(f"{where}.address: {address!r} must be an integer 0..{_MAX_ADDRESS}")
    dtype = raw.get("data_type", "bool" if rtype in BIT_TYPES else None)
    if dtype not in DATA_TYPES:
        raise ProfileError(f"{where}.data_type: {dtype!r} is not one of {list(DATA_TYPES)}")
    if (rtype in BIT_TYPES) != (dtype == "bool"):
        raise ProfileError(f"{where}.data_type: {dtype!r} does not fit register_type {rtype!r} "
                           "(coils and discrete inputs are bool, registers are numeric)")
    word_order = raw.get("word_order", "big")
    if word_order not in WORD_ORDERS:
        raise ProfileError(f"{where}.word_order: {word_order!r} is not one of {list(WORD_ORDERS)}")
    for key in ("scale", "offset"):
        val = raw.get(key, 1.0 if key == "scale" else 0.0)
        if not isinstance(val, (int, float)) or isinstance(val, bool):
            raise ProfileError(f"{where}.{key}: {val!r} must be a number")
    if raw.get("scale", 1.0) == 0:
        raise ProfileError(f"{where}.scale: must not be 0")
    writable = raw.get("writable", False)
    if not isinstance(writable, bool):
        raise ProfileError(f"{where}.writable: {writable!r} must be true or false")
    if writable and rtype not in ("holding", "coil"):
        raise ProfileError(f"{where}.writable: a {rtype} register cannot be written")
    count = DATA_TYPES[dtype]
    if address + count - 1 > _MAX_ADDRESS:
        raise ProfileError(f"{where}.address: {address}+{count} runs past {_MAX_ADDRESS}")
    return RegisterSpec(name=name, register_type=rtype, address=address, data_type=dtype, word_order=word_order,
                        scale=float(raw.get("scale", 1.0)), offset=float(raw.get("offset", 0.0)),
                        unit=str(raw.get("unit", "")), writable=writable,
                        description=str(raw.get("description", "")))


def profile_from_dict(raw: Any, source: str = "<dict>") -> DeviceProfile:
    """Validate a parsed profile.

    Raises:
        ProfileError: naming ``source`` and the field: missing/unknown fields, bad types, duplicate names,
            overlapping addresses within one register type.
    """
    if not isinstance(raw, dict):
        raise ProfileError(f"{source}: top level must be a mapping with model, kind, registers")
    unknown = set(raw) - {"model", "kind", "description", "registers"}
    if unknown:
        raise ProfileError(f"{source}: unknown field(s) {sorted(unknown)}")
    model = _req(raw, "model", source)
    if not isinstance(model, str) or not model.strip():
        raise ProfileError(f"{source}.model: must be a non-empty string")
    kind = _req(raw, "kind", source)
    if kind not in DEVICE_KINDS:
        raise ProfileError(f"{source}.kind: {kind!r} is not one of {list(DEVICE_KINDS)}")
    regs_raw = _req(raw, "registers", source)
    if not isinstance(regs_raw, list) or not regs_raw:
        raise ProfileError(f"{source}.registers: must be a non-empty list")
    regs = [_register_from_dict(r, f"{source}: registers[{i}]") for i, r in enumerate(regs_raw)]
    seen: dict[str, int] = {}
    used: dict[tuple[str, int], str] = {}
    for i, r in enumerate(regs):
        if r.name in seen:
            raise ProfileError(f"{source}: registers[{i}].name: {r.name!r} already used by registers[{seen[r.name]}]")
        seen[r.name] = i
        for a in range(r.address, r.address + r.count):
            other = used.get((r.register_type, a))
            if other:
                raise ProfileError(f"{source}: registers[{i}].address: {r.register_type} {a} overlaps {other!r}")
            used[(r.register_type, a)] = r.name
    return DeviceProfile(model=model, kind=kind, description=str(raw.get("description", "")),
                         registers=tuple(regs), source=source)


def load_profile(path: str | Path) -> DeviceProfile:
    """Load and validate one YAML profile. Raises :class:`ProfileError` (also for YAML syntax errors)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path.name}: not valid YAML: {exc}") from exc
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from exc
    return profile_from_dict(raw, source=path.name)


def load_profiles(directory: str | Path = PROFILE_DIR) -> dict[str, DeviceProfile]:
    """All ``*.yaml`` profiles of ``directory`` keyed by model.

    Raises:
        ProfileError: any file invalid, or two files declaring the same model.
    """
    out: dict[str, DeviceProfile] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        prof = load_profile(path)
        if prof.model in out:
            raise ProfileError(f"{path.name}.model: {prof.model!r} already declared in {out[prof.model].source}")
        out[prof.model] = prof
    return out


@lru_cache(maxsize=1)
def default_profiles() -> dict[str, DeviceProfile]:
    """The packaged profiles (cached)."""
    return load_profiles(PROFILE_DIR)
