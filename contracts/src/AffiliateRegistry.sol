// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title Write-once record of who referred whom.
/// @notice Only the relayer writes; a child's referrer can never change once recorded.
contract AffiliateRegistry is AccessControl {
    bytes32 public constant RELAYER_ROLE = keccak256("RELAYER_ROLE");
    /// Ancestors walked when checking for a cycle; the platform's trees are far shallower.
    uint256 public constant MAX_CYCLE_CHECK = 32;

    error ZeroAddress();
    error SelfReferral(address wallet);
    error AlreadyRegistered(address child, address referrer);
    error ReferralCycle(address child, address referrer);

    event ReferralRegistered(address indexed child, address indexed referrer);

    mapping(address child => address referrer) public referrerOf;

    constructor(address admin, address relayer) {
        if (admin == address(0) || relayer == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(RELAYER_ROLE, relayer);
    }

    function registerReferral(address child, address referrer) external onlyRole(RELAYER_ROLE) {
        if (child == address(0) || referrer == address(0)) revert ZeroAddress();
        if (child == referrer) revert SelfReferral(child);
        address existing = referrerOf[child];
        if (existing != address(0)) revert AlreadyRegistered(child, existing);
        // A referrer whose own chain leads back to `child` would close a loop in the tree.
        address cursor = referrerOf[referrer];
        for (uint256 i = 0; i < MAX_CYCLE_CHECK && cursor != address(0); ++i) {
            if (cursor == child) revert ReferralCycle(child, referrer);
            cursor = referrerOf[cursor];
        }
        referrerOf[child] = referrer;
        emit ReferralRegistered(child, referrer);
    }
}
