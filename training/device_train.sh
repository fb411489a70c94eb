#!/usr/bin/env bash
# On the GPU machine (training/README.md "Full run on a device"), after the carry calls:
# assemble and check the GGUF, rebuild the model once, train, export; results into $OUT.
# Arguments go to training.train (e.g. --max-steps 30 for the speed probe).
set -euo pipefail
B=training/build
PY=${PY:-python3}
export PYTHONPATH="$PWD/$B/pylib${PYTHONPATH:+:$PYTHONPATH}"
[ -d "$B/pylib/gguf" ] || $PY -m pip install -q --no-index --no-deps --target "$B/pylib" "$B"/carry/wheels/gguf-*.whl
if [ ! -f "$B/hf/model.safetensors" ]; then
  cat "$B"/keep/gemma.gguf.part-* > "$B/gemma.gguf"
  cp "$B/carry/gemma.gguf.sha256" "$B/" && (cd "$B" && sha256sum -c gemma.gguf.sha256)
  $PY -m training.gguf_to_hf --gguf "$B/gemma.gguf" --out "$B/hf"
fi
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv || echo "no GPU: training on CPU"
$PY -m training.train --hf "$B/hf" --train "$B/train.npz" --valid "$B/valid.npz" --out "$B/lora" "$@"
$PY -m training.export_lora "$B/lora/best" --out "$OUT/gemma3-270m-fr.lora.gguf" | tee "$OUT/sha256.txt"
cp "$B/lora/log.jsonl" "$B/lora/train_args.json" "$OUT/"
$PY -c "import torch, transformers, peft; print(torch.__version__, transformers.__version__, peft.__version__)" > "$OUT/versions.txt"
