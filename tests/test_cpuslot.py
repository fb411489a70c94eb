"""CPU slots (issue 12): concurrent summarize processes take turns instead of collapsing, and a
foreign load leaves us fewer threads."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from summarize import cpuslot
from summarize.cpuslot import CpuSlots, Meter, threads_for

ROOT = Path(__file__).resolve().parent.parent
HOG = [sys.executable, "-c", "while True: pass"]


def test_threads_follow_the_free_cores():
    assert threads_for(2, 0.0, 2) == 2
    assert threads_for(2, 0.2, 2) == 2  # a daemon's blip does not cost a thread
    assert threads_for(2, 0.6, 2) == 1  # a hog that got 2/3 of a core: one core left
    assert threads_for(2, 1.0, 2) == 1
    assert threads_for(2, 2.0, 2) == 1  # never zero
    assert threads_for(8, 3.0, 4) == 4  # never more than asked


def test_a_burst_of_foreign_load_does_not_change_the_thread_count(monkeypatch):
    """Threads drop only when two windows in a row saw the load, and come back at once."""
    slots = CpuSlots()
    slots.cores = slots.ceiling = 2
    measures = iter([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])  # start-up, a burst, quiet, a hog, the hog, gone
    monkeypatch.setattr(slots.meter, "elapsed", lambda: 1.0)
    monkeypatch.setattr(slots.meter, "foreign", lambda: next(measures))
    seen = []
    for _ in range(6):
        slots._measure(0.25)
        seen.append(slots.threads())
    assert seen == [2, 2, 2, 2, 1, 2]


def test_the_meter_sees_a_cpu_hog():
    """What the meter calls foreign includes what a hog process used (checked against the hog's
    own CPU time, so the test holds on a busy machine too) and not our own work."""
    import psutil

    hog = subprocess.Popen(HOG)
    try:
        time.sleep(0.2)
        used0 = sum(psutil.Process(hog.pid).cpu_times()[:2])
        meter = Meter()
        own0 = time.process_time()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.8:  # our own busy work: never counted as foreign
            pass
        foreign = meter.foreign()
        own = (time.process_time() - own0) / meter.elapsed()
        share = (sum(psutil.Process(hog.pid).cpu_times()[:2]) - used0) / meter.elapsed()
    finally:
        hog.kill()
        hog.wait()
    assert foreign is not None and share > 0.1
    assert foreign >= share - 0.15, (foreign, share)
    assert own > 0.1 and foreign + own <= psutil.cpu_count() + 0.15, (foreign, own)  # ours was subtracted


def test_a_user_thread_count_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("SUMMARIZE_SLOT_DIR", str(tmp_path))
    slots = CpuSlots(3)
    slots.foreign = 2.0
    with slots.hold() as threads:
        assert threads == 3


def _holder(tmp_path: Path, seconds: float, threads: str = "") -> subprocess.Popen:
    """Another process holding slots: every slot of a 2-core machine, or ``threads`` of them."""
    code = (f"import time, sys; from summarize.cpuslot import CpuSlots; s = CpuSlots({threads}); s.slots = 2\n"
            f"s.foreign = 0.0\nwith s.hold(): print('held', flush=True); time.sleep({seconds})")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env={**__import__("os").environ, "SUMMARIZE_SLOT_DIR": str(tmp_path)})
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_step_waits_for_the_slots_another_process_holds_and_a_kill_frees_them(tmp_path, monkeypatch):
    monkeypatch.setenv("SUMMARIZE_SLOT_DIR", str(tmp_path))
    holder = _holder(tmp_path, 1.0)
    slots = CpuSlots()
    slots.foreign, slots.slots = 0.0, 2
    t0 = time.monotonic()
    with slots.hold():
        waited = time.monotonic() - t0
    holder.wait()
    assert 0.5 < waited < 5, waited
    holder = _holder(tmp_path, 60)
    holder.kill()  # the kernel drops a killed holder's locks
    holder.wait()
    t0 = time.monotonic()
    with slots.hold():
        assert time.monotonic() - t0 < 1


def test_a_step_takes_the_free_slots_at_once_and_a_user_thread_count_waits_for_all(tmp_path, monkeypatch):
    """Another process runs one thread on one of 2 cores: our next step runs one thread on the
    other core without waiting (two one-thread Ray actors side by side); with --threads 2 it
    waits until both cores are free, and never runs 2 threads on 1 core."""
    monkeypatch.setenv("SUMMARIZE_SLOT_DIR", str(tmp_path))
    holder = _holder(tmp_path, 1.5, threads="1")
    try:
        slots = CpuSlots()
        slots.foreign, slots.slots, slots.ceiling = 0.0, 2, 2
        t0 = time.monotonic()
        with slots.hold() as threads:
            assert threads == 1 and time.monotonic() - t0 < 0.5
        fixed = CpuSlots(2)
        fixed.slots = 2
        t0 = time.monotonic()
        with fixed.hold() as threads:
            assert threads == 2 and time.monotonic() - t0 > 0.5  # after the holder's step ended
    finally:
        holder.kill()
        holder.wait()
    with slots.hold() as threads:  # alone again: every core at the next step
        assert threads == 2


def test_slots_off_never_waits(tmp_path, monkeypatch):
    monkeypatch.setenv("SUMMARIZE_SLOT_DIR", str(tmp_path))
    monkeypatch.setenv("SUMMARIZE_CPU_SLOTS", "off")
    holder = _holder(tmp_path, 30)
    try:
        slots = CpuSlots()
        t0 = time.monotonic()
        with slots.hold() as threads:
            assert threads == cpuslot.usable_cores()
        assert time.monotonic() - t0 < 0.5
    finally:
        holder.kill()
        holder.wait()


def _decode(n: int, tmp_path: Path) -> list[dict]:
    start = time.time() + 6.0  # after every worker has loaded the model
    procs = [subprocess.Popen([sys.executable, str(ROOT / "tests" / "decode_worker.py"), str(start), "4", "32"],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT) for _ in range(n)]
    return [json.loads(p.communicate(timeout=120)[0]) for p in procs]


@pytest.mark.slow
def test_two_concurrent_decoders_keep_at_least_a_quarter_of_alone_speed(tmp_path):
    """Regression guard: before the slots, two decoders on 2 cores fell to ~1/70 of alone speed."""
    alone = _decode(1, tmp_path)[0]
    pair = _decode(2, tmp_path)
    for row in pair:
        assert row["tokens"] > 0
        speed = (row["tokens"] / row["seconds"]) / (alone["tokens"] / alone["seconds"])
        assert speed >= 0.25, (alone, pair)
