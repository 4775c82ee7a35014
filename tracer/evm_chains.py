"""EVM chains by chain id: native asset, canonical stablecoins, bridged BTC, explorer URLs.

:mod:`tracer.chains` registers every chain here in ``CHAINS`` (so ``--chain avalanche`` works
everywhere), and the live sources use :func:`by_id` / :func:`resolve` to find a chain from the id a
node reports (``eth_chainId``) or the Etherscan v2 ``chainid`` to ask for.

Only contracts whose address was checked are listed (each is checked against its EIP-55
checksum when this module is tested; the label sets under ``/work/shared/data/labels`` name the
same contracts). ``issuer`` is set only where the issuer can freeze balances at the token
contract itself (Tether's and Circle's own deployments); bridged or pegged copies (Polygon PoS
USDT, Binance-Peg BSC-USD, Arbitrum USDT) are marked stablecoins without an issuer until that is
confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Token:
    address: str  # EIP-55 form as published; tracer.chains stores it lower-case
    symbol: str
    decimals: int
    issuer: str | None = None  # who can freeze balances at the contract, if anyone
    stablecoin: bool = False
    bridged_btc: bool = False


@dataclass(frozen=True)
class EvmChain:
    name: str  # tracer's chain name (``--chain``)
    chain_id: int
    native_symbol: str
    explorer: str  # explorer base URL
    tokens: tuple[Token, ...] = ()
    aliases: tuple[str, ...] = ()
    native_decimals: int = 18

    @property
    def address_url(self) -> str:
        return self.explorer + "/address/{}"

    @property
    def tx_url(self) -> str:
        return self.explorer + "/tx/{}"

    @property
    def stablecoins(self) -> tuple[Token, ...]:
        return tuple(t for t in self.tokens if t.stablecoin)

    @property
    def bridged_btc(self) -> tuple[Token, ...]:
        return tuple(t for t in self.tokens if t.bridged_btc)


EVM_CHAINS: tuple[EvmChain, ...] = (
    EvmChain(
        "ethereum",
        1,
        "ETH",
        "https://etherscan.io",
        (
            Token("0xdAC17F958D2ee523a2206206994597C13D831ec7", "USDT", 6, "Tether", True),
            Token("0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "USDC", 6, "Circle", True),
            Token("0x2260FAC5E5542a773Aa44fBCfeDf7C193bc2C599", "WBTC", 8, bridged_btc=True),
        ),
        aliases=("eth", "mainnet"),
    ),
    EvmChain(
        "avalanche",
        43114,
        "AVAX",
        "https://snowtrace.io",
        (
            Token("0x9702230A8Ea53601f5cD2dc00fDBc13d4dF4A8c7", "USDt", 6, "Tether", True),
            Token("0xB97EF9Ef8734C71904D8002F8b6Bc66Dd9c48a6E", "USDC", 6, "Circle", True),
            Token("0x152b9d0FdC40C096757F570A51E494bd4b943E50", "BTC.b", 8, bridged_btc=True),
        ),
        aliases=("avax", "avalanche-c", "c-chain"),
    ),
    EvmChain(
        "bsc",
        56,
        "BNB",
        "https://bscscan.com",
        (Token("0x55d398326f99059fF775485246999027B3197955", "BSC-USD", 18, stablecoin=True),),
        aliases=("bnb", "binance", "bnb-smart-chain"),
    ),
    EvmChain(
        "polygon",
        137,
        "POL",
        "https://polygonscan.com",
        (Token("0xc2132D05D31c914a87C6611C10748AEb04B58e8F", "USDT", 6, stablecoin=True),),
        aliases=("matic", "polygon-pos"),
    ),
    EvmChain(
        "arbitrum",
        42161,
        "ETH",
        "https://arbiscan.io",
        (Token("0xFd086bC7CD5C481DCC9C85ebE478A1C0b69FCbb9", "USDT", 6, stablecoin=True),),
        aliases=("arbitrum-one", "arb"),
    ),
    EvmChain(
        "base",
        8453,
        "ETH",
        "https://basescan.org",
        (Token("0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913", "USDC", 6, "Circle", True),),
    ),
    EvmChain("optimism", 10, "ETH", "https://optimistic.etherscan.io", aliases=("op",)),
)

_BY_ID = {c.chain_id: c for c in EVM_CHAINS}
_BY_NAME = {c.name: c for c in EVM_CHAINS}
_ALIASES = {alias: c for c in EVM_CHAINS for alias in (c.name, *c.aliases)}


def by_id(chain_id: int) -> EvmChain | None:
    """The chain with this EIP-155 id, or None."""
    return _BY_ID.get(int(chain_id))


def by_name(name: str) -> EvmChain | None:
    """The chain called ``name`` (tracer name or alias, case-insensitive), or None."""
    return _ALIASES.get(name.strip().lower())


def resolve(name_or_id: str | int) -> EvmChain | None:
    """A chain from its name, an alias or its chain id (``"43114"``, ``"0xa86a"``, 43114)."""
    if isinstance(name_or_id, int):
        return by_id(name_or_id)
    text = str(name_or_id).strip().lower()
    try:
        return by_id(int(text, 16) if text.startswith("0x") else int(text))
    except ValueError:
        return by_name(text)


__all__ = ["EVM_CHAINS", "EvmChain", "Token", "by_id", "by_name", "resolve"]
