"""Bitcoin: UTXO tracing over Esplora, Bitcoin Core and bitcoin-etl exports.

Modules: ``model`` (the transaction record and its source shapes), ``script`` (scripts and
addresses), ``esplora`` / ``core`` / ``etl`` / ``memory`` (sources), ``allocation`` (taint rules
inside a transaction), ``heuristics`` (CoinJoin, change, peel chains, clustering), ``engine``
(the UTXO trace), ``report`` (graph and flags), ``pipeline`` (what ``tracer.trace`` calls for
``chain="bitcoin"``), ``sandbox`` (the synthetic Bitcoin leg with ground truth).

This package imports nothing heavy at import time.
"""
