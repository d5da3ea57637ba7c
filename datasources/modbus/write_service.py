"""The poller's write service: remote writes to this shard's devices over the poller's own connections.

Write service
    :meth:`Poller.run` subscribes to ``cc:control:write`` and performs the write requests for its own shard's devices
    over its own connections (single-connection gateways accept one TCP client only), with the same per-request
    lock; schema and the sync client :func:`datasources.bus.messages.request_write` in :mod:`datasources.bus.messages`.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from datasources.bus.messages import CONTROL_WRITE_CHANNEL, parse_write_request
from datasources.modbus.codec import Block, DecodeError, decode_block, encode
from datasources.modbus.endpoint import REDIS_BACKOFF_MAX_S, ReadError, backoff
from datasources.modbus.profiles import RegisterSpec

log = logging.getLogger("datasources.modbus.poller")  # the poller's log


class WriteService:
    """The write half of :class:`datasources.modbus.poller.Poller`, which derives from it and provides
    ``redis_url``, ``profiles`` (``{model: DeviceProfile}``), ``_devices`` (``{device_id: DeviceSpec}`` of this
    shard), ``_cfg`` (``{device_id: effective settings}``: ``timeout_s``, ``retries``) and ``_endpoint(dev)``
    (the device's :class:`datasources.modbus.endpoint.Endpoint`)."""

    async def _write_service(self) -> None:
        """Subscribe to ``cc:control:write`` and answer the requests for this shard's devices; never raises."""
        failures = 0
        while True:
            client = aioredis.Redis.from_url(self.redis_url, socket_connect_timeout=1.0, health_check_interval=0)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(CONTROL_WRITE_CHANNEL)
                failures = 0
                while True:
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is None or msg.get("type") != "message":
                        continue
                    asyncio.create_task(self._serve_write(client, msg["data"]))
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if failures == 0:
                    log.warning("write service: Redis unavailable (%s); retrying", exc)
                await asyncio.sleep(backoff(0.2, failures, REDIS_BACKOFF_MAX_S))
                failures += 1
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                with contextlib.suppress(Exception):
                    await client.aclose()

    async def _serve_write(self, client: aioredis.Redis, raw: bytes | str) -> None:
        try:
            req = parse_write_request(raw)
        except ValueError as exc:
            log.warning("write service: request refused: %s", exc)
            return
        if req["device_id"] not in self._devices:
            return  # another shard's device (or nobody's): the owner answers
        reply = await self.handle_write(req)
        try:
            await client.rpush(req["reply_to"], json.dumps(reply, separators=(",", ":"), allow_nan=False))
            await client.expire(req["reply_to"], 60)
        except (RedisError, OSError) as exc:
            log.warning("write service: reply to %s failed: %s", req["reply_to"], exc)

    async def handle_write(self, req: dict[str, Any]) -> dict[str, Any]:
        """Perform one validated write request (:func:`datasources.bus.messages.parse_write_request` shape) for a device of
        this shard over its endpoint, with the same per-request lock as the reads; then read back ``read``.

        Returns:
            the reply ``{"v": 1, "request_id", "ok", "error", "values"}``; never raises (errors go in the reply).
        """
        out: dict[str, Any] = {"v": 1, "request_id": req.get("request_id", ""), "ok": False, "error": None,
                               "values": {}}
        dev = self._devices.get(req.get("device_id", ""))
        if dev is None:
            out["error"] = f"device {req.get('device_id')!r} is not polled by this poller"
            return out
        profile = self.profiles.get(dev.model)
        if profile is None:
            out["error"] = f"device {dev.device_id}: no profile for model {dev.model!r}"
            return out
        cfg = self._cfg[dev.device_id]
        plan: list[tuple[RegisterSpec, list]] = []
        try:
            for w in req["writes"]:
                spec = profile.by_name.get(w["name"])
                if spec is None:
                    raise ValueError(f"device {dev.device_id} ({dev.model}) has no register {w['name']!r}")
                if not spec.writable:
                    raise ValueError(f"register {spec.name!r} of {dev.model} is not writable")
                try:
                    plan.append((spec, list(encode(spec, w["value"]))))
                except DecodeError as exc:
                    raise ValueError(f"value refused: {exc}") from None
            reads = []
            for name in req.get("read", []):
                spec = profile.by_name.get(name)
                if spec is None:
                    raise ValueError(f"device {dev.device_id} ({dev.model}) has no register {name!r}")
                reads.append(Block(spec.register_type, spec.address, spec.count, (spec,)))
        except ValueError as exc:
            out["error"] = str(exc)
            return out
        ep = self._endpoint(dev)
        unit = dev.unit_id
        try:
            for spec, words in plan:
                what = f"write {spec.name} ({spec.register_type} {spec.address}) of unit {unit}"
                if spec.register_type == "coil":
                    await ep.transact(lambda s=spec, v=words: ep.client.write_coil(s.address, bool(v[0]),
                                                                                    device_id=unit),
                                      what, unit, cfg.timeout_s, cfg.retries)
                else:
                    await ep.transact(lambda s=spec, v=words: ep.client.write_registers(s.address, v,
                                                                                         device_id=unit),
                                      what, unit, cfg.timeout_s, cfg.retries)
            for block in reads:
                raw = await ep.read(block, unit, cfg.timeout_s, cfg.retries)
                value = decode_block(block, list(raw))[block.specs[0].name]
                if isinstance(value, float) and not math.isfinite(value):
                    value = None
                out["values"][block.specs[0].name] = value
        except (ReadError, DecodeError) as exc:
            out["error"] = str(exc)
            return out
        log.info("device %s: wrote %s (request %s)", dev.device_id,
                 ", ".join(f"{s.name}={w}" for s, w in plan), out["request_id"])
        out["ok"] = True
        return out
