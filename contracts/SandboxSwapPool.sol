// SPDX-License-Identifier: MIT
// tracer sandbox: a fixed-rate token -> ETH swap pool (synthetic, for a local anvil node).
pragma solidity 0.8.26;

interface IERC20Like {
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

/// @title Fixed-rate swap pool: token in, ETH out, in one transaction
/// @notice `swapTokensForEth(amountIn)` pulls `amountIn` of the token with `transferFrom` (the
/// caller approves first) and pays `amountIn * weiPerUnit` wei back with a low-level call, so the
/// ETH shows up as an internal transfer in traces. The ETH reserve is whatever the pool holds.
/// Emits a Uniswap-V2-style `Swap` event (amount0 = token, amount1 = ETH).
contract SandboxSwapPool {
    IERC20Like public immutable token;
    uint256 public immutable weiPerUnit;

    event Swap(
        address indexed sender,
        uint256 amount0In,
        uint256 amount1In,
        uint256 amount0Out,
        uint256 amount1Out,
        address indexed to
    );

    constructor(IERC20Like token_, uint256 weiPerUnit_) {
        token = token_;
        weiPerUnit = weiPerUnit_;
    }

    receive() external payable {}

    function swapTokensForEth(uint256 amountIn) external returns (uint256 amountOut) {
        amountOut = amountIn * weiPerUnit;
        require(address(this).balance >= amountOut, "reserve");
        require(token.transferFrom(msg.sender, address(this), amountIn), "pull");
        (bool ok,) = msg.sender.call{value: amountOut}("");
        require(ok, "pay");
        emit Swap(msg.sender, amountIn, 0, 0, amountOut, msg.sender);
    }
}
