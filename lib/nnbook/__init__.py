"""nnbook: the course package of *Neural Networks and Deep Generative Models*.

One module per topic. The shared infrastructure:

- :mod:`nnbook.utils`     seeding (``seed_everything``, ``seeded``) and device selection
- :mod:`nnbook.validate`  argument rules declared once per function (``@checked``), clear error messages
- :mod:`nnbook.data`      offline datasets with deterministic splits
- :mod:`nnbook.train`     ``fit`` with the notes' stopping criteria, and ``train_steps``, the one
                          minibatch loop of the chapters that do not teach the loop
- :mod:`nnbook.plot`      one plotting style and animations for the static website
- :mod:`nnbook.exercises` checkers for the coding exercises
"""
from nnbook.utils import get_device, glue, seed_everything

__version__ = "0.1.0"
__all__ = ["get_device", "glue", "seed_everything", "__version__"]
