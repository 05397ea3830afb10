// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title Pays affiliate commissions in stablecoin, only in batches enough approvers signed.
/// @notice Approvers (people, each with their own key) sign an EIP-712 `PayoutBatch` that names the
/// Merkle root of the batch's lines and its total. The payer (the relayer) submits the batch with the
/// signatures (`approveBatch`), then pays lines proven against that root (`payLines`), in one or more
/// transactions. So the payer alone cannot move money: every paid line is in a batch signed by
/// enough distinct approvers, each payout id pays at most once, ever, a batch never pays more than
/// its signed total or line count, and one transaction never moves more than the token's cap.
contract AffiliatePayout is AccessControl, Pausable, ReentrancyGuard, EIP712 {
    using SafeERC20 for IERC20;

    bytes32 public constant PAYER_ROLE = keccak256("PAYER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant PAYOUT_BATCH_TYPEHASH = keccak256(
        "PayoutBatch(bytes32 batchId,bytes32 program,address token,bytes32 linesRoot,uint256 lineCount,uint256 total,uint256 deadline)"
    );
    /// No policy may let fewer than two people release money.
    uint8 public constant MIN_APPROVALS = 2;

    /// What approvers sign. `linesRoot`: OpenZeppelin Merkle root (sorted pairs) over the leaves
    /// keccak256(bytes.concat(keccak256(abi.encode(payoutId, to, amount)))). `deadline`: unix seconds.
    struct PayoutBatch {
        bytes32 batchId;
        bytes32 program;
        address token;
        bytes32 linesRoot;
        uint256 lineCount;
        uint256 total;
        uint256 deadline;
    }

    struct Line {
        bytes32 payoutId;
        address to;
        uint256 amount;
    }

    /// An approved batch and how much of it has been paid.
    struct Batch {
        bytes32 program;
        bytes32 linesRoot;
        address token;
        bool revoked;
        uint256 lineCount;
        uint256 total;
        uint256 paidLines;
        uint256 paidTotal;
    }

    error ZeroAddress();
    error ZeroAmount();
    error ZeroPayoutId();
    error ZeroBatchId();
    error ZeroLinesRoot();
    error EmptyBatch();
    error LengthMismatch(uint256 lines, uint256 proofs);
    error PayoutAlreadyPaid(bytes32 payoutId);
    error TokenNotEnabled(address token);
    error CapExceeded(address token, uint256 amount, uint256 cap);
    error BatchExpired(bytes32 batchId, uint256 deadline);
    error BatchAlreadyApproved(bytes32 batchId);
    error BatchNotApproved(bytes32 batchId);
    error BatchRevoked(bytes32 batchId);
    error NotEnoughApprovals(uint256 given, uint256 required);
    error NotApprover(address signer);
    /// Signatures must come ordered by signer address, strictly ascending: each approver counts once.
    error SignersNotAscending(address signer);
    error InvalidProof(bytes32 payoutId);
    error BatchTotalExceeded(bytes32 batchId, uint256 paidTotal, uint256 total);
    error BatchLineCountExceeded(bytes32 batchId, uint256 paidLines, uint256 lineCount);
    error BadApprovalPolicy(uint8 baseApprovals, uint8 highApprovals);
    /// The payer and the approvers are different keys: the relayer never counts as an approver.
    error PayerCannotApprove(address account);

    event PayoutPaid(
        bytes32 indexed batchId, bytes32 indexed payoutId, address indexed to, address token, uint256 amount
    );
    event BatchApproved(
        bytes32 indexed batchId,
        bytes32 indexed program,
        address indexed token,
        bytes32 linesRoot,
        uint256 lineCount,
        uint256 total,
        address[] approvers
    );
    event BatchRevokedBy(bytes32 indexed batchId, address indexed admin);
    event ApproverUpdated(address indexed approver, bool enabled);
    event ApprovalPolicyUpdated(uint8 baseApprovals, uint8 highApprovals, uint256 highValueTotal);
    event CapUpdated(address indexed token, uint256 cap);
    event Withdrawn(address indexed token, address indexed to, uint256 amount);

    /// Paid payout ids; never cleared.
    mapping(bytes32 payoutId => bool) public paid;
    /// Largest total one transaction may pay in a token; 0 = token not enabled.
    mapping(address token => uint256) public capPerTx;
    mapping(address account => bool) public isApprover;
    uint256 public approverCount;
    /// Approvals a batch needs: `baseApprovals`, or `highApprovals` when its total is at least
    /// `highValueTotal` (in the token's smallest unit; the accepted stablecoins all have 6 decimals).
    uint8 public baseApprovals;
    uint8 public highApprovals;
    uint256 public highValueTotal;
    mapping(bytes32 batchId => Batch) public batches;

    constructor(address admin, address payer, uint256 highValueTotal_) EIP712("SGE AffiliatePayout", "1") {
        if (admin == address(0) || payer == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _grantRole(PAYER_ROLE, payer);
        _setApprovalPolicy(MIN_APPROVALS, MIN_APPROVALS + 1, highValueTotal_);
    }

    // --- approval -----------------------------------------------------------------------------------

    /// @notice Record `batch` as approved, given approvers' EIP-712 signatures over it, ordered by
    /// signer address (ascending). Moves no money, so it is not stopped by pause.
    function approveBatch(PayoutBatch calldata batch, bytes[] calldata signatures) external onlyRole(PAYER_ROLE) {
        bytes32 batchId = batch.batchId;
        if (batchId == bytes32(0)) revert ZeroBatchId();
        if (batch.linesRoot == bytes32(0)) revert ZeroLinesRoot();
        if (batch.lineCount == 0 || batch.total == 0) revert EmptyBatch();
        if (capPerTx[batch.token] == 0) revert TokenNotEnabled(batch.token);
        if (block.timestamp > batch.deadline) revert BatchExpired(batchId, batch.deadline);
        if (batches[batchId].linesRoot != bytes32(0)) revert BatchAlreadyApproved(batchId);
        uint256 required = requiredApprovals(batch.total);
        if (signatures.length < required) revert NotEnoughApprovals(signatures.length, required);

        bytes32 digest = _batchDigest(batch);
        address[] memory signers = new address[](signatures.length);
        address previous = address(0);
        for (uint256 i = 0; i < signatures.length; ++i) {
            // Reverts on malformed or malleable (high-s) signatures.
            address signer = ECDSA.recoverCalldata(digest, signatures[i]);
            if (!isApprover[signer]) revert NotApprover(signer);
            if (signer <= previous) revert SignersNotAscending(signer);
            signers[i] = signer;
            previous = signer;
        }
        batches[batchId] = Batch({
            program: batch.program,
            linesRoot: batch.linesRoot,
            token: batch.token,
            revoked: false,
            lineCount: batch.lineCount,
            total: batch.total,
            paidLines: 0,
            paidTotal: 0
        });
        emit BatchApproved(batchId, batch.program, batch.token, batch.linesRoot, batch.lineCount, batch.total, signers);
    }

    /// The EIP-712 digest approvers sign for `batch` (for off-chain cross-checks).
    function hashBatch(PayoutBatch calldata batch) external view returns (bytes32) {
        return _batchDigest(batch);
    }

    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function requiredApprovals(uint256 total) public view returns (uint256) {
        return total >= highValueTotal ? highApprovals : baseApprovals;
    }

    // --- payment ------------------------------------------------------------------------------------

    /// @notice Pay `lines` of the approved batch `batchId`; `proofs[i]` proves `lines[i]` against the
    /// batch's root. All lines or none: one bad line reverts the call.
    function payLines(bytes32 batchId, Line[] calldata lines, bytes32[][] calldata proofs)
        external
        onlyRole(PAYER_ROLE)
        whenNotPaused
        nonReentrant
    {
        if (lines.length == 0) revert EmptyBatch();
        if (lines.length != proofs.length) revert LengthMismatch(lines.length, proofs.length);
        (bytes32 root, address token) = _reserve(batchId, lines);
        for (uint256 i = 0; i < lines.length; ++i) {
            _payLine(batchId, root, token, lines[i], proofs[i]);
        }
    }

    // --- administration -----------------------------------------------------------------------------

    function setApprover(address account, bool enabled) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (account == address(0)) revert ZeroAddress();
        if (enabled && hasRole(PAYER_ROLE, account)) revert PayerCannotApprove(account);
        if (isApprover[account] == enabled) return; // already so: nothing changes, no event
        isApprover[account] = enabled;
        if (enabled) {
            ++approverCount;
        } else {
            --approverCount;
        }
        emit ApproverUpdated(account, enabled);
    }

    function setApprovalPolicy(uint8 baseApprovals_, uint8 highApprovals_, uint256 highValueTotal_)
        external
        onlyRole(DEFAULT_ADMIN_ROLE)
    {
        _setApprovalPolicy(baseApprovals_, highApprovals_, highValueTotal_);
    }

    /// Stops an approved batch's unpaid lines from ever being paid (lines already paid stay paid).
    function revokeBatch(bytes32 batchId) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Batch storage batch = batches[batchId];
        if (batch.linesRoot == bytes32(0)) revert BatchNotApproved(batchId);
        if (batch.revoked) revert BatchRevoked(batchId);
        batch.revoked = true;
        emit BatchRevokedBy(batchId, msg.sender);
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

    // --- internals ----------------------------------------------------------------------------------

    /// An approver can never hold PAYER_ROLE, whichever is granted first.
    function _grantRole(bytes32 role, address account) internal override returns (bool) {
        if (role == PAYER_ROLE && isApprover[account]) revert PayerCannotApprove(account);
        return super._grantRole(role, account);
    }

    function _setApprovalPolicy(uint8 baseApprovals_, uint8 highApprovals_, uint256 highValueTotal_) private {
        if (baseApprovals_ < MIN_APPROVALS || highApprovals_ < baseApprovals_) {
            revert BadApprovalPolicy(baseApprovals_, highApprovals_);
        }
        baseApprovals = baseApprovals_;
        highApprovals = highApprovals_;
        highValueTotal = highValueTotal_;
        emit ApprovalPolicyUpdated(baseApprovals_, highApprovals_, highValueTotal_);
    }

    function _batchDigest(PayoutBatch calldata batch) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    PAYOUT_BATCH_TYPEHASH,
                    batch.batchId,
                    batch.program,
                    batch.token,
                    batch.linesRoot,
                    batch.lineCount,
                    batch.total,
                    batch.deadline
                )
            )
        );
    }

    /// Checks the approved batch still has room for `lines` (count, total) and the token's cap allows
    /// their sum, and counts them as paid (before any transfer).
    function _reserve(bytes32 batchId, Line[] calldata lines) private returns (bytes32 root, address token) {
        Batch storage batch = batches[batchId];
        root = batch.linesRoot;
        if (root == bytes32(0)) revert BatchNotApproved(batchId);
        if (batch.revoked) revert BatchRevoked(batchId);
        token = batch.token;
        uint256 sum;
        for (uint256 i = 0; i < lines.length; ++i) {
            sum += lines[i].amount;
        }
        uint256 cap = capPerTx[token];
        if (cap == 0) revert TokenNotEnabled(token);
        if (sum > cap) revert CapExceeded(token, sum, cap);
        uint256 paidTotal = batch.paidTotal + sum;
        if (paidTotal > batch.total) revert BatchTotalExceeded(batchId, paidTotal, batch.total);
        uint256 paidLines = batch.paidLines + lines.length;
        if (paidLines > batch.lineCount) revert BatchLineCountExceeded(batchId, paidLines, batch.lineCount);
        batch.paidTotal = paidTotal;
        batch.paidLines = paidLines;
    }

    function _payLine(bytes32 batchId, bytes32 root, address token, Line calldata line, bytes32[] calldata proof)
        private
    {
        bytes32 payoutId = line.payoutId;
        if (payoutId == bytes32(0)) revert ZeroPayoutId();
        if (line.to == address(0)) revert ZeroAddress();
        if (line.amount == 0) revert ZeroAmount();
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(payoutId, line.to, line.amount))));
        if (!MerkleProof.verifyCalldata(proof, root, leaf)) revert InvalidProof(payoutId);
        if (paid[payoutId]) revert PayoutAlreadyPaid(payoutId);
        paid[payoutId] = true; // effects before the external call
        IERC20(token).safeTransfer(line.to, line.amount);
        emit PayoutPaid(batchId, payoutId, line.to, token, line.amount);
    }
}
