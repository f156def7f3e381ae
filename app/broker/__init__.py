"""Redis: the embedded server's lifecycle and connections. Redis only delivers work."""


class BrokerError(RuntimeError):
    """Redis cannot be started or reached; the message says what to fix."""
