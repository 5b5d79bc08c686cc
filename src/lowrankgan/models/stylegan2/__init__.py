"""StyleGAN2: our own PyTorch generator, checkpoint loaders that run no embedded code, adapter."""

from .adapter import (StyleGAN2Adapter, build_random_stylegan2, default_layers_for,
                      load_stylegan2_adapter)
from .loaders import (NVIDIA_PYTORCH, NVIDIA_TF, ROSINALITY, STYLEGAN3, load_stylegan2,
                      load_stylegan2_with_kind, sniff_stylegan)
from .network import StyleGAN2Config, StyleGAN2Generator, build_generator

__all__ = [
    "StyleGAN2Adapter", "build_random_stylegan2", "default_layers_for", "load_stylegan2_adapter",
    "load_stylegan2", "load_stylegan2_with_kind", "sniff_stylegan",
    "NVIDIA_PYTORCH", "NVIDIA_TF", "ROSINALITY", "STYLEGAN3",
    "StyleGAN2Config", "StyleGAN2Generator", "build_generator",
]
