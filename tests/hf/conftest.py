"""Settings for the tests of ``unmask.hf``: nothing may reach the network.

Every model and tokenizer is built in the tests from a config and a few sentences; the Hugging
Face Hub is switched off before ``transformers`` is imported, so an accidental download fails.
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
