#!/usr/bin/env bash
# The main job on one GPU (H100 or H200), in stages ordered by value, each with its own
# time box sized to its worst case from the first H200 run (BENCHMARKS.md, "The main job on
# a GPU"); every stage writes what it has measured as it goes, so a stage its box cuts off
# still leaves results. Device commands of <= 10 minutes:
#
#   STAGES="search paper-b1" bash benchmarks/gpu_check.sh                  # <= 7 + 2 min
#   STAGES=calibrate CALIBRATE_CASES="1:training 1:inference" bash ...     # <= 2 x 4.5 min
#   STAGES="calibrate precision" CALIBRATE_CASES=64:training bash ...      # <= 4.5 + 3 min
#
#   search    (<= 7 min: 214 s on the H200, of which 140 s the resumed run; the wait for
#             the first checkpoint is bounded at 150 s) benchmarks/search_check.py:
#             `gsearch run --space e2gc` on digits,
#             proxy, 6 trials, cuda + nvml; SIGINT mid-trial (after its first epoch's
#             checkpoint) and the same command again
#             (resumes from the checkpoint); `gsearch report`; each trial's EPF beside
#             `gsearch profile` of the same policies (target: within 2%); `--workers 2` on
#             the one GPU refused (a meter is never shared).
#   calibrate (<= 4.5 min per case: B = 1 training took 204 s on the H200, 92 device-s of
#             layers and 105 s of networks, plus room for two counter stalls of ~9 s)
#             benchmarks/predictor_accuracy.py --preset gpu, one case (batch:pass of
#             CALIBRATE_CASES, default all four) per run and time box: `gsearch calibrate`
#             of MobileNet-V1 at B = 1 and 64, training and inference, then whole networks
#             predicted vs measured (targets: tau >= 0.9, MAPE <= 5%, calibration <= 3
#             device-minutes per model and batch, best G within one step in >= 80%).
#   paper-b1  (<= 2 min) the paper's 22 variants at B = 1 (the rows withheld since the
#             window fix).
#   gain      (<= 4 min) benchmarks/per_layer_gain.py --preset gpu: calibrate MobileNet-V1
#             and ResNeXt-50 (inference B = 1, training B = 16), then the per-layer
#             settings of least predicted cost beside every constant G and g, measured
#             together; the gain over the best constant policy with its interval.
#   precision (<= 3 min) the 3 configs whose 6 sweep rows spread > 1% (1 s windows, no
#             reference) with the tick diagnosis: decides session grid or aligned ends.
#
# GPU_CHECK_DEVICE=cpu runs every stage end to end on this CPU with the time meter at tiny
# sizes (<= 10 minutes; tests/test_gpu_check.py runs it): no GPU minute is spent on a
# broken script. Exit status 0 only when every stage did.
#
# On the GPU machine (torch, no optuna): carry .whl.tar.xz (76 MB of wheels packed to 42 MB:
# .whl/ itself is over the 64 MiB that travels), made by
#   ../shared/gpu/wheels.sh scikit-learn scipy joblib threadpoolctl cloudpickle matplotlib \
#     contourpy cycler fonttools kiwisolver pyparsing packaging plotly narwhals PyYAML tqdm tabulate
#   python3 benchmarks/pack_wheels.py
# (that list ran the dry run in a CPU environment holding only what the GPU machine has:
# GPU_CHECK_WHEELS=<folder of the same wheels for this Python>); everything printed goes to
# $OUT/gpu_check.log, results (JSON) beside it; the short tables come last.
set -uo pipefail
DEVICE=${GPU_CHECK_DEVICE:-cuda}
OUT=${OUT:-benchmarks/out/gpu_check}
OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd)
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
finish() {  # let tee write the log's last lines before the script ends
  exec >&- 2>&-
  wait
}
trap finish EXIT
export PYTHONUNBUFFERED=1
# The GPU machine's .whl/ (cp312); a dry run takes wheels only from GPU_CHECK_WHEELS (the
# CPU check of the wheel list), else it runs in the environment it was started from.
DEFAULT_WHEELS=.whl
# The wheels travel packed (benchmarks/pack_wheels.py: .whl/ is over the 64 MiB that travels).
if [ "$DEVICE" != cpu ] && [ ! -d .whl ] && [ -f .whl.tar.xz ]; then
  mkdir -p .whl && tar -xJf .whl.tar.xz -C .whl || exit 1
fi
[ "$DEVICE" = cpu ] && DEFAULT_WHEELS=/nonexistent
WHEELS=${GPU_CHECK_WHEELS:-$DEFAULT_WHEELS}
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$WHEELS"/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
PY=${GPU_CHECK_PYTHON:-python3}
date -u
if [ "$DEVICE" = cpu ]; then
  echo "dry run on the CPU: time meter, tiny sizes"
  ENERGY=time
  TIMEBOX=(search=360 calibrate=240 paper-b1=120 precision=180 gain=120)
else
  nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.sm,clocks.mem,temperature.gpu \
    --format=csv || true
  ENERGY=nvml
  TIMEBOX=(search=420 calibrate=270 paper-b1=60 precision=180 gain=240)
fi
$PY -c "import torch; print('torch', torch.__version__, 'cudnn', torch.backends.cudnn.version())"

limit() {  # limit STAGE: its time box in seconds
  local entry
  for entry in "${TIMEBOX[@]}"; do [ "${entry%%=*}" = "$1" ] && echo "${entry#*=}"; done
}
FAILED=()
stage() {  # stage NAME COMMAND...: run within its time box, report exit and time
  local name=$1 start rc
  shift
  start=$(date +%s)
  echo "== $name (limit $(limit "$name") s)" >&2
  timeout "$(limit "$name")" "$@"
  rc=$?
  echo "== $name: exit $rc after $(($(date +%s) - start)) s" >&2
  [ $rc = 0 ] || FAILED+=("$name")
}

STAGES=${STAGES:-search gain calibrate paper-b1 precision}
for name in $STAGES; do
  case $name in
  search)
    if [ "$DEVICE" = cpu ]; then
      stage search $PY benchmarks/search_check.py --device cpu --energy time --trials 3 \
        --recipe epochs=2 --recipe batch_size=256 --out "$OUT"
    else
      stage search $PY benchmarks/search_check.py --device cuda --energy nvml --trials 6 \
        --out "$OUT"
    fi
    ;;
  calibrate)
    if [ "$DEVICE" = cpu ]; then
      stage calibrate $PY benchmarks/predictor_accuracy.py --preset dry --out "$OUT/calibrate"
    else
      # MobileNet-V1, one (batch, pass) per run and box: each writes its results.json.
      sizes=(--preset gpu --models mobilenet_v1 --repeats 2 --window 0.25 --warmup 0.2 --random 8)
      for case in ${CALIBRATE_CASES:-1:training 1:inference 64:training 64:inference}; do
        stage calibrate $PY benchmarks/predictor_accuracy.py "${sizes[@]}" \
          --batches "${case%%:*}" --passes "${case#*:}" --out "$OUT/calibrate/b${case/:/-}"
      done
    fi
    ;;
  paper-b1)
    sizes=(--repeats 3 --window 0.5 --warmup 0.3)
    # 64 px on the CPU: at 32 both models end in 1x1 maps, which BatchNorm refuses at B = 1.
    [ "$DEVICE" = cpu ] && sizes=(--repeats 1 --window 0.05 --warmup 0.05 --resolution 64)
    for model in mobilenet_v1 resnext50; do
      stage paper-b1 $PY -m gsearch.cli profile --model "$model" --paper --batch 1 \
        --pass training --energy "$ENERGY" --device "$DEVICE" "${sizes[@]}" \
        --cache-dir /tmp/gsearch-epf-cache --format json >"$OUT/paper_b1_$model.json"
    done
    ;;
  precision)
    configs=mobilenet_v1/G=1,mobilenet_v1/g=8,resnext50/G=32
    if [ "$DEVICE" = cpu ]; then  # the diagnosis path on the simulated counter
      stage precision $PY benchmarks/epf_precision.py --simulate --out "$OUT/precision"
    else
      stage precision $PY benchmarks/epf_precision.py --energy nvml --configs "$configs" \
        --batches 16,64 --window 1 --reference-batches none --out "$OUT/precision"
    fi
    ;;
  gain)
    # One g per layer from this GPU's calibration against every constant policy (issue 22).
    preset=gpu
    [ "$DEVICE" = cpu ] && preset=smoke
    stage gain $PY benchmarks/per_layer_gain.py --preset "$preset" --out "$OUT/gain"
    ;;
  *)
    echo "unknown stage $name: choose from search gain calibrate paper-b1 precision" >&2
    FAILED+=("$name")
    ;;
  esac
done

# The short tables last: the paper's variants at B = 1 beside its P100/P4000 EPF.
$PY - "$OUT" <<'PY'
import json, sys
from pathlib import Path
for path in sorted(Path(sys.argv[1]).glob("paper_b1_*.json")):
    try:
        rows = json.loads(path.read_text())
    except ValueError:
        print(f"{path.name}: no result (see gpu_check.log)")
        continue
    print(f"{path.stem}: EPF per frame [interval], spread, ms/frame, W, paper P100 / P4000")
    for r in rows:
        if r["status"] != "ok":
            print(f"  {r['policy']:>5} B={r['batch']:<3} {r['status']} {r['message']}")
            continue
        print(
            f"  {r['policy']:>5} B={r['batch']:<3} {r['epf']:8.3f} {r['unit']} [{r['epf_low']:.3f}, "
            f"{r['epf_high']:.3f}] {100 * (r['spread'] or 0):5.2f}% {r['ms_per_frame']:7.3f} ms "
            f"{r['power_w'] or 0:5.0f} W  {r.get('paper_p100_mj') or '-'} / {r.get('paper_p4000_mj') or '-'}"
        )
PY
if [ ${#FAILED[@]} -gt 0 ]; then
  echo "gpu_check: FAILED stages: ${FAILED[*]}" >&2
  exit 1
fi
echo "gpu_check: every stage ran" >&2
