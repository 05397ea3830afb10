// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title Hands out SGE from this contract's inventory, once per wallet.
/// @notice Two ways in:
///  (a) `claim`: the user pays the fee in an accepted stablecoin (USDC/USDT), pulled with
///      safeTransferFrom straight to the treasury, and receives `claimAmount` SGE;
///  (b) `deliverClaim`: the relayer delivers to a wallet that paid off-chain, keyed by a payment id.
/// Each wallet claims at most once, each payment id is used at most once.
contract SGEClaim is AccessControl, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    error ZeroAddress();
    error ZeroAmount();
    error ZeroPaymentRef();
    error AlreadyClaimed(address wallet);
    error PaymentAlreadyUsed(bytes32 paymentId);
    error TokenNotAccepted(address token);
    error InsufficientInventory(uint256 available, uint256 needed);

    /// One event for both paths; `token` is address(0) and `fee` 0 for relayer deliveries
    /// (the fee was paid off-chain). Indexed by wallet so a backend can find a wallet's claim.
    event Claimed(
        address indexed wallet, bytes32 indexed paymentRef, address indexed token, uint256 fee, uint256 amount
    );
    event FeeUpdated(address indexed token, uint256 fee);
    event ClaimAmountUpdated(uint256 amount);
    event TreasuryUpdated(address indexed treasury);
    event InventoryWithdrawn(address indexed to, uint256 amount);

    IERC20 public immutable sge;
    address public treasury;
    uint256 public claimAmount;
    /// Fee per accepted payment token, in that token's units; 0 = not accepted.
    mapping(address token => uint256) public feeOf;
    mapping(address wallet => bool) public claimed;
    /// Off-chain payment ids already delivered. On-chain claims are deduplicated by wallet alone:
    /// their ref is informational, so nobody can burn a pending delivery's payment id by front-running.
    mapping(bytes32 paymentId => bool) public paymentUsed;

    constructor(address admin, address relayer, IERC20 sge_, address treasury_, uint256 claimAmount_) {
        if (admin == address(0) || relayer == address(0) || address(sge_) == address(0) || treasury_ == address(0)) {
            revert ZeroAddress();
        }
        if (claimAmount_ == 0) revert ZeroAmount();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _grantRole(RELAYER_ROLE, relayer);
        sge = sge_;
        treasury = treasury_;
        claimAmount = claimAmount_;
        emit TreasuryUpdated(treasury_);
        emit ClaimAmountUpdated(claimAmount_);
    }

    /// @notice Pay the fee in `payToken` and receive the claim amount of SGE.
    /// @param paymentRef the platform's reference for this claim (from its "prepare" step), echoed in
    /// the event so the backend can match it; must be non-zero.
    function claim(address payToken, bytes32 paymentRef) external whenNotPaused nonReentrant {
        if (paymentRef == bytes32(0)) revert ZeroPaymentRef();
        uint256 fee = feeOf[payToken];
        if (fee == 0) revert TokenNotAccepted(payToken);
        uint256 amount = _consume(msg.sender);
        IERC20(payToken).safeTransferFrom(msg.sender, treasury, fee);
        sge.safeTransfer(msg.sender, amount);
        emit Claimed(msg.sender, paymentRef, payToken, fee, amount);
    }

    /// @notice Deliver the claim of `wallet`, who paid off-chain under `paymentId`.
    function deliverClaim(address wallet, bytes32 paymentId) external onlyRole(RELAYER_ROLE) whenNotPaused nonReentrant {
        if (wallet == address(0)) revert ZeroAddress();
        if (paymentId == bytes32(0)) revert ZeroPaymentRef();
        if (paymentUsed[paymentId]) revert PaymentAlreadyUsed(paymentId);
        uint256 amount = _consume(wallet);
        paymentUsed[paymentId] = true;
        sge.safeTransfer(wallet, amount);
        emit Claimed(wallet, paymentId, address(0), 0, amount);
    }

    function setFee(address token, uint256 fee) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (token == address(0)) revert ZeroAddress();
        feeOf[token] = fee;
        emit FeeUpdated(token, fee);
    }

    function setClaimAmount(uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (amount == 0) revert ZeroAmount();
        claimAmount = amount;
        emit ClaimAmountUpdated(amount);
    }

    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert ZeroAddress();
        treasury = treasury_;
        emit TreasuryUpdated(treasury_);
    }

    /// Admin recovery of unclaimed inventory; works while paused.
    function withdrawInventory(address to, uint256 amount) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        if (amount == 0) revert ZeroAmount();
        sge.safeTransfer(to, amount);
        emit InventoryWithdrawn(to, amount);
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// Marks the wallet as claimed (before any external call) and returns the amount to deliver.
    function _consume(address wallet) private returns (uint256 amount) {
        if (claimed[wallet]) revert AlreadyClaimed(wallet);
        amount = claimAmount;
        uint256 available = sge.balanceOf(address(this));
        if (available < amount) revert InsufficientInventory(available, amount);
        claimed[wallet] = true;
    }
}
