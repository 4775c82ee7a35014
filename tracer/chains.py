"""Registry of chains and their canonical assets.

Assets are identified by contract address (canonical form of the chain), never by symbol: spam
tokens reuse "USDT" and "USDC" freely. ``NATIVE`` stands for the chain's own coin.
"""

from __future__ import annotations

from dataclasses import dataclass, field

NATIVE = "native"


@dataclass(frozen=True)
class Asset:
    chain: str
    address: str  # contract address in the chain's canonical form, or NATIVE
    symbol: str
    decimals: int
    issuer: str | None = None  # who can freeze balances of it (Tether, Circle), if anyone
    stablecoin: bool = False


@dataclass(frozen=True)
class Chain:
    name: str
    kind: str  # "evm", "tron" or "utxo"
    native_symbol: str
    native_decimals: int
    chain_id: int | None = None
    explorer_address_url: str = ""
    explorer_tx_url: str = ""
    assets: dict[str, Asset] = field(default_factory=dict)


def _chain(name, kind, symbol, decimals, chain_id, addr_url, tx_url, tokens):
    assets = {NATIVE: Asset(name, NATIVE, symbol, decimals)}
    for address, sym, dec, issuer in tokens:
        assets[address] = Asset(name, address, sym, dec, issuer, stablecoin=issuer is not None)
    return Chain(name, kind, symbol, decimals, chain_id, addr_url, tx_url, assets)


CHAINS: dict[str, Chain] = {
    c.name: c
    for c in (
        _chain(
            "ethereum",
            "evm",
            "ETH",
            18,
            1,
            "https://etherscan.io/address/{}",
            "https://etherscan.io/tx/{}",
            [
                ("0xdac17f958d2ee523a2206206994597c13d831ec7", "USDT", 6, "Tether"),
                ("0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", "USDC", 6, "Circle"),
                ("0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2", "WETH", 18, None),
            ],
        ),
        _chain(
            "tron",
            "tron",
            "TRX",
            6,
            None,
            "https://tronscan.org/#/address/{}",
            "https://tronscan.org/#/transaction/{}",
            [("TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t", "USDT", 6, "Tether")],
        ),
        _chain(
            "bitcoin",
            "utxo",
            "BTC",
            8,
            None,
            "https://mempool.space/address/{}",
            "https://mempool.space/tx/{}",
            [],
        ),
    )
}


class UnknownChain(ValueError):
    pass


def get_chain(name: str) -> Chain:
    try:
        return CHAINS[name.lower()]
    except KeyError:
        raise UnknownChain(f"unknown chain {name!r} (known: {', '.join(sorted(CHAINS))})") from None


def register_asset(asset: Asset) -> None:
    """Add an asset to a chain's registry (the sandbox registers its own tokens this way)."""
    CHAINS[asset.chain].assets[asset.address] = asset


def asset_info(chain: str, address: str) -> Asset | None:
    return CHAINS[chain].assets.get(address) if chain in CHAINS else None


# --- EVM chains by chain id (tracer/evm_chains.py), registered additively: every chain there
# --- becomes a CHAINS entry; chains already here (ethereum) only gain the assets they lack.
def _register_evm_chains() -> None:
    from tracer.evm_chains import EVM_CHAINS

    for evm in EVM_CHAINS:
        chain = CHAINS.get(evm.name)
        if chain is None:
            chain = CHAINS[evm.name] = _chain(
                evm.name,
                "evm",
                evm.native_symbol,
                evm.native_decimals,
                evm.chain_id,
                evm.address_url,
                evm.tx_url,
                [],
            )
        for token in evm.tokens:
            address = token.address.lower()
            if address not in chain.assets:
                chain.assets[address] = Asset(
                    evm.name, address, token.symbol, token.decimals, token.issuer, token.stablecoin
                )


_register_evm_chains()
