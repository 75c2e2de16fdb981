"""Masks, losses and metrics of mlrtrain (no model needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score

from backbone.metrics import average_precision, mean_average_precision
from mlr.losses import asymmetric_loss, bce_loss, get_loss, partial_bce_loss
from mlr.masks import apply_mask, draw_mask, known_fraction, load_mask, save_mask
from mlr.metrics import evaluate


# ---------------------------------------------------------------- masks
def test_mask_is_byte_identical_for_same_seed_and_differs_for_another(tmp_path):
    a, b = draw_mask(500, 80, 0.3, seed=0), draw_mask(500, 80, 0.3, seed=0)
    assert a.dtype == np.int8 and a.shape == (500, 80)
    assert a.tobytes() == b.tobytes()
    assert not np.array_equal(a, draw_mask(500, 80, 0.3, seed=1))
    save_mask(tmp_path / "mask.npy", a)
    assert (tmp_path / "mask.npy").read_bytes() == save_mask(tmp_path / "m2.npy", b).read_bytes()


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_mask_rate_is_p_per_entry(p):
    m = draw_mask(2000, 80, p, seed=3)
    assert abs(known_fraction(m) - p) < 0.01  # 160k Bernoulli draws: sd ≈ 0.0012
    # per entry, not per image: the number of known labels per image varies
    assert m.sum(1).std() > 1


def test_masks_are_nested_in_p_and_p1_keeps_all():
    small, large = draw_mask(300, 20, 0.2), draw_mask(300, 20, 0.6)
    assert np.all(large[small == 1] == 1)
    assert draw_mask(5, 3, 1.0).all()


@pytest.mark.parametrize("p", [0.0, -0.1, 1.5, 50.0])
def test_partial_outside_zero_one_is_an_error(p):
    with pytest.raises(ValueError, match=r"--partial must be in \(0, 1\]"):
        draw_mask(5, 3, p)


def test_apply_mask_encodes_unknown_as_minus_one_without_leakage():
    labels = np.array([[1, 0, 1], [0, -1, 1]], dtype=np.int8)
    mask = np.array([[1, 0, 0], [1, 1, 0]], dtype=np.int8)
    assert apply_mask(labels, mask).tolist() == [[1, -1, -1], [0, -1, -1]]


def test_load_mask_checks_shape_against_dataset(tmp_path):
    save_mask(tmp_path / "m.npy", draw_mask(10, 4, 0.5))
    assert load_mask(tmp_path / "m.npy", 10, 4).shape == (10, 4)
    with pytest.raises(ValueError, match=r"m\.npy.*shape \(10, 4\).*12 images × 4 classes"):
        load_mask(tmp_path / "m.npy", 12, 4)
    with pytest.raises(FileNotFoundError, match=r"nope\.npy"):
        load_mask(tmp_path / "nope.npy", 10, 4)


# ---------------------------------------------------------------- losses
def _logits():
    # class 0: p = σ(ln 3) = 0.75, y = 1; class 1: p = 0.5, y = 0; class 2: unknown
    return torch.tensor([[[0.0, 0.0, 5.0], [math.log(3.0), 0.0, -5.0]]], requires_grad=True)


def test_asl_matches_hand_computed_value():
    y = torch.tensor([[1, 0, -1]])
    loss = asymmetric_loss(_logits(), y)
    # positive: (1 − 0.75)¹ · ln 0.75; negative: q = min(1, 0.5 + 0.05) = 0.55, (1 − q)² · ln 0.55
    hand = -(0.25 * math.log(0.75) + 0.45**2 * math.log(0.55))
    assert loss.item() == pytest.approx(hand, rel=1e-6)
    assert hand == pytest.approx(0.1929825, abs=1e-7)


def test_asl_focusing_weights_are_detached_and_unknowns_get_no_gradient():
    logits = _logits()
    asymmetric_loss(logits, torch.tensor([[1, 0, -1]])).backward()
    # d/dl₊ of −w·ln p with w constant = −w·(1 − p) = −0.25·0.25
    assert logits.grad[0, 1, 0].item() == pytest.approx(-0.0625, rel=1e-5)
    assert logits.grad[0, :, 2].abs().sum().item() == 0.0


def test_bce_and_partial_bce():
    y = torch.tensor([[1, 0, -1]])
    hand = -(math.log(0.75) + math.log(0.5))
    assert bce_loss(_logits(), y).item() == pytest.approx(hand, rel=1e-6)
    assert partial_bce_loss(_logits(), y).item() == pytest.approx(hand / 2, rel=1e-6)
    assert get_loss("partial-bce") is partial_bce_loss
    with pytest.raises(ValueError, match="unknown loss"):
        get_loss("focal")


# ---------------------------------------------------------------- metrics
def test_ap_equals_sklearn_per_class_with_ties_and_ignored_entries():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random((200, 6)), 1)  # many ties
    labels = (rng.random((200, 6)) < 0.3).astype(np.int8)
    labels[rng.random((200, 6)) < 0.1] = -1
    for c in range(6):
        keep = labels[:, c] >= 0
        ref = average_precision_score(labels[keep, c], scores[keep, c])
        assert average_precision(scores[:, c], labels[:, c]) == pytest.approx(ref, abs=1e-12)
    expect = 100 * np.mean(
        [
            average_precision_score(labels[labels[:, c] >= 0, c], scores[labels[:, c] >= 0, c])
            for c in range(6)
        ]
    )
    assert mean_average_precision(scores, labels) == pytest.approx(expect, abs=1e-9)


def test_all_tied_scores_give_the_prevalence():
    labels = np.array([1, 0, 0, 1, 0], dtype=np.int8)
    assert average_precision(np.full(5, 0.3), labels) == pytest.approx(0.4)


def test_tied_infinite_scores_are_one_threshold_and_nan_scores_are_refused():
    labels = np.array([1, 0, 1, 0], dtype=np.int8)
    for top in (np.inf, 1e300):  # +inf ties like any other tied score (sklearn on finite ties)
        scores = np.array([top, top, 1.0, -np.inf if top == np.inf else -1e300])
        ref = average_precision_score(labels, np.array([9.0, 9.0, 1.0, 0.0]))
        assert average_precision(scores, labels) == pytest.approx(ref)
        both = evaluate(np.stack([scores, scores[::-1]], 1), np.stack([labels, labels[::-1]], 1))
        assert both["map"] == pytest.approx(100 * ref)
    with_nan = np.array([[np.nan, 1.0], [0.5, 0.2], [0.1, 0.9]])
    with pytest.raises(ValueError, match=r"1 score\(s\) are NaN"):
        evaluate(with_nan, np.array([[1, 0], [0, 1], [1, 0]], dtype=np.int8))
    with pytest.raises(ValueError, match="NaN"):
        average_precision(with_nan[:, 0], np.array([-1, 1, 0], dtype=np.int8))  # even ignored


def test_class_without_positives_is_reported_none_and_left_out_of_map():
    scores = np.array([[0.9, 0.2], [0.1, 0.8]])
    labels = np.array([[1, 0], [0, 0]], dtype=np.int8)
    m = evaluate(scores, labels, ["a", "b"])
    assert m["per_class_ap"] == {"a": 100.0, "b": None}
    assert m["map"] == 100.0 and m["n_classes_evaluated"] == 1


def test_cf1_definitions_and_of1_by_hand():
    # scores are logit differences l₊ − l₋: predicted positive at ≥ 0 (σ ≥ 0.5)
    scores = np.array([[2.2, 2.2], [2.2, -2.2], [-2.2, 2.2], [-2.2, -2.2]])
    labels = np.array([[1, 1], [1, 0], [0, 0], [1, 0]], dtype=np.int8)
    m = evaluate(scores, labels)
    probs = evaluate(1 / (1 + np.exp(-scores)), labels, threshold=0.5)
    assert m == probs | {"threshold": 0.0}  # the same metrics as σ at 0.5
    # class a: TP 2, pred 2, pos 3 → P 1, R 2/3; class b: TP 1, pred 2, pos 1 → P 1/2, R 1
    pa, ra, pb, rb = 1.0, 2 / 3, 0.5, 1.0
    fa, fb = 2 * pa * ra / (pa + ra), 2 * pb * rb / (pb + rb)
    cp, cr = (pa + pb) / 2, (ra + rb) / 2
    assert m["cf1_mean_of_f1"] == pytest.approx(100 * (fa + fb) / 2)
    assert m["cf1_harmonic"] == pytest.approx(100 * 2 * cp * cr / (cp + cr))
    op, orr = 3 / 4, 3 / 4
    assert m["of1"] == pytest.approx(100 * 2 * op * orr / (op + orr))


def test_thresholded_metrics_equal_sklearn_with_ignored_entries_and_empty_classes():
    rng = np.random.default_rng(1)
    scores = np.round(rng.normal(size=(300, 7)), 1)  # some exactly 0: predicted positive
    labels = (rng.random((300, 7)) < 0.3).astype(np.int8)
    labels[rng.random((300, 7)) < 0.1] = -1
    labels[:, 5] = np.minimum(labels[:, 5], 0)  # no positive: P = R = F1 = 0
    scores[:, 6] = -1.0  # nothing predicted: P = R = F1 = 0
    m = evaluate(scores, labels)
    pred = scores >= 0
    per_class = {"p": [], "r": [], "f": []}
    for c in range(7):
        keep = labels[:, c] >= 0
        y, yhat = labels[keep, c], pred[keep, c]
        per_class["p"].append(precision_score(y, yhat, zero_division=0))
        per_class["r"].append(recall_score(y, yhat, zero_division=0))
        per_class["f"].append(f1_score(y, yhat, zero_division=0))
    cp, cr = np.mean(per_class["p"]), np.mean(per_class["r"])
    assert m["cp"] == pytest.approx(100 * cp, abs=1e-9)
    assert m["cr"] == pytest.approx(100 * cr, abs=1e-9)
    assert m["cf1_mean_of_f1"] == pytest.approx(100 * np.mean(per_class["f"]), abs=1e-9)
    assert m["cf1_harmonic"] == pytest.approx(100 * 2 * cp * cr / (cp + cr), abs=1e-9)
    known = labels >= 0
    y, yhat = labels[known], pred[known]
    assert m["op"] == pytest.approx(100 * precision_score(y, yhat), abs=1e-9)
    assert m["or"] == pytest.approx(100 * recall_score(y, yhat), abs=1e-9)
    assert m["of1"] == pytest.approx(100 * f1_score(y, yhat), abs=1e-9)


# ---------------------------------------------------------------- augmentation
def test_every_randaugment_op_keeps_size_and_mode_and_augment_is_seeded():
    import random

    from PIL import Image

    from backbone.augment import OPS, cutout, train_augment

    assert len(OPS) == 15
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8))
    for name, op in OPS.items():
        out = op(img, 9, random.Random(0))
        assert out.size == img.size and out.mode == "RGB", name
    a = train_augment(img, 32, random.Random(5))
    b = train_augment(img, 32, random.Random(5))
    assert a.size == (32, 32) and a.tobytes() == b.tobytes()
    assert a.tobytes() != train_augment(img, 32, random.Random(6)).tobytes()
    # CutoutPIL(0.5): one flat rectangle of at most half the width and height
    blank = Image.new("RGB", (40, 40), (0, 0, 0))
    arr = np.asarray(cutout(blank, random.Random(1), 0.5))
    ys, xs = np.nonzero(arr.any(axis=2))
    assert 0 < np.ptp(ys) + 1 <= 20 and 0 < np.ptp(xs) + 1 <= 20
    assert len({tuple(c) for c in arr[ys, xs]}) == 1


class _Centre:
    """A stand-in rng: every sign positive, every position the middle, every colour 128."""

    def random(self) -> float:
        return 0.1

    def randrange(self, n: int) -> int:
        return n // 2


def test_randaugment_ops_have_the_magnitudes_of_the_anchors_package():
    """randaugment==1.0.2 (the anchors'): magnitude m takes linspace(0, max, 10)[m]; Rotate turns
    counter-clockwise only; its Cutout is a square of round(20·m/9) pixels in (125, 122, 113)."""
    import random

    from PIL import Image, ImageEnhance, ImageOps

    from backbone.augment import OPS, cutout

    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    grey = (128, 128, 128)

    def same(a, b) -> bool:
        return a.tobytes() == b.tobytes()

    rotated = img.rotate(30, fillcolor=grey)
    assert all(same(OPS["Rotate"](img, 9, random.Random(s)), rotated) for s in range(4))
    assert same(OPS["Solarize"](img, 9, _Centre()), ImageOps.invert(img))
    assert same(OPS["Posterize"](img, 6, _Centre()), ImageOps.posterize(img, 5))
    assert same(OPS["Brightness"](img, 9, _Centre()), ImageEnhance.Brightness(img).enhance(1.9))
    sheared = img.transform(
        img.size,
        Image.Transform.AFFINE,
        (1, 0.3, 0, 0, 1, 0),
        Image.Resampling.BICUBIC,
        fillcolor=grey,
    )
    assert same(OPS["ShearX"](img, 9, _Centre()), sheared)
    black = Image.new("RGB", (64, 64))
    arr = np.asarray(OPS["Cutout"](black, 9, _Centre()))
    ys, xs = np.nonzero(arr.any(axis=2))
    assert (np.ptp(ys) + 1, np.ptp(xs) + 1, len(ys)) == (20, 20, 400)
    assert {tuple(c) for c in arr[ys, xs]} == {(125, 122, 113)}
    # CutoutPIL(0.5) rounds half the side to the nearest pixel: 23.5 → 24 on a 47-pixel side
    arr = np.asarray(cutout(Image.new("RGB", (47, 47)), _Centre(), 0.5))
    assert np.ptp(np.nonzero(arr.any(axis=2))[0]) + 1 == 25  # 2·(24 // 2) + 1, both ends drawn
