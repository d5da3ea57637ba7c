"""Device profiles: Modbus register maps declared as data (YAML), validated at load.

In the spirit of Home Assistant's Modbus integration (``homeassistant/components/modbus/validators.py``): a profile
only *describes* what to read; the poller owns connections and the simulator serves the same map.

File format (one device model per ``*.yaml`` file in the profiles folder, :func:`profiles_dir`)::

    model: cc-fixed-speed-compressor     # unique model name, referenced by devices.model in SQL
    kind: compressor                     # compressor | dryer | flow_meter | power_meter | station_io
    description: 定频螺杆空压机 (load/unload)
    registers:
      - name: discharge_pressure_mpa     # value name on the bus; snake_case ending with its unit
        register_type: input             # holding | input | coil | discrete_input
        address: 0                       # 0-based protocol address
        data_type: uint16                # int16 uint16 int32 uint32 float32 int64 uint64 float64 string
                                         # (registers) | bool (coils/inputs)
        word_order: big                  # big | little: multi-register types, big = most significant word first
        byte_order: big                  # big | little: inside each register, big = high byte first
        scale: 0.001                     # value = raw * scale + offset
        offset: 0
        unit: MPa
        decimals: 3                      # optional display decimals (int >= 0)
        role: discharge_pressure         # optional: what control code looks the register up by (by_role)
        writable: false                  # only holding registers and coils may be writable
        description: 排气压力

The four byte/word orders of 32/64-bit values (Modbus leaves them to the vendor): ``ABCD`` = byte big, word big;
``CDAB`` = byte big, word little (word-swapped, the commonest "little" on PLCs); ``BADC`` = byte little, word big;
``DCBA`` = byte little, word little. ``int16``/``uint16`` honour ``byte_order`` only.

More field types:

* ``data_type: string`` with ``length: <registers>`` (two characters per register, high byte first unless
  ``byte_order: little``), decoded as UTF-8 (ASCII is a subset; an invalid byte becomes U+FFFD), trailing NULs and
  spaces stripped. No scale/offset.
* ``bit: 0..15`` on an ``int16``/``uint16`` holding or input register: the value is that bit of the word, 0 or 1
  (status words). Several bit fields may share one register (distinct bits); a bit field may not share a register
  with a non-bit field, and is read-only (writing one bit would need a read-modify-write of the word).

Errors name the file and the field, e.g. ``compressor.yaml: registers[3].data_type: 'float' is not one of ...``.
:func:`load_profiles_lenient` loads a folder skipping (and reporting) invalid files; :func:`load_profiles` is strict.
The folder is ``$CC_PROFILES_DIR`` when set, else the packaged ``datasources/modbus/profiles``.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import yaml
from pydantic import BeforeValidator, Field, field_validator, model_validator

from datasources.settings import get_settings
from ops.schema import FieldError, StrictModel, validate

log = logging.getLogger(__name__)

PROFILE_DIR = Path(__file__).parent / "profiles"
#: environment variable naming a folder of profile files that replaces the packaged one
PROFILES_DIR_ENV = "CC_PROFILES_DIR"

REGISTER_TYPES = ("holding", "input", "coil", "discrete_input")
BIT_TYPES = ("coil", "discrete_input")
#: data type → number of 16-bit registers (``string``: its ``length``; ``bool``: one coil/input bit)
DATA_TYPES: dict[str, int | None] = {"int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2, "int64": 4,
                                     "uint64": 4, "float64": 4, "string": None, "bool": 1}
NUMERIC_TYPES = ("int16", "uint16", "int32", "uint32", "float32", "int64", "uint64", "float64")
WORD_ORDERS = ("big", "little")
BYTE_ORDERS = ("big", "little")
DEVICE_KINDS = ("compressor", "dryer", "flow_meter", "power_meter", "station_io", "pipe_sensor")
#: longest string field, registers (one Modbus read carries at most 125)
MAX_STRING_REGISTERS = 125
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_MAX_ADDRESS = 65535


class ProfileError(ValueError):
    """A profile file is invalid. ``str(err)`` names the file and the field."""


@dataclass(frozen=True)
class RegisterSpec:
    """One value of a device. ``count`` is the number of 16-bit registers (1 for bits and bit fields).

    ``bit`` (0..15 or None) selects one bit of an int16/uint16 register; ``length`` is the size of a ``string`` in
    registers; ``decimals`` the display decimals (None = the UI's default); ``role`` what control code finds the
    register by (:meth:`DeviceProfile.by_role`).
    """

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
    byte_order: str = "big"
    length: int | None = None
    bit: int | None = None
    decimals: int | None = None
    role: str | None = None
    count: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = self.length if self.data_type == "string" else DATA_TYPES.get(self.data_type)
        object.__setattr__(self, "count", int(n or 1))

    @property
    def is_bit(self) -> bool:
        """A coil or discrete input (one bit per address); bit *fields* of a register are not."""
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

    def by_role(self, role: str) -> RegisterSpec | None:
        """The register whose ``role`` is ``role`` (roles are unique within a profile), or None."""
        for r in self.registers:
            if r.role == role:
                return r
        return None


# ------------------------------------------------------------------------------------------------ schema (pydantic)
SnakeName = Annotated[str, Field(pattern=_NAME_RE.pattern)]
#: free text fields (unit, description): anything YAML gives, as text (as before: ``unit: 1`` is ``"1"``)
Text = Annotated[str, BeforeValidator(lambda v: "" if v is None else str(v))]


class RegisterModel(StrictModel):
    """Schema of one ``registers[]`` entry of a profile file (module docstring); cross-field rules below."""

    name: SnakeName
    register_type: Literal[REGISTER_TYPES]  # type: ignore[valid-type]
    address: Annotated[int, Field(ge=0, le=_MAX_ADDRESS)]
    data_type: Optional[Literal[tuple(DATA_TYPES)]] = None  # type: ignore[valid-type]  # bits: default bool
    word_order: Literal[WORD_ORDERS] = "big"  # type: ignore[valid-type]
    byte_order: Literal[BYTE_ORDERS] = "big"  # type: ignore[valid-type]
    scale: float = 1.0
    offset: float = 0.0
    unit: Text = ""
    writable: bool = False
    description: Text = ""
    length: Optional[Annotated[int, Field(ge=1, le=MAX_STRING_REGISTERS)]] = None
    bit: Optional[Annotated[int, Field(ge=0, le=15)]] = None
    decimals: Optional[Annotated[int, Field(ge=0, le=15)]] = None
    role: Optional[SnakeName] = None

    @model_validator(mode="before")
    @classmethod
    def _default_bit_type(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and raw.get("data_type") is None and raw.get("register_type") in BIT_TYPES:
            return {**raw, "data_type": "bool"}
        return raw

    @model_validator(mode="after")
    def _rules(self) -> "RegisterModel":
        rtype, dtype = self.register_type, self.data_type
        if dtype is None:
            raise FieldError("data_type", f"required for a {rtype} register, one of {list(DATA_TYPES)}")
        if (rtype in BIT_TYPES) != (dtype == "bool"):
            raise FieldError("data_type", f"{dtype!r} does not fit register_type {rtype!r} (coils and discrete "
                                          "inputs are bool, registers are numeric or string)")
        if self.scale == 0:
            raise FieldError("scale", "must not be 0")
        if self.writable and rtype not in ("holding", "coil"):
            raise FieldError("writable", f"a {rtype} register cannot be written")
        if dtype == "string" and self.length is None:
            raise FieldError("length", "required for data_type string (number of registers)")
        if dtype != "string" and self.length is not None:
            raise FieldError("length", "only data_type string has a length")
        if self.bit is not None:
            if rtype not in ("holding", "input") or dtype not in ("int16", "uint16"):
                raise FieldError("bit", f"only an int16/uint16 holding or input register has bits (got {dtype} "
                                        f"{rtype})")
            if self.writable:
                raise FieldError("writable", "a bit field is read-only (writing it needs the whole word)")
        if (dtype == "string" or self.bit is not None) and (self.scale != 1 or self.offset != 0):
            raise FieldError("scale", f"a {'string' if dtype == 'string' else 'bit field'} has no scale/offset")
        count = self.length if dtype == "string" else DATA_TYPES[dtype]
        if self.address + count - 1 > _MAX_ADDRESS:
            raise FieldError("address", f"{self.address}+{count} runs past {_MAX_ADDRESS}")
        return self

    def spec(self) -> RegisterSpec:
        """The :class:`RegisterSpec` the poller, codec and simulator use."""
        return RegisterSpec(**self.model_dump())


class ProfileModel(StrictModel):
    """Schema of a profile file: ``model``, ``kind``, ``description``, ``registers`` (non-empty); names and roles
    unique, addresses of one register type not overlapping (bit fields may share a word with bit fields only)."""

    model: str
    kind: Literal[DEVICE_KINDS]  # type: ignore[valid-type]
    description: Text = ""
    registers: Annotated[list[RegisterModel], Field(min_length=1)]

    @field_validator("model")
    @classmethod
    def _model_not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must be a non-empty string")
        return v

    @model_validator(mode="after")
    def _unique_and_disjoint(self) -> "ProfileModel":
        seen: dict[str, int] = {}
        roles: dict[str, int] = {}
        used: dict[tuple[str, int], str] = {}
        bits_used: dict[tuple[str, int, int], str] = {}  # (type, address, bit) of bit fields
        bit_words: set[tuple[str, int]] = set()  # registers holding bit fields (may be shared by bit fields only)
        for i, r in enumerate(self.registers):
            if r.name in seen:
                raise FieldError(("registers", i, "name"), f"{r.name!r} already used by registers[{seen[r.name]}]")
            seen[r.name] = i
            if r.role is not None:
                if r.role in roles:
                    raise FieldError(("registers", i, "role"),
                                     f"{r.role!r} already used by registers[{roles[r.role]}]")
                roles[r.role] = i
            if r.bit is not None:
                key = (r.register_type, r.address)
                other = used.get(key) if key not in bit_words else None
                if other is None:
                    other = bits_used.get((r.register_type, r.address, r.bit))
                if other:
                    raise FieldError(("registers", i, "address"),
                                     f"{r.register_type} {r.address} bit {r.bit} overlaps {other!r}")
                bits_used[(r.register_type, r.address, r.bit)] = r.name
                bit_words.add(key)
                used[key] = r.name
                continue
            count = r.length if r.data_type == "string" else DATA_TYPES[r.data_type]
            for a in range(r.address, r.address + count):
                other = used.get((r.register_type, a))
                if other:
                    raise FieldError(("registers", i, "address"), f"{r.register_type} {a} overlaps {other!r}")
                used[(r.register_type, a)] = r.name
        return self


def profile_from_dict(raw: Any, source: str = "<dict>") -> DeviceProfile:
    """Validate a parsed profile (:class:`ProfileModel`).

    Raises:
        ProfileError: ``<source>: <field>: <reason>`` — missing/unknown fields, bad types, duplicate names,
            overlapping addresses within one register type.
    """
    if not isinstance(raw, dict):
        raise ProfileError(f"{source}: top level must be a mapping with model, kind, registers")
    m = validate(ProfileModel, raw, source, ProfileError)
    return DeviceProfile(model=m.model, kind=m.kind, description=m.description,
                         registers=tuple(r.spec() for r in m.registers), source=source)


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


def load_profiles_lenient(directory: str | Path | None = None) -> tuple[dict[str, DeviceProfile], list[str]]:
    """Load every valid ``*.yaml`` profile of ``directory`` (default :func:`profiles_dir`), skipping invalid ones.

    A file that does not validate (or repeats a model already loaded from an earlier file, in name order) is logged
    at ERROR with the :class:`ProfileError` text (file and field) and skipped; the others load. A missing folder is
    one error and no profiles.

    Returns:
        ``(profiles keyed by model, error messages)``; the list is empty when every file loaded.
    """
    folder = Path(directory) if directory is not None else profiles_dir()
    out: dict[str, DeviceProfile] = {}
    errors: list[str] = []
    if not folder.is_dir():
        errors.append(f"{folder}: profiles folder does not exist")
        log.error("%s", errors[-1])
        return out, errors
    for path in sorted(folder.glob("*.yaml")):
        try:
            prof = load_profile(path)
            if prof.model in out:
                raise ProfileError(f"{path.name}.model: {prof.model!r} already declared in {out[prof.model].source}")
        except ProfileError as exc:
            errors.append(str(exc))
            log.error("device profile skipped: %s", exc)
            continue
        out[prof.model] = prof
    return out, errors


def profiles_dir() -> Path:
    """The profiles folder: ``$CC_PROFILES_DIR`` when set and not empty, else the packaged ``datasources/modbus/profiles``."""
    return get_settings().profiles_dir or PROFILE_DIR


@lru_cache(maxsize=1)
def default_profiles() -> dict[str, DeviceProfile]:
    """The packaged profiles (cached; strict: raises :class:`ProfileError` if a packaged file is invalid)."""
    return load_profiles(PROFILE_DIR)
