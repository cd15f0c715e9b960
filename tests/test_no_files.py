"""Nothing is written outside the outputs asked for: the command line and the server with an empty home folder."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
from PIL import Image

from conftest import run_facemoji
from test_server_hostile import ServeProcess, jpeg


def isolated_env(tmp_path: Path) -> tuple[dict[str, str], list[Path]]:
    """An environment whose home, cache, config and temporary folders are empty folders of their own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    folders = {"HOME": tmp_path / "home", "TMPDIR": tmp_path / "tmp"}
    for name, folder in folders.items():
        folder.mkdir()
        env[name] = str(folder)
    for var in ("MPLCONFIGDIR", "RAY_TMPDIR", "ORT_DISABLE_TELEMETRY"):  # nothing set for us from outside
        env.pop(var, None)
    return env, list(folders.values())


def written(folders: list[Path]) -> list[str]:
    return sorted(str(p) for folder in folders for p in folder.rglob("*"))


def test_image_command_writes_only_its_output(tmp_path, astronaut):
    env, watched = isolated_env(tmp_path)
    src = tmp_path / "in" / "astronaut.jpg"
    src.parent.mkdir()
    Image.fromarray(astronaut).save(src)
    out = tmp_path / "out"
    out.mkdir()
    r = run_facemoji("image", src, "-o", out, "--json", out / "faces.json", "-q", env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["astronaut.jpg", "faces.json"]
    assert written(watched) == []  # no telemetry store, font cache, temporary file ...


def test_server_writes_nothing(tmp_path, astronaut):
    env, watched = isolated_env(tmp_path)
    with ServeProcess(env=env) as srv:
        with httpx.Client(base_url=srv.url, timeout=120) as c:
            assert c.get("/").status_code == 200
            r = c.post("/api/v1/analyze", files={"file": ("a.jpg", jpeg(astronaut), "image/jpeg")})
            assert r.status_code == 200 and len(r.json()["faces"]) == 1
            assert c.post("/api/v1/emojify", content=jpeg(astronaut)).status_code == 200
        code, err = srv.stop(signal.SIGTERM)
    assert code == 0, err
    assert written(watched) == []
