"""The one error the data tools raise for input they cannot use or output they must not touch."""


class PrepareError(ValueError):
    """Bad input or a clashing output; the message says which file or folder and what to do about it."""
