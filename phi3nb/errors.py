"""The one exception type phi3nb raises on bad input; its message always says what to do."""


class Phi3nbError(Exception):
    """A user-facing problem with a fix in the message, e.g. a missing model folder."""
