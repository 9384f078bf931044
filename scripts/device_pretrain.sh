# Device session: two pretrainings side by side on the GPU, then the tiled-speed benchmark.
# Usage (session 42, on the lent H200, .gpu/ holding the wheels the machine lacks and
# uncompressed copies of the real images):
#   OUT=out M=5.5 S=2048 W=7 DEV=cuda bash scripts/device_pretrain.sh
# LOCAL=1 PY=python runs it here (no wheels); TILED="..." passes options to the benchmark.
set -u
PY=${PY:-python3}
if [ -z "${LOCAL:-}" ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu/whl/*.whl || exit 3
  export PYTHONPATH=/tmp/site:$PWD
fi
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
(nvidia-smi -L; nproc; free -g | head -2) 2>&1
$PY -c "import torch, lightning, segmentation_models_pytorch as s, microlab.deep.pretrain; print(torch.__version__, lightning.__version__, s.__version__, torch.cuda.is_available())" || exit 4
mkdir -p $OUT/a $OUT/b
common="--device $DEV --minutes $M --scenes $S --batch-size 32 --overlap 0.5 --workers $W --data .gpu/data"
$PY -m microlab.deep.pretrain --out $OUT/a/unet-mobilenet_v2-w0.5.safetensors $common > $OUT/a.log 2>&1 &
$PY -m microlab.deep.pretrain --out $OUT/b/unet-mobilenet_v2-w0.5.safetensors --nuclei-radius 3 24 $common > $OUT/b.log 2>&1 &
wait
tail -c 1500 $OUT/a.log; tail -c 600 $OUT/b.log
timeout ${T:-100} $PY benchmarks/bench_unet_device.py --device $DEV ${TILED:-} > $OUT/tiled.log 2>&1
cat $OUT/tiled.log
ls -la $OUT $OUT/a $OUT/b
