"""StyleGAN3 (Alias-Free GAN, configs T and R): our own PyTorch generator, a loader for NVIDIA's
pickles that runs no embedded code, and the adapter."""

from .adapter import (NVIDIA_STYLEGAN3, StyleGAN3Adapter, build_random_stylegan3, default_layers_for,
                      load_stylegan3_adapter, make_transform)
from .config import StyleGAN3Config, geometry
from .loader import config_from_init_kwargs, load_stylegan3
from .network import StyleGAN3Generator, build_generator

__all__ = [
    "NVIDIA_STYLEGAN3", "StyleGAN3Adapter", "build_random_stylegan3", "default_layers_for",
    "load_stylegan3_adapter", "make_transform", "StyleGAN3Config", "geometry",
    "config_from_init_kwargs", "load_stylegan3", "StyleGAN3Generator", "build_generator",
]
