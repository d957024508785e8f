"""The one exception type a user sees: a one-line message naming the bad value and what is allowed."""


class MolereError(Exception):
    """A user-facing error; the CLI prints its message on one line and exits non-zero."""


def check_choice(kind: str, value: str, allowed) -> str:
    """Return `value` if it is in `allowed`, else raise a one-line error listing the choices."""
    allowed = sorted(allowed)
    if value not in allowed:
        raise MolereError(f"unknown {kind} {value!r}; allowed: {', '.join(allowed)}")
    return value


def check_range(name: str, value, low, high, *, low_open=False, high_open=False):
    """Raise unless low <(=) value <(=) high; the message names the value and the interval."""
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    if not (above and below):
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise MolereError(f"{name} = {value!r} is outside the allowed range {interval}")
    return value
