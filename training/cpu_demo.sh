#!/usr/bin/env bash
# The CPU demo of training/README.md: every step end to end on a small slice, under the
# machine-wide CPU lock (run it as: flock /tmp/summarize-cpu.lock training/cpu_demo.sh).
set -euo pipefail
PY=${PY:-.venv/bin/python}
B=training/build/demo
mkdir -p "$B"
t() { local s=$SECONDS; "$@"; echo "[$(( SECONDS - s )) s] $*" >&2; }
t $PY -m training.gguf_to_hf --out training/build/hf
t $PY -m training.check_logits --hf training/build/hf | tee "$B/logits.json"
t $PY -m training.prepare --split train --limit 300 --max-doc-tokens 128 --out "$B/train.npz"
t $PY -m training.prepare --split valid --limit 32 --max-doc-tokens 128 --out "$B/valid.npz"
t $PY -m training.train --train "$B/train.npz" --valid "$B/valid.npz" --out "$B/lora" --threads 2 \
    --max-steps 40 --batch-tokens 384 --accumulate 1 --checkpoints none --save-minutes 0.5 --eval-minutes 0.5 --valid-limit 32 --lr 3e-4
t $PY -m training.export_lora "$B/lora/best" --out "$B/gemma3-270m-fr.lora.gguf" | tee "$B/sha256.txt"
# Reproducibility: the same 4 seeded steps twice give the same adapter bytes?
for run in a b; do
  $PY -m training.train --train "$B/train.npz" --valid "$B/valid.npz" --out "$B/repro_$run" --threads 2 \
      --max-steps 4 --batch-tokens 384 --accumulate 1 --checkpoints none --valid-limit 8 --lr 3e-4 > /dev/null
  $PY -m training.export_lora "$B/repro_$run/best" --out "$B/repro_$run.gguf"
done | tee "$B/repro.txt"
# The adapter in the product: one summary of a validation article, tuned vs bare.
$PY - "$B" <<'PYEOF' | tee "$B/summary.txt"
import gzip, json, sys
from summarize.summarizer import Summarizer
from training.prepare import data_dir
row = [json.loads(l) for _, l in zip(range(101), gzip.open(data_dir() / "valid.jsonl.gz", "rt"))][100]  # not in the selection slice
adapter = f"{sys.argv[1]}/gemma3-270m-fr.lora.gguf"
for spec in ("gemma3-270m-base", f"gemma3-270m-base+{adapter}"):
    r = Summarizer(spec, length="short", use_cache=False, threads=2).summarize_text(row["document"])
    print(json.dumps({"model": r.model, "method": r.method, "seconds": round(r.seconds, 1),
                      "summary": r.summary}, ensure_ascii=False))
print(json.dumps({"abstract": row["abstract"]}, ensure_ascii=False))
PYEOF
