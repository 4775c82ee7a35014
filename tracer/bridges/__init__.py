"""Bridge and swap-service decoders, registered by chain and contract address (issue 10).

Each protocol is one small module behind :class:`tracer.bridges.base.Decoder`; this package
only keeps the registry. A protocol module exposes ``decoders() -> list[Decoder]`` returning
its default instances (mainnet contracts); :func:`default_registry` collects those of every
module in :data:`BUILTIN` that is present. The cross-chain orchestration
(:mod:`tracer.crosschain`) asks :meth:`Registry.decoder_for` about every tainted deposit into
an address; the sandbox and ``--bridges FILE`` add contracts to a registry of their own.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
from pathlib import Path

from tracer.bridges.base import (
    BaseDecoder,
    BridgeDeposit,
    BridgeLink,
    BridgeRelease,
    BridgeStop,
    Decoder,
    RawLog,
    canonical_address,
)

#: Protocol modules whose ``decoders()`` make up the default registry (missing ones skipped).
BUILTIN = (
    "tracer.bridges.cbridge",
    "tracer.bridges.thorchain",
    "tracer.bridges.cctp",
    "tracer.bridges.wormhole",
    "tracer.bridges.avalanche",
    "tracer.bridges.inferred",
)


#: ``--bridges`` fourth column.
ROLES = ("", "contract", "vault")


class BridgeFileError(ValueError):
    """A bad ``--bridges`` file (one line, shown to the user)."""


class Registry:
    """Decoders by name and by (chain, contract)."""

    def __init__(self, decoders: list[Decoder] | None = None) -> None:
        self._by_name: dict[str, Decoder] = {}
        for d in decoders or ():
            self.register(d)

    def register(self, decoder: Decoder) -> Decoder:
        """Add (or replace, by name) a decoder."""
        if not isinstance(decoder, Decoder):
            raise TypeError(f"{decoder!r} does not implement the Decoder protocol")
        self._by_name[decoder.name] = decoder
        return decoder

    def get(self, name: str) -> Decoder | None:
        return self._by_name.get(name)

    def add_contract(self, name: str, chain: str, contract: str) -> None:
        """Register one more contract for the decoder called ``name``."""
        decoder = self._by_name.get(name)
        if decoder is None:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise KeyError(f"no bridge decoder called {name!r} (known: {known})")
        address = canonical_address(chain, contract)
        current = frozenset(decoder.contracts.get(chain, frozenset()))
        decoder.contracts[chain] = current | {address}  # type: ignore[index]

    def add_vault(self, name: str, chain: str, address: str) -> None:
        """Trust ``address`` as a vault of the decoder called ``name`` (THORChain: outbounds
        count only when a known vault pays them; UTXO vaults are also where deposits go)."""
        decoder = self._by_name.get(name)
        if decoder is None or not hasattr(decoder, "add_vaults"):
            raise KeyError(f"bridge decoder {name!r} takes no vaults")
        decoder.add_vaults([{"chain": chain, "address": canonical_address(chain, address)}])

    def decoder_for(self, chain: str, contract: str) -> Decoder | None:
        """The decoder that knows ``contract`` (canonical) on ``chain``, if any (first by name)."""
        for name in sorted(self._by_name):
            d = self._by_name[name]
            if contract in d.contracts.get(chain, ()):
                return d
        return None

    def all_decoders(self) -> list[Decoder]:
        return [self._by_name[n] for n in sorted(self._by_name)]

    def contracts(self, chain: str) -> dict[str, str]:
        """Every registered address on ``chain`` -> decoder name."""
        out: dict[str, str] = {}
        for d in self.all_decoders():
            for c in sorted(d.contracts.get(chain, ())):
                out.setdefault(c, d.name)
        return out


def builtin_decoders() -> list[Decoder]:
    """Fresh default instances from every protocol module present."""
    found: list[Decoder] = []
    for module_name in BUILTIN:
        if importlib.util.find_spec(module_name) is None:
            continue
        module = importlib.import_module(module_name)
        factory = getattr(module, "decoders", None)
        if factory is not None:
            found.extend(factory())
    return found


def default_registry() -> Registry:
    """A new registry holding the built-in decoders (callers may add to it freely)."""
    return Registry(builtin_decoders())


_DEFAULT: Registry | None = None


def _default() -> Registry:
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = default_registry()
    return _DEFAULT


def register(decoder: Decoder) -> Decoder:
    """Add a decoder to the process-wide default registry."""
    return _default().register(decoder)


def decoder_for(chain: str, contract: str) -> Decoder | None:
    """The default registry's decoder for ``contract`` on ``chain``."""
    return _default().decoder_for(chain, contract)


def all_decoders() -> list[Decoder]:
    return _default().all_decoders()


def load_bridge_file(path: str | Path, registry: Registry) -> int:
    """Add the contracts of a ``--bridges`` CSV (columns ``chain,contract,bridge[,role]``).

    ``role`` is ``contract`` (the default) or ``vault`` (:meth:`Registry.add_vault`, e.g. a
    THORChain vault). Lines starting with ``#`` and a header line are skipped. Returns how many
    were added; raises :class:`BridgeFileError` with the line number on the first bad line.
    """
    from tracer.addresses import InvalidAddress
    from tracer.chains import UnknownChain

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BridgeFileError(f"--bridges {path}: cannot read ({e.__class__.__name__})") from None
    added = 0
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and [c.lower() for c in cells[:3]] == ["chain", "contract", "bridge"]:
            continue
        if len(cells) not in (3, 4) or (len(cells) == 4 and cells[3] not in ROLES):
            raise BridgeFileError(
                f"--bridges {path} line {number}: expected chain,contract,bridge[,contract|vault]"
            )
        chain, contract, name = cells[:3]
        try:
            if len(cells) == 4 and cells[3] == "vault":
                registry.add_vault(name, chain.lower(), contract)
            else:
                registry.add_contract(name, chain.lower(), contract)
        except (KeyError, InvalidAddress, UnknownChain) as e:
            message = e.args[0] if e.args else str(e)
            raise BridgeFileError(f"--bridges {path} line {number}: {message}") from None
        added += 1
    return added


__all__ = [
    "BUILTIN",
    "BaseDecoder",
    "BridgeDeposit",
    "BridgeFileError",
    "BridgeLink",
    "BridgeRelease",
    "BridgeStop",
    "Decoder",
    "RawLog",
    "Registry",
    "all_decoders",
    "builtin_decoders",
    "decoder_for",
    "default_registry",
    "load_bridge_file",
    "register",
]
