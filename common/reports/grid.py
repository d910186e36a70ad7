"""A grid of images for visual comparisons (one row per example, one column per method), as PNG bytes.

Used by the tasks' ``evaluate`` stages for their comparison pictures. matplotlib and numpy are imported when a
picture is drawn, so importing this module costs nothing.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["image_grid"]


def image_grid(rows: Sequence[Mapping], columns: Sequence[str], row_labels: Sequence[str] | None = None,
               cell: tuple[float, float] = (1.6, 1.7), dpi: int = 140, title_size: int = 8,
               label_size: int = 7) -> bytes:
    """``rows[r][column]``: the picture of row ``r`` in ``column``. A colour image (H, W, 3) — uint8, or float in
    [0, 1] — is shown as it is; a map (H, W) in [0, 1] (edge probabilities) dark on white (``1 − map``, grey).
    Column names head the first row; ``row_labels`` (optional) label each row at its left. ``cell``: inches per
    column and per row. Pixels are drawn unsmoothed (nearest)."""
    from common.reports.render import _png, _pyplot  # noqa: PLC2701 (the shared figure helpers)

    plt = _pyplot()
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(cell[0] * len(columns), cell[1] * len(rows)),
                             dpi=dpi, squeeze=False)
    for r, row in enumerate(rows):
        for c, name in enumerate(columns):
            ax = axes[r][c]
            img = row[name]
            if img.ndim == 3:
                ax.imshow(img, interpolation="nearest")
            else:
                ax.imshow(1 - img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=title_size)
        if row_labels is not None:
            axes[r][0].set_ylabel(row_labels[r], fontsize=label_size)
    return _png(fig)
