"""Does de-noising before detection help? Recall on noisy faces68 test images as they are,
after facekp_ros.core.preprocess.denoise, and after a plain 5x5 Gaussian blur (a cheap
baseline), and what each costs per image.

    python -m bench.bench_denoise [--data ../shared/data] [--limit 200]

The default is the first 200 of the 500 test images: non-local means takes ~0.1 s per image
on 2 busy cores, and all 500 would take over 5 minutes. --limit 0 runs all of them.
"""
import argparse
import os
import pathlib
import time

import numpy as np

from bench.bench_detectors import (
    DEFAULT_DATA,
    MATCH_RULE,
    evaluate,
    load_test_set,
    time_per_frame,
    timing_frame,
)
from facekp_ros.core.detection import create_detector
from facekp_ros.core.preprocess import denoise, gaussian_blur

# (noise sigma in grey levels, denoise strength h). Sigma 0: the clean images, to see what
# de-noising does when there is no noise to remove. h = 10 is OpenCV's usual setting, h =
# sigma the textbook one for non-local means; sigma 30 is run with both.
CONDITIONS = ((0, 10), (15, 10), (30, 10), (30, 30))
SEED = 0
BLUR_KSIZE = 5
DETECTORS = ('retinaface', 'haar')
FRAME_RUNS = 5
MEANINGFUL_POINTS = 2.0  # recall changes smaller than this (% points) are a few faces: noise


def add_noise(images, sigma: int) -> list:
    """Gaussian noise of this sigma (grey levels, per pixel and channel), clipped to uint8;
    the same noise for the same sigma on every run and row."""
    if sigma == 0:
        return images
    rng = np.random.default_rng((SEED, sigma))
    return [np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)
            for image in images]


def filter_all(function, images) -> tuple:
    """Filtered copies and the ms each took."""
    out, times_ms = [], []
    for image in images:
        start = time.perf_counter()
        out.append(function(image))
        times_ms.append((time.perf_counter() - start) * 1e3)
    return out, times_ms


def conclusion(rows) -> str:
    """One line from the numbers: where de-noising changed recall."""
    helped, hurt = [], []
    for row in rows:
        change = (row['denoised']['recall'] - row['noisy']['recall']) * 100
        where = f"{row['detector']} at sigma {row['sigma']}, h {row['h']} ({change:+.1f} pts)"
        if change >= MEANINGFUL_POINTS:
            helped.append(where)
        elif change <= -MEANINGFUL_POINTS:
            hurt.append(where)
    return (f'De-noising changed recall by >= {MEANINGFUL_POINTS:.0f} points: helped '
            f'{", ".join(helped) or "nowhere"}; hurt {", ".join(hurt) or "nowhere"}.')


def measure(detectors: dict, images, points) -> tuple:
    """Result rows for every condition, and the filters' ms per image (denoise: by h)."""
    rows, denoise_ms, blur_ms, as_is = [], {}, [], {}
    for sigma, strength in CONDITIONS:
        noisy = add_noise(images, sigma)
        cleaned, times = filter_all(lambda im, h=strength: denoise(im, h), noisy)
        denoise_ms.setdefault(strength, []).extend(times)
        if sigma not in as_is:  # noisy and blurred results do not depend on h
            blurred, times = filter_all(lambda im: gaussian_blur(im, BLUR_KSIZE), noisy)
            blur_ms.extend(times)
            as_is[sigma] = {name: (evaluate(d, noisy, points), evaluate(d, blurred, points))
                            for name, d in detectors.items()}
        for name, detector in detectors.items():
            before, blurred_result = as_is[sigma][name]
            rows.append({'detector': name, 'sigma': sigma, 'h': strength, 'noisy': before,
                         'denoised': evaluate(detector, cleaned, points),
                         'blurred': blurred_result})
            print_row(rows[-1])
    return rows, denoise_ms, blur_ms


def print_row(row: dict) -> None:
    before, after = row['noisy'], row['denoised']
    print(f"| {row['detector']} | {row['sigma']} | {row['h']} | {before['recall']:.1%} "
          f"| {after['recall']:.1%} | {(after['recall'] - before['recall']) * 100:+.1f} "
          f"| {row['blurred']['recall']:.1%} | {before['fp_per_image']:.3f} "
          f"| {after['fp_per_image']:.3f} |", flush=True)


def print_costs(denoise_ms: dict, blur_ms: list, frame: np.ndarray) -> None:
    """Filter cost per faces68 image (timed above) and per 640x480 camera frame."""
    print(f'\n| filter | ms / faces68 image (median, ~185x200 px) | ms / 640x480 frame '
          f'(median of {FRAME_RUNS}) |')
    print('|---|---:|---:|')
    filters = [(f'denoise h={h}', lambda im, h=h: denoise(im, h), times)
               for h, times in denoise_ms.items()]
    filters.append((f'gaussian_blur {BLUR_KSIZE}x{BLUR_KSIZE}',
                    lambda im: gaussian_blur(im, BLUR_KSIZE), blur_ms))
    for name, function, times in filters:
        frame_ms = np.median(time_per_frame(function, frame, FRAME_RUNS))
        print(f'| {name} | {np.median(times):.2f} | {frame_ms:.1f} |')


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data', type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument('--limit', type=int, default=200, help='first N test images; 0: all')
    args = parser.parse_args(argv)
    images, points = load_test_set(args.data, args.limit)
    detectors = {name: create_detector(name) for name in DETECTORS}
    print(f'{len(images)} faces68 test images (one labelled face each); Gaussian noise, seeded '
          f'per sigma; detectors at their defaults; {os.cpu_count()} CPU cores, load '
          f'average {os.getloadavg()[0]:.1f} at start.\n')
    print('| detector | noise sigma | denoise h | recall noisy | + denoise | change (pts) '
          f'| + blur {BLUR_KSIZE}x{BLUR_KSIZE} instead | false pos. / image noisy '
          '| + denoise |')
    print('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
    rows, denoise_ms, blur_ms = measure(detectors, images, points)
    print_costs(denoise_ms, blur_ms, timing_frame(args.data))
    print(f'\n{MATCH_RULE}')
    print(conclusion(rows))
    print('Times are on a shared CPU: other jobs on the machine make them noisy.')


if __name__ == '__main__':
    main()
