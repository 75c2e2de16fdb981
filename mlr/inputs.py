"""The inputs of an mlrtrain run: its train and test splits, its frozen backbone, the feature
sources over them (building feature cache entries when missing) and its seeded head; and the
:class:`Reporter` hooks through which a run reports progress.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backbone.features import FeatureSource, cache_entry, describe_cache
from backbone.training import Reporter as Reporter
from corpora.classes import ClassSet
from corpora.multilabel import MultiLabelSplit, load_split, verify_images
from mlr.config import FitConfig, check_weights
from mlr.heads import Head, build_head


def load_backbone_for(cfg: FitConfig):
    """The run's frozen backbone; a text-only model (``st:``) is refused in one line."""
    from backbone import BackboneConfig, load_backbone, require_images

    backbone = load_backbone(
        BackboneConfig(
            model=cfg.model,
            pretrained=cfg.pretrained,
            cache_dir=cfg.cache_dir,
            offline=cfg.offline,
            device=cfg.device,
            precision="fp32",
            image_size=cfg.image_size,
            preprocess=cfg.preprocess,
            seed=cfg.seed,
        )
    )
    require_images(backbone, "mlrtrain (dense image features)")
    return backbone


def load_splits(
    cfg: FitConfig, *, weights: bool = False
) -> tuple[MultiLabelSplit, MultiLabelSplit]:
    """The run's train and test splits; with ``weights``, weights that cannot be had (offline, or
    their host does not answer) are said first, before the dataset is read
    (:func:`mlr.config.check_weights`)."""
    if weights:
        check_weights(cfg)
    kw: dict[str, Any] = {
        "skip_bad_images": cfg.skip_bad_images,
        "voc_difficult": cfg.voc_difficult,
        "classes": cfg.classes,
    }
    train = load_split(cfg.dataset, cfg.root, "train", **kw)
    test = load_split(cfg.dataset, cfg.root, "test", **kw)
    if cfg.skip_bad_images:  # decode everything once so that indices (and the mask) stay stable
        train, test = verify_images(train, skip_bad=True), verify_images(test, skip_bad=True)
    if len(train) == 0 or len(test) == 0:
        raise ValueError(
            f"{cfg.dataset} at {cfg.root}: empty split (train {len(train)}, test {len(test)})"
        )
    return train, test


def feature_sources(
    cfg: FitConfig, backbone, train, test, reporter: Reporter, *, need_aug: bool = True
):
    """Feature sources for the train and test splits (building cache entries when missing)."""
    size = backbone.image_size
    if not cfg.cache:
        return (
            FeatureSource(
                backbone,
                train,
                size,
                cfg.seed,
                None,
                0,
                augment_online=cfg.augment,
                workers=cfg.workers,
            ),
            FeatureSource(
                backbone, test, size, cfg.seed, None, 0, augment_online=False, workers=cfg.workers
            ),
        )
    info = backbone.info()
    root = Path(cfg.feature_cache).expanduser()
    told: list[bool] = []

    def hashing(n: int) -> None:
        reporter.message(f"hashing {n} image file(s) once: their content keys the feature cache")

    train.content_digest(hashing), test.content_digest(hashing)

    def build(split, view):
        entry, meta = cache_entry(root, info, size, split, view, cfg.seed)
        if entry.complete:
            return entry.open()
        if not told:  # before the first build: how big the whole cache gets, and where
            from backbone.dense import dense_shape

            _, regions, dims = dense_shape(info["name"], size)
            views = 1 + (cfg.aug_views if need_aug else 0)
            reporter.message(describe_cache(root, len(train), len(test), views, regions, dims))
            told.append(True)
        reporter.task(f"caching {split.split} view {view}", len(split))
        arr = entry.build(
            backbone,
            split,
            view,
            size,
            cfg.seed,
            meta,
            cfg.eval_batch_size,
            cfg.workers,
            on_progress=lambda d, n: reporter.advance(completed=d),
        )
        reporter.done()
        return arr

    train_views = [build(train, 0)]
    if need_aug:
        train_views += [build(train, v) for v in range(1, cfg.aug_views + 1)]
    test_views = [build(test, 0)]
    return (
        FeatureSource(
            backbone, train, size, cfg.seed, train_views, cfg.aug_views, augment_online=False
        ),
        FeatureSource(backbone, test, size, cfg.seed, test_views, 0, augment_online=False),
    )


def prompt_names(cfg: FitConfig, classes: ClassSet) -> tuple[str, ...]:
    """The class names in the heads' prompts: the readable names, or with ``class_names``
    ``anchors`` the dataset's keys (VOC's ``diningtable``, as the anchors' loader names it)."""
    return classes.keys if cfg.class_names == "anchors" else classes.names


def dataset_info(
    cfg: FitConfig, train: MultiLabelSplit, test: MultiLabelSplit, n_val: int
) -> dict[str, Any]:
    """``run.json``'s ``dataset`` section (``n_val`` images of ``train`` held out)."""
    return {
        "name": cfg.dataset,
        "root": str(cfg.root),
        "classes": list(train.classes.keys),
        "prompt_names": list(prompt_names(cfg, train.classes)),
        "n_train": len(train) - n_val,
        "n_val": n_val,
        "n_test": len(test),
        "skipped": train.skipped + test.skipped,
    }


def head_for(cfg: FitConfig, backbone, classes: ClassSet) -> Head:
    """``cfg.method``'s head on ``classes`` (:func:`prompt_names`), seeded by ``cfg.seed``, on
    the backbone's device."""
    head = build_head(
        cfg.method,
        backbone,
        prompt_names(cfg, classes),
        n_ctx=cfg.n_ctx,
        class_specific=cfg.csc,
        residual=cfg.residual,
        seed=cfg.seed,
    )
    return head.to(backbone.device)
