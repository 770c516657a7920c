#!/usr/bin/env bash
# Issue 3 on one GPU (H100 or H200): does the GPU path work, how far can EPF be trusted,
# then the paper's table. About 8 minutes; each stage has its own time limit
# (measured on an H200: probe and tests 35 s, precision 230 s, profiles 85 s each).
#
#   0. benchmarks/nvml_probe.py: counter read cost and tick period, idle and busy, and
#      alpha: does a change's energy follow its visible interval (~10 s);
#      the CUDA tests (graph and eager runners, NVML windows) (~30 s). A failure here
#      stops the script at once, so that a broken GPU path does not spend the GPU time;
#   1. benchmarks/epf_precision.py: two sweeps of MobileNet-V1 (G=1, G=32, g=8) and
#      ResNeXt-50 (g=32, G=32) at B=1,16,64 plus 20 s reference windows (<= 4 min),
#      then the spread diagnosis from the windows' own counter ticks (no device time);
#   2. gsearch profile --paper for both models at B=1 and 64, 3 repeats (<= 3 min).
#
# Run from the repository root on the GPU machine, with .whl/ made by
# ../shared/gpu/wheels.sh carried along (the CLI needs optuna). Everything printed goes
# to $OUT/gpu_check.log; results are JSON files beside it (at most 8 files in all, the
# device tool's limit); the short tables come last.
set -uo pipefail
OUT=${OUT:-benchmarks/out/gpu_check}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
finish() {  # let tee write the log's last lines before the script ends
  exec >&- 2>&-
  wait
}
trap finish EXIT
export PYTHONUNBUFFERED=1
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
date -u
nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.sm,clocks.mem,temperature.gpu \
  --format=csv || true
python3 -c "import torch; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version())"

stage() {  # stage NAME SECONDS COMMAND...: run with a time limit, report exit and time
  local name=$1 limit=$2 start rc
  shift 2
  start=$(date +%s)
  echo "== $name (limit ${limit} s)" >&2
  timeout "$limit" "$@"
  rc=$?
  echo "== $name: exit $rc after $(($(date +%s) - start)) s" >&2
  return $rc
}

# STAGES picks a subset for a rerun, e.g. STAGES="precision".
STAGES=${STAGES:-probe precision profile}
if [[ $STAGES == *probe* ]]; then
  stage nvml_probe 40 python3 benchmarks/nvml_probe.py --out "$OUT" || exit 1
  if python3 -c "import pytest" 2>/dev/null; then
    stage cuda_tests 120 python3 -m pytest -q -x -p no:cacheprovider \
      tests/energy/test_energy_cuda.py || exit 1
  else
    echo "== cuda_tests: skipped, no pytest on this machine" >&2
  fi
fi
if [[ $STAGES == *precision* ]]; then
  stage epf_precision 300 python3 benchmarks/epf_precision.py --energy nvml --out "$OUT"
fi
[[ $STAGES == *profile* ]] || exit 0
for model in mobilenet_v1 resnext50; do
  stage "profile_$model" 130 python3 -m gsearch.cli profile --model "$model" --paper \
    --batch 1,64 --repeats 3 --window 0.5 --warmup 0.3 --energy nvml \
    --cache-dir /tmp/gsearch-epf-cache --format json >"$OUT/profile_$model.json"
done

# The short tables last: the paper's variants beside the paper's P100/P4000 EPF.
python3 - "$OUT" <<'PY'
import json, sys
from pathlib import Path
for path in sorted(Path(sys.argv[1]).glob("profile_*.json")):
    try:
        rows = json.loads(path.read_text())
    except ValueError:
        print(f"{path.name}: no result (see gpu_check.log)")
        continue
    print(f"{path.stem}: EPF mJ/frame [interval], spread, ms/frame, W, paper P100 / P4000")
    for r in rows:
        if r["status"] != "ok":
            print(f"  {r['policy']:>5} B={r['batch']:<3} {r['status']} {r['message']}")
            continue
        print(
            f"  {r['policy']:>5} B={r['batch']:<3} {r['epf']:8.2f} [{r['epf_low']:.2f}, "
            f"{r['epf_high']:.2f}] {100 * r['spread']:5.2f}% {r['ms_per_frame']:7.3f} ms "
            f"{r['power_w'] or 0:5.0f} W  {r['paper_p100_mj'] or '-'} / {r['paper_p4000_mj'] or '-'}"
        )
PY
