#!/usr/bin/env bash
# Here, before a GPU session (training/README.md "Full run on a device"): what the device
# needs, in pieces that each fit one call's 64 MiB carry limit. Tokenize first (step 2).
set -euo pipefail
PY=${PY:-.venv/bin/python}
C=training/build/carry
mkdir -p "$C/wheels"
GGUF=$($PY -c "from summarize import models; print(models.resolve('gemma3-270m-base').path)")
rm -f "$C"/gemma.gguf.part-*
split -b 60M -d "$GGUF" "$C/gemma.gguf.part-"  # 253 MB → 5 parts of ≤ 60 MiB
(cd "$(dirname "$GGUF")" && sha256sum "$(basename "$GGUF")") | sed 's/ .*/  gemma.gguf/' > "$C/gemma.gguf.sha256"
$PY -m pip download -q --no-deps --dest "$C/wheels" "gguf==$($PY -c 'import importlib.metadata as m; print(m.version("gguf"))')"
ls -l "$C" "$C/wheels" training/build/train.npz training/build/valid.npz
