#!/usr/bin/env bash
# The GPU benchmarks as one prepared run, for a short loan of a GPU machine.
#
#   bash benchmarks/gpu_suite.sh [COPY_DIR]
#
# Runs, in order of importance, each stage under its own time limit so that a slow
# or failing stage cannot take the others with it:
#   1. inference latency, one 240×240×155×4 case, with and without flip TTA, blended on
#      the host and on the device, vs MONAI
#   2. training throughput, nnunet_3d 128³×4 batch 2, JAX, float32 and bfloat16, vs MONAI
#   3. the whole case, NIfTI to NIfTI, five folds averaged, with and without TTA, vs MONAI
#   4. training throughput, the 2D U-Net 192×160×4 batch 128, JAX, bfloat16, vs MONAI
#   5. training throughput, nnunet_3d on Keras' PyTorch backend
# After each stage benchmarks/results is packed into COPY_DIR/results.tgz ($OUT or
# /tmp/gpu_suite), so what finished survives a cut-off. No stage runs past DEADLINE
# seconds from the start (default 540); a stage with less than 20 s left is skipped.
# Environment: PYTHON (default python3); WHEELS=DIR installs the wheels in DIR first
# (the GPU machine has JAX and PyTorch but not Keras, nibabel or MONAI); QUICK=1 runs
# every stage in --quick mode.
set -u
cd "$(dirname "$0")/.."
copy_dir=${1:-${OUT:-/tmp/gpu_suite}}
python=${PYTHON:-python3}
mkdir -p "$copy_dir"
if [ -n "${WHEELS:-}" ]; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site "$WHEELS"/*.whl || exit 1
    export PYTHONPATH=/tmp/site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD/src:${PYTHONPATH:-} PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
# Keras falls back to TensorFlow, which the GPU machine lacks; each configuration of
# train_throughput still runs under the backend it names.
export KERAS_BACKEND=${KERAS_BACKEND:-jax}
quick=${QUICK:+--quick}

deadline=${DEADLINE:-540}

stage() {
    local limit=$1 left=$((deadline - SECONDS))
    shift
    if ((left < 20)); then
        echo "== skipped, ${left} s left: $*"
        return
    fi
    ((limit > left)) && limit=$left
    echo "== $(date +%T) $* (limit ${limit} s)"
    timeout -k 10 "$limit" "$@"
    local status=$?
    echo "== $(date +%T) exit ${status}$( ((status == 124)) && echo ' (time limit)')"
    tar -C benchmarks -czf "$copy_dir/results.tgz" results
}

nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv 2>&1 |
    tee "$copy_dir/gpu.txt"
stage 150 env KERAS_BACKEND=jax "$python" benchmarks/inference_latency.py --tta both \
    --blending both --precision mixed_bfloat16 --compare monai $quick
stage 240 "$python" benchmarks/train_throughput.py --models 3d --backends jax \
    --precisions float32,mixed_bfloat16 --compare monai --steps 8 --timeout 120 $quick
stage 100 env KERAS_BACKEND=jax "$python" benchmarks/case_latency.py --tta both --folds 5 --repeats 1 \
    --precision mixed_bfloat16 --compare monai $quick
stage 120 "$python" benchmarks/train_throughput.py --models 2d --backends jax \
    --precisions mixed_bfloat16 --compare monai --steps 8 --timeout 100 $quick
stage 70 "$python" benchmarks/train_throughput.py --models 3d --backends torch \
    --precisions float32,mixed_bfloat16 --steps 5 --timeout 60 $quick
