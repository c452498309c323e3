"""Seed steps 2-3: de-noising, Gaussian blur, Canny edges."""
import numpy as np
import pytest

from facekp_ros.core.preprocess import canny_edges, denoise, gaussian_blur
from facekp_ros.core.sources import sample_frame


def test_denoise_brings_a_noisy_image_closer_to_the_clean_one():
    clean = sample_frame()[:200, :200]
    noise = np.random.default_rng(0).normal(0, 20, clean.shape)
    noisy = np.clip(clean + noise, 0, 255).astype(np.uint8)
    restored = denoise(noisy, 15)
    error = lambda image: np.abs(image.astype(float) - clean).mean()  # noqa: E731
    assert restored.shape == clean.shape and restored.dtype == np.uint8
    assert error(restored) < 0.6 * error(noisy)


def test_blur_and_edges():
    image = sample_frame()
    blurred = gaussian_blur(image, 9)
    roughness = lambda im: np.abs(np.diff(im.astype(int), axis=1)).mean()  # noqa: E731
    assert blurred.shape == image.shape and roughness(blurred) < roughness(image)
    edges = canny_edges(image)
    assert edges.shape == image.shape[:2] and set(np.unique(edges)) <= {0, 255}
    assert 0.01 < (edges > 0).mean() < 0.3


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match='ksize'):
        gaussian_blur(sample_frame(), 4)
    with pytest.raises(ValueError, match='low < high'):
        canny_edges(sample_frame(), 200, 100)
    with pytest.raises(ValueError, match='strength'):
        denoise(sample_frame(), 0)
