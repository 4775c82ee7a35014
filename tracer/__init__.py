"""tracer: follow stolen crypto hop by hop into a networkx graph and flag freeze points."""

__version__ = "0.1.0"
