"""Value checks shared by the core's configurations; the ROS parameters use the same ranges."""
import numbers


def check_range(name: str, value, bounds: tuple, integer: bool = False) -> None:
    """ValueError naming the setting unless value is a number (an integer when asked) in
    [bounds[0], bounds[1]]."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind) \
            or not bounds[0] <= value <= bounds[1]:
        what = 'an integer' if integer else 'a number'
        raise ValueError(f'{name}={value!r} must be {what} in [{bounds[0]}, {bounds[1]}]')


def check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} must be one of {', '.join(map(str, choices))}")
