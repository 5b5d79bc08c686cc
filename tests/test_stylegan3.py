"""StyleGAN3: our generator against a literal re-derivation of NVIDIA's reference maths, pickles
written here with NVIDIA's exact structure (persistent records, init_kwargs, layer attributes),
refusal of unsafe / malformed files, the adapter, the input transform and the CLI pipeline."""

from __future__ import annotations

import copy
import json
import math
import pickle
import sys
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

try:
    import lowrankgan  # noqa: F401
except ImportError:  # running from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from lowrankgan.cli import main
from lowrankgan.errors import LowRankGANError
from lowrankgan.models import load_model
from lowrankgan.models.stylegan2 import STYLEGAN3, load_stylegan2, sniff_stylegan
from lowrankgan.models.stylegan3 import (StyleGAN3Adapter, StyleGAN3Config, build_generator,
                                         build_random_stylegan3, default_layers_for, geometry,
                                         load_stylegan3)

from test_stylegan2 import EVIL_SRC, _Evil, _one_thread, _Persistent, _touch_cmd, fake_modules  # noqa: F401

W_DIM = 16
SMALL = dict(z_dim=W_DIM, w_dim=W_DIM, img_resolution=32, channel_base=512, channel_max=16,
             num_layers=6, mapping_layers=2)
SRC = "class SynthesisInput(torch.nn.Module): pass\n"


def _cfg(config="T", **kw) -> StyleGAN3Config:
    base = dict(SMALL, conv_kernel=1 if config == "R" else 3, use_radial_filters=config == "R")
    if config == "R":
        base.update(channel_base=1024, channel_max=32)
    base.update(kw)
    return StyleGAN3Config(**base)


@pytest.fixture(scope="module", params=["T", "R"])
def gen(request):
    return build_generator(_cfg(request.param), seed=1)


def _ws(g, n=2, seed=0, spread=0.3):
    z = torch.randn(n, g.z_dim, generator=torch.Generator().manual_seed(seed))
    ws = g.mapping(z, None)
    return ws + spread * torch.randn(ws.shape, generator=torch.Generator().manual_seed(seed + 1))


# ----------------------------------------------------------------------------- file writer

def _attrs(module) -> dict:
    """The plain attributes NVIDIA's classes keep in ``__dict__`` (numpy where theirs are)."""
    name = type(module).__name__
    if name == "SynthesisLayer":
        s = asdict(module.spec)
        s.pop("name")
        for key in ("in_size", "out_size"):
            s[key] = np.broadcast_to(np.asarray(s[key]), [2])
        for key in ("in_cutoff", "out_cutoff", "in_half_width", "out_half_width"):
            s[key] = np.float64(s[key])
        s.update(padding=list(s["padding"]), w_dim=W_DIM, use_fp16=False, conv_clamp=module.conv_clamp,
                 magnitude_ema_beta=0.999)
        return s
    if name == "SynthesisInput":
        return dict(w_dim=W_DIM, channels=module.channels, size=np.broadcast_to(np.asarray(module.size), [2]),
                    sampling_rate=np.float64(module.sampling_rate), bandwidth=np.float64(module.bandwidth))
    if name == "SynthesisNetwork":
        return dict(w_dim=W_DIM, num_ws=module.num_ws, layer_names=list(module.layer_names),
                    output_scale=module.output_scale, num_fp16_res=4, margin_size=10)
    if name == "FullyConnectedLayer":
        return dict(in_features=module.weight.shape[1], out_features=module.weight.shape[0],
                    activation="lrelu" if module.lrelu else "linear",
                    weight_gain=np.float64(module.weight_gain), bias_gain=module.bias_gain)
    if name == "MappingNetwork":
        return dict(z_dim=module.z_dim, c_dim=module.c_dim, w_dim=module.w_dim, num_ws=module.num_ws,
                    num_layers=module.num_layers, w_avg_beta=0.998)
    return {}


def _record(module, src, init_kwargs=None, attrs=None):
    state = {
        "training": False,
        "_parameters": OrderedDict((n, torch.nn.Parameter(p.detach().clone(), requires_grad=False))
                                   for n, p in module._parameters.items()),
        "_buffers": OrderedDict((n, None if b is None else b.detach().clone())
                                for n, b in module._buffers.items()
                                if n not in module._non_persistent_buffers_set),
        "_non_persistent_buffers_set": set(),
        "_backward_hooks": OrderedDict(), "_forward_hooks": OrderedDict(),
        "_forward_pre_hooks": OrderedDict(), "_state_dict_hooks": OrderedDict(),
        "_load_state_dict_pre_hooks": OrderedDict(),
        "_modules": OrderedDict((n, _record(c, src)) for n, c in module._modules.items()),
        "_init_args": (), "_init_kwargs": init_kwargs or {}, **_attrs(module),
    }
    if type(module).__name__ == "MappingNetwork" and module.c_dim == 0:
        state["_modules"]["embed"] = None  # NVIDIA sets the attribute to None
    state.update(attrs or {})
    name = type(module).__name__
    return _Persistent("Generator" if name == "StyleGAN3Generator" else name, state, src)


def init_kwargs(g, fake, **override):
    """The Generator's init_kwargs as NVIDIA's train.py passes them (synthesis settings flat)."""
    E, cfg = fake.EasyDict, g.cfg
    kw = dict(z_dim=cfg.z_dim, w_dim=cfg.w_dim, mapping_kwargs=E(num_layers=cfg.mapping_layers),
              channel_base=cfg.channel_base, channel_max=cfg.channel_max, num_fp16_res=4,
              conv_clamp=256, magnitude_ema_beta=0.5 ** (32 / 20000), num_layers=cfg.num_layers,
              c_dim=cfg.c_dim, img_resolution=cfg.img_resolution, img_channels=cfg.img_channels)
    if cfg.use_radial_filters:
        kw.update(conv_kernel=1, use_radial_filters=True)
    kw.update(override)
    return kw


def write_sg3_pkl(path, g, fake, src=SRC, protocol=4, payload=None, **override):
    rec = _record(g, src, init_kwargs(g, fake, **override),
                  {"z_dim": g.z_dim, "c_dim": g.c_dim, "w_dim": g.w_dim, "num_ws": g.num_ws,
                   "img_resolution": g.img_resolution, "img_channels": g.img_channels})
    disc = _Persistent("Discriminator", {"_parameters": OrderedDict(
        b4=torch.nn.Parameter(torch.zeros(3)))}, src)
    data = {"G": rec, "D": disc, "G_ema": rec, "augment_pipe": None,
            "training_set_kwargs": fake.EasyDict(resolution=g.img_resolution), "progress": {"cur_nimg": 0}}
    if payload is not None:
        data = {"payload": payload, **data}  # first, so a plain unpickler would run it first
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=protocol)


# ----------------------------------------------------------------------------- literal reference

def _ref_upfirdn(x, f, up, down, pad, gain):
    """NVIDIA's upfirdn2d, literally: zero insertion, pad/crop, flipped-filter conv, decimation."""
    n, c, h, w = x.shape
    if f is None:
        f = torch.ones(1, 1)
    z = torch.zeros(n, c, h * up, w * up, dtype=x.dtype)
    z[:, :, ::up, ::up] = x
    x0, x1, y0, y1 = pad
    z = F.pad(z, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    z = z[:, :, max(-y0, 0):z.shape[2] - max(-y1, 0), max(-x0, 0):z.shape[3] - max(-x1, 0)]
    f = (f * gain ** (f.ndim / 2)).to(x.dtype).flip(list(range(f.ndim)))
    if f.ndim == 2:
        z = F.conv2d(z, f[None, None].repeat(c, 1, 1, 1), groups=c)
    else:
        z = F.conv2d(z, f[None, None, None].repeat(c, 1, 1, 1), groups=c)
        z = F.conv2d(z, f[None, None, :, None].repeat(c, 1, 1, 1), groups=c)
    return z[:, :, ::down, ::down]


def _ref_layer(sd, p, spec, x, w, clamp=256.0):
    weight = sd[f"{p}.weight"]
    styles = F.linear(w, sd[f"{p}.affine.weight"] / math.sqrt(w.shape[1]), sd[f"{p}.affine.bias"])
    gain_in = sd[f"{p}.magnitude_ema"].rsqrt()
    k = weight.shape[-1]
    if spec.is_torgb:
        styles = styles / math.sqrt(weight.shape[1] * k * k)
    else:  # pre-normalisation as NVIDIA does it: styles over the whole batch
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    outs = []
    for i in range(x.shape[0]):  # per-sample modulated weights ("fused" form)
        wi = weight * styles[i].reshape(1, -1, 1, 1)
        if not spec.is_torgb:
            wi = wi * (wi.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).rsqrt()
        outs.append(F.conv2d(x[i:i + 1], wi * gain_in, padding=k - 1))
    x = torch.cat(outs) + sd[f"{p}.bias"].reshape(1, -1, 1, 1)
    x = _ref_upfirdn(x, sd.get(f"{p}.up_filter"), spec.up_factor, 1, spec.padding, spec.up_factor ** 2)
    gain, slope = (1.0, 1.0) if spec.is_torgb else (math.sqrt(2), 0.2)
    x = torch.where(x >= 0, x, x * slope) * gain
    x = x.clamp(-clamp, clamp)
    return _ref_upfirdn(x, sd.get(f"{p}.down_filter"), 1, spec.down_factor, (0, 0, 0, 0), 1)


def _ref_input(sd, spec, w):
    t = F.linear(w, sd["synthesis.input.affine.weight"] / math.sqrt(w.shape[1]),
                 sd["synthesis.input.affine.bias"])
    t = t / t[:, :2].norm(dim=1, keepdim=True)
    n = w.shape[0]
    m_r = torch.eye(3, dtype=w.dtype).repeat(n, 1, 1)
    m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
    m_t = torch.eye(3, dtype=w.dtype).repeat(n, 1, 1)
    m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
    tr = m_r @ m_t @ sd["synthesis.input.transform"][None]
    freqs = sd["synthesis.input.freqs"][None]
    phases = sd["synthesis.input.phases"][None] + (freqs @ tr[:, :2, 2:]).squeeze(2)
    freqs = freqs @ tr[:, :2, :2]
    amp = (1 - (freqs.norm(dim=2) - spec.bandwidth) / (spec.sampling_rate / 2 - spec.bandwidth)).clamp(0, 1)
    theta = torch.eye(2, 3, dtype=w.dtype)
    theta[0, 0] = theta[1, 1] = 0.5 * spec.size / spec.sampling_rate
    grid = F.affine_grid(theta[None], [1, 1, spec.size, spec.size], align_corners=False)
    x = (grid.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)
    x = torch.sin((x + phases[:, None, None]) * (2 * np.pi)) * amp[:, None, None]
    x = x @ (sd["synthesis.input.weight"] / math.sqrt(spec.channels)).t()
    return x.permute(0, 3, 1, 2)


def reference_synthesis(g, ws):
    sd = g.state_dict()
    inp, layers = geometry(g.cfg)
    x = _ref_input(sd, inp, ws[:, 0])
    for i, spec in enumerate(layers):
        x = _ref_layer(sd, f"synthesis.{spec.name}", spec, x, ws[:, i + 1])
    return x * g.cfg.output_scale


# ----------------------------------------------------------------------------- network maths

def test_geometry_of_the_published_1024_configs():
    """Layer names, channels and sizes of NVIDIA's released FFHQ 1024² T and R files."""
    _, t_layers = geometry(StyleGAN3Config())
    assert [s.name for s in t_layers] == [
        "L0_36_512", "L1_36_512", "L2_52_512", "L3_52_512", "L4_84_512", "L5_148_512",
        "L6_148_512", "L7_276_323", "L8_276_203", "L9_532_128", "L10_1044_81", "L11_1044_51",
        "L12_1044_32", "L13_1024_32", "L14_1024_3"]
    _, r_layers = geometry(StyleGAN3Config(conv_kernel=1, use_radial_filters=True,
                                           channel_base=65536, channel_max=1024))
    assert [s.name for s in r_layers][6:10] == ["L6_148_1024", "L7_276_645", "L8_276_406", "L9_532_256"]
    assert [s.down_radial for s in r_layers] == [True] * 12 + [False] * 3
    assert StyleGAN3Config().num_ws == 16


def test_synthesis_matches_literal_reference(gen):
    ws = _ws(gen)
    ours, ref = gen.synthesis(ws), reference_synthesis(gen, ws)
    assert ours.shape == ref.shape == (2, 3, 32, 32)
    assert ref.abs().max() > 0.05  # a real image, not a vanishing signal
    # "Within 2 uint8 levels" of NVIDIA's maths, with a wide margin: 2/255 of the [-1, 1] range.
    assert (ours - ref).abs().max() < 1e-4, (ours - ref).abs().max()


def test_any_resolution_and_layer_count():
    for res, n in ((16, 4), (64, 8)):
        a = build_random_stylegan3(res, 8, 256, 8, num_layers=n, mapping_layers=1)
        assert a.num_layers == n + 2
        img = a.synthesize(a.sample([0], "w"), "w")
        assert img.shape == (1, 3, res, res) and torch.isfinite(img).all()


def test_jvp_matches_finite_difference(gen):
    a = StyleGAN3Adapter(copy.deepcopy(gen).double())
    w = a.sample([11], "w+")
    t = torch.randn(w.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    f = lambda c: a.synthesize(c, "w+")  # noqa: E731
    _, jvp = torch.func.jvp(f, (w,), (t,))
    assert jvp.abs().max() > 1e-3
    # A leaky-ReLU kink inside [w - eps t, w + eps t] (there are millions on the upsampled grids)
    # spoils a central difference around it; two step sizes rarely straddle the same kink, so
    # each pixel keeps the better of the two.
    errs = [((f(w + eps * t) - f(w - eps * t)) / (2 * eps) - jvp).abs() for eps in (1e-6, 1e-7)]
    assert torch.minimum(*errs).max() < 1e-6 * jvp.abs().max()
    a32 = StyleGAN3Adapter(gen)
    _, jvp32 = torch.func.jvp(lambda c: a32.synthesize(c, "w+"), (w.float(),), (t.float(),))
    assert (jvp32.double() - jvp).abs().max() < 1e-3 * jvp.abs().max()


# ----------------------------------------------------------------------------- loading

def test_pickle_loads_to_the_same_images_and_runs_nothing(tmp_path, gen, fake_modules):
    path = tmp_path / "sg3.pkl"
    write_sg3_pkl(path, gen, fake_modules, src=SRC + EVIL_SRC.format(marker=str(tmp_path / "ran")))
    assert sniff_stylegan(path) == STYLEGAN3
    a = load_model(str(path), device="cpu")
    assert isinstance(a, StyleGAN3Adapter) and a.num_layers == gen.num_ws == 8
    info = a.describe()
    assert info["family"] == "stylegan3" and info["config"] == ("R" if gen.cfg.use_radial_filters else "T")
    ws = _ws(gen)
    assert (a.generator.synthesis(ws) - gen.synthesis(ws)).abs().max() == 0
    assert torch.equal(a.w_avg, gen.mapping.w_avg)
    assert not (tmp_path / "ran").exists()
    with pytest.raises(LowRankGANError, match="is a StyleGAN3 pickle, not StyleGAN2"):
        load_stylegan2(path)


def test_sniff_miss_still_loads_as_stylegan3(tmp_path, fake_modules, monkeypatch):
    g = build_generator(_cfg(), seed=4)
    path = tmp_path / "no-src.pkl"
    write_sg3_pkl(path, g, fake_modules, src="", protocol=3)
    # As if the marker text lay beyond the bytes the sniffer reads: the records still tell.
    monkeypatch.setattr("lowrankgan.models.stylegan2.loaders._SG3_MARKERS", ())
    assert sniff_stylegan(path) == "nvidia-pytorch"
    a = load_model(str(path), device="cpu")
    assert isinstance(a, StyleGAN3Adapter)
    assert torch.equal(a.synthesize(a.sample([1], "w"), "w"), StyleGAN3Adapter(g).synthesize(
        StyleGAN3Adapter(g).sample([1], "w"), "w"))


def test_conditional_pickle_and_truncation(tmp_path, fake_modules):
    g = build_generator(_cfg(c_dim=3), seed=2)
    path = tmp_path / "cond.pkl"
    write_sg3_pkl(path, g, fake_modules)
    a = load_model(str(path), device="cpu", class_name="1")
    assert a.classes == ("0", "1", "2") and a.class_name == "1"
    z = a.sample([4], "z")
    img1 = a.synthesize(z, "z")
    a.set_class("2")
    assert (a.synthesize(z, "z") - img1).abs().max() > 1e-3
    w0 = a.sample([1, 2], "w", trunc=0.0)
    assert torch.allclose(w0, a.w_avg.expand(2, -1), atol=1e-6)
    assert a.set_truncation(0.5) == 0.5
    wz = g.mapping(z, F.one_hot(torch.tensor([2]), 3).float(), 0.5)
    assert torch.allclose(a.synthesize(z, "z"), g.synthesis(wz), atol=1e-6)


def test_malicious_pickle_is_refused(tmp_path, fake_modules):
    import os
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pkl"
    write_sg3_pkl(path, build_generator(_cfg(), seed=0), fake_modules,
                  payload=_Evil(os.system, _touch_cmd(marker)))
    assert sniff_stylegan(path) == STYLEGAN3
    with pytest.raises(LowRankGANError, match="refusing to load"):
        load_stylegan3(path)
    assert main(["models", str(path)]) == 2
    assert not marker.exists()


@pytest.mark.parametrize("override,message", [
    ({"img_resolution": 1 << 20}, "img_resolution must be an integer in 8..4096"),
    ({"channel_max": 100_000}, "channel_max must be"),
    ({"num_layers": "14"}, "num_layers='14' is not a valid int"),
    ({"num_layers": 5}, "layers .* differ from those its init_kwargs give"),
    ({"filter_size": 4}, "stores up_taps=12, but its init_kwargs give 8"),
    ({"new_fancy_layer": True}, "new_fancy_layer are not part of NVIDIA's stylegan3"),
])
def test_bad_configs_are_clear_errors(tmp_path, fake_modules, override, message):
    g = build_generator(_cfg(), seed=0)
    path = tmp_path / "bad.pkl"
    write_sg3_pkl(path, g, fake_modules, **override)
    with pytest.raises(LowRankGANError, match=message):
        load_stylegan3(path)


def test_truncated_file_is_a_clear_error(tmp_path, fake_modules):
    path = tmp_path / "cut.pkl"
    write_sg3_pkl(path, build_generator(_cfg(), seed=0), fake_modules)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LowRankGANError, match="truncated or corrupt"):
        load_stylegan3(path)


# ----------------------------------------------------------------------------- adapter

@pytest.fixture(scope="module")
def adapter():
    return build_random_stylegan3(32, W_DIM, 512, 16, num_layers=6, seed=3)


def test_spaces_w_and_w_plus_agree(adapter):
    L = adapter.num_layers
    assert adapter.latent_spaces == ("z", "w", "w+") and L == 8
    w = adapter.sample([7, 8], "w")
    wp = w[:, None].repeat(1, L, 1)
    assert torch.equal(adapter.sample([7, 8], "w+"), wp)
    assert torch.allclose(adapter.synthesize(w, "w"), adapter.synthesize(wp, "w+"), atol=1e-6)
    z = adapter.sample([7, 8], "z")
    assert torch.allclose(adapter.synthesize(z, "z"), adapter.synthesize(w, "w"), atol=1e-5)
    assert all(0 < i < L for i in adapter.resolve_layers("w+"))
    synthesis = adapter.generator.synthesis
    widths = [getattr(synthesis, n).affine.weight.shape[0] for n in synthesis.layer_names]
    assert adapter.sefa_weight("w").shape == (sum(widths[:-1]), W_DIM)  # not the input, not ToRGB
    assert adapter.sefa_weight("w+", [0, 2]).shape == (widths[1], W_DIM)
    with pytest.raises(LowRankGANError, match="rows 1-6"):
        adapter.sefa_weight("w+", [0])


def test_default_layers():
    assert default_layers_for(16) == [1, 2, 3, 4]  # the published configs: 14 layers + 2
    for n in range(4, 40):
        layers = default_layers_for(n)
        assert layers and 0 not in layers and all(i < n for i in layers)


def test_translate_moves_the_image_and_rotate_turns_it(adapter):
    w = adapter.sample([5], "w")
    base = adapter.synthesize(w, "w")
    try:
        adapter.set_input_transform((0.25, 0.0), 0.0)  # a quarter of the width: 8 px to the right
        right = adapter.synthesize(w, "w")
        adapter.set_input_transform((0.0, -0.125), 0.0)  # 4 px up
        up = adapter.synthesize(w, "w")
        adapter.set_input_transform((0.0, 0.0), 90.0)
        key = adapter.cache_key()
    finally:
        adapter.set_input_transform((0.0, 0.0), 0.0)
    assert (right[..., 8:] - base[..., :-8]).abs().max() < 0.02 * base.abs().max()
    assert (up[..., :-4, :] - base[..., 4:, :]).abs().max() < 0.02 * base.abs().max()
    assert "rotate=90.0" in key and "rotate=0.0" in adapter.cache_key()
    assert torch.equal(adapter.synthesize(w, "w"), base)
    with pytest.raises(LowRankGANError, match="translate"):
        adapter.set_input_transform((float("nan"), 0.0))
    # Config R is rotation-equivariant: 90 degrees turns the picture counter-clockwise.
    r = build_random_stylegan3(32, W_DIM, 1024, 32, num_layers=6, seed=3, config="R")
    w = r.sample([5], "w")
    base = r.synthesize(w, "w")
    r.set_input_transform((0.0, 0.0), 90.0)
    turned = r.synthesize(w, "w")
    assert (turned - torch.rot90(base, 1, dims=(2, 3))).abs().max() < 1e-3 * base.abs().max()
    assert (turned - base).abs().max() > 0.1 * base.abs().max()


# ----------------------------------------------------------------------------- CLI pipeline

@pytest.mark.slow
def test_cli_pipeline_directions_and_edit(tmp_path, fake_modules, monkeypatch, capsys):
    monkeypatch.setenv("LOWRANKGAN_HOME", str(tmp_path / "home"))
    ckpt = tmp_path / "tiny-sg3.pkl"
    write_sg3_pkl(ckpt, build_generator(_cfg(), seed=3), fake_modules)
    assert main(["models", str(ckpt)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["family"] == "stylegan3" and info["num_layers"] == 8 and info["resolution"] == 32
    out = tmp_path / "dirs"
    assert main(["directions", "--model", str(ckpt), "--seed", "1", "--region", "box:8,8,12,12",
                 "--space", "w+", "--layers", "2-4", "--out", str(out), "--top-k", "3",
                 "--translate", "0.1,0", "--rotate", "10"]) == 0
    meta = json.loads((out / "directions.json").read_text())
    assert meta["latent_space"] == "w+" and meta["layers"] == [2, 3, 4]
    assert meta["translate"] == [0.1, 0.0] and meta["rotate"] == 10.0  # edit applies it (test_recorded_transform)
    png = tmp_path / "e.png"
    assert main(["edit", "--model", str(ckpt), "--directions", str(out), "--seeds", "0-1",
                 "--strengths", "-2:2:3", "--translate", "0.1,0", "--rotate", "10",
                 "--out", str(png)]) == 0
    assert png.stat().st_size > 0
    assert main(["directions", "--model", str(ckpt), "--seed", "1", "--region", "box:8,8,12,12",
                 "--method", "sefa", "--space", "w+", "--out", str(tmp_path / "sefa")]) == 0
    assert main(["sample", "--model", str(ckpt), "--seeds", "0", "--translate", "0.1,-0.2",
                 "--out", str(tmp_path / "s.png")]) == 0
    capsys.readouterr()
    assert main(["sample", "--seeds", "0", "--translate", "0.1,0", "--out", str(tmp_path / "x.png")]) == 2
    assert "need a StyleGAN3 model" in capsys.readouterr().err
    assert main(["sample", "--model", str(ckpt), "--translate", "0.1", "--out", str(tmp_path / "y.png")]) == 2
    assert "--translate" in capsys.readouterr().err and not (tmp_path / "y.png").exists()


@pytest.mark.slow
def test_cli_path_edit_and_evaluate(tmp_path, fake_modules, monkeypatch):
    monkeypatch.setenv("LOWRANKGAN_HOME", str(tmp_path / "home"))
    ckpt = tmp_path / "tiny-sg3.pkl"
    write_sg3_pkl(ckpt, build_generator(_cfg(), seed=3), fake_modules)
    out = tmp_path / "dirs"
    assert main(["directions", "--model", str(ckpt), "--seed", "1", "--region", "box:8,8,12,12",
                 "--space", "w", "--out", str(out), "--top-k", "2"]) == 0
    gif = tmp_path / "p.gif"
    assert main(["edit", "--model", str(ckpt), "--directions", str(out), "--seeds", "0",
                 "--strengths", "-2:2:3", "--path-steps", "2", "--out", str(gif)]) == 0
    assert gif.read_bytes()[:3] == b"GIF"
    assert main(["evaluate", "--model", str(ckpt), "--region", "box:8,8,12,12", "--seeds", "0-1",
                 "--methods", "lowrankgan,random", "--space", "w", "--top-k", "1", "--no-progress",
                 "--out", str(tmp_path / "eval")]) == 0
    assert any((tmp_path / "eval").iterdir())


def test_move_then_edit_equals_edit_then_move():
    """Config T is translation-equivariant: an edit made on the moved picture (with directions
    found there) is the moved edit."""
    from lowrankgan import api
    gen = build_random_stylegan3(32, W_DIM, 512, 16, num_layers=6, seed=5)
    gen.set_input_transform((0.25, 0.0), 0.0)  # 8 px to the right
    dirs = api.find_directions(gen, 2, "box:8,16,12,12", space="w+", top_k=2, progress=False, cache=False)
    # The straight line: the local path holds still the rest of a region given in image pixels, which
    # does not move with the picture, so only the straight edit is equivariant.
    moved = api.edit(gen, dirs, [2], [-3.0, 3.0], space="w+", path="straight")
    gen.set_input_transform((0.0, 0.0), 0.0)
    still = api.edit(gen, dirs, [2], [-3.0, 3.0], space="w+", path="straight")
    assert (moved - still).abs().max() > 0.05 * still.abs().max()  # the move is visible
    assert (moved[..., 8:] - still[..., :-8]).abs().max() < 0.02 * still.abs().max()
