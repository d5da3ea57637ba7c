"""Camera video for the demo: a real MJPEG stream per camera, generated on the server.

The stream is ``multipart/x-mixed-replace; boundary=ccframe`` — the format IP cameras serve and every browser plays
in a plain ``<img src=...>`` — with a new JPEG frame every ``1/fps`` seconds (default 3 fps): a dark test scene with
a moving scan bar, the camera's name, id and the current time (China Standard Time), so an operator sees at a glance
that the picture is live. This module renders frames and paces the stream; the HTTP routes
(``/cameras/<id>/stream.mjpg``, ``/cameras/<id>/snapshot.jpg``, 404 / 503 / 400 answers) are
:func:`dashboard.web.cameras.cameras_blueprint`'s.

Frames are shared: N viewers of one camera (a video wall) cost one rendering per tick (a per-camera cache keyed by
the tick number). Rendering: Pillow (``ImageDraw`` + JPEG encoder), 640 × 360, quality 70: ~5 ms and ~25 kB per
frame. Chinese names need a CJK font: ``$CC_CAMERA_FONT`` or the first of :data:`FONT_CANDIDATES` found; without one
the English name is drawn.

Wiring: :mod:`dashboard.web.cameras` serves :class:`FrameSource` streams of the rows :func:`load_camera` reads.
"""
from __future__ import annotations

import io
import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Callable, Iterator

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from datasources.sql.city_models import Camera

__all__ = ["BOUNDARY", "DEFAULT_FPS", "FONT_CANDIDATES", "CameraInfo", "FrameSource", "load_camera", "mjpeg_part",
           "render_frame"]

BOUNDARY = "ccframe"
FRAME_SIZE = (640, 360)
JPEG_QUALITY = 70
DEFAULT_FPS = 3.0
MAX_FPS = 10.0
CST = timezone(timedelta(hours=8))
FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)


@dataclass(frozen=True)
class CameraInfo:
    """What a frame shows of a camera."""

    camera_id: str
    name: str
    name_en: str
    status: str
    station_id: str | None = None


@lru_cache(maxsize=8)
def _font(size: int):
    from PIL import ImageFont  # noqa: PLC0415

    from datasources.settings import get_settings  # noqa: PLC0415

    for path in (get_settings().camera_font, *FONT_CANDIDATES):
        if path and os.path.exists(path):
            try:
                return ImageFont.truetype(path, size), True
            except OSError:
                continue
    return ImageFont.load_default(size), False


def render_frame(cam: CameraInfo, now: datetime | None = None, tick: int = 0, size: tuple[int, int] = FRAME_SIZE,
                 quality: int = JPEG_QUALITY) -> bytes:
    """One JPEG frame for ``cam``.

    Args:
        now: the time printed (default: now, shown in China Standard Time, UTC+8).
        tick: frame counter (moves the scan bar; frames of successive ticks differ even within a second).
        size: ``(width, height)`` px.
        quality: JPEG quality 1–95.
    Returns:
        JPEG bytes (baseline, RGB).
    Raises:
        ImportError: Pillow missing.
    """
    from PIL import Image, ImageDraw  # noqa: PLC0415

    w, h = size
    now = (now or datetime.now(timezone.utc)).astimezone(CST)
    online = cam.status == "online"
    img = Image.new("RGB", size, (12, 20, 30) if online else (28, 10, 14))
    d = ImageDraw.Draw(img)
    if online:
        # a calm synthetic scene: horizon, floor grid, a moving scan bar
        horizon = int(h * 0.55)
        d.rectangle([0, horizon, w, h], fill=(18, 32, 44))
        for k in range(-8, 9):
            d.line([(w / 2 + k * 30, horizon), (w / 2 + k * 120, h)], fill=(30, 60, 80))
        for k in range(1, 7):
            y = horizon + (h - horizon) * (k / 7) ** 1.6
            d.line([(0, y), (w, y)], fill=(30, 60, 80))
        x = int((tick * 23) % (w + 80)) - 40
        d.rectangle([x, 0, x + 6, h], fill=(40, 140, 190))
        r = 18 + 6 * math.sin(tick / 3)
        cx, cy = w * 0.75, h * 0.35
        d.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(95, 227, 255), width=3)
    big, cjk = _font(max(14, h // 14))
    small, _ = _font(max(11, h // 22))
    name = cam.name if cjk or cam.name.isascii() else (cam.name_en or cam.camera_id)
    d.rectangle([0, 0, w, h // 7], fill=(0, 0, 0))
    d.text((12, 6), name, font=big, fill=(235, 242, 250))
    stamp = now.strftime("%Y-%m-%d %H:%M:%S") + " CST"
    d.text((12, h - h // 10), f"{cam.camera_id}   {stamp}", font=small, fill=(200, 220, 235))
    if online:
        d.ellipse([w - 70, 12, w - 58, 24], fill=(255, 59, 78) if tick % 2 == 0 else (120, 30, 40))
        d.text((w - 52, 8), "LIVE", font=small, fill=(235, 242, 250))
    else:
        msg = "信号中断 NO SIGNAL" if cjk else "NO SIGNAL"
        box = d.textbbox((0, 0), msg, font=big)
        d.text(((w - (box[2] - box[0])) / 2, (h - (box[3] - box[1])) / 2), msg, font=big, fill=(255, 120, 130))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=int(quality), optimize=False)
    return buf.getvalue()


def mjpeg_part(jpeg: bytes, boundary: str = BOUNDARY) -> bytes:
    """One part of a ``multipart/x-mixed-replace`` stream: boundary line, headers, the JPEG, CRLF."""
    return (f"--{boundary}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode("ascii")
            + jpeg + b"\r\n")


class FrameSource:
    """Renders and shares frames: one rendering per camera per tick whatever the number of viewers.

    Args:
        fps: frames per second (clamped to 0.2–:data:`MAX_FPS`).
        clock: ``time.time``-like function (seconds).
    """

    def __init__(self, fps: float = DEFAULT_FPS, clock: Callable[[], float] = time.time):
        self.fps = min(MAX_FPS, max(0.2, float(fps)))
        self.clock = clock
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[int, bytes]] = {}

    def tick(self) -> int:
        """Current tick number (``floor(now × fps)``)."""
        return int(self.clock() * self.fps)

    def frame(self, cam: CameraInfo, tick: int | None = None) -> bytes:
        """The JPEG of ``cam`` for ``tick`` (default: now), rendered once and shared."""
        tick = self.tick() if tick is None else tick
        with self._lock:
            hit = self._cache.get(cam.camera_id)
            if hit and hit[0] == tick:
                return hit[1]
        jpeg = render_frame(cam, datetime.fromtimestamp(tick / self.fps, timezone.utc), tick)
        with self._lock:
            self._cache[cam.camera_id] = (tick, jpeg)
        return jpeg

    def stream(self, cam: CameraInfo, frames: int | None = None) -> Iterator[bytes]:
        """Multipart parts (:func:`mjpeg_part`), one per tick, pacing itself to ``fps``; ``frames`` limits the count."""
        sent = 0
        last = None
        while frames is None or sent < frames:
            tick = self.tick()
            if tick == last:
                time.sleep(max(0.005, (tick + 1) / self.fps - self.clock()))
                continue
            last = tick
            yield mjpeg_part(self.frame(cam, tick))
            sent += 1


def load_camera(engine: Engine, camera_id: str) -> CameraInfo | None:
    """The :class:`CameraInfo` of a row of the ``cameras`` table, or ``None`` for an unknown ``camera_id``.

    Raises:
        sqlalchemy.exc.SQLAlchemyError: database unreachable.
    """
    with Session(engine) as s:
        row = s.get(Camera, camera_id)
        if row is None:
            return None
        return CameraInfo(row.camera_id, row.name, row.name_en or "", row.status, row.station_id)

