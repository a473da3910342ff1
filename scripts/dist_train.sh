#!/usr/bin/env bash
# Train on NGPUS processes of this machine: scripts/dist_train.sh NGPUS OPTION_FILE [basicsr train options]
# (gloo on CPU when no GPU is visible). Set PORT to run two jobs side by side.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 NGPUS OPTION_FILE [--auto_resume] [--debug] [--force_yml k=v ...]" >&2
  exit 2
fi
nproc=$1
opt=$2
shift 2
exec torchrun --nproc_per_node="$nproc" --master_port="${PORT:-29500}" -m igan_basicsr.train -opt "$opt" --launcher pytorch "$@"
