// SPDX-License-Identifier: MIT
// tracer sandbox: a USDT-like token with Tether's blacklist (synthetic, for a local anvil node).
pragma solidity 0.8.26;

/// @title Tether-like stablecoin for the tracer sandbox
/// @notice ERC-20 with Tether's issuer controls: `issue` (mints to the owner, emits only
/// `Issue`, as TetherToken does), and the blacklist: `addBlackList`, `removeBlackList`,
/// `destroyBlackFunds`, `isBlackListed`/`getBlackListStatus`, with Tether's event signatures
/// `AddedBlackList(address)`, `RemovedBlackList(address)`, `DestroyedBlackFunds(address,uint256)`.
/// Transfers from a blacklisted address revert. A zero-value `transferFrom` needs no allowance
/// (as on mainnet USDT: this is what address poisoners exploit).
contract SandboxTetherToken {
    string public name;
    string public symbol;
    uint8 public constant decimals = 6;
    uint256 public totalSupply;
    address public owner;

    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    mapping(address => bool) public isBlackListed;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event Issue(uint256 amount);
    event Redeem(uint256 amount);
    event AddedBlackList(address _user);
    event RemovedBlackList(address _user);
    event DestroyedBlackFunds(address _blackListedUser, uint256 _balance);

    modifier onlyOwner() {
        require(msg.sender == owner, "not owner");
        _;
    }

    constructor(string memory name_, string memory symbol_) {
        name = name_;
        symbol = symbol_;
        owner = msg.sender;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        require(!isBlackListed[msg.sender], "blacklisted");
        _move(msg.sender, to, value);
        return true;
    }

    function transferFrom(address from, address to, uint256 value) external returns (bool) {
        require(!isBlackListed[from], "blacklisted");
        uint256 allowed = allowance[from][msg.sender];
        require(value <= allowed, "allowance");
        if (allowed != type(uint256).max) {
            allowance[from][msg.sender] = allowed - value;
        }
        _move(from, to, value);
        return true;
    }

    function approve(address spender, uint256 value) external returns (bool) {
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
        return true;
    }

    function issue(uint256 amount) external onlyOwner {
        balanceOf[owner] += amount;
        totalSupply += amount;
        emit Issue(amount);
    }

    function redeem(uint256 amount) external onlyOwner {
        balanceOf[owner] -= amount;
        totalSupply -= amount;
        emit Redeem(amount);
    }

    function getBlackListStatus(address who) external view returns (bool) {
        return isBlackListed[who];
    }

    function addBlackList(address evil) external onlyOwner {
        isBlackListed[evil] = true;
        emit AddedBlackList(evil);
    }

    function removeBlackList(address cleared) external onlyOwner {
        isBlackListed[cleared] = false;
        emit RemovedBlackList(cleared);
    }

    function destroyBlackFunds(address blackListedUser) external onlyOwner {
        require(isBlackListed[blackListedUser], "not blacklisted");
        uint256 dirtyFunds = balanceOf[blackListedUser];
        balanceOf[blackListedUser] = 0;
        totalSupply -= dirtyFunds;
        emit DestroyedBlackFunds(blackListedUser, dirtyFunds);
    }

    function _move(address from, address to, uint256 value) private {
        require(balanceOf[from] >= value, "balance");
        balanceOf[from] -= value;
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
