"""Every rule by which the hand-written tangents decline a layer stack: each one makes
``sequential_tangents`` return None, and the Jacobian (by torch.func then) is still right."""

import pytest
import torch
from torch import nn

from lowrankgan.maths.jacobian import compute_jacobian
from lowrankgan.models.dcgan import DCGANAdapter
from lowrankgan.models.linearize import sequential_tangents, supports


def _stack(first: nn.Module | None = None, middle: nn.Module | None = None, bn: nn.Module | None = None,
           last: nn.Module | None = None) -> nn.Sequential:
    """A small DCGAN-like stack (10-dim code -> 3 x 8 x 8); each argument replaces one layer."""
    torch.manual_seed(0)
    net = nn.Sequential(first or nn.ConvTranspose2d(10, 8, 4, 1, 0), bn or nn.BatchNorm2d(8), nn.ReLU(),
                        middle or nn.ConvTranspose2d(8, 8, 4, 2, 1), nn.ReLU(),
                        last or nn.Conv2d(8, 3, 3, 1, 1), nn.Tanh())
    for m in net:
        if isinstance(m, nn.BatchNorm2d) and m.running_var is not None:
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return net.eval().requires_grad_(False)


class _MyReLU(nn.ReLU):
    def forward(self, x):  # a subclass may do anything: not for the hand-written rules
        return torch.relu(x) * 0.5


DECLINED = {
    "unknown layer": lambda: _stack(last=nn.Sequential(nn.Conv2d(8, 3, 3, 1, 1))),
    "subclass of a known layer": lambda: _add(_stack(), 2, _MyReLU()),
    "batch norm without running statistics": lambda: _stack(bn=nn.BatchNorm2d(8, track_running_stats=False)),
    "grouped convolution": lambda: _stack(middle=nn.ConvTranspose2d(8, 8, 4, 2, 1, groups=2)),
    "padding mode other than zeros": lambda: _stack(last=nn.Conv2d(8, 3, 3, 1, 1, padding_mode="reflect")),
    "transposed convolution with output padding": lambda: _stack(middle=nn.ConvTranspose2d(8, 8, 3, 2, 1, output_padding=1)),
}


def _add(net: nn.Sequential, index: int, layer: nn.Module) -> nn.Sequential:
    layers = list(net)
    layers[index] = layer
    return nn.Sequential(*layers).eval()


def _autograd_jacobian(gen: DCGANAdapter, code: torch.Tensor, size: int) -> torch.Tensor:
    f = lambda c: nn.functional.interpolate(gen.synthesize(c[None]), size=(size, size), mode="area").mean(1).flatten()  # noqa: E731
    return torch.autograd.functional.jacobian(f, code)


@pytest.mark.parametrize("case", list(DECLINED))
def test_each_unsupported_stack_falls_back_and_stays_right(case):
    net = DECLINED[case]()
    assert not supports(net)
    code = torch.randn(10, generator=torch.Generator().manual_seed(1))
    assert sequential_tangents(net, code[None, :, None, None], torch.eye(10)[:, :, None, None]) is None
    gen = DCGANAdapter(net, f"tiny-{case.replace(' ', '-')}")
    size = gen.resolution
    J = compute_jacobian(gen, code, analysis_size=size, cache=False, progress=False)
    assert torch.allclose(J, _autograd_jacobian(gen, code, size), atol=1e-5, rtol=1e-4)


def test_a_stack_in_training_mode_or_not_sequential_is_declined():
    net = _stack()
    x, t = torch.zeros(1, 10, 1, 1), torch.eye(10)[:, :, None, None]
    assert supports(net) and sequential_tangents(net, x, t) is not None  # the control: supported
    net.train()
    assert not supports(net) and sequential_tangents(net, x, t) is None
    net.eval()

    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = net

        def forward(self, x):
            return self.inner(x)

    assert not supports(Wrapped().eval()) and sequential_tangents(Wrapped().eval(), x, t) is None


def test_the_supported_control_stack_matches_autograd():
    gen = DCGANAdapter(_stack(), "tiny-supported")
    code = torch.randn(10, generator=torch.Generator().manual_seed(2))
    J = compute_jacobian(gen, code, analysis_size=gen.resolution, cache=False, progress=False)
    assert torch.allclose(J, _autograd_jacobian(gen, code, gen.resolution), atol=1e-5, rtol=1e-4)
