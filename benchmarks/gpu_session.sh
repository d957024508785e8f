#!/usr/bin/env bash
# The GPU checks that wait for a GPU machine, as one run under 8 minutes on the machine's own
# Python (PyTorch and the rest there; DVC, Ray and mnist1d are not, and nothing here needs them):
#
#   1. the machine: GPU, CPU model, Python and torch;
#   2. the cross-machine canary against the AMD EPYC record, if its folder travelled (below);
#   3. benchmarks/gpu_check.py: CIFAR-10-sized, ResNet-18 at batch 512, ERM and LRW-Hard images/s
#      against their targets, with the GPU's utilisation;
#   4. the same for every method of the CIFAR-100 preset (ResNet-32, batch 100, flip-crop), on
#      8,000 training images;
#   5. the meta step's cost with ResNet-18 on CIFAR-shaped input at batch 128 and 512
#      (`molere-bench bench meta-step`, CUDA, peak memory);
#   6. how fast the machine's CPUs decode a streamed dataset's batches (data.<name>.stream) at
#      224 x 224, with 0 and 12 DataLoader workers (benchmarks/image_streaming.py --train): what
#      a streamed fine-tuning run can feed its GPU.
#
# The limits add up to 470 s.
#
# Every step has its own time limit and the script goes on after one fails; what each prints goes
# to $OUT/gpu_session.log too (the device tool brings $OUT back). The default study with
# fractional GPUs per run against one run at a time is not here: it needs Ray and DVC, which the
# GPU machine's image lacks and which cannot travel (Ray's wheel alone is larger than the 64 MiB
# a run may carry).
#
# From the session's checkout, with the canary carried:
#   mkdir -p .gpu-carry && cp -r ../shared/xmachine .gpu-carry/ && echo /.gpu-carry/ >> .git/info/exclude
#   device run: bash benchmarks/gpu_session.sh      (carry: [".gpu-carry"], timeout_s: 540)
set -u
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PYTHON=${PYTHON:-python3}
CANARY=${CANARY:-.gpu-carry/xmachine}
LOG=${OUT:-/tmp}/gpu_session.log
: > "$LOG"

step() {  # step SECONDS TITLE COMMAND...: run COMMAND under a limit, its output to the log too
    local limit=$1 title=$2
    shift 2
    echo "=== $title (limit ${limit} s)" | tee -a "$LOG"
    local start=$SECONDS
    timeout "$limit" "$@" 2>&1 | tee -a "$LOG"
    echo "=== $title: exit ${PIPESTATUS[0]}, $((SECONDS - start)) s" | tee -a "$LOG"
}

step 20 "machine" bash -c "nvidia-smi -L; lscpu | grep -m1 'Model name'; $PYTHON -c 'import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else \"no CUDA\")'"
if [ -f "$CANARY/canary.py" ]; then
    step 60 "canary" "$PYTHON" "$CANARY/canary.py" --compare "$CANARY/reference-amd-epyc-zen4.json"
else
    echo "=== canary: $CANARY/canary.py did not travel; skipped" | tee -a "$LOG"
fi
step 150 "gpu_check (ResNet-18, batch 512, 2 epochs)" "$PYTHON" benchmarks/gpu_check.py --epochs 2 --batch-size 512
step 120 "gpu_check (the CIFAR-100 preset, every method, 2 epochs of 8,000 images)" "$PYTHON" benchmarks/gpu_check.py \
    --preset studies/cifar100-resnet32.yaml --methods all --train-images 8000 --test-images 2000 --epochs 2
for batch in 128 512; do
    step 45 "meta step, ResNet-18, batch $batch" "$PYTHON" -m molere.cli bench meta-step --model resnet18 --input-shape 3,32,32 \
        --batch-size "$batch" --device cuda --repeats 10 --epoch-batches 10 --epoch-repeats 2
done
step 30 "streamed images decoded for training, 2,000 JPEG files at 224, workers 0 and 12" "$PYTHON" benchmarks/image_streaming.py \
    --train --images 2000 --workers 0,12
