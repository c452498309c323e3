"""Seed steps 2-3: de-noising before detection, Gaussian blur and Canny edges."""
import math
import numbers

import cv2
import numpy as np

from facekp_ros.core.checks import check_range

# Non-local means: compare 7x7 patches within a 21x21 window (OpenCV's recommended sizes).
NLM_TEMPLATE, NLM_SEARCH = 7, 21


def _has_channels(image: np.ndarray, colour_only: bool) -> bool:
    if image.ndim == 3 and image.shape[2] == 3:
        return True
    return not colour_only and (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1))


def _check_uint8(image, what: str, colour_only: bool = False) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.size == 0 \
            or not _has_channels(image, colour_only):
        form = 'HxWx3 BGR' if colour_only else 'HxW grey or HxWx3 BGR'
        raise ValueError(f'{what} needs a non-empty uint8 {form} image, got '
                         f'{getattr(image, "dtype", type(image).__name__)} '
                         f'{getattr(image, "shape", None)} (convert it with cv2.cvtColor, '
                         'and scale float images to 0-255 uint8)')


def _check_odd(name: str, ksize) -> None:
    if isinstance(ksize, bool) or not isinstance(ksize, numbers.Integral) or ksize < 1 \
            or ksize % 2 == 0:
        raise ValueError(f'{name}={ksize!r} must be a positive odd integer (1, 3, 5, ...)')


def denoise(bgr: np.ndarray, strength: float = 10.0) -> np.ndarray:
    """Non-local-means de-noising of a colour image; strength is OpenCV's h, about the
    noise sigma in grey levels (higher removes more noise and more detail)."""
    check_range('denoise strength', strength, (0, 100), low_open=True,
                hint='about the noise sigma; 10 for typical camera noise')
    _check_uint8(bgr, 'denoise', colour_only=True)
    return cv2.fastNlMeansDenoisingColored(bgr, None, float(strength), float(strength),
                                           NLM_TEMPLATE, NLM_SEARCH)


def gaussian_blur(image: np.ndarray, ksize: int = 5, sigma: float = 0.0) -> np.ndarray:
    """Blur with an odd ksize x ksize kernel; sigma 0 derives it from ksize."""
    _check_odd('ksize', ksize)
    check_range('sigma', sigma, (0, math.inf), hint='0: derived from ksize')
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise ValueError(f'gaussian_blur needs a non-empty image array, got '
                         f'{getattr(image, "shape", type(image).__name__)}')
    return cv2.GaussianBlur(image, (ksize, ksize), sigma)


def canny_edges(image: np.ndarray, low: float = 50, high: float = 150,
                blur_ksize: int = 5) -> np.ndarray:
    """Edge map (uint8, 0/255, HxW) of a blurred grey copy; blur_ksize 0 skips the blur,
    which otherwise keeps pixel noise from becoming edges."""
    if not all(isinstance(t, numbers.Real) and not isinstance(t, bool) for t in (low, high)) \
            or not 0 <= low < high:
        raise ValueError(f'Canny thresholds need 0 <= low < high, got low={low!r}, '
                         f'high={high!r} (e.g. 50 and 150)')
    if blur_ksize != 0:
        _check_odd('blur_ksize', blur_ksize)
    _check_uint8(image, 'canny_edges')
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 and image.shape[2] == 3 \
        else image.reshape(image.shape[:2])
    if blur_ksize:
        gray = gaussian_blur(gray, blur_ksize)
    return cv2.Canny(gray, float(low), float(high))
