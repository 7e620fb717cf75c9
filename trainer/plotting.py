"""The decision-boundary picture written beside each model file."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from trainer.network import Layer, predict_proba  # noqa: E402
from trainer.plot_geometry import AXES_BOX, COLORBAR_BOX, KEYWORD, plane_text  # noqa: E402


def decision_boundary_png(layers: list[Layer], activation: str, x: np.ndarray, y: np.ndarray, title: str) -> bytes:
    """A PNG of P(label = 1) over the plane, the 0.5 contour and the data points, with
    the plane's place in the picture in its ``moonserve:plane`` chunk (``plot_geometry``)."""
    margin = 0.5
    x1_range = (float(x[:, 0].min() - margin), float(x[:, 0].max() + margin))
    x2_range = (float(x[:, 1].min() - margin), float(x[:, 1].max() + margin))
    grid_x1, grid_x2 = np.meshgrid(np.linspace(*x1_range, 300), np.linspace(*x2_range, 300))
    grid = np.column_stack([grid_x1.ravel(), grid_x2.ravel()])
    probability = predict_proba(layers, grid, activation).reshape(grid_x1.shape)
    figure = plt.figure(figsize=(6, 5), dpi=100)
    try:
        axes = figure.add_axes(AXES_BOX)
        filled = axes.contourf(grid_x1, grid_x2, probability, levels=20, cmap="RdBu_r", alpha=0.6)
        axes.contour(grid_x1, grid_x2, probability, levels=[0.5], colors="black", linewidths=1.5)
        labels = y.reshape(-1)
        axes.scatter(x[labels == 0, 0], x[labels == 0, 1], s=6, c="tab:blue", label="label 0")
        axes.scatter(x[labels == 1, 0], x[labels == 1, 1], s=6, c="tab:red", label="label 1")
        figure.colorbar(filled, cax=figure.add_axes(COLORBAR_BOX), label="P(label = 1)")
        axes.set(title=title, xlabel="x1", ylabel="x2", xlim=x1_range, ylim=x2_range)
        axes.legend(loc="upper right", fontsize=8)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={KEYWORD: plane_text(x1_range, x2_range)})
    finally:
        plt.close(figure)
    return buffer.getvalue()
