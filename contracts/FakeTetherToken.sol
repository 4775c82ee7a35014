// SPDX-License-Identifier: MIT
// tracer sandbox: an address-poisoning spam token (synthetic, for a local anvil node).
pragma solidity 0.8.26;

/// @title Fake "USDT" used for address poisoning
/// @notice Copies Tether's name and symbol. Its `transferFrom` checks nothing and moves nothing:
/// anyone can make it emit `Transfer(from, to, value)` naming any `from`, so explorers and naive
/// indexers show a "USDT" transfer from the victim's address to a lookalike that the victim may
/// later copy from their history. Balances stay zero.
contract FakeTetherToken {
    string public constant name = "Tether USD";
    string public constant symbol = "USDT";
    uint8 public constant decimals = 6;
    uint256 public constant totalSupply = 10 ** 20;

    event Transfer(address indexed from, address indexed to, uint256 value);

    function balanceOf(address) external pure returns (uint256) {
        return 0;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        emit Transfer(from, to, value);
        return true;
    }
}
