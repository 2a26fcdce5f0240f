import matplotlib.pyplot as plt
import numpy as np
import pytest

from nnbook import plot


def test_animate_returns_a_jshtml_player_and_closes_the_figure():
    plot.use_style()
    fig, ax = plt.subplots()
    (line,) = ax.plot([], [])
    html = plot.animate(fig, lambda i: line.set_data(range(i + 1), range(i + 1)), frames=3)
    assert "<script" in html.data and "animation" in html.data.lower()
    assert not plt.fignum_exists(fig.number)


def test_image_helpers():
    imgs = np.random.default_rng(0).random((12, 64))
    fig = plot.image_grid(imgs, ncols=6)
    assert len(fig.axes) == 12
    plt.close(fig)
    assert "<script" in plot.animate_images(imgs[:3]).data
    with pytest.raises(ValueError, match="not square"):
        plot.image_grid(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="frames"):
        plot.animate_images(np.zeros(5))
    with pytest.raises(TypeError, match="update"):
        plot.animate(plt.figure(), None, 2)
