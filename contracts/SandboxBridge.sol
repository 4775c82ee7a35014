// SPDX-License-Identifier: MIT
// tracer sandbox: the source side of a lock-and-mint bridge (synthetic, for a local anvil node).
pragma solidity 0.8.26;

/// @title Bridge deposit contract
/// @notice `sendNative(receiver, dstChainId, nonce)` locks the ETH sent and emits a cBridge-style
/// `Send(transferId, sender, receiver, token, amount, dstChainId, nonce, maxSlippage)`; the
/// transfer id is what a tracer hands to the destination chain to continue.
contract SandboxBridge {
    mapping(bytes32 => bool) public transfers;

    event Send(
        bytes32 transferId,
        address sender,
        address receiver,
        address token,
        uint256 amount,
        uint64 dstChainId,
        uint64 nonce,
        uint32 maxSlippage
    );

    function sendNative(address receiver, uint64 dstChainId, uint64 nonce) external payable {
        require(msg.value > 0, "amount");
        bytes32 transferId = keccak256(
            abi.encodePacked(
                msg.sender, receiver, address(0), msg.value, dstChainId, nonce, uint64(block.chainid)
            )
        );
        require(!transfers[transferId], "transfer exists");
        transfers[transferId] = true;
        emit Send(transferId, msg.sender, receiver, address(0), msg.value, dstChainId, nonce, 0);
    }
}
