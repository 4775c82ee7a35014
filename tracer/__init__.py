"""tracer: follow stolen crypto hop by hop into a networkx graph and flag freeze points."""

__version__ = "0.1.0"


def trace(*args, **kwargs):
    """Trace stolen funds forward; see :func:`tracer.api.trace` (imported lazily: fast CLI start)."""
    from tracer.api import trace as _trace

    return _trace(*args, **kwargs)


def __getattr__(name: str):
    """``tracer.TraceInputError`` and friends without importing the whole API at start-up."""
    if name in ("TraceInputError", "TraceResult", "load_case"):
        import tracer.api

        return getattr(tracer.api, name)
    raise AttributeError(name)
