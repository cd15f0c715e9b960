"""Mutation testing of the runtime with Cosmic Ray: does the suite notice when the code is broken?

Cosmic Ray changes one place of one module on disk (``<`` to ``<=``, ``and`` to ``or``, a number, a ``not``...),
runs the tests that cover the module, and puts the mutant back. It changes the files themselves, so the many
tests that run ``python -m facemoji`` in a subprocess test the mutant too. It works in a COPY of the repository
(the working tree is never touched), with ``PYTHONPATH`` pointing at the copy's ``src`` and no byte-code cache.

What is mutated, with which tests and operators, is set in ``pyproject.toml`` under ``[tool.facemoji.mutation]``:
``modules`` names each module's tests as they were at its first run, ``added`` the tests written since to kill
its survivors (run first, as they are quick).
Mutants that change nothing a user can observe are listed with the reason in ``benchmarks/mutation/equivalent.toml``.
Each module's figures go to ``benchmarks/mutation/<module>.json``, and the whole report to
``benchmarks/mutation/report.md``. A module takes minutes to an hour on two cores: run it in the background.

    python benchmarks/mutation.py --list                      # the modules, their tests and mutant counts
    python benchmarks/mutation.py src/facemoji/stream/track.py  # one module (a session under --workdir)
    python benchmarks/mutation.py                             # every module, one after another
    python benchmarks/mutation.py --resume MODULE             # go on with an interrupted session
    python benchmarks/mutation.py --retest MODULE             # run the survivors again (after new tests)
    python benchmarks/mutation.py MODULE --sample 50          # 50 of its mutants, drawn at random (seed 0)
    python benchmarks/mutation.py --record after MODULE       # count a session again (equivalents changed)
    python benchmarks/mutation.py --report                    # rebuild report.md from the JSON files

``--retest`` keeps the earlier run's figures as "before" in the JSON and records the new ones as "after".
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "mutation"


def settings() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["facemoji"]["mutation"]


def slug(module: str) -> str:
    return module.removeprefix("src/facemoji/").removesuffix(".py").replace("/", ".")


def copy_repo(work: Path) -> Path:
    """A fresh copy of the tracked and untracked (not ignored) files, with ``../shared`` beside it."""
    repo = work / "repo"
    if repo.exists():
        shutil.rmtree(repo)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            dst = repo / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    shared = work / "shared"
    if not shared.exists():
        shared.symlink_to((ROOT.parent / "shared").resolve())
    return repo


def tests_for(module: str, conf: dict, added: bool) -> list[str]:
    """The module's tests: those of ``[tool.facemoji.mutation.modules]``, after the ones written since its first
    run (``[tool.facemoji.mutation.added]``, first: they are the quick ones) unless this is that first run."""
    extra = conf.get("added", {}).get(module, []) if added else []
    return [*extra, *(t for t in conf["modules"][module] if t not in extra)]


def write_config(work: Path, repo: Path, module: str, conf: dict, added: bool = True) -> Path:
    tests = " ".join(tests_for(module, conf, added))
    command = (f"env PYTHONDONTWRITEBYTECODE=1 PYTHONPATH={repo / 'src'} {sys.executable} -m pytest -x -q "
               f"-p no:cacheprovider -p no:randomly {tests}")
    excluded = ", ".join(json.dumps(e) for e in conf["exclude-operators"])
    path = work / f"{slug(module)}.toml"
    path.write_text(
        "[cosmic-ray]\n"
        f"module-path = {json.dumps(module)}\n"
        f"timeout = {float(conf['timeout'])}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(command)}\n\n"
        "[cosmic-ray.distributor]\nname = \"local\"\n\n"
        "[cosmic-ray.filters.operators-filter]\n"
        f"exclude-operators = [{excluded}]\n")
    return path


def cosmic(*args: str, repo: Path, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cosmic_ray.cli", *args], cwd=repo, **kw)


def init_session(config: Path, session: Path, repo: Path) -> None:
    """A new session of every mutant of the module, those of the excluded operators marked skipped."""
    session.unlink(missing_ok=True)
    cosmic("init", str(config), str(session), repo=repo, check=True)
    subprocess.run([sys.executable, "-m", "cosmic_ray.tools.filters.operators_filter", str(session), str(config)],
                   cwd=repo, check=True)


def open_db(session: Path):
    from cosmic_ray.work_db import WorkDB, use_db
    return use_db(str(session), WorkDB.Mode.open)


def counts(session: Path) -> tuple[int, int]:
    """(mutants to run, results so far) — skipped operators excluded."""
    with open_db(session) as db:
        done = [r for _, r in db.results]
        skipped = sum(r.worker_outcome == "skipped" for r in done)
        return db.num_work_items - skipped, len(done) - skipped


def watch(session: Path, stop: threading.Event, label: str) -> None:
    """A progress bar with ETA while Cosmic Ray works (it prints none of its own)."""
    from tqdm import tqdm
    total, done = counts(session)
    with tqdm(total=total, initial=done, desc=label, unit="mutant", dynamic_ncols=True) as bar:
        while not stop.wait(5):
            _, now = counts(session)
            bar.update(now - bar.n)
        bar.update(counts(session)[1] - bar.n)


def run_session(repo: Path, config: Path, session: Path, label: str) -> None:
    stop = threading.Event()
    bar = threading.Thread(target=watch, args=(session, stop, label), daemon=True)
    bar.start()
    try:
        cosmic("exec", str(config), str(session), repo=repo, check=True)
    finally:
        stop.set()
        bar.join()


def equivalents() -> list[dict]:
    path = OUT / "equivalent.toml"
    return tomllib.loads(path.read_text()).get("equivalent", []) if path.exists() else []


def mutated_line(repo: Path, m) -> str:
    """The mutated text of mutant ``m``'s line, made again (for a result stored without its diff)."""
    import cosmic_ray.plugins
    from cosmic_ray.mutating import use_mutation

    tmp = Path(tempfile.mkdtemp()) / "m.py"
    shutil.copy(repo / m.module_path, tmp)
    try:
        with use_mutation(tmp, cosmic_ray.plugins.get_operator(m.operator_name)(), m.occurrence) as (_, code):
            return (code or "").splitlines()[m.start_pos[0] - 1].strip() if code else ""
    finally:
        shutil.rmtree(tmp.parent)


def survivor_rows(session: Path, repo: Path) -> tuple[dict, list[dict]]:
    """Outcome counts, and one row per surviving mutant (line, operator, code, whether listed equivalent)."""
    eq = equivalents()
    tally = {"generated": 0, "killed": 0, "timeout": 0, "incompetent": 0, "survived": 0, "equivalent": 0}
    rows = []
    sources: dict[str, list[str]] = {}
    with open_db(session) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome in ("skipped", "no-test"):
                continue
            tally["generated"] += 1
            m = item.mutations[0]
            if result.test_outcome == "survived":
                module = str(m.module_path)
                if module not in sources:
                    sources[module] = (repo / module).read_text().splitlines()
                line = sources[module][m.start_pos[0] - 1].strip()
                mutated = "\n".join(ln[1:].strip() for ln in (result.diff or "").splitlines()
                                     if ln.startswith("+") and not ln.startswith("+++")) or mutated_line(repo, m)
                why = next((e["reason"] for e in eq if e["module"] == module and e["operator"] == m.operator_name
                            and e["code"] == line and e.get("mutant", "") in mutated), None)
                tally["equivalent" if why else "survived"] += 1
                rows.append({"file": module, "line": m.start_pos[0], "operator": m.operator_name.removeprefix("core/"),
                             "occurrence": m.occurrence, "code": line, "equivalent": why, "job": item.job_id})
            elif result.output == "timeout":
                tally["timeout"] += 1
            elif result.test_outcome == "incompetent":
                tally["incompetent"] += 1
            else:
                tally["killed"] += 1
    return tally, sorted(rows, key=lambda r: (r["file"], r["line"], r["operator"]))


def score(t: dict) -> float:
    real = t["generated"] - t["equivalent"]
    return 100.0 * (real - t["survived"]) / real if real else 100.0


def sample(session: Path, keep: int, seed: int = 0) -> int:
    """Leave ``keep`` mutants, drawn at random (the same for a given seed), for ``exec`` to run; the others are
    recorded as skipped. Returns how many mutants there were to draw from."""
    import random

    from cosmic_ray.work_item import WorkerOutcome, WorkResult
    with open_db(session) as db:
        pending = sorted(item.job_id for item in db.pending_work_items)
        if keep < len(pending):
            drop = set(pending) - set(random.Random(seed).sample(pending, keep))
            db.set_multiple_results(sorted(drop), WorkResult(worker_outcome=WorkerOutcome.SKIPPED,
                                                             output="not in the sample"))
    return len(pending)


def record(module: str, session: Path, repo: Path, phase: str, seconds: float, population: int | None) -> dict:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{slug(module)}.json"
    data = json.loads(path.read_text()) if path.exists() else {"module": module}
    tally, rows = survivor_rows(session, repo)
    conf = settings()
    if population is None:
        population = data.get("before", {}).get("of")
    data[phase] = {**tally, "score": round(score(tally), 1), "seconds": round(seconds), "of": population,
                   "tests": tests_for(module, conf, phase == "after"), "when": time.strftime("%Y-%m-%d %H:%M")}
    data.pop("survivors", None)
    data[f"survivors {phase}"] = rows
    path.write_text(json.dumps(data, indent=1) + "\n")
    return data


def retest(session: Path) -> None:
    """Forget the survivors' results so that ``exec`` runs them again."""
    import sqlite3
    con = sqlite3.connect(session)
    with con:
        con.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED' OR test_outcome = 'survived'")
    con.close()


def one(module: str, work: Path, how: str, keep: int | None, after: bool = False) -> None:
    conf = settings()
    session = work / f"{slug(module)}.sqlite"
    prior = OUT / f"{slug(module)}.json"
    done_before = prior.exists() and "before" in json.loads(prior.read_text())
    fresh = how == "new" or not session.exists()
    if how == "retest" and not done_before:
        sys.exit(f"{module}: no earlier run recorded to compare with")
    # a first run uses the tests of its day; a resumed one, those of the run it goes on with
    phase = ("after" if after else "before") if fresh else ("after" if how == "retest" or done_before else "before")
    repo = copy_repo(work)
    config = write_config(work, repo, module, conf, added=phase == "after")
    t0 = time.monotonic()
    population = None
    if fresh:
        init_session(config, session, repo)
        population = sample(session, keep) if keep else None
        base = cosmic("baseline", str(config), repo=repo, capture_output=True, text=True)
        if base.returncode:
            sys.exit(f"{module}: the tests fail on the unmutated copy:\n{base.stdout[-2000:]}{base.stderr[-2000:]}")
    elif how == "retest":
        retest(session)
    run_session(repo, config, session, slug(module))
    data = record(module, session, repo, phase, time.monotonic() - t0, population)
    print(f"{module}: {data[phase]}")
    report()


def rerecord(module: str, work: Path, phase: str) -> None:
    """Count a session again (after equivalent.toml changed, or a run was stopped part-way) without running it."""
    path = OUT / f"{slug(module)}.json"
    old = json.loads(path.read_text()).get(phase, {}) if path.exists() else {}
    data = record(module, work / f"{slug(module)}.sqlite", work / "repo", phase, old.get("seconds", 0),
                  old.get("of"))
    print(f"{module}: {data[phase]}")
    report()


def report() -> None:
    rows, survivors = [], []
    for path in sorted(OUT.glob("*.json")):
        d = json.loads(path.read_text())
        for phase in ("before", "after"):
            if phase in d:
                t = d[phase]
                drawn = f"{t['generated']} of {t['of']}" if t.get("of") else f"{t['generated']}"
                rows.append(f"| `{d['module']}` | {phase} | {drawn} | {t['killed']} | {t['timeout']} | "
                            f"{t['incompetent']} | {t['survived']} | {t['equivalent']} | **{t['score']:.1f} %** | "
                            f"{t['seconds'] // 60} min |")
        latest = "after" if "after" in d else "before"
        for r in d.get(f"survivors {latest}", []):
            why = f"equivalent: {r['equivalent']}" if r["equivalent"] else "**survives**"
            where = r.get("file", d["module"]).removeprefix("src/facemoji/")
            code = r["code"][:70].replace("|", "\\|")  # a pipe would end the table's cell
            survivors.append(f"| `{where}`:{r['line']} | {r['operator']} | `{code}` | {why} |")
    conf = settings()
    text = [
        "# Mutation report",
        "",
        "Made by `python benchmarks/mutation.py` (Cosmic Ray 8.7 on a copy of the repository; see the script's "
        "docstring). *Before* is a module's first run, with the tests of that day; *after* runs its survivors again "
        "with the tests added since. The score counts killed, timed-out and incompetent mutants (the tests stopped "
        "them) against all mutants that are not equivalent. A survivor is *equivalent* when no user can observe it "
        "(`benchmarks/mutation/equivalent.toml` gives each reason): the same output, a type annotation, or a change "
        "below what anyone can see (one level in 255 of a colour, a pixel of a label's place). A test that kills "
        "such a mutant anyway wins: it counts as killed.",
        "",
        f"Operators: Cosmic Ray's core set less {len(conf['exclude-operators'])} excluded patterns (pyproject.toml): "
        "each arithmetic operator is replaced by its inverse only, each comparison by its boundary twin and its "
        "negation, and the variable replacer and inserter are off.",
        "",
        "| module | run | mutants | killed | timed out | incompetent | survived | equivalent | score | time |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "## Surviving and equivalent mutants",
        "",
        "Of each module's latest run.",
        "",
        "| where | operator | code | verdict |",
        "|---|---|---|---|",
        *survivors,
        "",
    ]
    (OUT / "report.md").write_text("\n".join(text))


def list_modules(work: Path) -> None:
    conf = settings()
    repo = copy_repo(work)
    for module in conf["modules"]:
        config = write_config(work, repo, module, conf)
        session = work / f"count-{slug(module)}.sqlite"
        init_session(config, session, repo)
        print(f"{module:40s} {counts(session)[0]:5d} mutants   {' '.join(tests_for(module, conf, True))}")
        session.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("modules", nargs="*", help="modules to mutate (default: every module in pyproject.toml)")
    ap.add_argument("--workdir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "facemoji-mutation")
    group = ap.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true", help="go on with the existing session")
    group.add_argument("--retest", action="store_true", help="run the survivors of the existing session again")
    group.add_argument("--report", action="store_true", help="only rebuild report.md")
    group.add_argument("--list", action="store_true", help="list modules, tests and mutant counts")
    group.add_argument("--record", choices=("before", "after"), help="count the session in --workdir again as this run")
    ap.add_argument("--after", action="store_true", help="record a new run as 'after' (with the tests added since)")
    ap.add_argument("--sample", type=int, metavar="N", help="run N mutants drawn at random (seed 0), not all")
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.report:
        return report()
    if args.list:
        return list_modules(args.workdir)
    known = settings()["modules"]
    if args.record:
        for module in args.modules:
            rerecord(module, args.workdir, args.record)
        return None
    for module in args.modules or list(known):
        if module not in known:
            sys.exit(f"{module}: not in [tool.facemoji.mutation.modules] of pyproject.toml")
        one(module, args.workdir, "retest" if args.retest else "resume" if args.resume else "new", args.sample, args.after)


if __name__ == "__main__":
    main()
