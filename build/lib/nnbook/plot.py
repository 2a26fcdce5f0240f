"""One plotting style for the book, and animations that work on the static website.

:func:`animate` turns an update function into an HTML/JavaScript player
(matplotlib's ``to_jshtml``), which needs no running kernel and so plays on
the website as well as in Colab.
"""
from __future__ import annotations

from typing import Callable, Sequence

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np

from nnbook.validate import check_array, check_callable, check_int

__all__ = ["use_style", "animate", "animate_images", "image_grid", "COLORS"]

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def use_style() -> None:
    """The book's figure style: readable sizes, light grid, a fixed colour cycle."""
    mpl.rcParams.update(
        {
            "figure.figsize": (6.4, 4.0),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.prop_cycle": mpl.cycler(color=COLORS),
            "font.size": 10,
            "legend.frameon": False,
            "animation.embed_limit": 30.0,  # MB; our animations are far smaller
            "svg.hashsalt": "nnbook",  # deterministic SVG ids
        }
    )


def animate(fig, update: Callable[[int], object], frames: int, interval: int = 100):
    """Animate ``fig`` by calling ``update(i)`` for ``i`` in ``range(frames)``.

    Returns an ``IPython.display.HTML`` player (play/pause/step buttons) and
    closes ``fig`` so the last frame is not shown twice.
    """
    from IPython.display import HTML
    from matplotlib.animation import FuncAnimation

    check_callable("update", update)
    frames = check_int("frames", frames, min_value=1)
    interval = check_int("interval", interval, min_value=1)
    anim = FuncAnimation(fig, update, frames=frames, interval=interval)
    html = anim.to_jshtml(default_mode="once")
    plt.close(fig)
    return HTML(html)


def image_grid(images, ncols: int = 10, titles: Sequence[str] | None = None, cmap: str = "gray_r", size: float = 0.8):
    """Show a batch of square images ``(n, side*side)`` or ``(n, h, w)`` in a grid; returns the figure."""
    images = check_array("images", images, ndim=(2, 3))
    if images.ndim == 2:
        side = int(round(np.sqrt(images.shape[1])))
        if side * side != images.shape[1]:
            raise ValueError(f"images of shape {images.shape} are not square; pass (n, h, w)")
        images = images.reshape(-1, side, side)
    ncols = check_int("ncols", ncols, min_value=1)
    n = len(images)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, min(ncols, n), figsize=(size * min(ncols, n), size * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(images[k], cmap=cmap)
            if titles is not None:
                ax.set_title(str(titles[k]), fontsize=8)
    fig.tight_layout()
    return fig


def animate_images(frames, titles: Sequence[str] | None = None, cmap: str = "gray_r", interval: int = 200, size: float = 3.0):
    """Play a sequence of images ``(T, h, w)`` (or ``(T, side*side)``) as an animation."""
    frames = check_array("frames", frames, ndim=(2, 3))
    if frames.ndim == 2:
        side = int(round(np.sqrt(frames.shape[1])))
        frames = frames.reshape(-1, side, side)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.axis("off")
    im = ax.imshow(frames[0], cmap=cmap, vmin=frames.min(), vmax=frames.max())

    def update(i):
        im.set_data(frames[i])
        if titles is not None:
            ax.set_title(str(titles[i]))
        return (im,)

    return animate(fig, update, len(frames), interval)
