#!/usr/bin/env bash
# Everything this project checks on a CUDA machine, in one go: the GPU tests, then the
# GPU benchmark (native sft/osft against TRL). training-hub, its sft/osft/lora/trl
# plugins and TRL must be installed in the python3 that runs it.
#
# Usage: bash benchmarks/gpu_check.sh OUTPUT_DIR
# Writes into OUTPUT_DIR: versions.txt, gpu-tests.log, gpu-bench.log, gpu_sft.json and
# gpu-logs.tar.gz (the benchmark workers' logs). Record the outcome in docs/gpu.md.
set -u
out=${1:?usage: gpu_check.sh OUTPUT_DIR}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
{
  date -u
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import sys, torch, transformers; print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__)"
  python3 -m pip list 2>/dev/null | grep -i -E "^(trl|peft|accelerate|datasets|pydantic|liger|flash|training)" 
} > "$out/versions.txt" 2>&1
cat "$out/versions.txt"

mapfile -t gpu_tests < <(grep -l "pytest.mark.gpu" tests/*/test_*.py plugins/*/tests/test_*.py)
timeout "${GPU_TESTS_TIMEOUT:-150}" python3 -m pytest -m gpu -q -rs -p no:cacheprovider \
  "${gpu_tests[@]}" 2>&1 | tee "$out/gpu-tests.log"

timeout "${GPU_BENCH_TIMEOUT:-400}" python3 benchmarks/run_all.py --only gpu_sft --no-report \
  2>&1 | tee "$out/gpu-bench.log"
cp benchmarks/results/gpu_sft.json "$out/" 2>/dev/null
tar czf "$out/gpu-logs.tar.gz" -C benchmarks/results logs 2>/dev/null
exit 0
