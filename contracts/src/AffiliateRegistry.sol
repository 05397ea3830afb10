// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title Write-once record of who referred whom, per program.
/// @notice Only the relayer writes; a child's referrer in a program can never change once recorded.
/// Programs are independent trees: a wallet may have a different referrer in each program.
contract AffiliateRegistry is AccessControl {
    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");
    /// Ancestors walked when checking for a cycle; the platform's trees are far shallower.
    uint256 public constant MAX_CYCLE_CHECK = 32;

    error ZeroAddress();
    error ZeroProgramId();
    error SelfReferral(address wallet);
    error AlreadyRegistered(bytes32 programId, address child, address referrer);
    error ReferralCycle(bytes32 programId, address child, address referrer);

    event ReferralRegistered(bytes32 indexed programId, address indexed child, address indexed referrer);

    mapping(bytes32 programId => mapping(address child => address referrer)) public referrerOf;

    constructor(address admin, address relayer) {
        if (admin == address(0) || relayer == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(RELAYER_ROLE, relayer);
    }

    function registerReferral(bytes32 programId, address child, address referrer) external onlyRole(RELAYER_ROLE) {
        if (programId == bytes32(0)) revert ZeroProgramId();
        if (child == address(0) || referrer == address(0)) revert ZeroAddress();
        if (child == referrer) revert SelfReferral(child);
        mapping(address => address) storage tree = referrerOf[programId];
        address existing = tree[child];
        if (existing != address(0)) revert AlreadyRegistered(programId, child, existing);
        // A referrer whose own chain leads back to `child` would close a loop in the tree.
        address cursor = tree[referrer];
        for (uint256 i = 0; i < MAX_CYCLE_CHECK && cursor != address(0); ++i) {
            if (cursor == child) revert ReferralCycle(programId, child, referrer);
            cursor = tree[cursor];
        }
        tree[child] = referrer;
        emit ReferralRegistered(programId, child, referrer);
    }
}
