// SPDX-License-Identifier: UNLICENSED
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

/// @title SGE-ID: the platform's on-chain identity (ERC-721), at most one per wallet.
/// @notice Minted gaslessly by the relayer (MINTER_ROLE). Ids are 1, 2, 3, ...
/// The one-per-wallet rule is enforced in `_update`, so it holds for mints and transfers alike.
contract SGEID is ERC721, AccessControl, Pausable {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");

    /// Wallet already holds `tokenId`; a wallet holds at most one SGE-ID.
    error AlreadyHasToken(address wallet, uint256 tokenId);
    error ZeroAddress();

    event BaseURIUpdated(string baseURI);

    uint256 private _lastId;
    string private _base;
    /// Token held by a wallet (0 = none). Lets the backend resolve a wallet's id without logs.
    mapping(address wallet => uint256 tokenId) public tokenOf;

    constructor(address admin, address minter, string memory baseURI_) ERC721("SGE ID", "SGEID") {
        if (admin == address(0) || minter == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(PAUSER_ROLE, admin);
        _grantRole(MINTER_ROLE, minter);
        _base = baseURI_;
    }

    /// @notice Mint the next id to `to`. Reverts if `to` already holds one.
    function mint(address to) external onlyRole(MINTER_ROLE) returns (uint256 tokenId) {
        if (to == address(0)) revert ZeroAddress();
        tokenId = ++_lastId;
        // Plain _mint, not _safeMint: a recipient's code can never make the relayer's mint revert.
        _mint(to, tokenId);
    }

    /// Total minted so far (ids are never reused; there is no burn).
    function totalMinted() external view returns (uint256) {
        return _lastId;
    }

    function setBaseURI(string calldata baseURI_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _base = baseURI_;
        emit BaseURIUpdated(baseURI_);
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    function supportsInterface(bytes4 interfaceId) public view override(ERC721, AccessControl) returns (bool) {
        return super.supportsInterface(interfaceId);
    }

    function _baseURI() internal view override returns (string memory) {
        return _base;
    }

    /// Every ownership change (mint, transfer) passes here: enforce pause and one-per-wallet.
    function _update(address to, uint256 tokenId, address auth) internal override whenNotPaused returns (address from) {
        if (to != address(0)) {
            uint256 held = tokenOf[to];
            if (held != 0) revert AlreadyHasToken(to, held);
            tokenOf[to] = tokenId;
        }
        from = super._update(to, tokenId, auth);
        if (from != address(0)) delete tokenOf[from];
    }
}
