"""Objectives: parsed (never evaluated), composed, bound to a model, and each one steers
the dream toward what it names (a channel, a neuron, a guide image, smoothness)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image

import renderer
from renderer.engine.ascent import Ascent
from renderer.engine.dream import DreamSettings, TemporalTarget, dream
from renderer.engine.objective_graph import bind
from renderer.engine.objective_parser import parse_objective
from renderer.engine.objectives import (
    Objective,
    channel,
    class_logit,
    guide,
    layer,
    neuron,
    temporal,
    tv,
)
from renderer.engine.step_cache import compiled_ascent
from renderer.engine.steps.base import AscentSettings
from renderer.rendering.guides import read_guides
from renderer.rendering.identity import render_identity
from renderer.rendering.spec import load_spec
from renderer.runtime.errors import DreamreelError
from renderer.schedules.keyframe_parser import parse_schedule

LAYER12, LAYER13 = "block_12_expand_relu", "block_13_expand_relu"
EXAMPLE = f"layer:{LAYER13} + 0.5*channel:{LAYER12}:37 - 0.1*tv"


# ------------------------------------------------------------------ values, text


def test_text_form_parses_into_the_composed_value_and_prints_back():
    parsed = parse_objective(EXAMPLE)
    composed = layer(LAYER13) + 0.5 * channel(LAYER12, 37) - 0.1 * tv()
    assert parsed == composed
    assert str(parsed) == EXAMPLE
    assert parse_objective(str(parsed)) == parsed
    assert parsed.weights(0) == [1.0, 0.5, -0.1]
    assert parsed.layer_names() == [LAYER13, LAYER12]


def test_equal_terms_add_and_numbers_scale_every_term():
    twice = layer("a") + layer("a")
    assert twice.weights() == [2.0] and len(twice.terms) == 1
    assert (3 * (layer("a") - tv())).weights() == [3.0, -3.0]
    assert (-neuron("a", 2)).weights() == [-1.0]


def test_spaced_minus_is_an_operator_and_a_hyphen_inside_a_name_is_not():
    objective = parse_objective("guide:photos/my-dog.png - tv*0.2 + layer:mixed_7a-x")
    kinds = [(term.kind, term.layer, term.guide) for term in objective.terms]
    assert kinds == [
        ("guide", None, "photos/my-dog.png"),
        ("tv", None, None),
        ("layer", "mixed_7a-x", None),
    ]
    assert objective.weights() == [1.0, -0.2, 1.0]
    quoted = parse_objective(f'guide:{LAYER12}:"my dog.jpg" + 1e-3*class:golden_retriever')
    assert quoted.terms[0].layer == LAYER12 and quoted.terms[0].guide == "my dog.jpg"
    assert quoted.terms[1].key == "golden_retriever" and quoted.weights() == [1.0, 0.001]
    assert parse_objective(str(quoted)) == quoted
    assert parse_objective("class:7").terms[0].key == 7


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "empty objective"),
        ("layer:", "needs a value"),
        ("foo:x", "unknown term 'foo'"),
        ("__import__('os').system('x')", "unknown term"),
        ("0.5*", "without a factor"),
        ("layer:a + + layer:b", "column 11"),
        ("layer:a * layer:b", "only a number may multiply"),
        ("channel:a:x", "channel:LAYER:INDEX"),
        ("layer:a -", "ends with an operator"),
        ('guide:"unclosed', "quote is not closed"),
        ("1e999*layer:a", "out of range"),
        ("layer:a - temporal:3", "temporal takes no value"),
    ],
)
def test_bad_text_is_one_line_naming_the_place(text, words):
    with pytest.raises(DreamreelError) as error:
        parse_objective(text)
    message = str(error.value)
    assert words in message and "\n" not in message and message.startswith("objective")


def test_a_table_gives_weights_that_follow_schedules_and_round_trips():
    table = {f"layer:{LAYER13}": 1.0, "tv": "0:(0), 10:(0.2)"}
    objective = parse_objective(table)
    assert objective.weights(0) == [1.0, 0.0]
    assert objective.weights(5) == pytest.approx([1.0, 0.1])
    assert objective.to_plain() == {f"layer:{LAYER13}": 1.0, "tv": "0:(0.0), 10:(0.2)"}
    assert parse_objective(objective.to_plain()) == objective
    ramp = layer("a") * parse_schedule("0:(0), 4:(2)", key="w")
    assert (0.5 * ramp).weights(4) == [1.0]
    # an expression weight keeps its text, its factor stays in the key
    wave = -0.5 * tv() * parse_schedule("0:(1 + sin(t))", key="w")
    assert wave.to_plain() == {"-0.5*tv": "0:(1 + sin(t))"}
    assert parse_objective(wave.to_plain()).weights(3) == pytest.approx(wave.weights(3))


def test_spec_takes_text_or_table_and_the_objective_replaces_layers(tmp_path):
    spec = load_spec("noise-zoom", [f'objective="{EXAMPLE}"'])
    assert isinstance(spec.objective, Objective) and spec.to_dict()["objective"] == EXAMPLE
    again = load_spec(spec)
    assert again.objective == spec.objective
    assert render_identity(again) == render_identity(spec)
    other = load_spec("noise-zoom", ['objective="tv"'])
    assert render_identity(other) != render_identity(spec)
    # The objective replaces the preset's layers (they were its layer: terms).
    assert load_spec("noise-zoom").layers is not None
    assert spec.layers is None and spec.to_dict()["layers"] is None


def test_guide_image_content_is_part_of_the_identity(tmp_path):
    path = tmp_path / "guide.png"
    cv2.imwrite(str(path), np.zeros((40, 40, 3), np.uint8))
    spec = load_spec("noise-zoom", [f'objective="guide:{path}"'])
    before = render_identity(spec)
    cv2.imwrite(str(path), np.full((40, 40, 3), 200, np.uint8))
    assert render_identity(spec) != before


def test_checks_before_tensorflow_name_the_bad_layer_and_guide(tmp_path):
    from renderer.rendering.preflight import check_objective

    with pytest.raises(DreamreelError, match="block_13_expand_rel"):
        check_objective(parse_objective("layer:block_13_expand_rel"), "mobilenet_v2_dogs")
    text = tmp_path / "guide.png"
    text.write_text("not an image")
    with pytest.raises(DreamreelError, match="guide image"):
        check_objective(parse_objective(f"guide:{text}"), "mobilenet_v2_dogs")
    with pytest.raises(DreamreelError, match="guide image.*no such file"):
        check_objective(parse_objective(f"guide:{tmp_path / 'gone.png'}"), "mobilenet_v2_dogs")
    from helpers import png_claiming  # a header claiming 40000 x 40000

    bomb = png_claiming(tmp_path / "bomb.png", 40000, 40000)
    with pytest.raises(DreamreelError, match="guide image.*40000x40000"):
        check_objective(parse_objective(f"guide:{bomb}"), "mobilenet_v2_dogs")


# ------------------------------------------------------------------ the engine


@pytest.fixture(scope="module")
def dogs(embedded_cache):
    from renderer.models.loading import load_dream_model

    return load_dream_model("mobilenet_v2_dogs", [LAYER12, LAYER13])


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(3)
    noise = cv2.GaussianBlur(rng.uniform(0, 255, (48, 48, 3)).astype(np.float32), (0, 0), 2)
    return cv2.resize(noise, (112, 112), interpolation=cv2.INTER_CUBIC)


def features(model, image, layer_name):
    out = model.activations(model.preprocessing.to_model(image)[np.newaxis])
    return np.asarray(out[model.layers.index(layer_name)])[0]


STEPS = DreamSettings(steps=8, octaves=1, jitter=8)


def test_the_default_objective_is_the_classic_one_bit_for_bit(dogs, blobs):
    classic = dream(blobs, dogs, STEPS)
    explicit = dream(blobs, dogs, STEPS, objective=bind(layer(LAYER12) + layer(LAYER13), dogs))
    np.testing.assert_array_equal(classic.image, explicit.image)
    assert classic.final_loss == explicit.final_loss


def test_a_channel_objective_raises_its_channel_more_than_the_layer_objective(dogs, blobs):
    index = 37
    by_layer = dream(blobs, dogs, STEPS, objective=bind(layer(LAYER12), dogs))
    by_channel = dream(blobs, dogs, STEPS, objective=bind(channel(LAYER12, index), dogs))
    start = features(dogs, blobs, LAYER12)[..., index].mean()
    layer_gain = features(dogs, by_layer.image, LAYER12)[..., index].mean() - start
    channel_gain = features(dogs, by_channel.image, LAYER12)[..., index].mean() - start
    assert channel_gain > 1.2 * layer_gain > 0
    # and the loss it logs is that channel's mean, rising
    assert by_channel.losses[0][-1] > by_channel.losses[0][0]


def test_a_neuron_objective_raises_the_centre_unit_and_tiles_agree(dogs, blobs):
    a = features(dogs, blobs, LAYER13)
    cy, cx = a.shape[0] * 56 // 112, a.shape[1] * 56 // 112
    index = int(np.argmax(a[cy, cx]))  # a live unit: a dead ReLU has no gradient
    bound = bind(neuron(LAYER13, index), dogs)
    x = dogs.preprocessing.to_model(blobs)
    whole = Ascent(dogs, AscentSettings(tile_size=512), bound)
    tiled = Ascent(dogs, AscentSettings(tile_size=64, tile_margin=64), bound)
    assert tiled.loss(x) == pytest.approx(whole.loss(x), rel=1e-4)
    assert whole.loss(x) == pytest.approx(a[cy, cx, index], rel=1e-4)
    g_whole, g_tiled = whole.gradient(x), tiled.gradient(x)
    assert np.corrcoef(g_whole.ravel(), g_tiled.ravel())[0, 1] > 0.95
    dreamed = dream(blobs, dogs, DreamSettings(steps=8, octaves=1, jitter=0), objective=bound)
    after = features(dogs, dreamed.image, LAYER13)
    assert after[cy, cx, index] > a[cy, cx, index] + 0.5  # ReLU6: at most 6


def test_a_guided_dream_moves_the_features_toward_the_guide(dogs, blobs, tmp_path):
    rng = np.random.default_rng(9)
    tiles = rng.uniform(0, 255, (6, 6, 3)).astype(np.float32)
    guide_image = cv2.resize(tiles, (96, 96), interpolation=cv2.INTER_NEAREST)
    path = tmp_path / "guide.png"
    cv2.imwrite(str(path), guide_image[..., ::-1].astype(np.uint8))
    target = features(dogs, guide_image, LAYER13).reshape(-1, 576).mean(0)

    def similarity(image):
        f = features(dogs, image, LAYER13).reshape(-1, 576).mean(0)
        return float(f @ target / np.linalg.norm(f) / np.linalg.norm(target))

    settings = DreamSettings(steps=12, octaves=1, jitter=8)
    guided = dream(
        blobs,
        dogs,
        settings,
        objective=bind(guide(str(path), LAYER13), dogs, read_guides(guide(str(path), LAYER13))),
    )
    plain = dream(blobs, dogs, settings, objective=bind(layer(LAYER13), dogs))
    assert similarity(guided.image) > similarity(blobs) + 0.01
    assert similarity(guided.image) > similarity(plain.image) + 0.01


def test_a_guides_direction_is_taken_from_the_guide_as_the_model_sees_it(dogs, tmp_path):
    """MobileNetV2 sees RGB mapped to [-1, 1]: the guide's direction is the mean feature of
    the guide so mapped (computed here with the extractor alone), not of raw 0..255 pixels
    nor of the image scaled some other way."""
    rng = np.random.default_rng(4)
    tiles = rng.uniform(0, 255, (6, 6, 3)).astype(np.float32)
    guide_image = cv2.resize(tiles, (96, 96), interpolation=cv2.INTER_NEAREST).astype(np.uint8)
    path = tmp_path / "guide.png"
    cv2.imwrite(str(path), guide_image[..., ::-1])

    def direction(model_input):
        out = dogs.extractor(model_input[np.newaxis].astype(np.float32), training=False)
        mean = np.asarray(out[dogs.layers.index(LAYER13)])[0].reshape(-1, 576).mean(0)
        return mean / np.linalg.norm(mean)

    expected = direction(guide_image / 127.5 - 1.0)
    raw = direction(guide_image.astype(np.float32))  # what skipping preprocessing gives
    assert float(expected @ raw) < 0.99  # the test tells the two apart
    objective = guide(str(path), LAYER13)
    bound = bind(objective, dogs, read_guides(objective))
    got = bound.plans[0].features.ravel()
    assert float(got @ expected) > 0.9999


def test_subtracting_tv_smooths_the_dream(dogs, blobs):
    def roughness(image):
        return float(np.abs(np.diff(image, axis=1)).mean() + np.abs(np.diff(image, axis=0)).mean())

    plain = dream(blobs, dogs, STEPS, objective=bind(layer(LAYER13), dogs))
    smooth = dream(blobs, dogs, STEPS, objective=bind(layer(LAYER13) - 20 * tv(), dogs))
    assert roughness(smooth.image) < 0.9 * roughness(plain.image)


def held_setup(blobs):
    """A reference 40 grey levels off the image, held on the left half only."""
    reference = np.clip(blobs + 40.0, 0, 255).astype(np.float32)
    where = np.zeros(blobs.shape[:2], np.float32)
    where[:, :56] = 1.0
    return reference, where


def test_the_temporal_term_measures_the_held_difference_and_holds_the_dream(dogs, blobs):
    """Its value is mean(weight * ((x - ref) / range)^2) over the tiles; its step pulls the
    held pixels to the reference (harder with more weight) and leaves the rest to the
    dream, which still dreams there as hard as without the term."""
    reference, where = held_setup(blobs)
    objective = layer(LAYER13) - temporal()
    assert parse_objective(str(objective)) == objective and str(objective).endswith("temporal")
    bound = bind(objective, dogs)
    x = dogs.preprocessing.to_model(blobs)
    held = (dogs.preprocessing.to_model(reference), where[..., None])
    ascent = Ascent(dogs, AscentSettings(tile_size=64, tile_margin=16), bound)
    by_hand = np.mean(where[..., None] * ((blobs - reference) / 255.0) ** 2)
    weights = [1.0, -50.0]
    loss_held, loss_free = ascent.loss(x, weights, held), ascent.loss(x, weights)
    assert loss_free - loss_held == pytest.approx(50 * by_hand, rel=0.02)  # tiles overlap
    # a step's loss: the reference rolled with the image (unrolled, it would be 8 px off)
    whole = compiled_ascent(dogs, STEPS.ascent, bound)

    def first_loss(w):
        still = np.zeros(3, np.float32)
        return whole.run(x, 1, still, seed=7, layer_weights=[1.0, w], held=held)[1][0]

    assert first_loss(0.0) - first_loss(-50.0) == pytest.approx(50 * by_hand, rel=0.02)

    def distance(weight):
        target = TemporalTarget(reference, where * weight)
        out = dream(blobs, dogs, STEPS, objective=bound, temporal=target).image
        return np.abs(out - reference).mean(axis=2), np.abs(out - blobs).mean(axis=2)

    free_held, free_dream = distance(0.0)
    weak, _ = distance(10.0)
    strong, strong_dream = distance(1000.0)
    assert strong[:, :56].mean() < 0.1 * free_held[:, :56].mean()
    assert strong[:, :56].mean() < weak[:, :56].mean() < free_held[:, :56].mean()
    # the right half, not held: dreamed as hard as by the layer alone
    assert strong_dream[:, 60:].mean() == pytest.approx(free_dream[:, 60:].mean(), rel=0.15)


def test_a_temporal_term_weighing_nothing_changes_no_bit(dogs, blobs):
    reference, where = held_setup(blobs)
    plain = dream(blobs, dogs, STEPS, objective=bind(layer(LAYER13), dogs))
    held = dream(
        blobs,
        dogs,
        STEPS,
        objective=bind(layer(LAYER13) - temporal(), dogs),
        temporal=TemporalTarget(reference, where * 0.0),
    )
    np.testing.assert_array_equal(plain.image, held.image)
    unset = dream(blobs, dogs, STEPS, objective=bind(layer(LAYER13) - temporal(), dogs))
    np.testing.assert_array_equal(plain.image, unset.image)


def test_binding_refuses_a_channel_the_layer_lacks_and_a_layer_not_extracted(dogs):
    with pytest.raises(DreamreelError, match="576 channels"):
        bind(channel(LAYER13, 576), dogs)
    with pytest.raises(DreamreelError, match="does not extract"):
        bind(layer("block_3_expand_relu"), dogs)


def test_a_mask_keeps_black_pixels_unchanged_in_the_engine(dogs, blobs):
    mask = np.zeros(blobs.shape[:2], np.float32)
    mask[:, 56:] = 1.0
    out = dream(blobs, dogs, DreamSettings(steps=6, octaves=1, jitter=8), mask=mask).image
    np.testing.assert_allclose(out[:, :56], blobs[:, :56], atol=1e-3)
    assert np.abs(out[:, 56:] - blobs[:, 56:]).mean() > 2.0


def test_weights_that_follow_a_schedule_never_retrace(dogs, blobs):
    ramp = parse_schedule("0:(0), 3:(1)", key="w")
    objective = layer(LAYER12) + tv() * ramp
    bound = bind(objective, dogs)
    ascent = compiled_ascent(dogs, STEPS.ascent, bound)
    for frame in range(4):
        dream(blobs, dogs, STEPS, objective=bound, layer_weights=objective.weights(frame))
    assert ascent._run.experimental_get_tracing_count() == 1


def test_a_render_records_its_objective_and_dreams_it(tmp_path, embedded_cache):
    result = renderer.render(
        "noise-zoom",
        out=tmp_path / "r",
        frames=2,
        width=96,
        height=96,
        overrides=[
            f'objective="channel:{LAYER12}:37 - 0.1*tv"',
            "dream.steps=3",
            "zoom.first_steps=3",
            "zoom.first_octaves=1",
            "dream.octaves=1",
        ],
    )
    import json

    manifest = json.loads((result.out_dir / "manifest.json").read_text())
    assert manifest["spec"]["objective"] == f"channel:{LAYER12}:37 - 0.1*tv"
    assert result.frames == 2 and result.final_loss is not None


def _tv_weighted_render(out, weight: str, *extra: str):
    """A tiny zoom whose objective is one layer and a tv term of ``weight`` (TOML)."""
    renderer.render(
        "noise-zoom",
        out=out,
        frames=4,
        width=64,
        height=64,
        overrides=[
            f'objective={{"layer:{LAYER13}" = 1, "tv" = {weight}}}',
            "fps=8",
            "dream.steps=3",
            "zoom.first_steps=3",
            "zoom.first_octaves=1",
            "dream.octaves=1",
            "output.gif=false",
            "output.mp4=false",
            *extra,
        ],
    )
    return [np.asarray(Image.open(path), np.float32) for path in sorted(out.glob("frames/*.png"))]


def _roughness(image) -> float:
    return float(np.abs(np.diff(image, axis=1)).mean() + np.abs(np.diff(image, axis=0)).mean())


def test_objective_weights_that_are_schedules_change_frames_from_their_ramp_on(
    tmp_path, embedded_cache
):
    """A tv weight of 0 until frame 0, 50 by frame 2 (a keyframe ramp), or 50 times the
    onset of a track whose only beat is on frame 2 (an audio: weight): the frames before
    the weight rises are the zero-weight render's, bit for bit; from there on they differ,
    rougher (a positive tv weight raises the total variation)."""
    flat = _tv_weighted_render(tmp_path / "flat", "0")
    ramp = _tv_weighted_render(tmp_path / "ramp", '"0:(0), 2:(50)"')
    assert np.array_equal(ramp[0], flat[0])
    for index in (1, 2, 3):
        assert not np.array_equal(ramp[index], flat[index])
    assert _roughness(ramp[2]) > 1.05 * _roughness(flat[2])

    from test_audio_features import beat_track, encode_track

    track = encode_track(tmp_path / "beat.wav", beat_track(0.5, [2]))  # 4 frames at 8 fps
    beat = _tv_weighted_render(tmp_path / "beat", '"audio: 50*onset"', f'audio="{track}"')
    assert len(beat) == 4
    assert np.array_equal(beat[0], flat[0]) and np.array_equal(beat[1], flat[1])
    assert not np.array_equal(beat[2], flat[2])
    assert _roughness(beat[2]) > 1.05 * _roughness(flat[2])


def test_a_class_dream_makes_the_classifier_see_that_breed(embedded_cache, samples_dir):
    """The embedded classifier's probability of the breed, on a photo it never saw as a
    dog (a cat), rises from a few percent to near certainty."""
    from renderer.engine.objective_layers import resolved_objective
    from renderer.media.images import read_image
    from renderer.models.class_labels import class_index, classifier_head
    from renderer.models.loading import load_dream_model

    model = load_dream_model("mobilenet_v2_dogs", ["out_relu"])
    kernel, bias, head_layer = classifier_head("mobilenet_v2_dogs")
    assert head_layer == "out_relu"
    photo = cv2.resize(
        read_image(samples_dir / "chelsea.jpg").astype(np.float32),
        (128, 96),
        interpolation=cv2.INTER_AREA,
    )

    def probability(image, index):
        pooled = features(model, image, "out_relu").mean(axis=(0, 1))
        logits = pooled @ kernel + bias
        odds = np.exp(logits - logits.max())
        return float(odds[index] / odds.sum())

    objective = resolved_objective(parse_objective("class:Golden Retriever"), "mobilenet_v2_dogs")
    assert objective.terms[0].layer == "out_relu"
    index = class_index("mobilenet_v2_dogs", "golden_retriever")
    before = probability(photo, index)
    dreamed = dream(
        photo, model, DreamSettings(steps=8, octaves=1, jitter=8), objective=bind(objective, model)
    )
    assert before < 0.1 and probability(dreamed.image, index) > 0.9


def test_an_unknown_breed_is_one_line_with_the_closest_names(embedded_cache):
    from renderer.rendering.preflight import check_objective

    with pytest.raises(DreamreelError, match="golden_retriever"):
        check_objective(class_logit("golden_retreiver"), "mobilenet_v2_dogs")
    with pytest.raises(DreamreelError):
        check_objective(class_logit(19), "mobilenet_v2_dogs")


def test_guide_match_is_googles_matching_and_its_loss_rises(dogs, blobs, tmp_path):
    path = tmp_path / "guide.png"
    rng = np.random.default_rng(4)
    cv2.imwrite(
        str(path),
        cv2.resize(
            rng.integers(0, 255, (6, 6, 3), np.uint8), (96, 96), interpolation=cv2.INTER_NEAREST
        ),
    )
    objective = parse_objective(f"guide_match:{LAYER13}:{path} - 0.1*tv")
    assert objective.terms[0].kind == "guide_match" and str(objective).startswith("guide_match:")
    bound = bind(objective, dogs, read_guides(objective))
    guide_rows = bound.plans[0].features
    assert guide_rows.shape == (36, 576)  # 96 px at stride 16: one row per guide position
    x = dogs.preprocessing.to_model(blobs)
    a = features(dogs, blobs, LAYER13).reshape(-1, 576)
    by_hand = (a @ guide_rows.T).max(axis=1).mean() - 0.1 * (
        np.abs(np.diff(x, axis=0)).mean() + np.abs(np.diff(x, axis=1)).mean()
    )
    ascent = Ascent(dogs, AscentSettings(tile_size=512), bound)
    assert ascent.loss(x) == pytest.approx(by_hand, rel=1e-4)
    result = dream(blobs, dogs, DreamSettings(steps=8, octaves=1, jitter=0), objective=bound)
    assert ascent.loss(dogs.preprocessing.to_model(result.image)) > 1.2 * ascent.loss(x)


def test_a_label_shows_the_frames_weights_for_captions():
    ramp = parse_schedule("0:(0), 10:(1)", key="w")
    objective = class_logit("pug") - 0.1 * tv() + layer(LAYER12) * ramp
    assert objective.label(0) == f"class:pug - 0.1*tv + 0*layer:{LAYER12}"
    assert objective.label(5) == f"class:pug - 0.1*tv + 0.5*layer:{LAYER12}"
    assert len(objective.label(5, limit=20)) == 20


def test_progress_frames_carry_the_objective_on_top(tmp_path, embedded_cache):
    from renderer.media.images import read_image

    common = [
        "width=96",
        "height=96",
        "dream.steps=2",
        "dream.octaves=1",
        "progress.every=2",
        "output.gif=false",
        "output.mp4=false",
    ]
    plain = renderer.render("progress", out=tmp_path / "plain", overrides=common)
    steered = renderer.render(
        "progress",
        out=tmp_path / "steered",
        overrides=[*common, f'objective="channel:{LAYER12}:37"'],
    )
    top = [
        read_image(sorted((r.out_dir / "frames").glob("*.png"))[0])[:12].astype(float)
        for r in (plain, steered)
    ]
    assert top[1].mean() < 0.8 * top[0].mean()  # the dark band with the objective's text
