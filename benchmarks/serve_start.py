"""`summarize serve`: start-up to the first page, and the page's latency while a batch runs.

    python benchmarks/serve_start.py [--rounds 7] [--busy-seconds 20]

1. Start-up (issue 21, goal: ≤ 1 s beyond Python's own start). Each round times, in a new
   process, `python -m summarize serve --port 0` from the process start to the first page
   fully loaded (the token URL → its redirect → the HTML → app.js and style.css), and
   `python -c pass`, alternately, so a slower second of the machine hits both. Reported:
   the medians, their difference (the goal) and their ratio.
2. Responsiveness: a batch of the seeds at medium length (a fresh cache: every document is
   computed) runs in the server while GET / and GET /api/history are timed every 0.2 s;
   the same requests on the idle server first, as the reference. The batch is cancelled
   after --busy-seconds.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, report

URL = re.compile(r"http://127\.0\.0\.1:(\d+)/\?token=(\S+)")


def start(env: dict[str, str]) -> tuple[subprocess.Popen, int, str, float]:
    began = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "summarize", "serve", "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    match = URL.search(line)
    if not match:
        proc.kill()
        raise SystemExit(f"serve did not start: {line!r}")
    return proc, int(match.group(1)), match.group(2), began


def get(port: int, path: str, cookie: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def first_page(port: int, token: str) -> str:
    status, headers, _ = get(port, f"/?token={token}")
    assert status == 303, status
    cookie = headers["set-cookie"].split(";", 1)[0]
    for path in ("/", "/static/app.js", "/static/style.css"):
        status, _, body = get(port, path, cookie)
        assert status == 200 and body, (path, status)
    return cookie


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def startup(rounds: int, env: dict[str, str]) -> dict:
    serve, bare = [], []
    for _ in range(rounds):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - began)
        proc, port, token, began = start(env)
        first_page(port, token)
        serve.append(time.perf_counter() - began)
        stop(proc)
    s, b = statistics.median(serve), statistics.median(bare)
    return {"serve_first_page_s": round(s, 3), "python_pass_s": round(b, 3), "beyond_python_s": round(s - b, 3),
            "start_ratio": round(s / b, 2), "serve_rounds_s": [round(x, 3) for x in serve],
            "python_rounds_s": [round(x, 3) for x in bare]}


def latencies(port: int, cookie: str, seconds: float) -> list[float]:
    out = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for path in ("/", "/api/history"):
            began = time.perf_counter()
            status, _, _ = get(port, path, cookie)
            out.append(time.perf_counter() - began)
            assert status == 200
        time.sleep(0.2)
    return out


def post_batch(port: int, cookie: str, files: list[Path]) -> str:
    boundary = "benchmark"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="longueur"\r\n\r\nmedium\r\n'.encode()]
    for path in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="fichiers"; filename="{path.name}"\r\n\r\n'
                     .encode() + path.read_bytes() + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/api/jobs", body=body, headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}",
                                                         "Content-Type": f"multipart/form-data; boundary={boundary}"})
    response = conn.getresponse()
    answer = json.loads(response.read())
    assert response.status == 202, answer
    return answer["id"]


def responsiveness(env: dict[str, str], busy_seconds: float) -> dict:
    proc, port, token, _ = start(env)
    try:
        cookie = first_page(port, token)
        idle = latencies(port, cookie, 5)
        seeds = sorted((ROOT / "seeds").glob("*.txt"))
        job = post_batch(port, cookie, [s for s in seeds if s.stat().st_size < 20_000])
        time.sleep(3)  # the model is loaded and decoding
        cpu0 = cpu_seconds(proc.pid)
        began = time.perf_counter()
        busy = latencies(port, cookie, busy_seconds)
        server_cpu = cpu_seconds(proc.pid) - cpu0
        window = time.perf_counter() - began
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", f"/api/jobs/{job}/cancel", headers={"Cookie": cookie,
                                                                  "Origin": f"http://127.0.0.1:{port}"})
        conn.getresponse().read()
    finally:
        stop(proc)

    def summary(xs: list[float]) -> dict:
        xs = sorted(xs)
        return {"requests": len(xs), "median_ms": round(statistics.median(xs) * 1000, 1),
                "p95_ms": round(xs[int(0.95 * (len(xs) - 1))] * 1000, 1), "max_ms": round(xs[-1] * 1000, 1)}

    # the server's own CPU time over the window: proof that the batch was computing meanwhile
    return {"idle": summary(idle), "during_batch": summary(busy),
            "server_cpu_cores_during_batch": round(server_cpu / window, 2)}


def cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--busy-seconds", type=float, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SUMMARIZE_CACHE_DIR": str(Path(tmp) / "cache"), "TMPDIR": tmp}
        start_figures = startup(args.rounds, env)
        page = responsiveness(env, args.busy_seconds)
    report("serve_start", start_figures["beyond_python_s"], "≤ 1 s beyond `python -c pass`",
           **start_figures, responsiveness=page)


if __name__ == "__main__":
    main()
