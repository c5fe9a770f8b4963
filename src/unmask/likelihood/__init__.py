"""Likelihood of sequences under masked-diffusion denoisers."""

from .exact import exact_nelbo, mask_weights

__all__ = ["exact_nelbo", "mask_weights"]
