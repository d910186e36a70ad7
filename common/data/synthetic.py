"""Deterministic synthetic-scene helpers (backgrounds, clutter, noise) for the tiny/smoke profiles.

Every item draws from its own generator seeded by ``(seed, index)``, so an item is identical whatever
the number of items or the order they are generated in.
"""
from __future__ import annotations

import numpy as np


def item_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(stream), int(index)])


def textured_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """An aerial-looking uint8 BGR background: a muted base colour, low-frequency blotches, fine grain."""
    import cv2

    base = rng.uniform(60, 150, size=3)
    img = np.empty((height, width, 3), np.float32)
    img[:] = base
    # low-frequency blotches (fields, roofs, shadows)
    coarse = rng.normal(0, 25, size=(max(2, height // 32), max(2, width // 32), 3)).astype(np.float32)
    img += cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    img += rng.normal(0, 6, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def add_clutter_lines(img: np.ndarray, rng: np.random.Generator, n: int, max_thickness: int = 2) -> None:
    """Roads, lane marks and edges: straight lines in muted colours, drawn in place."""
    import cv2

    h, w = img.shape[:2]
    for _ in range(n):
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        colour = tuple(int(c) for c in rng.uniform(40, 200, size=3))
        cv2.line(img, p1, p2, colour, int(rng.integers(1, max_thickness + 1)), lineType=cv2.LINE_AA)


def add_sensor_noise(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    noisy = img.astype(np.float32) + rng.normal(0, sigma, size=img.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)
