"""nnbook: the course package of *Neural Networks and Deep Generative Models*.

One module per topic. The shared infrastructure:

- :mod:`nnbook.utils`     seeding and device selection
- :mod:`nnbook.validate`  argument checks with clear error messages
- :mod:`nnbook.data`      offline datasets with deterministic splits
- :mod:`nnbook.train`     a small training loop and the notes' stopping criteria
- :mod:`nnbook.plot`      one plotting style and animations for the static website
- :mod:`nnbook.exercises` checkers for the coding exercises
"""
from nnbook.utils import get_device, glue, seed_everything

__version__ = "0.1.0"
__all__ = ["get_device", "glue", "seed_everything", "__version__"]
