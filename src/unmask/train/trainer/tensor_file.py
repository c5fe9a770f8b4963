"""Named tensors in a safetensors file: written atomically by :mod:`unmask.files`, read without pickle.

:func:`write_tensor_file` copies each tensor to the host (only when it lives on a device), makes
it contiguous and gives every tensor its own storage (tied weights are saved twice: safetensors
refuses tensors that share memory), then writes ``safetensors.torch.save`` bytes with
:func:`unmask.files.write_output`. :func:`read_tensor_file` reads them back on the CPU and turns
a missing, truncated or corrupt file into a ``ValueError`` that names the file and what to do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from ...files import write_output


def host_tensors(tensors: Mapping[str, torch.Tensor], what: str = "tensors") -> dict[str, torch.Tensor]:
    """``tensors`` detached, on the CPU, contiguous, each with a storage of its own (a copy is made
    only where one is needed). Raises ``TypeError`` for a key that is not a str or a value that is
    not a tensor, naming it within ``what``."""
    if not isinstance(tensors, Mapping):
        raise TypeError(f"{what} must be a mapping of names to tensors, got {type(tensors).__name__}")
    result: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"{what} keys must be str, got {name!r} ({type(name).__name__})")
        if not torch.is_tensor(tensor):
            raise TypeError(f"{what}[{name!r}] must be a tensor, got {type(tensor).__name__}")
        host = tensor.detach().to("cpu").contiguous()
        storage = host.untyped_storage()
        if storage.data_ptr() in seen or storage.nbytes() != host.numel() * host.element_size():
            host = host.clone()
        if host.numel():
            seen.add(host.untyped_storage().data_ptr())
        result[name] = host
    return result


def write_tensor_file(
    path: str | os.PathLike,
    tensors: Mapping[str, torch.Tensor],
    metadata: Mapping[str, str] | None = None,
    force: bool = False,
) -> None:
    """Write ``tensors`` (and string ``metadata``) to the safetensors file ``path`` atomically.

    Tensors on a device are copied to the host here, at save time only. ``force`` replaces an
    existing file (see :func:`unmask.files.write_output`)."""
    from safetensors.torch import save

    host = host_tensors(tensors)
    if metadata is not None and not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise TypeError(f"metadata must map str to str, got {dict(metadata)!r}")
    write_output(path, save(host, metadata=dict(metadata) if metadata is not None else None), force=force)


def read_tensor_file(
    path: str | os.PathLike, what: str = ""
) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors (on the CPU) and the string metadata of the safetensors file ``path``.

    Raises ``ValueError`` naming the file when it is missing, truncated or not a safetensors
    file; ``what`` (``"the model weights"``) says in the message what the file should hold.
    No pickle is involved: safetensors stores a JSON header and raw tensor bytes."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    holding = f" ({what})" if what else ""
    if not path.is_file():
        state = "is not a regular file" if path.exists() else "is missing"
        raise ValueError(
            f"{str(path)!r}{holding} {state}; the checkpoint is incomplete: load another checkpoint "
            "or save this one again"
        )
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, RuntimeError) as error:
        raise ValueError(
            f"{str(path)!r}{holding} is truncated or corrupt and cannot be read as safetensors ({error}); "
            "load another checkpoint (an earlier one, or the one 'latest' names) or save this one again"
        ) from None
    return tensors, metadata
