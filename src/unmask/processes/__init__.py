"""Forward processes: masked (absorbing) and uniform, with their posteriors and conversions."""

from .base import Process
from .masked import MaskedProcess
from .uniform import UniformProcess

__all__ = ["MaskedProcess", "Process", "UniformProcess"]
