"""Issue 10's objective checks on real photos, with the settings a user would use.

For each photo (default: the three in samples/, resized to --width):
- class: the embedded classifier's probability of --breed before and after a dream with
  ``objective = "class:<breed>"`` (the classifier as the head sees an image: softmax of the
  dense layer on the global average of out_relu, any image size);
- guide: cosine similarity of the image's mean block_13 features with the guide image's,
  before, after a guided dream and after a plain layer dream (the reference);
- channel: the gain of channel --channel of block_12 under a channel objective and under
  the layer objective (the reference).

    PYTHONPATH=. .venv/bin/python benchmarks/objective_checks.py [--photos a.jpg b.jpg]
        [--guide samples/chelsea.jpg] [--breed golden_retriever] [--width 320] [--steps 20]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np

from renderer.engine.dream import DreamSettings, dream
from renderer.engine.objective_graph import bind
from renderer.engine.objective_layers import resolved_objective
from renderer.engine.objectives import channel, class_logit, guide, layer
from renderer.media.images import read_image
from renderer.models.class_labels import class_index, classifier_head
from renderer.models.loading import load_dream_model
from renderer.rendering.guides import read_guides

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
L12, L13 = "block_12_expand_relu", "block_13_expand_relu"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--photos",
        nargs="*",
        default=[str(SAMPLES / n) for n in ("chelsea.jpg", "coffee.jpg", "astronaut.jpg")],
    )
    parser.add_argument("--guide", default=str(SAMPLES / "chelsea.jpg"))
    parser.add_argument("--breed", default="golden_retriever")
    parser.add_argument("--channel", type=int, default=37)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    model = load_dream_model("mobilenet_v2_dogs", [L12, L13, "out_relu"])
    kernel, bias, _ = classifier_head("mobilenet_v2_dogs")
    breed = class_index("mobilenet_v2_dogs", args.breed)
    settings = DreamSettings(steps=args.steps, octaves=3)

    def feats(image, name):
        out = model.activations(model.preprocessing.to_model(image)[np.newaxis])
        return np.asarray(out[model.layers.index(name)])[0]

    def probability(image):
        logits = feats(image, "out_relu").mean(axis=(0, 1)) @ kernel + bias
        odds = np.exp(logits - logits.max())
        return float(odds[breed] / odds.sum())

    def cosine(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    guide_image = read_image(args.guide).astype(np.float32)
    target = feats(guide_image, L13).reshape(-1, 576).mean(0)
    objectives = {
        "class": bind(resolved_objective(class_logit(args.breed), "mobilenet_v2_dogs"), model),
        "guide": bind(guide(args.guide, L13), model, read_guides(guide(args.guide, L13))),
        "layer13": bind(layer(L13), model),
        "layer12": bind(layer(L12), model),
        "channel": bind(channel(L12, args.channel), model),
    }
    print(
        f"breed {args.breed} (index {breed}), guide {args.guide}, {args.steps} steps x 3 "
        f"octaves at width {args.width}"
    )
    for path in args.photos:
        photo = read_image(path).astype(np.float32)
        height = round(photo.shape[0] * args.width / photo.shape[1])
        photo = cv2.resize(photo, (args.width, height), interpolation=cv2.INTER_AREA)
        dreamed, seconds = {}, {}
        for name, objective in objectives.items():
            started = time.perf_counter()
            dreamed[name] = dream(photo, model, settings, objective=objective).image
            seconds[name] = time.perf_counter() - started
        start_ch = feats(photo, L12)[..., args.channel].mean()
        gain = {
            name: feats(dreamed[name], L12)[..., args.channel].mean() - start_ch
            for name in ("channel", "layer12")
        }
        print(
            f"{Path(path).name}: class p {probability(photo):.4f} -> "
            f"{probability(dreamed['class']):.4f} ({seconds['class']:.1f} s); "
            f"guide cos {cosine(feats(photo, L13).reshape(-1, 576).mean(0), target):.3f} -> "
            f"{cosine(feats(dreamed['guide'], L13).reshape(-1, 576).mean(0), target):.3f} "
            f"(layer dream: "
            f"{cosine(feats(dreamed['layer13'], L13).reshape(-1, 576).mean(0), target):.3f}); "
            f"channel {args.channel} gain {gain['channel']:.3f} vs layer objective "
            f"{gain['layer12']:.3f}"
        )


if __name__ == "__main__":
    main()
