"""Build llama.cpp's own tools (llama-bench, llama-server) from the sources vendored in the
llama-cpp-python sdist of the version we run, in a temp work dir (never committed).

Same sources and the same default CMake flags as the Python wheel, so the comparison is
engine vs engine, not version vs version.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from importlib.metadata import version
from pathlib import Path

WORK = Path(os.environ.get("SUMMARIZE_BENCH_DIR", "/tmp/summarize-bench"))
TARGETS = ("llama-bench", "llama-server")


def _run(cmd: list[str], **kw) -> None:
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, **kw)


def source_dir() -> Path:
    ver = version("llama-cpp-python")
    root = WORK / f"llama_cpp_python-{ver}"
    if not (root / "vendor" / "llama.cpp" / "CMakeLists.txt").exists():
        WORK.mkdir(parents=True, exist_ok=True)
        sdist = WORK / f"llama_cpp_python-{ver}.tar.gz"
        if not sdist.exists():
            _run([sys.executable, "-m", "pip", "download", f"llama-cpp-python=={ver}", "--no-deps",
                  "--no-binary", ":all:", "-d", str(WORK)])
        with tarfile.open(sdist) as tar:
            tar.extractall(WORK, filter="data")
    return root / "vendor" / "llama.cpp"


def tool(name: str) -> Path:
    """Path to a built llama.cpp tool, building it (once) if needed."""
    src = source_dir()
    build = WORK / "build"
    exe = build / "bin" / name
    if not exe.exists():
        _run(["cmake", "-S", str(src), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF",
              "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_BUILD_EXAMPLES=OFF", "-DBUILD_SHARED_LIBS=OFF"],
             stdout=subprocess.DEVNULL)
        _run(["cmake", "--build", str(build), "--target", *TARGETS, "-j", str(os.cpu_count() or 2)],
             stdout=subprocess.DEVNULL)
    return exe


if __name__ == "__main__":
    for target in TARGETS:
        print(tool(target))
