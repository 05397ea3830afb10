// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

/// @title Hands out SGE from this contract's inventory, once per wallet and program.
/// @notice A program (tenant) is named by `programId = keccak256(bytes(slug))`; the admin sets each
/// program's claim amount, whether it is active, and its fee per accepted stablecoin. Two ways in:
///  (a) `claim`: the user pays its program's fee in an accepted stablecoin (USDC/USDT), pulled with
///      safeTransferFrom straight to the treasury, and receives the program's claim amount of SGE;
///  (b) `deliverClaim`: the relayer delivers to a wallet that paid off-chain, keyed by a payment id.
/// Each (program, wallet) claims at most once; each delivery payment id is used at most once.
/// The claim's reference is stored per (program, wallet), so a backend finds a claim without a log
/// scan and can check the reference is its own.
contract SGEClaim is AccessControl, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    struct Program {
        uint256 claimAmount; // SGE (18 decimals) delivered per claim
        bool active;
    }

    // Permanent: the same call can never succeed (bad input, or the state it needs is gone for good).
    error ZeroAddress();
    error ZeroAmount();
    error ZeroProgramId();
    error ZeroPaymentRef();
    error AlreadyClaimed(bytes32 programId, address wallet, bytes32 paymentRef);
    error PaymentAlreadyUsed(bytes32 paymentId);
    error TokenNotAccepted(bytes32 programId, address token);
    error ProgramNotActive(bytes32 programId);
    // Temporary: the same call succeeds once the inventory is topped up. (While paused, calls revert
    // with OpenZeppelin's EnforcedPause(), temporary as well.)
    error InsufficientInventory(uint256 available, uint256 needed);

    /// One event for both paths; `token` is address(0) and `fee` 0 for relayer deliveries (the fee
    /// was paid off-chain). Every key is indexed: a backend filters by wallet, program or reference.
    event Claimed(
        address indexed wallet,
        bytes32 indexed programId,
        bytes32 indexed paymentRef,
        address token,
        uint256 fee,
        uint256 amount
    );
    event ProgramUpdated(bytes32 indexed programId, uint256 claimAmount, bool active);
    event ProgramFeeUpdated(bytes32 indexed programId, address indexed token, uint256 fee);
    event TreasuryUpdated(address indexed treasury);
    event InventoryWithdrawn(address indexed to, uint256 amount);

    IERC20 public immutable sge;
    address public treasury;
    mapping(bytes32 programId => Program) public programs;
    /// Fee per program and accepted payment token, in that token's units; 0 = not accepted.
    mapping(bytes32 programId => mapping(address token => uint256)) public feeOf;
    /// The reference of a (program, wallet)'s claim: the user's paymentRef or the delivery's payment
    /// id. Non-zero = claimed.
    mapping(bytes32 programId => mapping(address wallet => bytes32)) public claimRefOf;
    /// Off-chain payment ids already delivered. An on-chain claim's ref is not entered here, so
    /// nobody can burn a pending delivery's payment id by front-running it with their own claim.
    mapping(bytes32 paymentId => bool) public paymentUsed;

    constructor(address admin, address relayer, IERC20 sge_, address treasury_) {
        if (admin == address(0) || relayer == address(0) || address(sge_) == address(0) || treasury_ == address(0)) {
            revert ZeroAddress();
        }
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _grantRole(RELAYER_ROLE, relayer);
        sge = sge_;
        treasury = treasury_;
        emit TreasuryUpdated(treasury_);
    }

    /// @notice Pay `programId`'s fee in `payToken` and receive its claim amount of SGE.
    /// @param paymentRef the platform's reference for this claim (from its "prepare" step), stored and
    /// echoed in the event so the backend can match it; must be non-zero.
    function claim(bytes32 programId, address payToken, bytes32 paymentRef) external whenNotPaused nonReentrant {
        if (paymentRef == bytes32(0)) revert ZeroPaymentRef();
        uint256 amount = _activeClaimAmount(programId);
        uint256 fee = feeOf[programId][payToken];
        if (fee == 0) revert TokenNotAccepted(programId, payToken);
        _record(programId, msg.sender, paymentRef, amount);
        IERC20(payToken).safeTransferFrom(msg.sender, treasury, fee);
        sge.safeTransfer(msg.sender, amount);
        emit Claimed(msg.sender, programId, paymentRef, payToken, fee, amount);
    }

    /// @notice Deliver `wallet`'s claim in `programId`; the wallet paid off-chain under `paymentId`.
    function deliverClaim(bytes32 programId, address wallet, bytes32 paymentId)
        external
        onlyRole(RELAYER_ROLE)
        whenNotPaused
        nonReentrant
    {
        if (wallet == address(0)) revert ZeroAddress();
        if (paymentId == bytes32(0)) revert ZeroPaymentRef();
        if (paymentUsed[paymentId]) revert PaymentAlreadyUsed(paymentId);
        uint256 amount = _activeClaimAmount(programId);
        _record(programId, wallet, paymentId, amount);
        paymentUsed[paymentId] = true;
        sge.safeTransfer(wallet, amount);
        emit Claimed(wallet, programId, paymentId, address(0), 0, amount);
    }

    function claimed(bytes32 programId, address wallet) external view returns (bool) {
        return claimRefOf[programId][wallet] != bytes32(0);
    }

    /// An active program needs a non-zero claim amount; deactivating keeps the amount for the record.
    function setProgram(bytes32 programId, uint256 claimAmount, bool active) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (programId == bytes32(0)) revert ZeroProgramId();
        if (active && claimAmount == 0) revert ZeroAmount();
        programs[programId] = Program(claimAmount, active);
        emit ProgramUpdated(programId, claimAmount, active);
    }

    /// `fee` 0 stops accepting `token` for the program.
    function setProgramFee(bytes32 programId, address token, uint256 fee) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (programId == bytes32(0)) revert ZeroProgramId();
        if (token == address(0)) revert ZeroAddress();
        feeOf[programId][token] = fee;
        emit ProgramFeeUpdated(programId, token, fee);
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

    function _activeClaimAmount(bytes32 programId) private view returns (uint256) {
        Program memory program = programs[programId];
        if (!program.active) revert ProgramNotActive(programId);
        return program.claimAmount;
    }

    /// Records the (program, wallet)'s claim, before any external call. Every permanent reason is
    /// checked before the temporary one, so a caller that sees InsufficientInventory knows the same
    /// call can succeed after a top-up.
    function _record(bytes32 programId, address wallet, bytes32 ref, uint256 amount) private {
        bytes32 existing = claimRefOf[programId][wallet];
        if (existing != bytes32(0)) revert AlreadyClaimed(programId, wallet, existing);
        uint256 available = sge.balanceOf(address(this));
        if (available < amount) revert InsufficientInventory(available, amount);
        claimRefOf[programId][wallet] = ref;
    }
}
