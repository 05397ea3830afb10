// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title Pays affiliate commissions in stablecoin from this contract's own balance.
/// @notice Each payout id pays at most once, forever. Tokens must be enabled with a per-transaction
/// cap (the total one call may move in that token), which bounds the damage of a stolen relayer key.
contract AffiliatePayout is AccessControl, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant PAYER_ROLE = keccak256("PAYER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    struct Line {
        bytes32 payoutId;
        address to;
        uint256 amount;
    }

    error ZeroAddress();
    error ZeroAmount();
    error ZeroPayoutId();
    error EmptyBatch();
    error PayoutAlreadyPaid(bytes32 payoutId);
    error TokenNotEnabled(address token);
    error CapExceeded(address token, uint256 amount, uint256 cap);

    event PayoutPaid(bytes32 indexed payoutId, address indexed token, address indexed to, uint256 amount);
    event CapUpdated(address indexed token, uint256 cap);
    event Withdrawn(address indexed token, address indexed to, uint256 amount);

    /// Paid payout ids; never cleared.
    mapping(bytes32 payoutId => bool) public paid;
    /// Largest total one transaction may pay in a token; 0 = token not enabled.
    mapping(address token => uint256) public capPerTx;

    constructor(address admin, address payer) {
        if (admin == address(0) || payer == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _grantRole(PAYER_ROLE, payer);
    }

    function pay(bytes32 payoutId, address token, address to, uint256 amount)
        external
        onlyRole(PAYER_ROLE)
        whenNotPaused
        nonReentrant
    {
        _checkCap(token, amount);
        _payLine(token, payoutId, to, amount);
    }

    /// Pays every line or none: one already-paid id reverts the whole batch.
    function payBatch(address token, Line[] calldata lines)
        external
        onlyRole(PAYER_ROLE)
        whenNotPaused
        nonReentrant
    {
        if (lines.length == 0) revert EmptyBatch();
        uint256 total;
        for (uint256 i = 0; i < lines.length; ++i) {
            total += lines[i].amount;
        }
        _checkCap(token, total);
        for (uint256 i = 0; i < lines.length; ++i) {
            _payLine(token, lines[i].payoutId, lines[i].to, lines[i].amount);
        }
    }

    function setCap(address token, uint256 cap) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (token == address(0)) revert ZeroAddress();
        capPerTx[token] = cap;
        emit CapUpdated(token, cap);
    }

    /// Admin recovery of funds (e.g. moving to a new payout contract). Not pause-gated on purpose:
    /// it must work while payouts are halted.
    function withdraw(address token, address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (token == address(0) || to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        IERC20(token).safeTransfer(to, amount);
        emit Withdrawn(token, to, amount);
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    function _checkCap(address token, uint256 total) private view {
        uint256 cap = capPerTx[token];
        if (cap == 0) revert TokenNotEnabled(token);
        if (total > cap) revert CapExceeded(token, total, cap);
    }

    function _payLine(address token, bytes32 payoutId, address to, uint256 amount) private {
        if (payoutId == bytes32(0)) revert ZeroPayoutId();
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        if (paid[payoutId]) revert PayoutAlreadyPaid(payoutId);
        paid[payoutId] = true; // effects before the external call
        IERC20(token).safeTransfer(to, amount);
        emit PayoutPaid(payoutId, token, to, amount);
    }
}
