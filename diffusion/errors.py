"""The one exception type for mistakes a user can fix: the CLIs print its message and exit with code 2."""


class UserError(ValueError):
    """A problem with the user's input, files or setup; the message says what to do."""
