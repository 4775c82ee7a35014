// SPDX-License-Identifier: MIT
// tracer sandbox: a contract that rejects ETH (synthetic, for a local anvil node).
pragma solidity 0.8.26;

/// @title A contract without a payable receive or fallback
/// @notice Sending ETH to it reverts: the sandbox's failed ETH transfer is mined with status 0
/// (a node never mines a plain transfer to an EOA that would fail).
contract SandboxNoEther {
    function ping() external pure returns (bool) {
        return true;
    }
}
