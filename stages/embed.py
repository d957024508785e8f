"""Stage `embed`: one embedding of `embeddings` (molere/embed.py): its dataset through its backbone,
the features of every split and OOD shift written together into features/<embedding>/."""

from __future__ import annotations

from molere import paths
from molere.data.load import load_dataset
from molere.embed import backbone, embed_dataset
from molere.experiment import make_model, to_device
from molere.io import atomic_dir, write_examples, write_json
from molere.params import Params
from molere.portable import portable_setting
from molere.schema import OODConfig, embedding_config, section
from molere.train.tensors import pick_device, reproducible_torch, seed_everything


def run(params: Params, embedding: str) -> str:
    key = f"embeddings.{embedding}"
    config = embedding_config(embedding, params.get(key, dict))
    ood = section(params, OODConfig)
    data, dataset = load_dataset(config.data, ood, params.source, f"{key}.data.")
    reproducible_torch(portable_setting(params))
    device = pick_device(config.device, f"{key}.device")
    seed_everything(data.seed)  # a backbone without weights: its initial ones, the same on every run
    model = make_model(params.section(key), dataset.train.x.shape[1:], dataset.num_classes)
    embedded = embed_dataset(dataset, to_device(backbone(model), device), config.batch_size, device, list(ood.severities), ood.max_examples)
    with atomic_dir(paths.features_dir(embedding)) as out:
        for name, (labels, x) in embedded.tables.items():
            write_examples(out / name, labels, x)
        write_json(out / paths.INFO, {**embedded.info, "backbone": config.model["name"]})
    return f"{sum(len(labels) for labels, _ in embedded.tables.values())} examples, {embedded.info['width']} features each"
