"""``--source`` factories of the Bitcoin sources, registered in :data:`tracer.sources.FACTORIES`.

Each imports its module lazily (the CLI starts fast) and rejects options it cannot use. This
module imports nothing from :mod:`tracer.sources` at import time (that package imports it).
"""

from __future__ import annotations


def SourceError(message: str) -> Exception:  # noqa: N802 (the real class, imported late)
    from tracer.sources.base import SourceError as _SourceError

    return _SourceError(message)


def _unused(kind: str, options: dict) -> None:
    extra = sorted(k for k, v in options.items() if v is not None)
    if extra:
        flags = ", ".join("--" + k.replace("_", "-") for k in extra)
        raise SourceError(f"--source {kind} does not take {flags}")


def esplora(chain: str, api_url=None, cache=None, rps=None, **rest):
    from tracer.bitcoin.esplora import EsploraSource

    _unused("esplora", rest)
    if not api_url:
        raise SourceError("--api-url is required with --source esplora (e.g. an electrs /api)")
    return EsploraSource(api_url, chain=chain, cache=cache, rps=rps)


def bitcoin_core(chain: str, rpc_url=None, cache=None, rps=None, **rest):
    from tracer.bitcoin.core import CoreSource

    _unused("bitcoin-core", rest)
    if not rpc_url:
        raise SourceError("--rpc-url is required with --source bitcoin-core")
    return CoreSource(rpc_url, chain=chain, cache=cache, rps=rps)


def bitcoin_etl(chain: str, data=None, cache=None, **rest):
    from tracer.bitcoin.etl import EtlSource

    _unused("bitcoin-etl", rest)
    if data is None:
        raise SourceError("--data (a bitcoin-etl / BigQuery transactions export) is required")
    return EtlSource(data, chain=chain, cache=cache)


FACTORIES = {"esplora": esplora, "bitcoin-core": bitcoin_core, "bitcoin-etl": bitcoin_etl}
