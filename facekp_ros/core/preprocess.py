"""Seed steps 2-3: de-noising before detection, Gaussian blur and Canny edges."""
import cv2
import numpy as np


def denoise(bgr: np.ndarray, strength: float = 10.0) -> np.ndarray:
    """Non-local-means de-noising; strength is OpenCV's h (about the noise sigma)."""
    if not 0 < strength <= 100:
        raise ValueError(f'denoise strength={strength} must be in (0, 100]')
    return cv2.fastNlMeansDenoisingColored(bgr, None, strength, strength, 7, 21)


def gaussian_blur(image: np.ndarray, ksize: int = 5, sigma: float = 0.0) -> np.ndarray:
    """Blur with an odd ksize x ksize kernel; sigma 0 derives it from ksize."""
    if ksize < 1 or ksize % 2 == 0:
        raise ValueError(f'ksize={ksize} must be a positive odd number')
    return cv2.GaussianBlur(image, (ksize, ksize), sigma)


def canny_edges(image: np.ndarray, low: float = 50, high: float = 150,
                blur_ksize: int = 5) -> np.ndarray:
    """Edge map (uint8, 0/255) of a blurred grey copy; blur_ksize 0 skips the blur."""
    if not 0 <= low < high:
        raise ValueError(f'Canny thresholds need 0 <= low < high, got {low}, {high}')
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
    if blur_ksize:
        gray = gaussian_blur(gray, blur_ksize)
    return cv2.Canny(gray, low, high)
