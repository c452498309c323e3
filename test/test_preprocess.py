"""Seed steps 2-3: de-noising, Gaussian blur, Canny edges."""
import numpy as np
import pytest

from facekp_ros.core.preprocess import canny_edges, denoise, gaussian_blur
from facekp_ros.sources import sample_frame


def mean_error(image, reference) -> float:
    return float(np.abs(image.astype(float) - reference).mean())


def roughness(image) -> float:
    return float(np.abs(np.diff(image.astype(int), axis=1)).mean())


@pytest.mark.parametrize('sigma', [10, 25])
def test_denoise_brings_a_noisy_image_closer_to_the_clean_one(sigma):
    clean = sample_frame()[:200, :200]
    noise = np.random.default_rng(0).normal(0, sigma, clean.shape)
    noisy = np.clip(clean + noise, 0, 255).astype(np.uint8)
    restored = denoise(noisy, sigma)
    assert restored.shape == clean.shape and restored.dtype == np.uint8
    assert mean_error(restored, clean) < 0.6 * mean_error(noisy, clean)


def test_denoise_keeps_a_flat_synthetic_image_flat():
    flat = np.full((64, 96, 3), (40, 120, 200), np.uint8)
    noisy = np.clip(flat + np.random.default_rng(1).normal(0, 15, flat.shape), 0, 255)
    restored = denoise(noisy.astype(np.uint8), 15)
    assert restored.std(axis=(0, 1)).max() < 0.3 * noisy.std(axis=(0, 1)).max()


@pytest.mark.parametrize('channels', [(), (3,)])
def test_blur_keeps_shape_and_dtype_and_smooths(channels):
    image = sample_frame() if channels else sample_frame()[:, :, 1].copy()
    blurred = gaussian_blur(image, 9)
    assert blurred.shape == image.shape and blurred.dtype == np.uint8
    assert roughness(blurred) < roughness(image)
    assert roughness(gaussian_blur(image, 9, sigma=4.0)) < roughness(blurred)


def test_edges_are_a_binary_map_of_the_image_size():
    image = sample_frame()
    edges = canny_edges(image)
    assert edges.shape == image.shape[:2] and edges.dtype == np.uint8
    assert set(np.unique(edges)) <= {0, 255}
    assert 0.01 < (edges > 0).mean() < 0.3
    assert np.array_equal(canny_edges(image[:, :, 1]), canny_edges(image[:, :, 1:2]))
    # The blur keeps pixel noise from becoming edges.
    assert (canny_edges(image, blur_ksize=0) > 0).mean() > (edges > 0).mean()
    assert not canny_edges(np.full((40, 40, 3), 90, np.uint8)).any()


def test_bad_parameters_are_named():
    image = sample_frame()
    with pytest.raises(ValueError, match='ksize=4'):
        gaussian_blur(image, 4)
    with pytest.raises(ValueError, match='sigma=-1'):
        gaussian_blur(image, 5, -1)
    with pytest.raises(ValueError, match='low < high'):
        canny_edges(image, 200, 100)
    with pytest.raises(ValueError, match='blur_ksize=2'):
        canny_edges(image, blur_ksize=2)
    with pytest.raises(ValueError, match='strength=0'):
        denoise(image, 0)


@pytest.mark.parametrize('image', [np.zeros((0, 0, 3), np.uint8), np.zeros((8, 8, 3), float),
                                   np.zeros((8, 8, 4), np.uint8), None])
def test_bad_images_are_named(image):
    with pytest.raises(ValueError, match='uint8'):
        denoise(image, 10)
    with pytest.raises(ValueError, match='uint8'):
        canny_edges(image)


def test_denoise_wants_colour():
    with pytest.raises(ValueError, match='HxWx3'):
        denoise(np.zeros((8, 8), np.uint8), 10)
