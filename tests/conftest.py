"""Test-wide settings.

The tests work on many small tensors: one intra-op thread avoids two threads fighting over the
two cores of a CI machine (measured: up to 100x slower under load with the default).
"""

import torch

torch.set_num_threads(1)
