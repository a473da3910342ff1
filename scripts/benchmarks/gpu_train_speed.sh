#!/usr/bin/env bash
# Issue 24 on one GPU: training-step speed of the paper-size IGAN x4 and RCAN under every switch, what
# basicsr's LMDB loader delivers on this machine's cores, and the fastest setting's convergence against the
# defaults. Run from the repository root:
#
#   OUT=results/gpu_train_speed bash scripts/benchmarks/gpu_train_speed.sh              # all three, ~9 minutes
#   PHASES="speed loader" OUT=... bash scripts/benchmarks/gpu_train_speed.sh            # or in two parts
#   PHASES=converge SPEED_JSON=.../train_speed.json OUT=... bash scripts/benchmarks/gpu_train_speed.sh
#   TINY=1 OUT=/tmp/dry bash scripts/benchmarks/gpu_train_speed.sh                      # dry run on CPU, tiny sizes
#
# Variables: OUT (required: tables and logs; results.tar.gz holds them all), PHASES (speed loader converge),
# TINY=1, PY (python), WORK (scratch, default /tmp/igan_train_speed), DATA (folder holding demo/ = the
# converge LMDBs, written from scikit-image's photographs if absent, and Set5/ = a validation set if present),
# WHL (wheels installed to /tmp/site when basicsr or lmdb is missing), SPEED_BUDGET / SPEED_LIMIT (seconds
# after which the speed phase starts no variant / is stopped), LOADER_LIMIT, CONVERGE_LIMIT.
set -u -o pipefail
: "${OUT:?set OUT to the output folder}"
TINY=${TINY:-0}
PHASES=${PHASES:-speed loader converge}
PY=${PY:-python3}
WORK=${WORK:-/tmp/igan_train_speed}
DATA=${DATA:-../data}
WHL=${WHL:-../whl}
SPEED_BUDGET=${SPEED_BUDGET:-240}
SPEED_LIMIT=${SPEED_LIMIT:-350}
LOADER_LIMIT=${LOADER_LIMIT:-55}
CONVERGE_LIMIT=${CONVERGE_LIMIT:-230}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$WORK/results"
START=$(date +%s)
LOG="$OUT/run.log"
exec > >(tee -a "$LOG") 2>&1

say() { echo "[$(( $(date +%s) - START )) s] $*"; }
pack() {  # everything written so far, in one file (the device returns at most 8)
  tar -czf "$OUT/results.tar.gz.partial" -C "$WORK" results && mv "$OUT/results.tar.gz.partial" "$OUT/results.tar.gz"
}

if ! "$PY" -c 'import igan_basicsr, lmdb' 2>/dev/null; then
  say "installing $(ls "$WHL"/*.whl 2>/dev/null | xargs -n1 basename | tr '\n' ' ')"
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHL"/*.whl \
    || { say "wheel install failed"; exit 1; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
"$PY" - <<'EOF'
import os, torch, igan_basicsr, basicsr
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA device'
print(f'torch {torch.__version__} (CUDA {torch.version.cuda}), basicsr {basicsr.__version__}, {gpu}, '
      f'{os.cpu_count()} CPU cores')
EOF
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit,temperature.gpu --format=csv,noheader
fi

if [ "$TINY" = 1 ]; then
  SPEED_ARGS=(--tiny --compile-backend eager)
  LOADER_ARGS=(--tiny --stores png bmp)
  CONVERGE_ARGS=(--tiny --compile-backend eager --workers 1)
else
  SPEED_ARGS=()
  LOADER_ARGS=(--stores png bmp --workers 4 8 16 --warmup 51 --batches 99)  # the last two thirds of 150 batches
  CONVERGE_ARGS=(--workers 4)
fi
SPEED_JSON=${SPEED_JSON:-$WORK/results/speed/train_speed.json}

for phase in $PHASES; do
  case $phase in
  speed)
    say "speed: IGAN x4 and RCAN training steps (starts no variant after ${SPEED_BUDGET} s, stopped at ${SPEED_LIMIT} s)"
    timeout -k 10 "$SPEED_LIMIT" "$PY" -m scripts.benchmarks.training speed "${SPEED_ARGS[@]}" --profile \
      --budget "$SPEED_BUDGET" --out "$WORK/results/speed" || say "speed phase exit $?"
    ;;
  loader)
    say "loader: basicsr's LMDB loader on this machine's cores (stopped at ${LOADER_LIMIT} s)"
    CONSUME=()
    [ -f "$SPEED_JSON" ] && CONSUME=(--consume-json "$SPEED_JSON")
    timeout -k 10 "$LOADER_LIMIT" "$PY" -m scripts.benchmarks.data loader "${LOADER_ARGS[@]}" "${CONSUME[@]}" \
      --work-dir "$WORK" --out "$WORK/results/loader" || say "loader phase exit $?"
    ;;
  converge)
    FAST=(--fast bf16+channels_last+fused+compile)
    [ -f "$SPEED_JSON" ] && FAST=(--fast-from "$SPEED_JSON")
    VAL=()
    [ -d "$DATA/Set5/HR" ] && VAL=(--val "$DATA/Set5" "$DATA/demo/benchmark/demo_val")
    [ -d "$DATA/demo/DIV2K_train_HR_sub.lmdb" ] || [ -w "$DATA" ] || DATA=$WORK/data
    say "converge: defaults vs ${FAST[*]}, basicsr's trainer (stopped at ${CONVERGE_LIMIT} s)"
    "$PY" -m scripts.benchmarks.converge "${CONVERGE_ARGS[@]}" "${FAST[@]}" \
      --data "$DATA/demo" "${VAL[@]}" --time-limit "$CONVERGE_LIMIT" --out "$WORK/results/converge" \
      || say "converge phase exit $?"
    for d in experiments/converge_*; do
      [[ -d "$d" && "$d" != *archived* ]] && cp "$d"/train_*.log "$WORK/results/converge/" 2>/dev/null
    done
    ;;
  *) say "unknown phase $phase (speed, loader, converge)"; exit 2 ;;
  esac
  pack
done

say "done"
for f in speed/profile.txt speed/train_speed.md loader/loader.md converge/converge.md; do
  if [ -f "$WORK/results/$f" ]; then
    echo; echo "=== $f"; cat "$WORK/results/$f"
  fi
done
for f in speed/train_speed.md loader/loader.md converge/converge.md speed/profile.txt; do
  [ -f "$WORK/results/$f" ] && cp "$WORK/results/$f" "$OUT/$(dirname "$f")_$(basename "$f")"
done
pack
