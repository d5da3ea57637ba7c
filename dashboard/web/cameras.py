"""HTTP endpoints of the demo camera streams: the Flask blueprint over :mod:`datasources.sim.cameras`.

``GET /cameras/<id>/stream.mjpg`` answers ``multipart/x-mixed-replace; boundary=ccframe`` with a new JPEG frame every
``1/fps`` seconds; ``GET /cameras/<id>/snapshot.jpg`` answers one frame. Frames are rendered and shared by
:class:`datasources.sim.cameras.FrameSource` (one rendering per camera per tick whatever the number of viewers).

* Unknown camera → HTTP 404 (JSON error).
* Offline camera (``cameras.status = 'offline'``) → HTTP 503 with ``Retry-After: 30`` and one JPEG "no signal" frame
  as the body (browsers show an image body whatever the status, so the video tile shows why it is dark).
* ``?frames=N`` (1–10,000) ends a stream after N frames (tests, thumbnails); otherwise 400. Without it the stream
  runs until the client disconnects (the WSGI server then closes the generator).

Wiring (app factory, :func:`dashboard.web.app.create_app`)::

    server.register_blueprint(cameras_blueprint(engine))
"""
from __future__ import annotations

import threading
import time

from flask import Blueprint, Response, jsonify, request, stream_with_context
from sqlalchemy import Engine

from datasources.sim.cameras import BOUNDARY, DEFAULT_FPS, CameraInfo, FrameSource, load_camera, render_frame

__all__ = ["cameras_blueprint"]

#: camera ids longer than this are unknown without a database query
MAX_ID_LEN = 32
#: camera rows cached at most this many at once (the cache is cleared beyond)
MAX_CACHED = 10_000


def cameras_blueprint(engine: Engine, fps: float = DEFAULT_FPS, url_prefix: str = "/cameras",
                      cache_s: float = 10.0) -> Blueprint:
    """A Flask blueprint serving ``<url_prefix>/<id>/stream.mjpg`` and ``<url_prefix>/<id>/snapshot.jpg``.

    Args:
        engine: database with the ``cameras`` table (camera rows are cached ``cache_s`` seconds).
        fps: frame rate of the streams (clamped to 0.2–10, see :class:`datasources.sim.cameras.FrameSource`).
        url_prefix: mount point of the routes.
        cache_s: seconds a camera row (or its absence) is reused before the database is asked again.
    Returns:
        ``flask.Blueprint`` named ``cameras``. Authentication: the app's global login check applies (the routes are
        not public); register it before or after auth, it adds no exemption.
    """
    bp = Blueprint("cameras", __name__, url_prefix=url_prefix)
    source = FrameSource(fps)
    cache: dict[str, tuple[float, CameraInfo | None]] = {}
    lock = threading.Lock()

    def camera(camera_id: str) -> CameraInfo | None:
        now = time.monotonic()
        with lock:
            hit = cache.get(camera_id)
            if hit and now - hit[0] < cache_s:
                return hit[1]
        info = load_camera(engine, camera_id) if len(camera_id) <= MAX_ID_LEN else None
        with lock:
            cache[camera_id] = (now, info)
            if len(cache) > MAX_CACHED:
                cache.clear()
        return info

    def not_found(camera_id: str):
        return jsonify({"error": "unknown camera", "camera_id": camera_id[:64]}), 404

    def offline(cam: CameraInfo) -> Response:
        body = render_frame(cam, tick=0)
        return Response(body, status=503, mimetype="image/jpeg",
                        headers={"Retry-After": "30", "Cache-Control": "no-store", "X-Camera-Status": cam.status})

    @bp.get("/<camera_id>/snapshot.jpg")
    def snapshot(camera_id: str):
        """One JPEG frame (200), the offline placeholder (503) or 404."""
        cam = camera(camera_id)
        if cam is None:
            return not_found(camera_id)
        if cam.status != "online":
            return offline(cam)
        return Response(source.frame(cam), mimetype="image/jpeg", headers={"Cache-Control": "no-store"})

    @bp.get("/<camera_id>/stream.mjpg")
    def stream(camera_id: str):
        """``multipart/x-mixed-replace`` JPEG stream (200), the offline placeholder (503), 404, or 400 (bad frames)."""
        cam = camera(camera_id)
        if cam is None:
            return not_found(camera_id)
        if cam.status != "online":
            return offline(cam)
        frames = request.args.get("frames", type=int)
        if frames is not None and not 1 <= frames <= 10_000:
            return jsonify({"error": "frames must be within 1..10000"}), 400
        return Response(stream_with_context(source.stream(cam, frames)),
                        content_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
                        headers={"Cache-Control": "no-store, no-cache, must-revalidate", "Pragma": "no-cache",
                                 "X-Accel-Buffering": "no"})

    return bp
