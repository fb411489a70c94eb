"""Minimal GGUF reader: validates a model file and reads its metadata without llama.cpp.

Checking the header, the tensor table and the file size here means a zero-byte,
truncated or non-GGUF file gets a clear error instead of reaching llama.cpp's loader.
"""
from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from .errors import ModelError

MAGIC = b"GGUF"
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
# ggml type -> (block size in elements, bytes per block); used to check the file is complete.
_TYPE_SIZES = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110),
    22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8),
    29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17),
}
_MAX_COUNT = 1 << 32  # guards against garbage lengths in corrupted headers
_MAX_DEPTH = 4  # arrays of arrays: real files nest at most twice; garbage could recurse forever
_MAX_ALIGN = 1 << 20


@dataclass
class GGUFInfo:
    path: str
    size: int
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    n_tensors: int = 0

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name", os.path.basename(self.path)))

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if value is not None else None

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return str(value) if value else None

    @property
    def license(self) -> str | None:
        value = self.metadata.get("general.license")
        return str(value) if value else None


class _Reader:
    def __init__(self, buf: mmap.mmap | bytes, path: str) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def _fail(self, what: str) -> ModelError:
        return ModelError(
            f"not a valid GGUF model file ({what})",
            path=self.path,
            hint="the file is corrupt or truncated; download it again or pick another model",
        )

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.buf):
            raise self._fail("file ends inside the header")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self, keep: bool = True) -> str | None:
        n = self.scalar("<Q")
        if n > len(self.buf):
            raise self._fail("impossible string length")
        if not keep:
            self.pos += n
            return None
        return self.take(n).decode("utf-8", errors="replace")

    def value(self, vtype: int, keep: bool = True, depth: int = 0) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string(keep)
        if vtype == _ARRAY:
            itype, count = self.scalar("<I"), self.scalar("<Q")
            if count > _MAX_COUNT or depth >= _MAX_DEPTH:
                raise self._fail("impossible array length or nesting")
            if itype in _SCALARS:  # fixed-size items: skip in one step
                width = struct.calcsize(_SCALARS[itype])
                if width * count > len(self.buf) - self.pos:  # before building a list that big
                    raise self._fail("file ends inside the header")
                if not keep:
                    self.take(width * count)
                    return None
                return [self.scalar(_SCALARS[itype]) for _ in range(count)]
            items = [self.value(itype, keep, depth + 1) for _ in range(count)]
            return items if keep else None
        raise self._fail(f"unknown metadata type {vtype}")


def read_gguf(path: str, *, check_size: bool = True) -> GGUFInfo:
    """Parse header, metadata and tensor table; raise ModelError if the file is not a complete GGUF."""
    try:
        size = os.path.getsize(path)
        fh = open(path, "rb")
    except OSError as exc:
        raise ModelError(f"cannot read model file ({exc.strerror})", path=path,
                         hint="check the path and its permissions") from None
    with fh:
        if size < 24:
            raise ModelError("not a GGUF model file (file is empty or too small)", path=path,
                             hint="download the model again or pick another one")
        if fh.read(4) != MAGIC:
            raise ModelError("not a GGUF model file (wrong magic bytes)", path=path,
                             hint="summarize needs a .gguf model, e.g. from `summarize models`")
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(_Reader(buf, path), size, check_size)


# Metadata arrays we never need (vocabularies): skipped, not decoded, to keep listing fast.
_SKIP_PREFIX = ("tokenizer.ggml.",)


def _parse(r: _Reader, size: int, check_size: bool) -> GGUFInfo:
    r.take(4)
    version = r.scalar("<I")
    if version not in (2, 3):
        raise r._fail(f"unsupported GGUF version {version}")
    n_tensors, n_kv = r.scalar("<Q"), r.scalar("<Q")
    if n_tensors > _MAX_COUNT or n_kv > _MAX_COUNT:
        raise r._fail("impossible tensor or metadata count")
    info = GGUFInfo(path=r.path, size=size, version=version, n_tensors=n_tensors)
    for _ in range(n_kv):
        key = r.string()
        vtype = r.scalar("<I")
        keep = not (key.startswith(_SKIP_PREFIX) and vtype == _ARRAY)
        value = r.value(vtype, keep)
        if keep:
            info.metadata[key] = value
    _check_types(r, info)
    align = info.metadata.get("general.alignment", 32)
    if isinstance(align, bool) or not isinstance(align, int) or not 0 < align <= _MAX_ALIGN:
        raise r._fail(f"impossible alignment {align!r}")
    end = 0
    for _ in range(n_tensors):
        r.string(keep=False)
        n_dims = r.scalar("<I")
        if n_dims > 8:
            raise r._fail("impossible tensor shape")
        n_elems = 1
        for _ in range(n_dims):
            n_elems *= r.scalar("<Q")
        ttype, offset = r.scalar("<I"), r.scalar("<Q")
        if offset % align:
            raise r._fail("misaligned tensor data")
        block, nbytes = _TYPE_SIZES.get(ttype, (1, 0))
        end = max(end, offset + (n_elems // block) * nbytes)
    data_start = (r.pos + align - 1) // align * align
    if check_size and data_start + end > size:
        raise ModelError(
            f"model file is truncated ({size} bytes, needs {data_start + end})",
            path=r.path, hint="the download was interrupted; download the model again",
        )
    return info


def _check_types(r: _Reader, info: GGUFInfo) -> None:
    """Metadata summarize relies on must have the type the spec gives it (else: garbage)."""
    expected: dict[str, tuple[type, ...]] = {
        "general.architecture": (str,), "general.name": (str,), "tokenizer.chat_template": (str,),
        "general.alignment": (int,), f"{info.architecture}.context_length": (int,),
    }
    for key, types in expected.items():
        value = info.metadata.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            raise r._fail(f"metadata {key} has the wrong type")
