#!/usr/bin/env bash
# Issue 11's GPU measurement in one command: video-dream (720p) and zoom-hd on JAX
# (or PyTorch: BACKEND=torch).
#
#   benchmarks/gpu_run.sh [clip.mp4]          # from the checkout root or anywhere
#
# Meant for a bare Linux box with an NVIDIA GPU where Python, JAX and/or PyTorch with
# CUDA, OpenCV headless, imageio and tqdm are installed, but no package registry and no
# TensorFlow (neither path needs it: tests/test_backends_without_tensorflow.py). It
# installs the small wheels carried beside the checkout, checks that the backend sees the
# GPU, renders video-dream over the clip (one made with PyAV from numpy when none is
# given) and zoom-hd, both with --set backend=$BACKEND, and prints frames/s, the stage
# breakdown (the manifest's "profile") and the GPU's utilisation (nvidia-smi sampled
# every 500 ms meanwhile). With BACKEND=torch it ends with benchmarks/precision_check.py
# (bf16 and fp16 against float32) at the frame height.
#
# What travels with the checkout (prepare it on a machine with PyPI; shared/ is not
# committed). PYVER is the GPU box's Python (python3 -c 'import sys; print(sys.version_info[:2])'):
#
#   PYVER=3.11
#   pip download --only-binary=:all: --platform manylinux_2_28_x86_64 \
#       --platform manylinux2014_x86_64 --python-version $PYVER -d shared/wheels \
#       keras 'av>=18' imageio-ffmpeg
#   mkdir -p shared/dreamreel-cache
#   cp ~/.cache/dreamreel/mobilenet_v2_dogs.h5 \
#      ~/.cache/dreamreel/mobilenet_v2_dogs.classes.json shared/dreamreel-cache/
#
# (av 18 has manylinux_2_28 wheels only: without that --platform pip quietly picks av 14.
# pip download brings keras' dependencies too: h5py, optree, rich, namex, absl-py, ...,
# about 125 MB in all; ones already installed on the box are left alone.) The embedded
# model's cache is found through DREAMREEL_CACHE, so nothing is fetched.
#
# Knobs (environment): BACKEND (jax, or torch), WHEELS (shared/wheels), DREAMREEL_CACHE
# (shared/dreamreel-cache), RUN_OUT (${OUT:-/tmp}/gpu_run: renders, clip, GPU samples;
# wiped at the start), CLIP_FRAMES (72: 3 s at 24 fps), ZOOM_FRAMES (72), WIDTH x HEIGHT
# (1280 x 720, the clip and the zoom), EXTRA_SET (more "key=value" for both renders,
# space-separated) and ALLOW_CPU=1 (run on a CPU: for checking this script, not for
# figures).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
PY="${PYTHON:-python3}"
WHEELS="${WHEELS:-$root/shared/wheels}"
export DREAMREEL_CACHE="${DREAMREEL_CACHE:-$root/shared/dreamreel-cache}"
RUN_OUT="${RUN_OUT:-${OUT:-/tmp}/gpu_run}"
CLIP_FRAMES="${CLIP_FRAMES:-72}"
ZOOM_FRAMES="${ZOOM_FRAMES:-72}"
WIDTH="${WIDTH:-1280}"
HEIGHT="${HEIGHT:-720}"
EXTRA_SET="${EXTRA_SET:-}"
BACKEND="${BACKEND:-jax}"
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"  # the checkout, not installed
unset KERAS_BACKEND  # the spec's backend decides

say() { printf '\n== %s\n' "$*"; }
die() { printf 'gpu_run: %s\n' "$*" >&2; exit 1; }

say "wheels"
need=()
for module in keras av imageio_ffmpeg; do
    "$PY" -c "import $module" 2>/dev/null || need+=("${module//_/-}")
done
if ((${#need[@]})); then
    [[ -d "$WHEELS" ]] || die "missing ${need[*]} and no wheels folder $WHEELS (see this script's header)"
    "$PY" -m pip install --no-index --find-links "$WHEELS" "${need[@]}"
else
    echo "keras, av and imageio-ffmpeg already installed"
fi

say "model cache"
for file in mobilenet_v2_dogs.h5 mobilenet_v2_dogs.classes.json; do
    [[ -f "$DREAMREEL_CACHE/$file" ]] || die "$DREAMREEL_CACHE/$file is missing (see this script's header)"
done
echo "DREAMREEL_CACHE=$DREAMREEL_CACHE"

say "$BACKEND"
ALLOW_CPU="${ALLOW_CPU:-0}" "$PY" - "$BACKEND" <<'EOF'
import importlib.util, os, sys
backend = sys.argv[1]
if backend == "jax":
    import jax
    print("jax", jax.__version__, "devices:", jax.devices())
    on_gpu = jax.default_backend() == "gpu"
elif backend == "torch":
    import torch
    on_gpu = torch.cuda.is_available()
    print("torch", torch.__version__, "cuda:", on_gpu and torch.cuda.get_device_name(0))
else:
    sys.exit(f"gpu_run: BACKEND must be jax or torch, not {backend!r}")
print("tensorflow installed:", importlib.util.find_spec("tensorflow") is not None)
if not on_gpu and os.environ["ALLOW_CPU"] != "1":
    sys.exit(f"gpu_run: {backend} sees no GPU; install its CUDA build")
EOF

rm -rf "$RUN_OUT"
mkdir -p "$RUN_OUT"
clip="${1:-}"
if [[ -z "$clip" ]]; then
    clip="$RUN_OUT/clip.mp4"
    say "clip: $CLIP_FRAMES frames ${WIDTH}x$HEIGHT, made with PyAV"
    "$PY" - "$clip" "$CLIP_FRAMES" "$WIDTH" "$HEIGHT" <<'EOF'
import sys
import av
import numpy as np
path, frames, width, height = sys.argv[1], *map(int, sys.argv[2:])
y, x = np.mgrid[0:height, 0:width].astype(np.float32)
with av.open(path, "w") as container:
    stream = container.add_stream("libx264", rate=24)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    for i in range(frames):  # drifting colour waves: motion for the optical flow
        t = i / 24
        rgb = np.stack([np.sin(x / 37 + 2 * t) + np.cos(y / 53),
                        np.sin((x + y) / 61 - t), np.cos(x / 29 - y / 41 + 3 * t)], -1)
        image = ((rgb + 2) * 63.75).clip(0, 255).astype(np.uint8)
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
print(path)
EOF
fi

sampler=""
start_sampling() {
    sampler=""
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits \
            -lms 500 > "$1" 2>/dev/null &
        sampler=$!
    fi
}
stop_sampling() {
    if [[ -n "$sampler" ]]; then kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; fi
}
trap stop_sampling EXIT

report() {  # report NAME RENDER_DIR SAMPLES
    "$PY" - "$@" <<'EOF'
import json, sys
from pathlib import Path
name, out, samples = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
manifest = json.loads((out / "manifest.json").read_text())
profile = manifest.get("profile") or {}
print(f"{name}: backend {manifest.get('backend')}, {profile.get('frames')} frames in "
      f"{profile.get('wall_seconds')} s = {profile.get('frames_per_second')} frames/s")
print(f"  {profile.get('summary')}")
for table in ("stages", "overlapped"):
    for stage, row in (profile.get(table) or {}).items():
        print(f"  {'alongside' if table == 'overlapped' else 'stage':<10} {stage:<24} {row['seconds']:>9.2f} s {100 * row['share']:>6.1f}%"
              f"  {row['per_frame'] or 0:.3f} s/frame")
rows = [line.split(",") for line in samples.read_text().splitlines() if line.strip()] \
    if samples.exists() else []
rows = [(float(u), float(m)) for u, m in rows if u.strip().isdigit()]
if rows:
    util = [u for u, _ in rows]
    print(f"  GPU utilisation: mean {sum(util) / len(util):.0f}%, max {max(util):.0f}%, "
          f"{len(rows)} samples; memory max {max(m for _, m in rows):.0f} MiB")
else:
    print("  GPU utilisation: no nvidia-smi samples")
EOF
}

extra=()
for item in $EXTRA_SET; do extra+=(--set "$item"); done

say "video-dream at ${WIDTH}x$HEIGHT over $clip"
start_sampling "$RUN_OUT/gpu_video.csv"
"$PY" -m renderer.cli.main render video-dream --input "$clip" --out "$RUN_OUT/video-dream" \
    --set "backend=$BACKEND" --set "video.max_size=$((WIDTH > HEIGHT ? WIDTH : HEIGHT))" "${extra[@]}"
stop_sampling

say "zoom-hd, $ZOOM_FRAMES frames at ${WIDTH}x$HEIGHT"
start_sampling "$RUN_OUT/gpu_zoom.csv"
"$PY" -m renderer.cli.main render zoom-hd --out "$RUN_OUT/zoom-hd" --set "backend=$BACKEND" \
    --set "frames=$ZOOM_FRAMES" --set "width=$WIDTH" --set "height=$HEIGHT" "${extra[@]}"
stop_sampling

say "results"
report video-dream "$RUN_OUT/video-dream" "$RUN_OUT/gpu_video.csv"
report zoom-hd "$RUN_OUT/zoom-hd" "$RUN_OUT/gpu_zoom.csv"

if [[ "$BACKEND" == torch ]]; then  # mixed precision: within float32's tolerance, and faster?
    say "precision (torch autocast) at ${HEIGHT}px"
    "$PY" benchmarks/precision_check.py --size "$HEIGHT" --dtypes bfloat16 float16
fi
