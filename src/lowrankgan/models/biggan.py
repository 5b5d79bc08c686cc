"""BigGAN-deep through the PyPI package ``pytorch-pretrained-biggan`` (class-conditional, truncation).

Codes are z ``[n, z_dim]`` (128 for the released 128/256/512 models). Adapter state: the class
(index 0-999, a WordNet id such as ``n01531178``, or a name such as ``goldfinch`` when ``nltk`` and
its WordNet corpus are installed) and the truncation ``ψ`` in (0, 1], which both scales z and picks
the batch-norm statistics the released models store per truncation.

Seed -> z: ``seed_codes`` (``torch.randn`` with a generator seeded by the seed), with every
entry outside [-2, 2] redrawn from the same generator until it falls inside (rejection sampling:
the truncated normal on [-2, 2] that BigGAN was sampled with), then times ``ψ``. The package's own
``truncated_noise_sample`` draws the same distribution with scipy's ``truncnorm`` and numpy's
``RandomState``, so a numeric seed gives a different image there than here.

Spectral norm: the package wraps layers in ``torch.nn.utils.spectral_norm``, which in eval mode
divides by ``uᵀWv`` with the stored ``u, v`` on every call. The adapter bakes ``W / uᵀWv`` into
plain weights once (``remove_spectral_norm`` on its own instance; the package is not patched), which
gives the same images, saves the per-call work and keeps ``torch.func.jvp`` + ``vmap`` simple (they
also work with the hooks in place).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import LowRankGANError
from ..limits import (MAX_CLASSES, MAX_JSON_BYTES, MAX_LATENT_DIM, MAX_MODEL_PARAMS, check_float, check_int,
                      check_tensors, check_torch_file, parse_json, read_regular)
from .base import GeneratorAdapter

BIGGAN_MODELS = ("biggan-deep-128", "biggan-deep-256", "biggan-deep-512")
TRUNC_BOUND = 2.0


def _package():
    try:
        import pytorch_pretrained_biggan as pkg
    except ImportError:
        raise LowRankGANError("BigGAN needs the package pytorch-pretrained-biggan: "
                              "pip install 'lowrankgan[biggan]' (or pip install pytorch-pretrained-biggan)") from None
    return pkg


def _imagenet_wnids() -> tuple[str, ...]:
    """The 1000 ImageNet WordNet ids in class-index order (from the package's offset table)."""
    from pytorch_pretrained_biggan.utils import IMAGENET
    by_index = sorted(IMAGENET.items(), key=lambda kv: kv[1])
    return tuple(f"n{offset:08d}" for offset, _ in by_index)


def truncated_seed_codes(seeds: Sequence[int], dim: int, bound: float = TRUNC_BOUND) -> torch.Tensor:
    """``seed_codes`` with entries outside ``[-bound, bound]`` redrawn from the same generator."""
    rows = []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        z = torch.randn(1, dim, generator=g)  # identical to seed_codes' draw
        for _ in range(1000):
            bad = z.abs() > bound
            if not bool(bad.any()):
                break
            z = torch.where(bad, torch.randn(1, dim, generator=g), z)
        rows.append(z)
    return torch.cat(rows, 0) if rows else torch.zeros(0, dim)


def bake_spectral_norm(module: nn.Module) -> nn.Module:
    """Replace every spectral-norm hook of ``module`` by the normalised weight it would compute in eval."""
    from torch.nn.utils.spectral_norm import SpectralNorm
    for sub in module.modules():
        for hook in list(sub._forward_pre_hooks.values()):
            if isinstance(hook, SpectralNorm):
                training = sub.training
                sub.eval()
                torch.nn.utils.remove_spectral_norm(sub, hook.name)
                sub.train(training)
                break
    return module


class BigGANAdapter(GeneratorAdapter):
    """A ``pytorch_pretrained_biggan.BigGAN``; z codes ``[n, z_dim]``; class and truncation as state."""

    latent_spaces = ("z",)
    default_space = "z"
    default_strengths = "-3:3:7"
    presets: dict[str, str] = {}

    def __init__(self, model: nn.Module, model_id: str, truncation: float = 1.0,
                 class_name: str | int | None = None, source: str = "") -> None:
        self.model = bake_spectral_norm(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        cfg = model.config
        self.config = cfg
        self.model_id = model_id
        self.source = source
        self.latent_dim = int(cfg.z_dim)
        self.resolution = int(cfg.output_dim)
        self.num_classes = int(cfg.num_classes)
        self.classes = _imagenet_wnids() if self.num_classes == 1000 else tuple(str(i) for i in range(self.num_classes))
        self._class_index = 0
        self.truncation = 1.0
        self.set_truncation(truncation)
        self.device = next(self.model.parameters()).device
        if class_name is not None:
            self.set_class(class_name)

    def modules(self) -> list[nn.Module]:
        return [self.model]

    # -- state ---------------------------------------------------------------------------------

    def set_truncation(self, truncation: float) -> float:
        """BigGAN truncates its z sampler and picks batch-norm statistics by ψ: all adapter state,
        so ``sample`` needs no further factor (returns 1)."""
        t = float(truncation)
        if not 0 < t <= 1:  # also refuses nan
            raise LowRankGANError(f"BigGAN truncation must be in (0, 1], got {truncation}")
        n_stats = int(getattr(self.config, "n_stats", 51))
        # The package interpolates stored statistics; keep t/step strictly inside the table.
        step = 1.0 / (n_stats - 1)
        if t / step > n_stats - 1:
            t = (n_stats - 1) * step
        self.truncation = t
        return 1.0

    def set_class(self, name_or_index: str | int | None) -> None:
        super().set_class(name_or_index)
        if name_or_index is None:
            return
        self._class_index = self.class_index(name_or_index)

    def class_index(self, name_or_index: str | int) -> int:
        key = str(name_or_index).strip()
        if re.fullmatch(r"\d+", key):
            idx = int(key)
            if idx >= self.num_classes:
                raise LowRankGANError(f"class index {idx} is out of range: {self.model_id} has classes 0-{self.num_classes - 1}")
            return idx
        if key.lower() in self.classes:
            return self.classes.index(key.lower())
        if self.num_classes != 1000:
            raise LowRankGANError(f"unknown class '{name_or_index}': give an index 0-{self.num_classes - 1}")
        return _imagenet_index_from_name(key)

    @property
    def class_name(self) -> str | None:
        return self.classes[self._class_index]

    def checkpoint_reference(self) -> str | None:
        """The folder ``load_model`` reads (``config.json`` beside the weights file)."""
        weights = super().checkpoint_reference()
        return os.path.dirname(weights) if weights else None

    def cache_key(self) -> str:
        return f"{super().cache_key()}|trunc={self.truncation:.6g}"

    # -- protocol ------------------------------------------------------------------------------

    def sample(self, seeds: Sequence[int], space: str = "z", trunc: float = 1.0) -> torch.Tensor:
        """Truncated-normal z (see module doc) times the adapter's truncation (and ``trunc``)."""
        self.check_space(space)
        return (truncated_seed_codes(seeds, self.latent_dim) * (self.truncation * trunc)).to(self.device)

    def synthesize(self, codes: torch.Tensor, space: str = "z") -> torch.Tensor:
        self.check_space(space)
        if codes.dim() != 2 or codes.shape[1] != self.latent_dim:
            raise LowRankGANError(f"model {self.model_id} takes codes [n, {self.latent_dim}], got {list(codes.shape)}")
        onehot = torch.zeros(codes.shape[0], self.num_classes, dtype=codes.dtype, device=codes.device)
        onehot[:, self._class_index] = 1.0
        return self.model(codes, onehot, self.truncation)

    def sefa_weight(self, space: str, layers=None) -> torch.Tensor:
        """SeFa's ``A``: the columns of the first projection ``gen_z`` that act on z (not the class)."""
        self.check_space(space)
        return self.model.generator.gen_z.weight.detach()[:, :self.latent_dim]

    def describe(self) -> dict:
        info = super().describe()
        info.update({"family": "biggan", "truncation": self.truncation, "class_index": self._class_index,
                     "num_classes": self.num_classes})
        return info


def _imagenet_index_from_name(name: str) -> int:
    hint = ("give the class index 0-999 or its WordNet id (e.g. 11 or n01531178 for goldfinch)")
    try:
        from nltk.corpus import wordnet as wn
        synsets = wn.synsets(name.replace(" ", "_"), pos="n")
    except ImportError:
        raise LowRankGANError(f"class name '{name}': looking up names needs nltk and its WordNet corpus "
                              f"(pip install nltk; python -m nltk.downloader wordnet); or {hint}") from None
    except LookupError:
        raise LowRankGANError(f"class name '{name}': nltk's WordNet corpus is not installed "
                              f"(python -m nltk.downloader wordnet); or {hint}") from None
    from pytorch_pretrained_biggan.utils import IMAGENET
    for candidates in (synsets, [h for s in synsets for h in s.hyponyms() + s.hypernyms()]):
        for s in candidates:
            if s.offset() in IMAGENET:
                return IMAGENET[s.offset()]
    raise LowRankGANError(f"'{name}' matches no ImageNet class in WordNet; {hint}")


# ---------------------------------------------------------------------------------------------
# building / loading

def init_random_biggan(model: nn.Module, seed: int = 0) -> nn.Module:
    """Make a freshly built BigGAN usable with random weights: seeded parameters, spectral-norm
    vectors set to the exact top singular pair (the package leaves them random, which blows the
    activations up), and the unconditional batch norm set to identity (the package leaves its
    weight and bias uninitialised)."""
    from torch.nn.utils.spectral_norm import SpectralNorm
    g = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.fill_(0.5)  # self-attention mixing weight (0 in the package): exercise the branch
            elif p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) / max(1.0, p[0].numel()) ** 0.5)
            else:
                p.zero_()
        for sub in model.modules():
            if hasattr(sub, "running_vars") and not getattr(sub, "conditional", True):
                sub.weight.fill_(1.0)
                sub.bias.zero_()
            for hook in sub._forward_pre_hooks.values():
                if isinstance(hook, SpectralNorm):
                    W = getattr(sub, hook.name + "_orig")
                    U, _, Vh = torch.linalg.svd(W.reshape(W.shape[0], -1), full_matrices=False)
                    getattr(sub, hook.name + "_u").copy_(U[:, 0])
                    getattr(sub, hook.name + "_v").copy_(Vh[0])
    return model


def small_config(resolution: int = 32, z_dim: int = 16, channel_width: int = 4, num_classes: int = 10):
    """A tiny BigGAN-deep config (tests, offline demos): 3 upsamplings per 32 px."""
    pkg = _package()
    ups = {16: 2, 32: 3, 64: 4}.get(resolution)
    if ups is None:
        raise LowRankGANError("small_config supports resolutions 16, 32, 64")
    chans = [16, 8, 4, 2, 1]
    layers = [(True, chans[i], chans[i + 1]) for i in range(ups)]
    while layers[-1][2] != 1:  # halve channels without upsampling until 1 x channel_width
        c = layers[-1][2]
        layers.append((False, c, c // 2))
    return pkg.BigGANConfig(output_dim=resolution, z_dim=z_dim, class_embed_dim=z_dim, channel_width=channel_width,
                            num_classes=num_classes, layers=layers, attention_layer_position=min(2, len(layers) - 1))


_CONFIG_INTS = {"output_dim": (4, 1024), "z_dim": (1, MAX_LATENT_DIM), "class_embed_dim": (1, MAX_LATENT_DIM),
                "channel_width": (1, 512), "num_classes": (1, MAX_CLASSES), "n_stats": (2, 1000)}


def check_biggan_config(cfg: object, where: str) -> dict:
    """A BigGAN ``config.json`` checked field by field (type and range) before any layer is built."""
    if not isinstance(cfg, dict):
        raise LowRankGANError(f"{where}: the config is a JSON {type(cfg).__name__}, not an object")
    out = dict(cfg)
    for name, (low, high) in _CONFIG_INTS.items():
        if name in cfg:
            out[name] = check_int(cfg[name], name, low, high, where)
    if "eps" in cfg:
        out["eps"] = check_float(cfg["eps"], "eps", 0.0, 1.0, where)
    layers = cfg.get("layers")
    if layers is not None:
        if not isinstance(layers, list) or not 1 <= len(layers) <= 64:
            raise LowRankGANError(f"{where}: layers must be a list of 1..64 [upsample, in, out] entries")
        for i, layer in enumerate(layers):
            if (not isinstance(layer, list) or len(layer) != 3 or not isinstance(layer[0], bool)):
                raise LowRankGANError(f"{where}: layers[{i}] must be [upsample (true/false), in, out]")
            check_int(layer[1], f"layers[{i}] input multiplier", 1, 64, where)
            check_int(layer[2], f"layers[{i}] output multiplier", 1, 64, where)
        if "attention_layer_position" in cfg:
            check_int(cfg["attention_layer_position"], "attention_layer_position", 0, len(layers) - 1, where)
        width = out.get("channel_width", 128)
        weights = sum(9 * 2 * (a * width) * (b * width) for _, a, b in layers)
        if weights > MAX_MODEL_PARAMS:
            raise LowRankGANError(f"{where}: the config needs about {weights:,} weights, more than this tool's "
                                  f"limit ({MAX_MODEL_PARAMS:,})")
    return out


def _config_id(cfg) -> str:
    blob = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:8]


def _cache_dir() -> Path:
    env = os.environ.get("PYTORCH_PRETRAINED_BIGGAN_CACHE")
    if env:
        return Path(env)
    from .zoo import home_dir
    return home_dir() / "biggan"


def _fetch(url: str, cache_dir: Path) -> str:
    """The package's download-or-cache, falling back to an already cached copy when offline."""
    from pytorch_pretrained_biggan.file_utils import cached_path, url_to_filename
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        return cached_path(url, cache_dir=str(cache_dir))
    except Exception as exc:  # requests / botocore / OSError: the network is the problem
        stem = url_to_filename(url)
        cached = sorted(p for p in cache_dir.glob(stem + "*") if not p.name.endswith((".json", ".tmp")))
        if cached:
            return str(cached[-1])
        raise _FetchError(f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}") from None


class _FetchError(Exception):
    pass


def load_biggan(name_or_config="biggan-deep-128", truncation: float = 1.0, class_name: str | int | None = None,
                device: str | torch.device = "cpu", seed: int = 0, cache_dir: str | os.PathLike | None = None) -> BigGANAdapter:
    """A BigGAN adapter from a released name (``biggan-deep-128/256/512``: downloaded on first use),
    a folder holding ``config.json`` + ``pytorch_model.bin``, or a ``BigGANConfig`` / dict (random
    weights from ``seed``: tests and offline use)."""
    pkg = _package()
    if isinstance(name_or_config, dict):
        name_or_config = pkg.BigGANConfig.from_dict(check_biggan_config(name_or_config, "BigGAN config"))
    if isinstance(name_or_config, pkg.BigGANConfig):
        cfg = name_or_config
        torch.manual_seed(int(seed))  # the package's layers initialise from the global generator
        model = init_random_biggan(pkg.BigGAN(cfg), seed)
        adapter = BigGANAdapter(model, f"biggan-random-{_config_id(cfg)}-s{seed}", truncation, class_name)
        return adapter.to(device)
    name = str(name_or_config)
    folder = Path(name).expanduser()
    if name in BIGGAN_MODELS:
        from pytorch_pretrained_biggan.model import PRETRAINED_CONFIG_ARCHIVE_MAP, PRETRAINED_MODEL_ARCHIVE_MAP
        cdir = Path(cache_dir) if cache_dir else _cache_dir()
        try:
            config_file = _fetch(PRETRAINED_CONFIG_ARCHIVE_MAP[name], cdir)
            weights_file = _fetch(PRETRAINED_MODEL_ARCHIVE_MAP[name], cdir)
        except _FetchError as exc:
            raise LowRankGANError(
                f"cannot fetch the {name} weights ({exc}); they download once from the internet "
                f"(about 0.2-0.3 GB) into {cdir}. Connect and retry, or put config.json and pytorch_model.bin "
                f"of the model in a folder and pass that folder as the model") from None
        model_id, source = name, weights_file
    elif folder.is_dir():
        config_file, weights_file = folder / "config.json", folder / "pytorch_model.bin"
        missing = [p.name for p in (config_file, weights_file) if not p.exists()]
        if missing:
            raise LowRankGANError(f"BigGAN folder {folder} lacks {', '.join(missing)}")
        model_id, source = f"biggan@{folder.name}", str(weights_file)
    else:
        raise LowRankGANError(f"unknown BigGAN '{name}': use one of {', '.join(BIGGAN_MODELS)} "
                              "or a folder with config.json and pytorch_model.bin")
    where = f"BigGAN config {config_file}"
    raw = parse_json(read_regular(config_file, MAX_JSON_BYTES, "BigGAN config"), where)
    cfg = pkg.BigGANConfig.from_dict(check_biggan_config(raw, where))
    try:
        budget = check_torch_file(Path(weights_file))
        state = torch.load(weights_file, map_location="cpu", weights_only=True)
        check_tensors(state, str(weights_file), budget)
    except LowRankGANError:
        raise
    except Exception as exc:
        raise LowRankGANError(f"{weights_file} is not a readable BigGAN state dict ({type(exc).__name__}); "
                              "a broken download? delete it and retry") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise LowRankGANError(f"{weights_file} is not a BigGAN state dict (names to tensors)")
    model = pkg.BigGAN(cfg)
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith("weight_v")]
    if missing or result.unexpected_keys:
        raise LowRankGANError(f"{weights_file} does not fit the BigGAN config "
                              f"({len(missing)} missing, {len(result.unexpected_keys)} unexpected weights)")
    _fill_missing_v(model, {k for k in result.missing_keys if k.endswith("weight_v")})
    adapter = BigGANAdapter(model, model_id, truncation, class_name, source=str(source))
    return adapter.to(device)


def _fill_missing_v(model: nn.Module, missing: set[str]) -> None:
    """A checkpoint without ``weight_v``: take ``v = Wᵀu / ‖Wᵀu‖`` (one power step from the stored u)."""
    if not missing:
        return
    from torch.nn.utils.spectral_norm import SpectralNorm
    with torch.no_grad():
        for name, sub in model.named_modules():
            for hook in sub._forward_pre_hooks.values():
                if isinstance(hook, SpectralNorm) and f"{name}.{hook.name}_v" in missing:
                    W = getattr(sub, hook.name + "_orig")
                    v = W.reshape(W.shape[0], -1).T @ getattr(sub, hook.name + "_u")
                    getattr(sub, hook.name + "_v").copy_(v / v.norm().clamp(min=1e-12))
