"""Forward processes: masked (absorbing) and uniform, with their posteriors and conversions."""

from .masked import MaskedProcess
from .uniform import UniformProcess

Process = MaskedProcess | UniformProcess

__all__ = ["MaskedProcess", "Process", "UniformProcess"]
