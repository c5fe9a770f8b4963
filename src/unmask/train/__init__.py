"""unmask.train: models, losses, data and the trainer for discrete diffusion models."""
