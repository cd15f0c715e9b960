"""The HTTP API and the live WebSocket, over real HTTP against a running server."""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from conftest import compose_faces, jpeg, png_bomb, run_facemoji
from facemoji.labels import EMOTIONS
from facemoji.server import ServerConfig, create_app, start_background

SCHEMA = Path(__file__).resolve().parents[1] / "docs" / "schema.json"
ASTRONAUT_BOX = (180, 62, 271, 178)  # x1, y1, x2, y2 of the face in skimage's astronaut




def png(img: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()




def image_validator():
    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMA.exists():
        pytest.skip("docs/schema.json not written yet")
    full = json.loads(SCHEMA.read_text())
    schema = {"$schema": full.get("$schema", "https://json-schema.org/draft/2020-12/schema"),
              "$defs": full["$defs"], "$ref": "#/$defs/image"}
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def server():
    srv = start_background(create_app(ServerConfig()))
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def astronaut_jpeg(astronaut) -> bytes:
    return jpeg(astronaut)


def assert_json_error(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert isinstance(body.get("error"), str) and body["error"]


def assert_healthy(client: httpx.Client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


# ---------------------------------------------------------------- analyze
def test_analyze_multipart_finds_the_astronaut(client, astronaut, astronaut_jpeg, pipeline):
    r = client.post("/api/v1/analyze", files={"file": ("astronaut.jpg", astronaut_jpeg, "image/jpeg")})
    assert r.status_code == 200, r.text
    rec = r.json()
    image_validator().validate(rec)
    assert rec["path"] == "astronaut.jpg" and (rec["width"], rec["height"]) == (512, 512)
    assert len(rec["faces"]) == 1
    f = rec["faces"][0]
    b = f["box"]
    x1, y1, x2, y2 = ASTRONAUT_BOX
    assert abs(b["x"] - x1) < 15 and abs(b["y"] - y1) < 15
    assert abs(b["x"] + b["width"] - x2) < 15 and abs(b["y"] + b["height"] - y2) < 15
    assert f["emotion"] in EMOTIONS and set(f["probabilities"]) == set(EMOTIONS)
    assert f["emotion"] == max(f["probabilities"], key=f["probabilities"].get)
    # the same answer as the library on the same decoded pixels
    local = pipeline.analyze(np.asarray(Image.open(io.BytesIO(astronaut_jpeg)).convert("RGB")))
    assert len(local) == 1
    assert np.allclose([b["x"], b["y"], b["width"], b["height"]],
                       [local[0].box[0], local[0].box[1], local[0].width, local[0].height], atol=0.2)
    assert f["emotion"] == local[0].emotion
    for k, v in local[0].probabilities.items():
        assert abs(f["probabilities"][k] - v) < 1e-3


def test_analyze_raw_body_png_matches_multipart(client, astronaut):
    data = png(astronaut)
    raw = client.post("/api/v1/analyze", content=data, headers={"content-type": "image/png"})
    octet = client.post("/api/v1/analyze", content=data, headers={"content-type": "application/octet-stream"})
    form = client.post("/api/v1/analyze", files={"file": ("a.png", data, "image/png")})
    for r in (raw, octet, form):
        assert r.status_code == 200, r.text
        image_validator().validate(r.json())
    assert "path" not in raw.json()
    assert raw.json()["faces"] == form.json()["faces"] == octet.json()["faces"]


def test_analyze_several_faces_largest_first(client, astronaut_face):
    frame = compose_faces(astronaut_face, [(30, 60, 160), (300, 40, 300)])
    r = client.post("/api/v1/analyze", content=jpeg(frame), headers={"content-type": "image/jpeg"})
    assert r.status_code == 200
    faces = r.json()["faces"]
    assert len(faces) == 2
    big, small = faces
    assert big["box"]["width"] > small["box"]["width"]
    assert big["box"]["x"] > 300 and small["box"]["x"] < 190


def test_analyze_real_fer_faces(client, fer_public):
    """FER2013 rows (48x48) scaled up onto a plain background: a face is found and classified."""
    x = fer_public["x"]
    found = 0
    for i in range(4):
        face = np.repeat(np.asarray(x[i], np.uint8).reshape(48, 48, 1), 3, axis=2)
        frame = compose_faces(face, [(220, 140, 200)])
        r = client.post("/api/v1/analyze", content=png(frame), headers={"content-type": "image/png"})
        assert r.status_code == 200
        image_validator().validate(r.json())
        found += len(r.json()["faces"]) >= 1
    assert found >= 2


# ---------------------------------------------------------------- emojify
def test_emojify_matches_library_and_formats(client, astronaut, pipeline):
    data = png(astronaut)
    r = client.post("/api/v1/emojify", content=data, headers={"content-type": "image/png"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    out = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
    expected, faces = pipeline.process(astronaut, "emoji")
    assert out.shape == astronaut.shape
    assert np.abs(out.astype(int) - expected.astype(int)).mean() < 0.5
    x1, y1, x2, y2 = ASTRONAUT_BOX
    assert np.abs(out[y1:y2, x1:x2].astype(int) - astronaut[y1:y2, x1:x2]).mean() > 40  # the face is covered
    summary = json.loads(r.headers["x-facemoji-result"])
    assert summary["faces_total"] == 1 and summary["faces"][0]["emotion"] == faces[0].emotion

    j = client.post("/api/v1/emojify?format=jpeg", content=data)
    assert j.status_code == 200 and j.headers["content-type"] == "image/jpeg" and j.content[:2] == b"\xff\xd8"
    a = client.post("/api/v1/emojify", content=data, headers={"accept": "image/jpeg"})
    assert a.headers["content-type"] == "image/jpeg"
    a = client.post("/api/v1/emojify", content=data, headers={"accept": "text/html, image/png;q=0.9, image/jpeg;q=0.5"})
    assert a.headers["content-type"] == "image/png"
    assert_json_error(client.post("/api/v1/emojify", content=data, headers={"accept": "application/json"}), 406)
    assert_json_error(client.post("/api/v1/emojify?format=gif", content=data), 400)


def test_emojify_modes(client, astronaut):
    data = png(astronaut)
    outs = {}
    for mode in ("emoji", "boxes", "both"):
        r = client.post(f"/api/v1/emojify?mode={mode}", files={"file": ("a.png", data, "image/png")})
        assert r.status_code == 200, r.text
        outs[mode] = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(int)
    x1, y1, x2, y2 = ASTRONAUT_BOX
    inner = (slice(y1 + 20, y2 - 20), slice(x1 + 20, x2 - 20))
    assert np.abs(outs["boxes"][inner] - astronaut[inner]).mean() < 2  # boxes leave the face visible
    assert np.abs(outs["emoji"][inner] - astronaut[inner]).mean() > 40
    assert np.abs(outs["both"] - outs["emoji"]).sum() > 0 and np.abs(outs["both"] - outs["boxes"]).sum() > 0
    form = client.post("/api/v1/emojify", files={"file": ("a.png", data, "image/png")}, data={"mode": "boxes"})
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(form.content)).convert("RGB")), outs["boxes"])
    assert_json_error(client.post("/api/v1/emojify?mode=sparkles", content=data), 400)


# ---------------------------------------------------------------- bad input
def test_bad_inputs_get_json_4xx_and_server_stays_up(client, astronaut_jpeg):
    post = client.post
    cases = [
        (post("/api/v1/analyze", content=b"hello, this is not an image"), 400),
        (post("/api/v1/analyze", content=astronaut_jpeg[: len(astronaut_jpeg) // 2]), 400),
        (post("/api/v1/analyze", content=astronaut_jpeg[:200], headers={"content-type": "image/jpeg"}), 400),
        (post("/api/v1/emojify", content=astronaut_jpeg[: len(astronaut_jpeg) // 3]), 400),
        (post("/api/v1/analyze", content=b""), 400),
        (post("/api/v1/analyze", content=astronaut_jpeg, headers={"content-type": "text/plain"}), 415),
        (post("/api/v1/analyze", json={"image": "astronaut.jpg"}), 415),
        (post("/api/v1/analyze", content=astronaut_jpeg, headers={"content-encoding": "gzip"}), 415),
        (post("/api/v1/analyze", content=b"--xx\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc",
              headers={"content-type": "multipart/form-data; boundary=xx"}), 400),
        (post("/api/v1/analyze", content=b"garbage", headers={"content-type": "multipart/form-data"}), 400),
        (post("/api/v1/analyze", files={"picture": ("a.jpg", astronaut_jpeg, "image/jpeg")}), 400),
        (post("/api/v1/analyze", files={"file": ("a.jpg", b"", "image/jpeg")}), 400),
        (post("/api/v1/analyze", files={"file": ("a.txt", b"just text", "text/plain")}), 400),
        (client.get("/api/v1/analyze"), 405),
        (client.get("/api/v1/nothing"), 404),
        (client.get("/emoji/unicorn.png"), 404),
    ]
    for r, status in cases:
        assert_json_error(r, status)
    assert_healthy(client)


def test_oversize_upload_is_413(client):
    big = np.random.default_rng(0).integers(0, 256, 21 * 1024 * 1024, dtype=np.uint8).tobytes()
    assert_json_error(client.post("/api/v1/analyze", content=big, headers={"content-type": "image/jpeg"}), 413)
    assert_json_error(client.post("/api/v1/analyze", files={"file": ("big.jpg", big, "image/jpeg")}), 413)

    def chunks():  # no Content-Length: the limit is found while reading
        for i in range(0, len(big), 1 << 20):
            yield big[i : i + (1 << 20)]

    assert_json_error(client.post("/api/v1/emojify", content=chunks()), 413)
    assert_healthy(client)


def test_decompression_bomb_is_refused(client):
    bomb = png_bomb()
    assert len(bomb) < 200_000
    assert_json_error(client.post("/api/v1/analyze", content=bomb, headers={"content-type": "image/png"}), 413)
    assert_json_error(client.post("/api/v1/emojify", files={"file": ("bomb.png", bomb, "image/png")}), 413)
    assert_healthy(client)


def test_uploads_never_touch_disk(client, astronaut, monkeypatch, tmp_path):
    """A multipart upload much larger than Starlette's 1 MB spool threshold leaves no temporary file."""
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    big = np.asarray(Image.fromarray(astronaut).resize((1600, 1600)))
    noisy = np.clip(big.astype(int) + np.random.default_rng(1).integers(-20, 20, big.shape), 0, 255).astype(np.uint8)
    data = png(noisy)
    assert len(data) > 3_000_000
    r = client.post("/api/v1/analyze", files={"file": ("big.png", data, "image/png")})
    assert r.status_code == 200 and len(r.json()["faces"]) == 1
    assert list(spool.iterdir()) == []


# ---------------------------------------------------------------- load
def test_overload_gives_503_with_retry_after(astronaut):
    """With every model slot held (here by the test itself) a request is told to come back; then it gets in."""
    srv = start_background(create_app(ServerConfig(queue_size=1, workers=1)))
    try:
        worker = srv.server.config.app.state.worker
        big = jpeg(np.asarray(Image.fromarray(astronaut).resize((1280, 1280))))
        slots = [worker.try_acquire() for _ in range(worker.capacity)]
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            try:
                for path in ("/api/v1/analyze", "/api/v1/emojify"):
                    r = c.post(path, content=big, headers={"content-type": "image/jpeg"})
                    assert_json_error(r, 503)
                    assert int(r.headers["retry-after"]) >= 1 and "busy" in r.json()["error"]
                assert_healthy(c)  # the health check never waits for a slot
            finally:
                for slot in slots:
                    slot.release()
            assert c.get("/healthz").json()["queue"]["in_use"] == 0
            assert c.post("/api/v1/analyze", content=big).status_code == 200
    finally:
        srv.stop()


def test_slow_and_idle_clients_are_cut_off(astronaut_face):
    """An upload that stalls gets 408; a live connection that goes quiet is closed; neither holds a slot."""
    import socket

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    srv = start_background(create_app(ServerConfig(queue_size=1, body_timeout=1.0, ws_idle_timeout=1.0,
                                                   max_live_clients=1)))
    try:
        host, port = srv.url[len("http://"):].rstrip("/").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as s:
            s.sendall(b"POST /api/v1/analyze HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
                      b"Content-Length: 100000\r\n\r\n\xff\xd8\xff")  # ... and nothing more
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 408") and b'"error"' in answer, answer[:200]
        with connect(srv.url.replace("http://", "ws://") + "ws/live") as ws:
            with connect(srv.url.replace("http://", "ws://") + "ws/live") as second:  # one live client at a time
                with pytest.raises(ConnectionClosed) as closed:
                    second.recv(timeout=30)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=30)  # we send nothing; the server hangs up
        frame = jpeg(compose_faces(astronaut_face, [(220, 120, 200)]))
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            assert c.get("/healthz").json()["queue"]["in_use"] == 0
            assert c.post("/api/v1/analyze", content=frame).status_code == 200
    finally:
        srv.stop()


# ---------------------------------------------------------------- page and docs
def test_page_docs_and_health(client):
    r = client.get("/")
    assert r.status_code == 200 and "on your own machine" in r.text
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "http" not in csp
    for path in ("/static/app.js", "/static/style.css"):
        s = client.get(path)
        assert s.status_code == 200
        assert "https://" not in s.text and "http://" not in s.text  # nothing fetched from elsewhere
    for name in EMOTIONS:
        e = client.get(f"/emoji/{name}.png")
        assert e.status_code == 200 and e.content[:8] == b"\x89PNG\r\n\x1a\n"
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/analyze", "/api/v1/emojify", "/healthz"} <= set(spec["paths"])
    body = spec["paths"]["/api/v1/analyze"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body and "image/*" in body
    assert client.get("/docs").status_code == 200
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and tuple(h["classes"]) == EMOTIONS


# ---------------------------------------------------------------- live WebSocket
def ws_url(server, path: str = "ws/live") -> str:
    return server.url.replace("http://", "ws://") + path


def test_live_websocket_answers_and_drops_stale_frames(server, astronaut_face):
    from websockets.sync.client import connect

    frame = jpeg(compose_faces(astronaut_face, [(220, 120, 200)]))
    with connect(ws_url(server), max_size=2**20) as ws:
        ws.send(frame)
        first = json.loads(ws.recv(timeout=60))
        assert first["type"] == "result" and (first["width"], first["height"]) == (640, 480)
        assert len(first["faces"]) == 1 and first["faces"][0]["emotion"] in EMOTIONS
        b = first["faces"][0]["box"]
        assert 200 < b["x"] + b["width"] / 2 < 440 and 120 < b["y"] + b["height"] / 2 < 320
        # a burst faster than the model: only the newest waiting frame is answered
        for _ in range(6):
            ws.send(frame)
        replies: list[dict] = []
        while True:  # every frame is either answered or dropped, never queued
            replies.append(json.loads(ws.recv(timeout=60)))
            last = replies[-1]
            if 1 + len(replies) + last["dropped"] == last["received"] == 7:
                break
        assert all(r["type"] == "result" for r in replies)
        assert len(replies) < 6 and last["dropped"] >= 1
        # a bad frame gets an error message and the connection keeps working
        ws.send(b"not a jpeg")
        err = json.loads(ws.recv(timeout=60))
        assert err["type"] == "error" and "not an image" in err["error"]
        ws.send(frame)
        assert json.loads(ws.recv(timeout=60))["type"] == "result"


def test_live_websocket_refuses_foreign_origin_and_survives_vanishing_clients(server, client, astronaut_face):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus):
        with connect(ws_url(server), origin="http://evil.example") as ws:
            ws.recv(timeout=10)
    frame = jpeg(compose_faces(astronaut_face, [(220, 120, 200)]))
    for _ in range(5):  # send a frame and vanish without reading the answer
        with connect(ws_url(server)) as ws:
            ws.send(frame)
    with connect(ws_url(server)) as ws:
        ws.send(frame)
        assert json.loads(ws.recv(timeout=60))["type"] == "result"
    assert_healthy(client)


# ---------------------------------------------------------------- EXIF
def test_uploads_are_turned_upright_by_their_exif_orientation(client, astronaut_face):
    """A phone photo stored sideways with an Orientation tag is analyzed (and emojified) the way it is shown."""
    upright = compose_faces(astronaut_face, [(380, 100, 200)])  # 640x480, the face right of the middle
    stored = np.ascontiguousarray(np.rot90(upright, k=1))  # 480 wide, 640 high: what the camera wrote
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: turn 90 degrees clockwise to show
    buf = io.BytesIO()
    Image.fromarray(stored).save(buf, "JPEG", quality=92, exif=exif.tobytes())
    r = client.post("/api/v1/analyze", content=buf.getvalue(), headers={"content-type": "image/jpeg"})
    assert r.status_code == 200, r.text
    rec = r.json()
    assert (rec["width"], rec["height"]) == (640, 480)
    assert len(rec["faces"]) == 1
    b = rec["faces"][0]["box"]
    assert 380 < b["x"] + b["width"] / 2 < 580 and 100 < b["y"] + b["height"] / 2 < 300, b
    e = client.post("/api/v1/emojify", content=buf.getvalue(), headers={"content-type": "image/jpeg"})
    assert e.status_code == 200
    assert Image.open(io.BytesIO(e.content)).size == (640, 480)


# ---------------------------------------------------------------- the command
def test_serve_command_prints_address_and_serves(astronaut):
    import signal

    from test_server_hostile import ServeProcess

    bad = run_facemoji("serve", "--queue-size", "0", timeout=120)
    assert bad.returncode == 1 and "queue-size" in bad.stderr and "Traceback" not in bad.stderr
    with ServeProcess("--max-upload-mb", "1") as srv:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            r = c.get("/healthz")
            assert r.status_code == 200 and r.json()["status"] == "ok"
            assert r.json()["limits"]["max_upload_bytes"] == 1024 * 1024
            noisy = np.random.default_rng(2).integers(0, 256, (700, 700, 3), dtype=np.uint8)
            over = png(noisy)  # about 1.4 MB
            assert len(over) > 1024 * 1024
            assert_json_error(c.post("/api/v1/analyze", content=over, headers={"content-type": "image/png"}), 413)
            assert_json_error(c.post("/api/v1/analyze", files={"file": ("n.png", over, "image/png")}), 413)
            under = jpeg(astronaut)
            assert len(under) < 1024 * 1024
            assert c.post("/api/v1/analyze", content=under).status_code == 200
        code, err = srv.stop(signal.SIGINT)  # Ctrl+C
    assert code == 0 and "server stopped" in err and "Traceback" not in err


# ---------------------------------------------------------------- covers and strict
def face_disc(out: np.ndarray, frac: float = 0.8) -> np.ndarray:
    """The pixels of ``out`` inside the middle of the astronaut's cover disc (``frac`` of its radius)."""
    x1, y1, x2, y2 = ASTRONAUT_BOX
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    r = np.hypot(x2 - x1, y2 - y1) * 1.08 / 2 * frac
    yy, xx = np.mgrid[: out.shape[0], : out.shape[1]]
    return out[(xx - cx) ** 2 + (yy - cy) ** 2 < r * r].astype(int)


def is_dark_uniform_disc(out: np.ndarray) -> bool:
    inside = face_disc(out)
    return bool(np.abs(inside - 24).max() <= 2)  # facemoji.overlay.cover.SOLID_COLOUR, drawn flat


def dark_pixels(out: np.ndarray) -> int:
    return int((np.abs(out.astype(int) - 24).max(axis=2) <= 2).sum())


def decoded(r: httpx.Response) -> np.ndarray:
    assert r.status_code == 200, r.text
    return np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))


def test_emojify_covers_and_strict_per_request(client, astronaut):
    data = png(astronaut)
    assert not is_dark_uniform_disc(astronaut)
    solid = decoded(client.post("/api/v1/emojify?cover=solid", content=data))
    assert is_dark_uniform_disc(solid)
    assert (solid[400:, :100] == astronaut[400:, :100]).all()  # only the face is covered
    # a form field works as well as the query parameter (which wins when both are given)
    form = decoded(client.post("/api/v1/emojify", files={"file": ("a.png", data, "image/png")}, data={"cover": "solid"}))
    assert np.array_equal(form, solid)
    both = decoded(client.post("/api/v1/emojify?cover=blur", files={"file": ("a.png", data, "image/png")},
                               data={"cover": "solid"}))
    assert not is_dark_uniform_disc(both)
    blur = decoded(client.post("/api/v1/emojify?cover=blur", content=data))
    pixelate = decoded(client.post("/api/v1/emojify?cover=pixelate", content=data))
    original = face_disc(astronaut)
    for out in (blur, pixelate):
        inside = face_disc(out)
        assert not is_dark_uniform_disc(out)
        assert np.abs(inside.mean(axis=0) - original.mean(axis=0)).max() < 25  # the face's colours, smeared
        assert np.abs(inside - original).mean() > 8  # ... not the face itself
    assert np.abs(face_disc(blur) - face_disc(pixelate)).mean() > 1
    # strict: the profile pass and padded covers (the disc grows by the padding)
    strict = decoded(client.post("/api/v1/emojify?cover=solid&strict=true", content=data))
    assert is_dark_uniform_disc(strict) and dark_pixels(strict) > dark_pixels(solid) * 1.1
    assert np.array_equal(decoded(client.post("/api/v1/emojify?cover=solid&strict=0", content=data)), solid)
    plain = client.post("/api/v1/analyze", content=data).json()
    for value in ("true", "1", "yes", "ON"):
        r = client.post(f"/api/v1/analyze?strict={value}&cover=blur", content=data)
        assert r.status_code == 200 and r.json()["faces"][0]["box"] == plain["faces"][0]["box"], r.text
    # a value the server does not know is refused with one line that lists the choices, never ignored
    for path in ("/api/v1/emojify", "/api/v1/analyze"):
        r = client.post(f"{path}?cover=bogus", content=data)
        assert_json_error(r, 400)
        assert "bogus" in r.json()["error"] and "pixelate" in r.json()["error"] and "\n" not in r.json()["error"]
        r = client.post(f"{path}?strict=maybe", content=data)
        assert_json_error(r, 400)
        assert "strict" in r.json()["error"] and "maybe" in r.json()["error"]
    r = client.post("/api/v1/emojify", files={"file": ("a.png", data, "image/png")}, data={"cover": "sparkles"})
    assert_json_error(r, 400)
    assert_healthy(client)


def test_docs_and_health_tell_the_covers(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/v1/analyze", "/api/v1/emojify"):
        params = {p["name"]: p for p in spec["paths"][path]["post"]["parameters"]}
        assert params["cover"]["in"] == "query" and params["cover"]["schema"]["enum"] == ["emoji", "blur",
                                                                                         "pixelate", "solid"]
        assert params["strict"]["in"] == "query" and params["strict"]["schema"]["type"] == "boolean"
    assert "cover" in spec["info"]["description"] and "strict" in spec["info"]["description"]
    h = client.get("/healthz").json()
    assert h["covers"] == ["emoji", "blur", "pixelate", "solid"]
    assert h["default_cover"] == "emoji" and h["default_strict"] is False
    page = client.get("/").text
    assert 'id="cover"' in page and 'id="strict"' in page and 'type="checkbox"' in page
    for cover in h["covers"]:
        assert f'value="{cover}"' in page


def test_one_loaded_copy_of_each_model_per_worker(astronaut):
    """Pipelines for strict requests are made when first asked for, from the models already loaded."""
    from facemoji.options import Options

    options = Options(detect_size=320, model="full", threads=1)
    srv = start_background(create_app(ServerConfig(options=options, live_detect_size=320, workers=1)))
    try:
        models = srv.server.config.app.state.models
        assert models.built == (("photo", False), ("frames", False))
        assert models.live.detector is models.photo.detector and models.live.classifier is models.photo.classifier
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            assert c.post("/api/v1/emojify?strict=true", content=png(astronaut)).status_code == 200
        strict = models.pipeline("photo", True)
        assert models.built == (("photo", False), ("frames", False), ("photo", True))
        assert strict.options.strict and strict.detector is models.photo.detector
        assert strict.classifier is models.photo.classifier and strict.emoji is models.photo.emoji
    finally:
        srv.stop()


def test_live_websocket_honours_cover_and_strict(server, astronaut_face):
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    frame = jpeg(compose_faces(astronaut_face, [(220, 120, 200)]))

    def result(ws) -> dict:
        ws.send(frame)
        msg = json.loads(ws.recv(timeout=60))
        assert msg["type"] == "result", msg
        return msg

    with connect(ws_url(server) + "?cover=solid") as ws:
        first = result(ws)
        assert first["cover"] == "solid" and first["strict"] is False and len(first["faces"]) == 1
        b, c = first["faces"][0]["box"], first["faces"][0]["cover_box"]
        # not strict: the cover reaches a tenth of the face past its box on every side
        assert c["width"] == pytest.approx(1.2 * b["width"], abs=0.2)
        assert c["height"] == pytest.approx(1.2 * b["height"], abs=0.2)
        plain = c
        # a settings message changes the connection's options for the frames after it
        ws.send(json.dumps({"cover": "blur", "strict": True}))
        assert json.loads(ws.recv(timeout=60)) == {"type": "settings", "cover": "blur", "strict": True}
        second = result(ws)
        assert second["cover"] == "blur" and second["strict"] is True
        b, c = second["faces"][0]["box"], second["faces"][0]["cover_box"]
        assert c["width"] > b["width"] * 1.25 and c["height"] > b["height"] * 1.25  # strict pads the cover more
        assert c["width"] / b["width"] > plain["width"] / first["faces"][0]["box"]["width"]
        assert abs(c["x"] + c["width"] / 2 - b["x"] - b["width"] / 2) < 1
        # a bad settings message is refused, and the connection keeps its options
        for bad, word in (('{"cover": "bogus"}', "bogus"), ('{"strict": "maybe"}', "maybe"),
                          ('{"colour": "red"}', "colour"), ("not json", "cover")):
            ws.send(bad)
            err = json.loads(ws.recv(timeout=60))
            assert err["type"] == "error" and word in err["error"], err
        third = result(ws)
        assert third["cover"] == "blur" and third["strict"] is True
    with connect(ws_url(server) + "?strict=1") as ws:
        assert result(ws)["strict"] is True
    # an unknown cover in the address: one error message, then the socket is closed (1008)
    with connect(ws_url(server) + "?cover=bogus") as ws:
        err = json.loads(ws.recv(timeout=30))
        assert err["type"] == "error" and "bogus" in err["error"] and "solid" in err["error"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_serve_cover_solid_is_the_servers_default(astronaut):
    """`facemoji serve --cover solid`: the API and the page hide faces with a dark disc unless a request asks for
    another cover."""
    from websockets.sync.client import connect

    from test_server_hostile import ServeProcess

    data = png(astronaut)
    with ServeProcess("--cover", "solid", "--workers", "1") as srv:
        with httpx.Client(base_url=srv.url, timeout=60) as c:
            h = c.get("/healthz").json()
            assert h["default_cover"] == "solid" and h["default_strict"] is False
            solid = decoded(c.post("/api/v1/emojify", content=data, headers={"content-type": "image/png"}))
            assert is_dark_uniform_disc(solid)
            blur = decoded(c.post("/api/v1/emojify?cover=blur", content=data, headers={"content-type": "image/png"}))
            assert not is_dark_uniform_disc(blur)
            assert np.abs(face_disc(blur).mean(axis=0) - face_disc(astronaut).mean(axis=0)).max() < 25
            emoji = decoded(c.post("/api/v1/emojify?cover=emoji", content=data))
            assert not is_dark_uniform_disc(emoji)
            r = c.post("/api/v1/emojify?cover=bogus", content=data)
            assert_json_error(r, 400)
            assert "bogus" in r.json()["error"]
            spec = c.get("/openapi.json").json()
            params = {p["name"]: p for p in spec["paths"]["/api/v1/emojify"]["post"]["parameters"]}
            assert params["cover"]["schema"]["default"] == "solid"
        with connect(srv.url.replace("http://", "ws://") + "ws/live") as ws:
            ws.send(jpeg(astronaut))
            assert json.loads(ws.recv(timeout=60))["cover"] == "solid"
        code, err = srv.stop()
    assert code == 0, err


def test_serve_options_are_honoured_or_refused():
    """Every flag of the shared option group is one the server honours; a bad value is exit status 2."""
    import argparse

    from facemoji.cli import serve
    from facemoji.options import Options

    parser = argparse.ArgumentParser()
    serve.add_parser(parser.add_subparsers())
    sub = parser._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    group = next(g for g in sub._action_groups if g.title == "detection and drawing")
    dests = {a.dest for a in group._group_actions}
    assert {"cover", "strict", "mode", "model", "detect_size"} <= dests
    assert dests <= set(serve.HONOURED) and set(serve.HONOURED) <= set(Options.names())
    args = sub.parse_args(["--cover", "pixelate", "--strict", "--detect-size", "480", "--live-detect-size", "256"])
    opts = Options.from_args(args)
    assert (opts.cover, opts.strict, opts.detect_size, opts.threads) == ("pixelate", True, 480, 1)
    for bad, word in ((["--cover", "bogus"], "cover"), (["--live-detect-size", "8"], "live-detect-size"),
                      (["--threshold", "2"], "threshold")):
        r = run_facemoji("serve", "--port", "0", *bad, timeout=120)
        assert r.returncode == 2 and word in r.stderr and "Traceback" not in r.stderr, (bad, r.stderr)
