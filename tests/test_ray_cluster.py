"""``facemoji batch --engine ray`` on a real two-node Ray cluster started with ``ray start`` (token authentication),
with the second node killed (``kill -9``, every process of that node) while it holds an item.

The cluster is two ``ray start`` processes on this machine, each a node of its own (its own session and temporary
folder, one CPU, a 100 MB object store), both with ``RAY_AUTH_MODE=token`` and the token in a file named by
``RAY_AUTH_TOKEN_PATH``; the ``facemoji batch`` command joins it as a user would, by address, with the same two
variables. Every process a node starts (raylet, agents, Ray workers, the actors) stays in the session of its
``ray start``, so a node is killed, and the cluster torn down, by session id: only the processes this test started,
never another test's Ray (``ray stop --force`` would kill every Ray on the machine).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from batch_corpus import GOOD_PHOTOS, GOOD_VIDEOS, face_rows, make_corpus, run_cli, summary
from conftest import facemoji_command, run_facemoji
from facemoji.batch.schema import item_id

pytest.importorskip("ray")

# a hung cluster fails the test instead of stalling the run; the fixture's teardown still kills both nodes
# (the signal method raises in the test, so that the fixture's finally still runs; the thread method would exit)
pytestmark = [pytest.mark.timeout(420, method="signal"), pytest.mark.slow]

RAY_CLI = [sys.executable, "-c", "import sys; from ray.scripts.scripts import main; sys.exit(main())"]
EXTRA_VIDEOS = ("clips/more/zoom.mp4", "clips/more/crossing.mp4")  # two more clips: each node's actor gets two
ITEMS = set(GOOD_PHOTOS) | set(GOOD_VIDEOS) | set(EXTRA_VIDEOS)
# a dead node is noticed after 3 missed health checks a second apart (Ray's default is 5 of 3 s)
HEAD_SYSTEM_CONFIG = {"health_check_period_ms": 1000, "health_check_failure_threshold": 3}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _session_pids(sid: int) -> list[int]:
    """The processes of session ``sid`` (field 6 of /proc/PID/stat), this test's own process left out."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z" and int(stat.parent.name) != os.getpid():
            pids.append(int(stat.parent.name))
    return pids


def _kill_session(sid: int, timeout: float = 30) -> None:
    """SIGKILL every process of session ``sid`` (the raylet first, so that it starts no new worker)."""
    deadline = time.monotonic() + timeout
    while pids := _session_pids(sid):
        pids.sort(key=lambda p: b"raylet" not in _cmdline(p))
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise AssertionError(f"session {sid} still has processes {pids}")
        time.sleep(0.1)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _open_temporaries(pids: list[int], outdir: Path) -> list[str]:
    """The hidden media temporaries under ``outdir`` these processes hold open: a picture or video in progress."""
    held = []
    for p in pids:
        try:
            fds = list(Path(f"/proc/{p}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            name = Path(target).name
            if target.startswith(f"{outdir}/") and name.startswith(".") and name.endswith((".part", ".part.mp4")):
                held.append(target)
    return held


def _node_ip() -> str:
    from ray._private.services import get_node_ip_address

    return get_node_ip_address()


class TwoNodes:
    """A head and a second node, each started by ``ray start`` in a session of its own."""

    def __init__(self, root: Path) -> None:
        self.root = root
        token = root / "token"
        # the token a cluster's operator makes: `ray get-auth-token --generate` writes ~/.ray/auth_token (here an
        # empty HOME of the test's own, so that the machine's own token is neither read nor written)
        home = root / "home"
        home.mkdir()
        gen = subprocess.run([*RAY_CLI, "get-auth-token", "--generate"], capture_output=True, text=True,
                             timeout=60, env={**os.environ, "HOME": str(home)})
        assert gen.returncode == 0, gen.stderr
        assert (home / ".ray/auth_token").read_text() == gen.stdout
        shutil.copyfile(home / ".ray/auth_token", token)
        self.token = gen.stdout
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_AUTH", "RAY_ADDRESS"))}
        self.env = {**env, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
        self.port = _free_port()
        self.address = f"{_node_ip()}:{self.port}"
        self.sids: dict[str, int] = {}
        self.temps: list[str] = []

    def start(self, name: str, *args: str) -> None:
        # Ray's sockets live under --temp-dir, and AF_UNIX paths are short: a short folder of our own in /tmp
        temp = tempfile.mkdtemp(prefix=f"fmray-{name}-", dir="/tmp")
        self.temps.append(temp)
        cmd = [*RAY_CLI, "start", *args, "--num-cpus=1", "--object-store-memory=100000000",
               f"--temp-dir={temp}", f"--dashboard-agent-listen-port={_free_port()}", "--disable-usage-stats"]
        proc = subprocess.Popen(cmd, env=self.env, start_new_session=True, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        self.sids[name] = proc.pid  # a session leader's pid is its session id; its daemons stay in it
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out[-3000:]

    def pids(self, name: str) -> list[int]:
        return _session_pids(self.sids[name])

    def kill(self, name: str) -> None:
        _kill_session(self.sids[name])

    def shutdown(self) -> None:
        for name in list(self.sids)[::-1]:
            _kill_session(self.sids[name])
        for temp in self.temps:
            shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = TwoNodes(tmp_path_factory.mktemp("cluster"))
    try:
        c.start("head", "--head", f"--port={c.port}", "--include-dashboard=false",
                f"--system-config={json.dumps(HEAD_SYSTEM_CONFIG)}")
        c.start("node", f"--address={c.address}")
        yield c
    finally:
        c.shutdown()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """The batch corpus's good files (four photos, two clips) and two more clips: eight items, four videos."""
    from videos import astronaut_crop, crossing, make_clip, zoom

    root = make_corpus(tmp_path_factory.mktemp("ray_cluster") / "corpus")
    shutil.rmtree(root / "broken")
    (root / "clips/more").mkdir()
    face = astronaut_crop()

    def half(layout, n):  # the 640x480 layouts on 320x240 frames
        return lambda i, t: [(x // 2, y // 2, side // 2) for x, y, side in layout(i, t, n)]

    make_clip(root / EXTRA_VIDEOS[0], [face], half(zoom, 20), frames=20, fps=8, size=(320, 240))
    make_clip(root / EXTRA_VIDEOS[1], [face, face[:, ::-1]], half(crossing, 18), frames=18, fps=8, size=(320, 240))
    return root


def test_token_is_required_to_join(cluster: TwoNodes) -> None:
    """The cluster really is token-authenticated: with the token but without RAY_AUTH_MODE=token, turned away."""
    env = {k: v for k, v in cluster.env.items() if k != "RAY_AUTH_MODE"}
    r = subprocess.run([*RAY_CLI, "status", f"--address={cluster.address}"], capture_output=True, text=True,
                       env={**env, "RAY_gcs_rpc_server_reconnect_timeout_s": "3"}, timeout=120)
    assert r.returncode != 0
    assert "InvalidAuthToken" in r.stdout + r.stderr, (r.stdout + r.stderr)[-2000:]


def test_a_node_killed_mid_batch_loses_and_duplicates_nothing(cluster: TwoNodes, corpus: Path,
                                                              tmp_path: Path) -> None:
    import pandas as pd

    local, out = tmp_path / "local", tmp_path / "ray"
    r_local = run_cli(["batch", str(corpus), "-o", str(local), "-j", "2", "-q"], timeout=300)
    assert r_local.returncode == 0, r_local.stderr

    env = {**cluster.env, "PYTHONUNBUFFERED": "1",
           # the pool waits for both its actors before it deals out items (else the first actor up takes the
           # first items, and the second node's actor may start only on photos)
           "RAY_DATA_DEFAULT_WAIT_FOR_MIN_ACTORS_S": "120"}
    start = time.monotonic()
    proc = subprocess.Popen(facemoji_command("batch", corpus, "-o", out, "--engine", "ray", "--address",
                                             cluster.address),
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        # the moment: some item finished (on either node), and the second node's actor holds a video's temporary
        # output open, that is, it is part-way through an item. Each node's actor is dealt two of the four
        # videos at the start, so the second node holds one when the first item of the batch finishes.
        deadline = time.monotonic() + 150
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the batch ended (status {proc.returncode}) before the node was killed: "
                            f"{proc.stderr.read()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the second node never held an item while another was finished")
            done = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "summary").glob("part-*.parquet")}
            held = _open_temporaries(cluster.pids("node"), out)
            if done and held:
                break
            time.sleep(0.01)
        node_pids = cluster.pids("node")
        cluster.kill("node")
        killed_at = time.monotonic() - start
        assert len(done) < len(ITEMS)
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    seconds = time.monotonic() - start
    print(f"killed the node at {killed_at:.1f} s holding {held} with {len(done)} item(s) done; "
          f"batch ended at {seconds:.1f} s, status {proc.returncode}")
    assert proc.returncode == 0, err[-3000:]
    assert "Traceback" not in err
    assert f"{len(ITEMS)} item(s): {len(ITEMS)} processed" in err, err[-2000:]
    assert "2 workers" in err  # one actor per CPU: both nodes were in the cluster

    # every item once, and the rows of the local engine
    s, ref = summary(out), summary(local)
    assert set(s.index) == ITEMS == set(ref.index)
    assert (s.status == "ok").all(), s.error
    assert (s.faces == ref.faces).all()
    assert len(list((out / "summary").glob("part-*.parquet"))) == len(ITEMS)
    assert len(list((out / "faces").glob("part-*.parquet"))) == len(ITEMS)
    fa, fb = face_rows(local), face_rows(out)
    assert not fb.duplicated(["relpath", "frame", "face"]).any()
    assert len(fa) == len(fb) > 0
    cols = ["relpath", "kind", "frame", "face", "track_id", "emotion"]
    pd.testing.assert_frame_equal(fa[cols], fb[cols])  # (NaN track ids of photos compare equal here)
    assert np.nanmax(np.abs(fa[["x", "y", "width", "height"]].values - fb[["x", "y", "width", "height"]].values)) < 1
    for rel in s.output:
        assert (out / rel).is_file(), rel

    # the item the dead node held was redone by an actor of the head; what was finished stayed as it was
    held_rel = {rel for rel in ITEMS if any(Path(h).name.startswith(f".{Path(rel).name}.") and
                                            Path(h).parent == (out / rel).parent for h in held)}
    assert held_rel, held
    for rel in held_rel:
        worker_pid = int(s.loc[rel, "worker"].rsplit(":", 1)[1])
        assert worker_pid not in node_pids, (rel, s.loc[rel, "worker"])  # (the pool's actors end with the run)
    after = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "summary").glob("part-*.parquet")}
    head_done = {f"part-{item_id(rel)}.parquet" for rel in s.index
                 if int(s.loc[rel, "worker"].rsplit(":", 1)[1]) not in node_pids}
    for name, stat in done.items():
        if name in head_done:
            assert after[name] == stat, name  # finished on the head before the kill: not processed again
    # what the dead node left is its item's hidden temporary; the same command again does nothing but clear it
    leftovers = {str(p) for p in out.rglob(".*") if p.name != ".facemoji-batch.lock"}
    assert leftovers <= set(held), leftovers
    again = run_facemoji("batch", corpus, "-o", out, "--engine", "ray", "--address", cluster.address,
                         env=cluster.env, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"{len(ITEMS)} item(s): 0 processed, {len(ITEMS)} finished earlier" in again.stderr
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (out / "summary").glob("part-*.parquet")} == after
    assert not [p for p in out.rglob(".*") if p.name != ".facemoji-batch.lock"]
