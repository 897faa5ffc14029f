"""Issue 15 latency figures: what a coordinator waits for, whole process, on the demo data (the shipped agreements).

    .venv/bin/python -m bench.latency            # prints the rows; bench/run.py adds them to its goals table

CLI figures are the wall time of a fresh `coop …` process, median of 5. The UI figures run the real `python -m
coop.ui` (what `make ui` runs) on a fresh PREFECT_HOME, three times: ready = until it prints that the UI is up;
click → Completed = a plan-agreement run created through the Prefect API (what the run button does) until its state
is Completed. Measured as installed: `make install` byte-compiles the project and prepares Prefect's own database
schema once (`python -m coop.ui --prepare`); both are done here first if missing, outside the timings.
Everything lives in a temporary folder (SQLite database, Prefect home, inbox); nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import compileall
import os
import queue
import resource
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
AGREEMENT = "agreements/yugang-social-work-2024.yaml"
REPEATS = 5
UI_STARTS = 3
UI_TIMEOUT_S = 300.0
RUN_TIMEOUT_S = 240.0
CPU_TIMES: list[float] = []

# (key, figure, goal in seconds)
GOALS: list[tuple[str, str, float]] = [
    ("status", "`coop status`", 1.0),
    ("plan_unchanged", f"`coop plan {AGREEMENT}` unchanged", 3.0),
    ("done", "`coop done <id> --department …`", 2.0),
    ("sweep", "`coop sweep`", 4.0),
    ("notify", "`coop notify` (unconfigured channels → local inbox)", 4.0),
    ("ui_click_completed", "UI: click → Completed, plan-agreement re-plan (API run → worker → Completed)", 10.0),
    (
        "ui_ready",
        "`make ui` ready on a fresh PREFECT_HOME (`python -m coop.ui` until it prints the URL; Prefect's schema"
        " prepared by `make install`)",
        20.0,
    ),
]


def _env(work: Path, prefect_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "COOP_"))}
    env.update(
        COOP_DATABASE_URL=f"sqlite:///{work / 'coop.db'}",
        COOP_INBOX_DIR=str(work / "inbox"),
        PREFECT_HOME=str(prefect_home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
    )
    return env


def _coop(env: dict[str, str], *args: str) -> float:
    """Wall time of one `coop …` process; its CPU time (user + system) goes to CPU_TIMES."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).with_name("coop")), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_TIMES.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"coop {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed


def _open_tasks(work: Path, count: int) -> list[tuple[int, str]]:
    with sqlite3.connect(work / "coop.db") as db:
        rows = db.execute(
            "SELECT o.id, a.name || '/' || d.name FROM occurrence o JOIN department d ON d.id = o.department_id "
            "JOIN agency a ON a.id = d.agency_id WHERE o.status IN ('due', 'overdue') ORDER BY o.id LIMIT ?",
            (count,),
        ).fetchall()
    return [(int(i), str(name)) for i, name in rows]


def _summary(times: list[float], cpu: list[float] | None = None) -> dict[str, Any]:
    print(f" [{' '.join(f'{t:.2f}' for t in times)}]", end="", flush=True)
    out = {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "n": len(times)}
    if cpu:
        out["cpu_s"] = statistics.median(cpu)
    return out


def _timed(env: dict[str, str], runs: list[tuple[str, ...]]) -> dict[str, Any]:
    """Each run of `coop …` in turn: wall and CPU medians (CPU tells load on a shared box apart from work)."""
    CPU_TIMES.clear()
    walls = [_coop(env, *args) for args in runs]
    return _summary(walls, list(CPU_TIMES))


def cli_figures(work: Path, repeats: int = REPEATS) -> dict[str, Any]:
    """The coordinator's commands on the demo data, each a fresh process."""
    env = _env(work, work / "prefect-cli")
    _coop(env, "db", "upgrade")
    agreements = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "agreements").glob("*.yaml"))
    _coop(env, "plan", *agreements)
    _coop(env, "sweep")
    out: dict[str, Any] = {}
    out["status"] = _timed(env, [("status",)] * repeats)
    out["plan_unchanged"] = _timed(env, [("plan", AGREEMENT)] * repeats)
    tasks = _open_tasks(work, repeats)
    if len(tasks) < repeats:
        raise RuntimeError(f"the demo data has only {len(tasks)} due/overdue tasks")
    out["done"] = _timed(env, [("done", str(i), "--department", dept, "--participants", "10") for i, dept in tasks])
    out["sweep"] = _timed(env, [("sweep",)] * repeats)
    out["notify"] = _timed(env, [("notify",)] * repeats)
    return out


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_line(proc: subprocess.Popen[str], marker: str, timeout: float) -> None:
    """Until `proc` prints a line containing `marker` (read by a thread, so the deadline holds)."""
    lines: queue.Queue[str] = queue.Queue()
    assert proc.stdout is not None
    stdout = proc.stdout

    def read() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.05)
        except queue.Empty:
            if proc.poll() is not None:
                raise RuntimeError(f"coop.ui exited {proc.returncode}: {''.join(seen)[-2000:]}") from None
            continue
        seen.append(line)
        if marker in line:
            return
    raise RuntimeError(f"coop.ui not ready after {timeout:.0f}s: {''.join(seen)[-2000:]}")


def _click_to_completed(api: str, deployment_id: str) -> float:
    """What the run button does: create a flow run from the deployment; then wait for a final state."""
    started = time.perf_counter()
    with httpx.Client(base_url=api, timeout=30.0) as client:
        run = client.post(
            f"/deployments/{deployment_id}/create_flow_run", json={"parameters": {"agreement": AGREEMENT}}
        ).raise_for_status()
        run_id = run.json()["id"]
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            state = client.get(f"/flow_runs/{run_id}").raise_for_status().json()["state"]
            if state["type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
                if state["type"] != "COMPLETED":
                    raise RuntimeError(f"flow run {run_id} ended {state['name']}: {state.get('message')}")
                return time.perf_counter() - started
            time.sleep(0.1)
    raise RuntimeError(f"flow run {run_id} not finished after {RUN_TIMEOUT_S:.0f}s")


def ui_figures(work: Path, repeats: int = REPEATS) -> dict[str, Any]:
    """`python -m coop.ui` on a fresh Prefect home each time: time to ready; on the first, click → Completed."""
    out = _ui_start(work, 0, repeats)
    ready = [out["ui_ready"]]
    for n in range(1, UI_STARTS):
        ready.append(_ui_start(work, n, 0)["ui_ready"])
    print(" ready", end="")
    out["ui_ready"] = _summary(ready)
    return out


def _ui_start(work: Path, n: int, clicks: int) -> dict[str, Any]:
    home = work / f"prefect-ui-{n}"
    env = _env(work, home)
    port = _free_port()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "coop.ui", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_line(proc, "已就绪", UI_TIMEOUT_S)
        out: dict[str, Any] = {"ui_ready": time.perf_counter() - started}
        if not clicks:
            return out
        api = f"http://127.0.0.1:{port}/api"
        deployment = httpx.get(f"{api}/deployments/name/plan-agreement/plan-agreement", timeout=30.0)
        deployment_id = deployment.raise_for_status().json()["id"]
        out["ui_click_completed"] = _summary([_click_to_completed(api, deployment_id) for _ in range(clicks)])
        return out
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # coop.ui stops its worker and server in order
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def as_installed() -> None:
    """What `make install` leaves behind, in case this checkout missed it: byte-code and Prefect's prepared schema."""
    for folder in ("coop", "models", "flows", "tasks"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    subprocess.run([sys.executable, "-m", "coop.ui", "--prepare"], cwd=ROOT, check=True, capture_output=True)


def measure(repeats: int = REPEATS) -> dict[str, Any]:
    """Every latency figure, in a fresh temporary folder; a figure that failed has an `error` instead."""
    as_installed()
    with tempfile.TemporaryDirectory(prefix="coop-latency-") as tmp:
        work = Path(tmp)
        results: dict[str, Any] = {"repeats": repeats}
        for name, part in (("cli", cli_figures), ("ui", ui_figures)):
            print(f"  · latency {name} …", end="", flush=True)
            started = time.perf_counter()
            try:
                results.update(part(work, repeats))
                print(f" {time.perf_counter() - started:.1f}s", flush=True)
            except (RuntimeError, OSError, httpx.HTTPError) as exc:
                results[f"{name}_error"] = str(exc)
                print(f" failed: {exc}", flush=True)
        return results


def goal_rows(r: dict[str, Any] | None) -> list[list[str]]:
    """Rows for bench/run.py's goals table: figure, goal, measured, baseline, ratio, verdict."""
    if not r:
        return []
    rows = []
    for key, figure, goal in GOALS:
        m = r.get(key)
        runs = f"median of {m['n']}" if m else ""
        if not m:
            error = r.get("ui_error" if key.startswith("ui") else "cli_error", "not measured")
            rows.append([f"{figure} (whole process)", f"≤ {goal:g} s", f"— ({error[:200]})", "—", "—", "—"])
            continue
        ok = m["median_s"] <= goal
        rows.append(
            [
                f"{figure} (whole process, {runs}, demo data)",
                f"≤ {goal:g} s",
                f"{m['median_s']:.2f} s (min {m['min_s']:.2f}, max {m['max_s']:.2f})"
                + (f"; CPU {m['cpu_s']:.2f} s" if "cpu_s" in m else ""),
                "—",
                f"{m['median_s'] / goal:.2f}× the goal",
                "met" if ok else "**missed**",
            ]
        )
    return rows


def main() -> None:
    results = measure()
    header = ["figure", "goal", "measured", "baseline", "ratio", "verdict"]
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in goal_rows(results):
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
