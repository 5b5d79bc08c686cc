"""Generator adapters and the model zoo; ``load_model`` is the one entry point."""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import LowRankGANError
from ..limits import check_regular
from .base import GeneratorAdapter, seed_codes
from .biggan import BIGGAN_MODELS as BIGGAN_NAMES, load_biggan  # import-light: the package loads on use
from .dcgan import DCGANAdapter, build_dcgan
from .presets import PRESETS
from .zoo import DEFAULT_MODEL, ZOO, ZooEntry, load_zoo_state, read_state

__all__ = ["GeneratorAdapter", "load_model", "model_reference", "seed_codes", "ZOO", "DEFAULT_MODEL",
           "resolve_device"]


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise LowRankGANError("device cuda was asked for but this machine has no CUDA GPU; use device cpu", "device")
    return dev


def _zoo_adapter(entry: ZooEntry, state: dict[str, torch.Tensor], source: str, model_id: str) -> DCGANAdapter:
    if entry.arch != "dcgan":
        raise LowRankGANError(f"zoo entry {entry.name} has architecture {entry.arch}, which has no adapter")
    return DCGANAdapter(build_dcgan(state), model_id, classes=entry.classes,
                        presets=PRESETS.get(entry.name, {}), source=source)


def conv_channels(net: torch.nn.Sequential) -> tuple[int, ...]:
    convs = [m for m in net if isinstance(m, torch.nn.ConvTranspose2d)]
    return (convs[0].in_channels, *(m.out_channels for m in convs)) if convs else ()


def _local_dcgan(path: Path) -> DCGANAdapter:
    state = read_state(path)
    net = build_dcgan(state)
    # A file with a zoo entry's architecture gets that entry's classes and presets.
    for entry in ZOO.values():
        if entry.arch == "dcgan" and conv_channels(net) == entry.channels:
            return DCGANAdapter(net, f"{entry.name}@{path.name}", entry.classes,
                                PRESETS.get(entry.name, {}), source=str(path))
    return DCGANAdapter(net, f"dcgan@{path.name}", source=str(path))


def load_model(model: str | None = None, device: str | torch.device | None = "auto",
               class_name: str | int | None = None, refetch: bool = False) -> GeneratorAdapter:
    """A zoo model by name, or a checkpoint file by path, ready on ``device``."""
    model = model or DEFAULT_MODEL
    dev = resolve_device(device)
    if model in ZOO:
        entry = ZOO[model]
        adapter: GeneratorAdapter = _zoo_adapter(entry, load_zoo_state(entry, refetch), entry.name, entry.name)
    elif model in BIGGAN_NAMES or _is_biggan_folder(Path(model).expanduser()):
        return load_biggan(model, class_name=class_name, device=dev)
    else:
        path = Path(model).expanduser()
        if not path.exists():
            raise LowRankGANError(f"unknown model '{model}': not a zoo name ({', '.join(ZOO)}) "
                                  "and no such file; run `lowrankgan models` to list the zoo")
        if path.is_dir():
            raise LowRankGANError(f"model {model} is a directory; give a checkpoint file", "model")
        adapter = _load_file(path)
    adapter.set_class(class_name)
    return adapter.to(dev)


def model_reference(gen: GeneratorAdapter) -> str | None:
    """What ``load_model`` takes to get ``gen`` back: its zoo or BigGAN name, else the absolute path
    of its checkpoint (``checkpoint_reference``); None for a model built in memory."""
    if gen.model_id in ZOO or gen.model_id in BIGGAN_NAMES:
        return gen.model_id
    return gen.checkpoint_reference()


def _is_biggan_folder(path: Path) -> bool:
    return path.is_dir() and (path / "config.json").exists() and (path / "pytorch_model.bin").exists()


def _load_file(path: Path) -> GeneratorAdapter:
    # The StyleGAN code (and StyleGAN3's filter design) loads only for a checkpoint file: a zoo model
    # never needs it, and it would cost every command's start-up.
    from .stylegan2 import STYLEGAN3, load_stylegan2_adapter, sniff_stylegan
    from .stylegan2.loaders import StyleGAN3Pickle
    from .stylegan3 import load_stylegan3_adapter

    check_regular(path, "checkpoint")  # a FIFO or /dev/zero would block or never end while sniffing
    kind = sniff_stylegan(path)
    if kind == STYLEGAN3:
        return load_stylegan3_adapter(path)
    if kind:
        try:
            return load_stylegan2_adapter(path)
        except StyleGAN3Pickle:  # the cheap sniff missed it; the records say StyleGAN3
            return load_stylegan3_adapter(path)
    return _local_dcgan(path)
