"""Value checks shared by the core's configurations; the ROS parameters use the same ranges.

The one range check of the project: every setting of the core is checked here, with its
range defined once beside the code that uses it (or here, when several modules share it).
"""
import math
import numbers

# Shared by the detectors and the detection configuration (and its ROS parameters).
SCORE_RANGE = (0.05, 1.0)
INPUT_SCALE_RANGE = (0.1, 2.0)


def check_range(name: str, value, bounds: tuple, integer: bool = False,
                low_open: bool = False, hint: str = '') -> None:
    """ValueError naming the setting unless value is a number (an integer when asked) in
    [bounds[0], bounds[1]], or (bounds[0], bounds[1]] with low_open; bounds[1] may be
    math.inf. hint is appended to the message (what the value means)."""
    kind = numbers.Integral if integer else numbers.Real
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, kind) \
            or not (value > low if low_open else value >= low) or not value <= high:
        what = 'an integer' if integer else 'a number'
        span = (f'> {low}' if low_open else f'>= {low}') if high == math.inf \
            else f"in {'(' if low_open else '['}{low}, {high}]"
        raise ValueError(f'{name}={value!r} must be {what} {span}' + (f' ({hint})' if hint
                                                                      else ''))


def check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} must be one of {', '.join(map(str, choices))}")
