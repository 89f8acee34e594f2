"""The one exception type for mistakes a user can fix: the CLIs print its message and exit with code 2."""

SHOWN_CHARS = 40


class UserError(ValueError):
    """A problem with the user's input, files or setup; the message says what to do."""


def shown(value) -> str:
    """A given value as an error message shows it: numbers plainly, anything else quoted and kept short
    (a 10,000-character prompt pasted into a number field must not become a 10,000-character message)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."
