"""MJPEG camera streams (frames: datasources.sim.cameras; routes: dashboard.web.cameras): the Flask blueprint through
the test client and through a real HTTP server thread; camera rows from real SQLite / PostgreSQL databases."""
from __future__ import annotations

import http.client
import io
import threading

import pytest
from flask import Flask
from sqlalchemy.orm import Session
from werkzeug.serving import make_server

from dashboard.web.cameras import cameras_blueprint
from datasources.sim.cameras import BOUNDARY, CameraInfo, FrameSource, render_frame
from datasources.sql.city_models import Camera
from datasources.sql.db import make_engine, migrate

SOI, EOI = b"\xff\xd8", b"\xff\xd9"


@pytest.fixture
def app(database_url):
    migrate(database_url)
    engine = make_engine(database_url)
    with Session(engine) as s, s.begin():
        s.add_all([
            Camera(camera_id="CAM-1", name="九亭·沪亭北路口01", name_en="Jiuting · Huting N Rd 01", lon=121.325,
                   lat=31.135, province_adcode="310000", city_adcode="310100", status="online", kind="mjpeg",
                   stream_url="/cameras/CAM-1/stream.mjpg"),
            Camera(camera_id="CAM-2", name="离线点位", name_en="Offline spot", lon=121.33, lat=31.14,
                   province_adcode="310000", city_adcode="310100", status="offline", kind="mjpeg",
                   stream_url="/cameras/CAM-2/stream.mjpg"),
        ])
    app = Flask(__name__)
    app.register_blueprint(cameras_blueprint(engine, fps=8))
    yield app
    engine.dispose()


def _parts(body: bytes) -> list[tuple[dict, bytes]]:
    """Split a multipart/x-mixed-replace body into (headers, payload) parts."""
    out = []
    for chunk in body.split(f"--{BOUNDARY}\r\n".encode())[1:]:
        head, _, rest = chunk.partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        n = int(headers["Content-Length"])
        assert rest[n:n + 2] == b"\r\n"
        out.append((headers, rest[:n]))
    return out


def test_stream_yields_distinct_jpeg_frames_with_the_boundary(app):
    client = app.test_client()
    resp = client.get("/cameras/CAM-1/stream.mjpg?frames=4")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
    assert "no-store" in resp.headers["Cache-Control"]
    parts = _parts(resp.get_data())
    assert len(parts) == 4
    frames = [p for _h, p in parts]
    assert all(h["Content-Type"] == "image/jpeg" for h, _p in parts)
    assert all(f.startswith(SOI) and f.endswith(EOI) for f in frames)
    assert len(set(frames)) == 4  # every frame is new (scan bar, tick, clock)


def test_stream_over_a_real_http_server(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        conn.request("GET", "/cameras/CAM-1/stream.mjpg")  # unbounded: read three frames, then hang up
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Type").startswith("multipart/x-mixed-replace")
        buf = b""
        marker = f"--{BOUNDARY}\r\n".encode()
        while buf.count(marker) < 4:
            chunk = resp.read1(65536)
            assert chunk, "stream ended early"
            buf += chunk
        conn.close()
        parts = _parts(buf[: buf.rfind(marker)])
        assert len(parts) >= 3
        assert len({p for _h, p in parts}) == len(parts)
        from PIL import Image

        img = Image.open(io.BytesIO(parts[0][1]))
        assert img.format == "JPEG" and img.size == (640, 360)
    finally:
        server.shutdown()
        thread.join(5)


def test_snapshot_404_and_offline_placeholder(app):
    from PIL import Image

    client = app.test_client()
    snap = client.get("/cameras/CAM-1/snapshot.jpg")
    assert snap.status_code == 200 and snap.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(snap.data)).size == (640, 360)
    missing = client.get("/cameras/NOPE/stream.mjpg")
    assert missing.status_code == 404 and missing.get_json()["error"] == "unknown camera"
    assert client.get("/cameras/NOPE/snapshot.jpg").status_code == 404
    off = client.get("/cameras/CAM-2/stream.mjpg")
    assert off.status_code == 503 and off.mimetype == "image/jpeg" and off.headers["Retry-After"] == "30"
    assert off.data.startswith(SOI) and off.data.endswith(EOI)
    assert client.get("/cameras/CAM-2/snapshot.jpg").status_code == 503
    assert client.get("/cameras/CAM-1/stream.mjpg?frames=0").status_code == 400


def test_frames_are_shared_between_viewers_and_differ_between_ticks():
    now = [1_000_000.0]
    src = FrameSource(fps=4, clock=lambda: now[0])
    cam = CameraInfo("CAM-X", "测试", "Test", "online")
    a = src.frame(cam)
    assert src.frame(cam) is a  # second viewer, same tick: no new rendering
    now[0] += 0.25
    assert src.frame(cam) != a
    offline = render_frame(CameraInfo("CAM-Y", "离线", "Offline", "offline"))
    assert offline.startswith(SOI)
