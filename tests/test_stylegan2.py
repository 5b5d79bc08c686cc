"""StyleGAN2: our generator, the three checkpoint loaders (files written here with the real key
layouts and pickle structures), refusal of unsafe / unsupported pickles, and the adapter."""

from __future__ import annotations

import argparse
import copy
import math
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

try:
    import lowrankgan  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lowrankgan.errors import LowRankGANError
from lowrankgan.models.stylegan2 import (NVIDIA_PYTORCH, NVIDIA_TF, ROSINALITY, STYLEGAN3,
                                         StyleGAN2Adapter, StyleGAN2Config, build_generator,
                                         build_random_stylegan2, default_layers_for,
                                         load_stylegan2, load_stylegan2_adapter, sniff_stylegan)
from lowrankgan.models.stylegan2.network import _setup_filter, modulated_conv

RES, W_DIM, BASE, CMAX, MAP_LAYERS = 32, 32, 512, 32, 3  # channels 32,32,32,16 at 4,8,16,32

# Source text that a file embeds; if anything executed it, the marker file would appear.
EVIL_SRC = "import pathlib\npathlib.Path({marker!r}).write_text('ran')\nclass Generator: pass\n"


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one thread is faster, and immune to OpenMP stalls on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _cfg(**kw) -> StyleGAN2Config:
    base = dict(z_dim=W_DIM, w_dim=W_DIM, img_resolution=RES, channel_base=BASE,
                channel_max=CMAX, mapping_layers=MAP_LAYERS)
    base.update(kw)
    return StyleGAN2Config(**base)


@pytest.fixture(scope="module")
def gen():
    return build_generator(_cfg(), seed=1)


def _ws(g, n=2, seed=0):
    z = torch.randn(n, g.z_dim, generator=torch.Generator().manual_seed(seed))
    return g.mapping(z, None)


# ----------------------------------------------------------------------------- file writers

@pytest.fixture
def fake_modules(monkeypatch):
    """Importable stand-ins for NVIDIA's modules, so pickle emits their GLOBALs exactly."""
    def module(name):
        m = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, m)
        return m

    module("torch_utils")
    persistence = module("torch_utils.persistence")
    module("dnnlib")
    util = module("dnnlib.util")
    module("dnnlib.tflib")
    network = module("dnnlib.tflib.network")

    def _reconstruct_persistent_obj(meta):  # never called: the loader must not import this
        raise AssertionError("fake module used while loading")
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj

    class EasyDict(dict):
        pass
    EasyDict.__module__, EasyDict.__qualname__ = "dnnlib.util", "EasyDict"
    util.EasyDict = EasyDict

    class Network:
        def __init__(self, state):
            self._state = state

        def __getstate__(self):
            return self._state
    Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
    network.Network = Network
    return types.SimpleNamespace(EasyDict=EasyDict, Network=Network,
                                 reconstruct=_reconstruct_persistent_obj)


class _Persistent:
    """Pickles like NVIDIA's persistent classes: a call of _reconstruct_persistent_obj(meta)."""

    def __init__(self, class_name, state, module_src):
        self.class_name, self.state, self.module_src = class_name, state, module_src

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src=self.module_src,
                    class_name=self.class_name, state=self.state)
        return (sys.modules["torch_utils.persistence"]._reconstruct_persistent_obj, (meta,), None)


_NV_NAMES = {"StyleGAN2Generator": "Generator"}


def _nv_record(module, src, init_kwargs=None, attrs=None):
    state = {
        "training": False,
        "_parameters": OrderedDict((n, torch.nn.Parameter(p.detach().clone(), requires_grad=False))
                                   for n, p in module._parameters.items()),
        "_buffers": OrderedDict((n, b.detach().clone()) for n, b in module._buffers.items()),
        "_non_persistent_buffers_set": set(),
        "_backward_hooks": OrderedDict(), "_forward_hooks": OrderedDict(),
        "_forward_pre_hooks": OrderedDict(), "_state_dict_hooks": OrderedDict(),
        "_load_state_dict_pre_hooks": OrderedDict(),
        "_modules": OrderedDict((n, _nv_record(c, src)) for n, c in module._modules.items()),
        "_init_args": (), "_init_kwargs": init_kwargs or {},
        "lr_like_numpy_scalar": np.float64(0.5),  # numpy scalars occur in real state dicts
    }
    state.update(attrs or {})
    name = type(module).__name__
    return _Persistent(_NV_NAMES.get(name, name), state, src)


def write_nvidia_pkl(path, g, fake, src="", protocol=4, extra=None, kwargs_override=None):
    E = fake.EasyDict
    cfg = g.cfg
    kwargs = dict(z_dim=cfg.z_dim, c_dim=cfg.c_dim, w_dim=cfg.w_dim,
                  img_resolution=cfg.img_resolution, img_channels=cfg.img_channels,
                  mapping_kwargs=E(num_layers=cfg.mapping_layers),
                  synthesis_kwargs=E(channel_base=cfg.channel_base, channel_max=cfg.channel_max,
                                     num_fp16_res=4, conv_clamp=256))
    kwargs.update(kwargs_override or {})
    rec = _nv_record(g, src, kwargs, {"z_dim": cfg.z_dim, "num_ws": g.num_ws})
    disc = _Persistent("Discriminator", {"_parameters": OrderedDict(
        b4=torch.nn.Parameter(torch.zeros(3)))}, src)
    data = {"G": rec, "D": disc, "G_ema": rec, "augment_pipe": None,
            "training_set_kwargs": E(resolution=cfg.img_resolution), **(extra or {})}
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=protocol)


def write_tf_pkl(path, g, fake, src=""):
    """(G, D, Gs) of dnnlib.tflib.network.Network with TF names and layouts (HWIO, etc.)."""
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in g.state_dict().items()}
    cfg = g.cfg
    mapping = []
    for i in range(cfg.mapping_layers):
        mapping += [(f"Dense{i}/weight", sd[f"mapping.fc{i}.weight"].T.copy()),
                    (f"Dense{i}/bias", sd[f"mapping.fc{i}.bias"])]
    synth = []
    noise = {}

    def modconv(scope, ours, noise_index=None, flip=False):
        w = sd[f"{ours}.weight"].transpose(2, 3, 1, 0)  # OIHW -> HWIO
        if flip:
            w = w[::-1, ::-1]
        synth.extend([(f"{scope}/weight", np.ascontiguousarray(w)),
                      (f"{scope}/bias", sd[f"{ours}.bias"]),
                      (f"{scope}/mod_weight", sd[f"{ours}.affine.weight"].T.copy()),
                      (f"{scope}/mod_bias", sd[f"{ours}.affine.bias"] - 1.0)])
        if noise_index is not None:
            synth.append((f"{scope}/noise_strength", sd[f"{ours}.noise_strength"]))
            noise[noise_index] = sd[f"{ours}.noise_const"][None, None]

    for r in cfg.block_resolutions:
        if r == 4:
            synth.append(("4x4/Const/const", sd["synthesis.b4.const"][None]))
            modconv("4x4/Conv", "synthesis.b4.conv1", 0)
        else:
            k = 2 * int(math.log2(r))
            modconv(f"{r}x{r}/Conv0_up", f"synthesis.b{r}.conv0", k - 5, flip=True)
            modconv(f"{r}x{r}/Conv1", f"synthesis.b{r}.conv1", k - 4)
        modconv(f"{r}x{r}/ToRGB", f"synthesis.b{r}.torgb")
    synth += [(f"noise{k}", noise[k]) for k in sorted(noise)]

    def net(name, variables, components=None, static=None):
        return fake.Network({"version": 4, "name": name, "static_kwargs": static or {},
                             "components": components or {}, "build_module_src": src,
                             "build_func_name": "G_main", "variables": variables})

    static = dict(latent_size=cfg.z_dim, label_size=0, dlatent_size=cfg.w_dim,
                  resolution=cfg.img_resolution, num_channels=3, mapping_layers=cfg.mapping_layers,
                  mapping_lrmul=0.01, fmap_base=cfg.channel_base // 2, fmap_max=cfg.channel_max,
                  architecture="skip", resample_kernel=[1, 3, 3, 1], truncation_psi=0.5)
    gs = net("G", [("dlatent_avg", sd["mapping.w_avg"]), ("lod", np.float32(0.0))],
             {"mapping": net("G_mapping", mapping), "synthesis": net("G_synthesis", synth)}, static)
    d = net("D", [("Output/weight", np.zeros((4, 1), np.float32))])
    with open(path, "wb") as f:
        pickle.dump((gs, d, gs), f, protocol=3)


def rosinality_state(g):
    """g_ema state dict in rosinality's stylegan2-pytorch layout."""
    sd = {k: v.detach().clone() for k, v in g.state_dict().items()}
    cfg = g.cfg
    blur = torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1]))
    blur = blur / blur.sum() * 4
    out = {}
    for i in range(cfg.mapping_layers):
        out[f"style.{i + 1}.weight"] = sd[f"mapping.fc{i}.weight"]
        out[f"style.{i + 1}.bias"] = sd[f"mapping.fc{i}.bias"]
    out["input.input"] = sd["synthesis.b4.const"][None]

    def styled(dst, ours, noise_index, up=False):
        out[f"{dst}.conv.weight"] = sd[f"{ours}.weight"][None]
        out[f"{dst}.conv.modulation.weight"] = sd[f"{ours}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = sd[f"{ours}.affine.bias"]
        if up:
            out[f"{dst}.conv.blur.kernel"] = blur.clone()
        out[f"{dst}.noise.weight"] = sd[f"{ours}.noise_strength"].reshape(1)
        out[f"{dst}.activate.bias"] = sd[f"{ours}.bias"]
        out[f"noises.noise_{noise_index}"] = sd[f"{ours}.noise_const"][None, None]

    def torgb(dst, ours, up):
        out[f"{dst}.conv.weight"] = sd[f"{ours}.weight"][None]
        out[f"{dst}.conv.modulation.weight"] = sd[f"{ours}.affine.weight"]
        out[f"{dst}.conv.modulation.bias"] = sd[f"{ours}.affine.bias"]
        out[f"{dst}.bias"] = sd[f"{ours}.bias"].reshape(1, -1, 1, 1)
        if up:
            out[f"{dst}.upsample.kernel"] = blur.clone()

    styled("conv1", "synthesis.b4.conv1", 0)
    torgb("to_rgb1", "synthesis.b4.torgb", False)
    for j, r in enumerate(cfg.block_resolutions[1:]):
        styled(f"convs.{2 * j}", f"synthesis.b{r}.conv0", 2 * j + 1, up=True)
        styled(f"convs.{2 * j + 1}", f"synthesis.b{r}.conv1", 2 * j + 2)
        torgb(f"to_rgbs.{j}", f"synthesis.b{r}.torgb", True)
    return out


def write_rosinality_pt(path, g, with_avg=True):
    data = {"g_ema": rosinality_state(g), "g": {}, "d": {},
            "args": argparse.Namespace(size=g.img_resolution, channel_multiplier=2)}
    if with_avg:
        data["latent_avg"] = g.mapping.w_avg.detach().clone()
    torch.save(data, path)


@pytest.fixture
def checkpoints(tmp_path, gen, fake_modules):
    paths = {NVIDIA_PYTORCH: tmp_path / "net-a.pkl", NVIDIA_TF: tmp_path / "net-b.pkl",
             ROSINALITY: tmp_path / "net-c.pt"}
    write_nvidia_pkl(paths[NVIDIA_PYTORCH], gen, fake_modules,
                     src=EVIL_SRC.format(marker=str(tmp_path / "ran-nv")))
    write_tf_pkl(paths[NVIDIA_TF], gen, fake_modules,
                 src=EVIL_SRC.format(marker=str(tmp_path / "ran-tf")))
    write_rosinality_pt(paths[ROSINALITY], gen)
    return paths


# ----------------------------------------------------------------------------- loaders

def test_three_formats_load_to_the_same_images(checkpoints, gen, tmp_path):
    ws = _ws(gen)
    ref = gen.synthesis(ws)
    for kind, path in checkpoints.items():
        assert sniff_stylegan(path) == kind
        loaded = load_stylegan2(path)
        assert loaded.cfg.img_resolution == RES and loaded.num_ws == gen.num_ws
        assert [loaded.cfg.channels(r) for r in (4, 8, 16, 32)] == [32, 32, 32, 16]
        assert torch.equal(loaded.mapping.w_avg, gen.mapping.w_avg)
        diff = (loaded.synthesis(ws) - ref).abs().max().item()
        assert diff < 1e-4, (kind, diff)
        z = torch.randn(3, W_DIM, generator=torch.Generator().manual_seed(5))
        assert (loaded(z) - gen(z)).abs().max().item() < 1e-4
        assert not any(p.requires_grad for p in loaded.parameters())
    assert load_stylegan2(checkpoints[NVIDIA_PYTORCH]).cfg.conv_clamp == 256
    assert not (tmp_path / "ran-nv").exists() and not (tmp_path / "ran-tf").exists()


def test_nvidia_pickle_protocol3_and_conditional(tmp_path, fake_modules):
    g = build_generator(_cfg(c_dim=3), seed=2)
    path = tmp_path / "cond.pkl"
    write_nvidia_pkl(path, g, fake_modules, protocol=3)  # python-3.7-era files: builtins.set
    a = StyleGAN2Adapter.from_file(path)
    assert a.classes == ("0", "1", "2") and a.class_name == "0"
    w = a.sample([4], "w")
    c = F.one_hot(torch.tensor([0]), 3).float()
    z = a.sample([4], "z")
    assert torch.allclose(w, g.mapping(z, c)[:, 0], atol=1e-6)
    img0 = a.synthesize(z, "z")
    a.set_class("2")
    assert a.class_name == "2"
    assert (a.synthesize(z, "z") - img0).abs().max() > 1e-3
    with pytest.raises(LowRankGANError):
        a.set_class(7)


def test_rosinality_without_latent_avg_estimates_it(tmp_path, gen):
    path = tmp_path / "train.pt"
    write_rosinality_pt(path, gen, with_avg=False)
    loaded = load_stylegan2(path)
    z = torch.randn(20000, W_DIM, generator=torch.Generator().manual_seed(9))
    empirical = gen.mapping(z)[:, 0].mean(0)
    assert (loaded.mapping.w_avg - empirical).norm() < 0.1 * empirical.norm() + 0.05


def test_adapter_from_file_describes_checkpoint(checkpoints):
    a = load_stylegan2_adapter(checkpoints[ROSINALITY])
    assert a.model_id == "stylegan2-net-c@net-c.pt" and a.model_family == "stylegan2-net-c"
    info = a.describe()
    assert info["format"] == ROSINALITY and len(info["sha256"]) == 16
    assert info["latent_dim"] == W_DIM and info["num_layers"] == 2 * 5 - 2


@pytest.mark.parametrize("kind", [NVIDIA_PYTORCH, NVIDIA_TF, ROSINALITY])
def test_truncated_file_is_a_clear_error(checkpoints, tmp_path, kind):
    data = checkpoints[kind].read_bytes()
    bad = tmp_path / f"cut-{kind}.bin"
    bad.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(LowRankGANError) as err:
        load_stylegan2(bad)
    assert str(bad) in str(err.value)


def test_unknown_and_missing_files(tmp_path):
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(pickle.dumps({"hello": [1, 2, 3]}))
    assert sniff_stylegan(junk) is None
    with pytest.raises(LowRankGANError, match="not a StyleGAN2 checkpoint"):
        load_stylegan2(junk)
    with pytest.raises(LowRankGANError, match="no such"):
        load_stylegan2(tmp_path / "missing.pkl")


def test_unexpected_contents_are_clear_errors(tmp_path, gen, fake_modules):
    tf_path = tmp_path / "odd-tf.pkl"
    net = fake_modules.Network({"version": 4, "name": "G", "variables": [1, 2, 3]})
    with open(tf_path, "wb") as f:
        pickle.dump((net, net, net), f, protocol=3)
    with pytest.raises(LowRankGANError, match="unexpected nvidia-tf checkpoint content"):
        load_stylegan2(tf_path)

    small = build_generator(_cfg(img_resolution=16), seed=0)
    nv_path = tmp_path / "mismatch.pkl"
    # init_kwargs claim a 32² generator while the weights are for 16²
    write_nvidia_pkl(nv_path, small, fake_modules, kwargs_override={"img_resolution": 32})
    with pytest.raises(LowRankGANError, match="do not match a StyleGAN2 generator"):
        load_stylegan2(nv_path)

    g_only = tmp_path / "g_ema_only.pt"  # a bare g_ema state dict also loads
    torch.save(rosinality_state(gen), g_only)
    assert sniff_stylegan(g_only) == ROSINALITY
    assert load_stylegan2(g_only).num_ws == gen.num_ws


# ----------------------------------------------------------------------------- safety

class _Evil:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


def _touch_cmd(marker: Path) -> str:
    return f"touch {marker}"


@pytest.mark.parametrize("attack", ["os.system", "builtins.eval", "builtins.exec"])
def test_malicious_nvidia_pickle_is_refused(tmp_path, gen, fake_modules, attack):
    import builtins
    import os
    marker = tmp_path / "pwned"
    func, arg = {
        "os.system": (os.system, _touch_cmd(marker)),
        "builtins.eval": (builtins.eval, f"open({str(marker)!r}, 'w').close()"),
        "builtins.exec": (builtins.exec, f"open({str(marker)!r}, 'w').close()"),
    }[attack]
    path = tmp_path / "evil.pkl"
    # An otherwise valid NVIDIA pickle whose payload comes first, so it would run first.
    with open(path, "wb") as f:
        pickle.dump({"payload": _Evil(func, arg),
                     "G_ema": _nv_record(gen, "", {"z_dim": W_DIM})}, f, protocol=4)
    assert sniff_stylegan(path) == NVIDIA_PYTORCH
    with pytest.raises(LowRankGANError, match="refusing to load"):
        load_stylegan2(path)
    assert not marker.exists()
    if attack == "os.system":  # control: a plain unpickler does run the payload
        with pytest.raises(AssertionError, match="fake module"):
            pickle.loads(path.read_bytes())
        assert marker.exists()


def test_malicious_tf_and_torch_files_are_refused(tmp_path, gen, fake_modules):
    import os
    marker = tmp_path / "pwned"
    tf_path = tmp_path / "evil-tf.pkl"
    net = fake_modules.Network({"version": 4, "name": "G", "static_kwargs": {},
                                "components": {}, "variables": [("x", _Evil(os.system,
                                                                             _touch_cmd(marker)))]})
    with open(tf_path, "wb") as f:
        pickle.dump((net, net, net), f, protocol=3)
    assert sniff_stylegan(tf_path) == NVIDIA_TF
    with pytest.raises(LowRankGANError, match="refusing to load.*os.system|refusing to load.*posix"):
        load_stylegan2(tf_path)

    pt_path = tmp_path / "evil.pt"
    torch.save({"g_ema": _Evil(os.system, _touch_cmd(marker))}, pt_path)
    assert sniff_stylegan(pt_path) == ROSINALITY
    with pytest.raises(LowRankGANError, match="refusing to load"):
        load_stylegan2(pt_path)
    assert not marker.exists()


def test_stylegan3_pickle_is_refused_with_message(tmp_path, fake_modules):
    layer = _Persistent("SynthesisLayer", {"_parameters": OrderedDict(
        weight=torch.nn.Parameter(torch.zeros(2, 2)))}, "")
    # Recognised by the source text (cheap sniff), by class name, or by layer names alone.
    for src, input_class, name in [("class SynthesisInput(torch.nn.Module): pass",
                                    "SynthesisInput", "with-src.pkl"),
                                   ("", "SynthesisInput", "class-name.pkl"),
                                   ("", "Renamed", "layer-names.pkl")]:
        synthesis = _Persistent("SynthesisNetwork", {"_modules": OrderedDict(
            [("input", _Persistent(input_class, {}, src)), ("L0_36_512", layer)])}, src)
        g = _Persistent("Generator", {"_modules": OrderedDict(synthesis=synthesis),
                                      "_init_kwargs": {"z_dim": 512, "w_dim": 512,
                                                       "img_resolution": 1024}}, src)
        path = tmp_path / name
        with open(path, "wb") as f:
            pickle.dump({"G": g, "D": None, "G_ema": g}, f, protocol=4)
        if src:
            assert sniff_stylegan(path) == STYLEGAN3
        with pytest.raises(LowRankGANError, match="is a StyleGAN3 pickle, not StyleGAN2"):
            load_stylegan2(path)


# ----------------------------------------------------------------------------- network maths

def _modconv_reference(x, weight, styles, demodulate, up, f):
    """Per-sample weights (NVIDIA's 'fused' form) and an explicit zero-insert upsampler."""
    outs = []
    for i in range(x.shape[0]):
        w = weight * styles[i].reshape(1, -1, 1, 1)
        if demodulate:
            w = w * (w.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).rsqrt()
        xi = x[i:i + 1]
        if up:
            y = F.conv_transpose2d(xi, w.transpose(0, 1), stride=2)
            k = (f * 4).flip([0, 1])[None, None].repeat(y.shape[1], 1, 1, 1)
            y = F.conv2d(F.pad(y, [1, 1, 1, 1]), k, groups=y.shape[1])
        else:
            y = F.conv2d(xi, w, padding=weight.shape[-1] // 2)
        outs.append(y)
    return torch.cat(outs)


@pytest.mark.parametrize("up,demod,k", [(False, True, 3), (True, True, 3), (False, False, 1)])
def test_modulated_conv_matches_per_sample_weights(up, demod, k):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 6, 8, 8, generator=g)
    weight = torch.randn(5, 6, k, k, generator=g)
    styles = torch.randn(3, 6, generator=g)
    f = _setup_filter([1, 3, 3, 1])
    ours = modulated_conv(x, weight, styles, demod, up, f, padding=k // 2)
    ref = _modconv_reference(x, weight, styles, demod, up, f)
    assert ours.shape == ref.shape == (3, 5, 16 if up else 8, 16 if up else 8)
    assert (ours - ref).abs().max() < 1e-4


def _reference_synthesis(g, ws):
    """A slow, literal StyleGAN2 synthesis in NVIDIA's operation order (per-sample weights,
    noise then bias then lrelu * sqrt(2), explicit zero-insertion upsampling of the skip image)."""
    sd = g.state_dict()
    f = _setup_filter([1, 3, 3, 1])
    w_gain = 1 / math.sqrt(g.w_dim)

    def styles(p, w):
        return F.linear(w, sd[f"{p}.affine.weight"] * w_gain, sd[f"{p}.affine.bias"])

    def layer(p, x, w, up):
        x = _modconv_reference(x, sd[f"{p}.weight"], styles(p, w), True, up, f)
        x = x + sd[f"{p}.noise_const"] * sd[f"{p}.noise_strength"]
        return F.leaky_relu(x + sd[f"{p}.bias"].reshape(1, -1, 1, 1), 0.2) * math.sqrt(2)

    def torgb(p, x, w):
        s = styles(p, w) / math.sqrt(x.shape[1])
        return _modconv_reference(x, sd[f"{p}.weight"], s, False, False, f) \
            + sd[f"{p}.bias"].reshape(1, -1, 1, 1)

    def upsample(img):
        n, c, h, w = img.shape
        z = torch.zeros(n, c, 2 * h, 2 * w)
        z[:, :, ::2, ::2] = img
        k = (f * 4).flip([0, 1])[None, None].repeat(c, 1, 1, 1)
        return F.conv2d(F.pad(z, [2, 1, 2, 1]), k, groups=c)

    x = sd["synthesis.b4.const"][None].repeat(ws.shape[0], 1, 1, 1)
    x = layer("synthesis.b4.conv1", x, ws[:, 0], False)
    img = torgb("synthesis.b4.torgb", x, ws[:, 1])
    i = 1
    for r in g.cfg.block_resolutions[1:]:
        x = layer(f"synthesis.b{r}.conv0", x, ws[:, i], True)
        x = layer(f"synthesis.b{r}.conv1", x, ws[:, i + 1], False)
        img = upsample(img) + torgb(f"synthesis.b{r}.torgb", x, ws[:, i + 2])
        i += 2
    return img


def test_synthesis_matches_literal_reference(gen):
    ws = _ws(gen, n=2, seed=4) + 0.3 * torch.randn(2, gen.num_ws, W_DIM)  # distinct rows
    ref = _reference_synthesis(gen, ws)
    out = gen.synthesis(ws)
    assert out.shape == ref.shape == (2, 3, RES, RES)
    assert (out - ref).abs().max() < 1e-4 * max(1.0, ref.abs().max().item())


def test_upsample_of_constant_is_constant_inside():
    from lowrankgan.models.stylegan2.network import upsample2d
    y = upsample2d(torch.ones(1, 2, 8, 8), _setup_filter([1, 3, 3, 1]))
    assert y.shape == (1, 2, 16, 16)
    assert torch.allclose(y[..., 2:-2, 2:-2], torch.ones(1, 2, 12, 12))


def test_any_resolution_and_num_ws():
    for res in (4, 8, 64):
        a = build_random_stylegan2(res, 16, 256, 16, mapping_layers=2)
        assert a.num_layers == 2 * int(math.log2(res)) - 2
        img = a.synthesize(a.sample([0], "w"), "w")
        assert img.shape == (1, 3, res, res) and torch.isfinite(img).all()


# ----------------------------------------------------------------------------- adapter

@pytest.fixture(scope="module")
def adapter():
    return build_random_stylegan2(RES, W_DIM, BASE, CMAX, seed=3, z_dim=24, mapping_layers=2)


def test_adapter_shapes_and_spaces(adapter):
    L = adapter.num_layers
    assert adapter.latent_spaces == ("z", "w", "w+") and adapter.default_space == "w"
    assert adapter.latent_dim == W_DIM and adapter.latent_dim_for("z") == 24
    assert adapter.latent_dim_for("w+") == W_DIM and adapter.resolution == RES
    assert adapter.sample([0, 1], "z").shape == (2, 24)
    assert adapter.sample([0, 1], "w").shape == (2, W_DIM)
    assert adapter.sample([0, 1], "w+").shape == (2, L, W_DIM)
    for space in ("z", "w", "w+"):
        img = adapter.synthesize(adapter.sample([0, 1], space), space)
        assert img.shape == (2, 3, RES, RES) and img.dtype == torch.float32
    with pytest.raises(LowRankGANError):
        adapter.synthesize(torch.zeros(1, W_DIM), "z")
    with pytest.raises(LowRankGANError):
        adapter.sample([0], "s")
    assert adapter.presets == {} and adapter.classes == ()
    with pytest.raises(LowRankGANError):
        adapter.set_class(1)


def test_determinism_per_seed(adapter):
    a = adapter.sample([3, 5], "w")
    assert torch.equal(a, adapter.sample([3, 5], "w"))
    assert torch.equal(a[1:], adapter.sample([5], "w"))
    img = adapter.synthesize(a, "w")
    assert torch.equal(img, adapter.synthesize(a, "w"))
    assert not torch.equal(a[0], a[1])


def test_w_and_broadcast_w_plus_agree(adapter):
    w = adapter.sample([7, 8], "w")
    wp = w[:, None].repeat(1, adapter.num_layers, 1)
    assert torch.equal(adapter.sample([7, 8], "w+"), wp)
    assert torch.allclose(adapter.synthesize(w, "w"), adapter.synthesize(wp, "w+"), atol=1e-6)
    z = adapter.sample([7, 8], "z")
    assert torch.allclose(adapter.synthesize(z, "z"), adapter.synthesize(w, "w"), atol=1e-5)


def test_truncation(adapter):
    w_avg = adapter.w_avg
    assert w_avg.abs().sum() > 0
    w0 = adapter.sample([1, 2], "w", trunc=0.0)
    assert torch.allclose(w0, w_avg.expand(2, -1), atol=1e-6)
    w1 = adapter.sample([1], "w")
    wh = adapter.sample([1], "w", trunc=0.5)
    assert torch.allclose(wh, w_avg + 0.5 * (w1 - w_avg), atol=1e-6)
    adapter.truncation_cutoff = 3
    try:
        wp = adapter.sample([1], "w+", trunc=0.0)
    finally:
        adapter.truncation_cutoff = None
    assert torch.allclose(wp[0, :3], w_avg.expand(3, -1), atol=1e-6)
    assert torch.allclose(wp[0, 3:], w1.expand(adapter.num_layers - 3, -1), atol=1e-6)


def test_jvp_matches_finite_difference(adapter):
    w = adapter.sample([11], "w")
    t = torch.randn(1, W_DIM, generator=torch.Generator().manual_seed(2))
    _, jvp32 = torch.func.jvp(lambda c: adapter.synthesize(c, "w"), (w,), (t,))
    # Finite differences need float64 (lrelu kinks + float32 rounding otherwise dominate).
    a64 = copy.copy(adapter)
    a64.generator = copy.deepcopy(adapter.generator).double()
    f = lambda c: a64.synthesize(c, "w")  # noqa: E731
    w64, t64 = w.double(), t.double()
    _, jvp64 = torch.func.jvp(f, (w64,), (t64,))
    eps = 1e-6
    fd = (f(w64 + eps * t64) - f(w64 - eps * t64)) / (2 * eps)
    assert (jvp64 - fd).abs().max() < 1e-5 * jvp64.abs().max()
    assert (jvp32.double() - jvp64).abs().max() < 1e-4 * jvp64.abs().max()


def test_jvp_under_vmap_gives_jacobian_columns(adapter):
    w = adapter.sample([4], "w+")
    f = lambda c: adapter.synthesize(c, "w+")  # noqa: E731
    basis = torch.eye(adapter.num_layers * W_DIM)[:5].reshape(5, 1, adapter.num_layers, W_DIM)
    cols = torch.func.vmap(lambda v: torch.func.jvp(f, (w,), (v,))[1])(basis)
    for i in (0, 4):
        _, col = torch.func.jvp(f, (w,), (basis[i],))
        assert torch.allclose(cols[i], col, atol=1e-5)


def test_default_layers():
    assert default_layers_for(18) == [4, 5, 6, 7]
    assert default_layers_for(16) == [4, 5, 6, 7]
    assert default_layers_for(14) == [3, 4, 5]
    assert default_layers_for(8) == [2, 3]
    assert default_layers_for(2) == [0]
    for n in range(2, 20, 2):
        layers = default_layers_for(n)
        assert layers and all(0 <= i < n for i in layers)
