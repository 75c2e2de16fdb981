#!/usr/bin/env bash
# The GPU check in one command, from the repository root of a CUDA machine:
#
#     bash benchmarks/gpu_check.sh OUTDIR [gpu_check.py options]
#
# writes OUTDIR/gpu_check.json and OUTDIR/gpu_check.md (random weights, nothing is downloaded) and
# never runs longer than ~8 minutes: each part has a budget, a watchdog stops the check at 450 s,
# and `timeout` kills it (with every process it started) at 460 s.
#
# The interpreter, first that works: .venv/bin/python; a python3 that already has torch,
# open_clip, polars, typer and rich; python3 plus the wheels in .whl/ (installed into a temporary
# folder: for a machine without network that has torch but not notclip's other packages); else
# the Makefile's install into .venv (needs the network). Wheels for such a machine, fetched where
# pip can reach PyPI (match its Python version):
#
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#         --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
#         polars polars-runtime-32 open_clip_torch ftfy wcwidth
set -euo pipefail
out=${1:?usage: bash benchmarks/gpu_check.sh OUTDIR [gpu_check.py options]}
shift
cd "$(dirname "$0")/.."
need='import torch, torchvision, open_clip, polars, pyarrow, typer, rich, PIL'

if [ -x .venv/bin/python ] && .venv/bin/python -c "$need" 2>/dev/null; then
    py=.venv/bin/python
elif python3 -c "$need" 2>/dev/null; then
    py=python3
elif compgen -G '.whl/*.whl' >/dev/null; then
    site=$(mktemp -d)
    trap 'rm -rf "$site"' EXIT
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" \
        .whl/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    py=python3
    "$py" -c "$need"
else
    make .venv/.notclip-installed || {
        echo "gpu_check.sh: no usable Python and the install failed (no network?): put the" \
            "wheels listed at the top of this script in .whl/" >&2
        exit 1
    }
    py=.venv/bin/python
fi

export PYTHONUNBUFFERED=1
timeout -k 5 460 "$py" benchmarks/gpu_check.py "$out" "$@"
