"""Errors that reach the user as one line."""


class UserError(Exception):
    """Invalid argument or input from the user: printed as one line, exit code 2."""
