#!/usr/bin/env bash
# Issue 3 on one GPU (H100 or H200): how far EPF can be trusted, then the paper's table.
#
#   1. benchmarks/epf_precision.py: two sweeps of MobileNet-V1 (G=1, G=32, g=8) and
#      ResNeXt-50 (g=32, G=32) at B=1,16,64 plus 20 s reference windows (<= 4 min);
#   2. gsearch profile --paper for both models at B=1 and 64, 3 repeats (<= 3 min).
#
# Run from the repository root on the GPU machine, with .whl/ made by
# ../shared/gpu/wheels.sh carried along (the CLI needs optuna). Results go to $OUT
# (CSV/JSON and the printed tables); the short tables come last.
set -uo pipefail
OUT=${OUT:-benchmarks/out/gpu_check}
mkdir -p "$OUT"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.sm,clocks.mem,temperature.gpu \
  --format=csv >"$OUT/nvidia-smi.csv" 2>&1 || true
python3 -c "import torch; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version())" \
  | tee "$OUT/versions.txt"

start=$(date +%s)
timeout 280 python3 benchmarks/epf_precision.py --out "$OUT" >"$OUT/epf_precision.txt" 2>&1
echo "epf_precision: exit $? after $(($(date +%s) - start)) s" | tee -a "$OUT/epf_precision.txt"

for model in mobilenet_v1 resnext50; do
  start=$(date +%s)
  timeout 120 python3 -m gsearch.cli profile --model "$model" --paper --batch 1,64 \
    --repeats 3 --window 0.5 --warmup 0.3 --cache-dir "$OUT/cache" --format json \
    >"$OUT/profile_$model.json" 2>"$OUT/profile_$model.log"
  echo "profile $model: exit $? after $(($(date +%s) - start)) s" | tee -a "$OUT/profile_$model.log"
done

# The short tables last: the paper's variants beside the paper's P100/P4000 EPF.
python3 - "$OUT" <<'PY'
import json, sys
from pathlib import Path
for path in sorted(Path(sys.argv[1]).glob("profile_*.json")):
    try:
        rows = json.loads(path.read_text())
    except ValueError:
        print(f"{path.name}: no result (see {path.stem}.log)")
        continue
    print(f"{path.stem}: EPF mJ/frame [interval], ms/frame, paper P100 / P4000 (B=1 only)")
    for r in rows:
        if r["status"] != "ok":
            print(f"  {r['policy']:>5} B={r['batch']:<3} {r['status']} {r['message']}")
            continue
        print(
            f"  {r['policy']:>5} B={r['batch']:<3} {r['epf']:8.1f} [{r['epf_low']:.1f}, "
            f"{r['epf_high']:.1f}] {r['ms_per_frame']:7.3f} ms  "
            f"{r['paper_p100_mj'] or '-'} / {r['paper_p4000_mj'] or '-'}"
        )
PY
tail -n 30 "$OUT/epf_precision.txt"
