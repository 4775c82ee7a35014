// SPDX-License-Identifier: MIT
// tracer sandbox: a Tornado-like fixed-denomination mixer pool (synthetic, deposits only).
pragma solidity 0.8.26;

/// @title Fixed-denomination mixer pool (deposit side of a Tornado Cash instance)
/// @notice `deposit(commitment)` takes exactly `denomination` wei and emits Tornado's
/// `Deposit(bytes32 indexed commitment, uint32 leafIndex, uint256 timestamp)`. Withdrawals (zk
/// proofs) are out of scope: the trail ends at the pool, which is what a tracer must report.
contract SandboxMixer {
    uint256 public immutable denomination;
    uint32 public nextIndex;
    mapping(bytes32 => bool) public commitments;

    event Deposit(bytes32 indexed commitment, uint32 leafIndex, uint256 timestamp);

    constructor(uint256 denomination_) {
        denomination = denomination_;
    }

    function deposit(bytes32 commitment) external payable {
        require(msg.value == denomination, "Please send `mixDenomination` ETH along with transaction");
        require(!commitments[commitment], "The commitment has been submitted");
        commitments[commitment] = true;
        emit Deposit(commitment, nextIndex, block.timestamp);
        nextIndex += 1;
    }
}
