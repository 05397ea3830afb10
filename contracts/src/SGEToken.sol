// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title SGE token: ERC-20, 18 decimals, fixed supply minted once to the treasury.
contract SGEToken is ERC20 {
    error ZeroAddress();
    error ZeroSupply();

    constructor(address treasury, uint256 supply) ERC20("SGE", "SGE") {
        if (treasury == address(0)) revert ZeroAddress();
        if (supply == 0) revert ZeroSupply();
        _mint(treasury, supply);
    }
}
