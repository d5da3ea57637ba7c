"""``devices add|import|list|remove|template``: the registry of real stations and devices
(:mod:`datasources.ingest.registry`) from the command line; changes are audited (actor ``cli:<os user>``) and
announced on ``cc:registry``.
"""
from __future__ import annotations

import json
import logging
import os
import sys

from dashboard.cli.commands_control import _running_stack_redis_url
from dashboard.cli.commands_seed import _engine

log = logging.getLogger("dashboard")


# ---------------------------------------------------------------- devices: the registry of real sites

_STATION_OPTS = (("name", "name"), ("name_en", "name_en"), ("kind", "kind"), ("lifecycle", "lifecycle"),
                 ("lon", "lon"), ("lat", "lat"), ("province", "province_adcode"), ("city", "city_adcode"),
                 ("capacity", "capacity_m3_min"), ("partner", "partner"))


_DEVICE_OPTS = (("device_id", "device_id"), ("device_kind", "kind"), ("model", "model"), ("host", "host"),
                ("port", "port"), ("unit_id", "unit_id"), ("transport", "transport"), ("baudrate", "baudrate"),
                ("parity", "parity"), ("stopbits", "stopbits"), ("bytesize", "bytesize"),
                ("rated_flow", "rated_flow_m3_min"), ("rated_power", "rated_power_kw"),
                ("specific_power", "specific_power_kw_per_m3_min"), ("timeout_s", "timeout_s"),
                ("retries", "retries"), ("offline_after", "offline_after"), ("poll_interval_s", "poll_interval_s"),
                ("max_gap", "max_gap"), ("max_registers_per_read", "max_registers_per_read"))


def _cli_actor() -> str:
    import getpass  # noqa: PLC0415

    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 — no user name in this environment
        return "cli"


def _registry_redis(settings):
    """A Redis client for the ``cc:registry`` notification, or ``None`` when no bus is known (the poller's periodic
    re-check then picks the change up)."""
    import redis  # noqa: PLC0415

    url = settings.redis_url or _running_stack_redis_url(settings)
    return redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=2.0) if url else None


def _print_issues(issues) -> None:
    for i in issues:
        where = f"row {i.row}, " if i.row else ""
        print(f"error: {where}{i.field or '-'}: {i.message}", file=sys.stderr)


def _fmt_table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [["" if v is None else str(v) for v in r] for r in rows]
    width = [max(len(r[k]) for r in cells) for k in range(len(header))]
    return "\n".join("  ".join(v.ljust(width[k]) for k, v in enumerate(r)).rstrip() for r in cells)


def cmd_devices(settings, args) -> int:
    """``devices add|import|list|remove|template`` (see :func:`build_parser`). Exit 0 ok, 1 rejected (errors
    printed, nothing written), 2 bad usage."""
    from datasources.ingest import registry  # noqa: PLC0415

    if args.action == "template":
        data = registry.write_template(args.format)
        if args.output in (None, "-"):
            if args.format == "xlsx":
                print("an XLSX template needs --output FILE", file=sys.stderr)
                return 2
            sys.stdout.write(data.decode("utf-8-sig"))
        else:
            with open(args.output, "wb") as fh:
                fh.write(data)
            print(f"template written to {args.output}")
        return 0
    engine = _engine(settings)
    actor, role = _cli_actor(), "cli"
    if args.action == "list":
        stations = registry.list_stations(engine, simulated=None if args.all else False)
        if args.json:
            import dataclasses  # noqa: PLC0415

            print(json.dumps([dataclasses.asdict(s) for s in stations], ensure_ascii=False, indent=1))
            return 0
        rows = []
        for st in stations:
            rows.append([st.station_id, "yes" if st.simulated else "no", st.lifecycle, st.city_adcode, st.name,
                         "", "", "", ""])
            for d in st.devices:
                addr = d.host if d.transport == "rtu" else f"{d.host}:{d.port}"
                rows.append(["", "", "", "", "", d.device_id, d.model, f"{d.transport} {addr}", d.unit_id])
        print(_fmt_table(["station", "simulated", "lifecycle", "city", "name", "device", "model", "endpoint",
                          "unit"], rows))
        print(f"{len(stations)} station(s), {sum(len(s.devices) for s in stations)} device(s)"
              + ("" if args.all else " registered (--all adds the simulated demo fleet)"))
        return 0
    client = _registry_redis(settings)
    try:
        if args.action == "import":
            with open(args.file, "rb") as fh:
                data = fh.read()
            res = registry.import_devices(engine, data, os.path.basename(args.file), actor=actor, role=role,
                                          dry_run=args.dry_run, crs=args.crs, redis_client=client)
            if not res.ok:
                _print_issues(res.errors)
                print(f"{len(res.errors)} error(s) in {res.rows_read} row(s): nothing written", file=sys.stderr)
                return 1
            verb = "would import" if args.dry_run else "imported"
            print(f"{verb} {len(res.stations)} station(s), {len(res.devices)} device(s) from {res.rows_read} row(s)")
            return 0
        if args.action == "remove":
            if args.station:
                st = registry.remove_station(engine, args.station, actor=actor, role=role, redis_client=client)
                print(f"removed station {st.station_id} and {len(st.devices)} device(s)")
            elif args.device:
                registry.remove_device(engine, args.device, actor=actor, role=role, redis_client=client)
                print(f"removed device {args.device}")
            else:
                print("remove needs --device ID or --station ID", file=sys.stderr)
                return 2
            return 0
        # add
        station = {dst: getattr(args, src) for src, dst in _STATION_OPTS if getattr(args, src) is not None}
        device = {dst: getattr(args, src) for src, dst in _DEVICE_OPTS if getattr(args, src) is not None}
        from datasources.sql.repository import load_station  # noqa: PLC0415

        existing = load_station(engine, args.station)
        if existing is None:
            st = registry.add_station(engine, {"station_id": args.station, **station}, actor=actor, role=role,
                                      devices=[device] if device else [], crs=args.crs, redis_client=client)
            print(f"registered station {st.station_id} ({st.province_adcode}/{st.city_adcode}, "
                  f"{st.lon:.6f},{st.lat:.6f} WGS-84) with {len(st.devices)} device(s)")
        elif device:
            if station:
                print(f"station {args.station} exists: station options are ignored when adding a device",
                      file=sys.stderr)
            d = registry.add_device(engine, args.station, device, actor=actor, role=role, redis_client=client)
            print(f"added device {d.device_id} ({d.model}, {d.transport} {d.host}:{d.port} unit {d.unit_id})")
        else:
            print(f"station {args.station} exists; give device options to add a device", file=sys.stderr)
            return 1
        return 0
    except registry.RegistryError as err:
        _print_issues(err.issues)
        print("nothing written", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if client is not None:
            client.close()


def _devices_parser(sub) -> None:
    dv = sub.add_parser("devices", help="registry of real stations and devices (add, import, list, remove, template)")
    dsub = dv.add_subparsers(dest="action", required=True)
    add = dsub.add_parser("add", help="register a station (with one device) or add a device to a station")
    add.add_argument("--station", required=True, help="station id (new: give --name --kind --lifecycle --lon --lat)")
    add.add_argument("--name")
    add.add_argument("--name-en", dest="name_en")
    add.add_argument("--kind", help="standalone_module | smart_station | central_station")
    add.add_argument("--lifecycle", help="built | under_construction | idle | maintenance")
    add.add_argument("--lon", type=float)
    add.add_argument("--lat", type=float)
    add.add_argument("--crs", default="WGS84", help="datum of --lon/--lat: WGS84 | GCJ02 | BD09 (default WGS84)")
    add.add_argument("--province", help="province adcode (default: from the point)")
    add.add_argument("--city", help="city adcode (default: from the point)")
    add.add_argument("--capacity", type=float, help="installed capacity, m³/min")
    add.add_argument("--partner")
    add.add_argument("--device-id", dest="device_id", help="<station>-<suffix>, e.g. SZ0001-C1")
    add.add_argument("--device-kind", dest="device_kind",
                     help="compressor | dryer | flow_meter | power_meter | station_io | pipe_sensor")
    add.add_argument("--model", help="profile model, e.g. cc-fixed-speed-compressor")
    add.add_argument("--host")
    add.add_argument("--port", type=int)
    add.add_argument("--unit-id", dest="unit_id", type=int)
    add.add_argument("--transport", help="tcp | rtu_over_tcp | rtu (default tcp)")
    add.add_argument("--baudrate", type=int)
    add.add_argument("--parity", help="N | E | O")
    add.add_argument("--stopbits", type=int)
    add.add_argument("--bytesize", type=int)
    add.add_argument("--rated-flow", dest="rated_flow", type=float, help="compressor rated flow, m³/min")
    add.add_argument("--rated-power", dest="rated_power", type=float, help="compressor rated power, kW")
    add.add_argument("--specific-power", dest="specific_power", type=float, help="kW/(m³/min)")
    add.add_argument("--timeout-s", dest="timeout_s", type=float)
    add.add_argument("--retries", type=int)
    add.add_argument("--offline-after", dest="offline_after", type=int)
    add.add_argument("--poll-interval-s", dest="poll_interval_s", type=float)
    add.add_argument("--max-gap", dest="max_gap", type=int)
    add.add_argument("--max-registers-per-read", dest="max_registers_per_read", type=int)
    imp = dsub.add_parser("import", help="import a CSV / XLSX file (one row per device), all or nothing")
    imp.add_argument("file")
    imp.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
    imp.add_argument("--crs", default="WGS84", help="datum of lon/lat where the crs column is empty")
    ls = dsub.add_parser("list", help="registered stations and devices")
    ls.add_argument("--all", action="store_true", help="include the simulated demo fleet")
    ls.add_argument("--json", action="store_true")
    rm = dsub.add_parser("remove", help="remove a device, or a whole station with --station")
    rm.add_argument("--device")
    rm.add_argument("--station")
    tp = dsub.add_parser("template", help="an example import file")
    tp.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    tp.add_argument("--output", "-o", help="file to write (default: CSV to stdout)")
    dv.set_defaults(func=cmd_devices)
