"""Uniform-process samplers on a time grid from ``t = 1`` down to ``t_min`` (spec §3).

Each step asks the denoiser for the posterior marginals ``p(x_0 | z_t)``, turns them into a
per-position law of the next value (stay mass included) and lets the context draw from it:

* :class:`Euler`: ``Delta`` times the reverse rates, the rest on staying;
* :class:`TauLeaping`: Poisson increments mod ``S`` with frozen rates;
* :class:`Tweedie`: the exact per-position reverse marginal;
* :class:`Trapezoidal`: the two-stage theta-trapezoidal method with increment semantics.
"""

from .euler import Euler
from .tau_leaping import TauLeaping
from .trapezoidal import Trapezoidal
from .tweedie import Tweedie

__all__ = ["Euler", "TauLeaping", "Trapezoidal", "Tweedie"]
