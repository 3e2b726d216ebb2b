#!/usr/bin/env bash
# Every GPU measurement of issue 15 (item 3) as one command, on a machine with a CUDA GPU and the
# project set up with a CUDA build of torch (TORCH_INDEX_URL='' ./dev setup, or the container image):
#
#     bash benchmarks/gpu.sh [CHECKPOINT] > gpu-report.txt
#
# 1. captioning alone: fp32 against bf16 and fp16 autocast, batch 64 to 1,024 at beam 5 and beam 3;
# 2. decode -> caption -> tag -> encode -> store end to end, bf16, with 4, 8 and 16 decode workers
#    (how many CPU cores one GPU needs for decoding);
# 3. training steps per second (decoder on cached features, and fine-tuning the encoder's top blocks).
# Without CHECKPOINT, a randomly initialised decoder of the paper's sizes is timed (decode cost hardly
# depends on the weights, except that a trained beam search may stop earlier). Images are 640x480
# JPEGs the scripts generate, so nothing needs downloading.
set -euo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
checkpoint=("${1:+--checkpoint}" "${1:-}")
[ -n "${1:-}" ] || checkpoint=()
export PYTHONUNBUFFERED=1

"$python" - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA device: this script measures the GPU path"
print(torch.__version__, torch.cuda.get_device_name(0), f"{torch.cuda.get_device_properties(0).total_memory / 2**30:.0f} GiB")
PY
nproc

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$python" - "$scratch" <<'PY'
import json, sys
from pathlib import Path
from benchmarks.index_throughput import make_images
folder = Path(sys.argv[1])
make_images(folder / "images", 4096)
records = [{"filename": p.name, "filepath": "images", "split": "test", "sentences": [{"tokens": ["x"]}]}
           for p in sorted((folder / "images").glob("*.jpg"))]
(folder / "dataset.json").write_text(json.dumps({"images": records}))
PY

echo "== 1. captioning alone (images/s per GPU)"
"$python" -m benchmarks.caption_throughput --dataset "$scratch/dataset.json" --device cuda --images 4096 \
  --workers 8 --precisions fp32,bf16,fp16 --configs 64x5,256x5,512x5,1024x5,512x3 "${checkpoint[@]}"

echo "== 2. end to end, bf16 (decode workers = CPU cores for decoding)"
for workers in 4 8 16; do
  "$python" -m benchmarks.index_throughput --device cuda --precision bf16 --images 4096 --batch-size 512 \
    --beam-size 5 --workers "$workers" --skip-encoder-comparison "${checkpoint[@]}"
done

echo "== 3. training throughput"
"$python" -m benchmarks.train_throughput --device cuda --batch 256
