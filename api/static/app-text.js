// The words of the user's app (api/static/app.js): every flow state, every outcome, every error the API
// or the wallet can give, in plain language. Loaded before app.js; tests/app/test_pages.py checks that
// every public API error code has its message here.
"use strict";

window.sgeAppText = (config) => {
  // What the person reads for each state of the flow (models/onboarding.py FlowState).
  const STATE_TEXT = {
    registering: "Registering your wallet…",
    minting: "Minting your SGE-ID. We pay the gas; this takes a few seconds.",
    referring: "Recording who referred you on chain…",
    awaiting_payment: `Waiting for your payment of ${config.fee}. Choose how to pay below.`,
    settling: "Payment received. Settling it…",
    claiming: "Sending your SGE to your wallet…",
    completed: "Done: your SGE-ID is in your wallet and your SGE has been delivered.",
    halted: "The platform is paused by its operators. Your registration is safe and continues by itself " +
      "when they resume; you can close this page and come back later.",
    gated: "The platform is waiting before it sends new transactions. Your registration continues by " +
      "itself; nothing to do.",
    kyc_pending: "Before you pay, this program needs an identity check. Open the verification below; this " +
      "page continues by itself when it is done. No money is taken until you pass.",
    kyc_review: "Your identity check is being reviewed by the verification provider. This page continues " +
      "by itself when the review ends; no money is taken meanwhile.",
    delivery_blocked: "Your payment is settled, but delivering your SGE needs an operator. Your money is " +
      "safe and nothing more is asked of you; support has been alerted.",
  };
  // Terminal states other than done: what happened to the money and what to do next.
  const OUTCOME_TEXT = {
    expired: "The payment window closed before a payment arrived. No money was taken. Start again to get " +
      "a new payment window (your SGE-ID stays yours).",
    failed: "The payment did not go through, so no money was taken. You can start again.",
    underpaid: "We received less than the fee. The money is kept safely for you (nothing is lost), but it " +
      "was not enough to deliver your SGE. Contact support with your wallet address: they will either " +
      "apply it once the difference is paid or refund it.",
    suspense: "We received money we could not match to the fee automatically (for example another " +
      "currency, or a second payment). It is kept safely; an operator will apply or refund it. Contact " +
      "support with your wallet address.",
    kyc_rejected: "The identity check was not passed, so this program cannot take your payment. No money " +
      "was taken. Contact support if you think this is a mistake.",
    refunded: "Your payment was refunded (or charged back), so no SGE is due. If that was not your " +
      "intention you can start again.",
  };
  const RESTARTABLE = new Set(["expired", "failed", "refunded"]);

  // Every error code the public API answers with (api/, models/), in plain language.
  const API_ERRORS = {
    unknown_program: "This program does not exist. Check the link.",
    program_not_found: "This program does not exist. Check the link.",
    kyc_required: "This program needs an identity check before payment. Complete the verification first.",
    program_inactive: "This program is not open for registration at the moment.",
    invalid_wallet: "The wallet address was not accepted. Reconnect your wallet and try again.",
    invalid_code: "The referral code in your link is not valid. Ask for the link again, or remove ?ref= from it.",
    unknown_referral_code: "The referral code in your link is unknown. Ask for the link again, or remove ?ref= from it.",
    self_referral: "You cannot use your own referral code. Remove ?ref= from the link.",
    referrer_suspended: "The affiliate who referred you is suspended. Remove ?ref= from the link to go on.",
    referral_refused: "The referral code in your link cannot be used. Remove ?ref= from the link to go on.",
    affiliate_error: "The referral in your link cannot be used. Remove ?ref= from the link to go on.",
    registration_refused: "The registration was refused. Reload the page and try again.",
    too_many_nonces: "Too many sign-in attempts for now. Wait a few minutes and try again.",
    rate_limited: "Too many requests. Wait a moment and try again.",
    terms_acceptance_required: "The terms have changed. Reload the page to read them, then sign the registration message again.",
    jurisdiction_blocked: "This program is not available in your country or region.",
    invalid_siwe_message: "The registration message was changed before it came back. Try again.",
    invalid_signature: "The signature does not match your wallet. Try again with the connected account.",
    siwe_wrong_domain: "The registration message names another site. Reload this page and try again.",
    siwe_wrong_chain: "Your wallet signed for another network. Switch network and try again.",
    siwe_expired: "The registration message expired before you signed it. Try again.",
    siwe_not_yet_valid: "Your computer's clock seems wrong; fix it and try again.",
    unknown_nonce: "The registration message is unknown or expired. Try again.",
    nonce_used: "This registration message was already used. Try again.",
    wallet_sessions_unavailable: "Sign-in is not available right now. Try again later.",
    wallet_session_required: "Please sign in again with your wallet.",
    wallet_session_invalid: "Your sign-in is not valid any more. Please sign in again.",
    wallet_session_expired: "Your sign-in expired. Please sign in again.",
    wallet_mismatch: "You are signed in with another wallet. Sign in again with this one.",
    not_registered: "This wallet is not registered yet.",
    flow_ended: "This registration has ended; see the status above.",
    payment_not_ready: "Your payment is being prepared. One moment…",
    no_open_flow: "Nothing is waiting for a payment from this wallet.",
    not_awaiting_payment: "Your registration is not waiting for a payment right now.",
    bad_token: "Pay with USDC or USDT.",
    flow_busy: "The service is busy. Try again in a moment.",
    update_failed: "The payment could not be prepared. Try again in a moment.",
    invalid_tx_hash: "The transaction hash was not accepted.",
    orchestrator_unavailable: "The service is temporarily unavailable. Try again in a moment.",
    flow_unavailable: "The service is temporarily unavailable. Try again in a moment.",
    unavailable: "The service is temporarily unavailable. Try again in a moment.",
    idempotency_in_flight: "Your previous request is still being processed. One moment…",
    idempotency_key_reused: "That request was already sent. Reload the page.",
    invalid_idempotency_key: "The page sent a bad request. Reload the page.",
    unsupported_media_type: "The page sent a bad request. Reload the page.",
    validation_error: "The page sent a request the service did not accept. Reload the page.",
    bad_request: "The page sent a bad request. Reload the page.",
    payload_too_large: "The request was too large.",
    not_found: "Not found.",
    internal_error: "Something went wrong on our side. Try again; if it keeps happening, contact support.",
  };
  // EIP-1193 / JSON-RPC errors from the wallet.
  const WALLET_ERRORS = {
    4001: "You declined the request in your wallet. Nothing was sent; try again when you are ready.",
    4100: "Your wallet has not given this site access to the account. Connect again.",
    4200: "Your wallet does not support this request.",
    4900: "Your wallet is not connected to any network.",
    4901: `Your wallet is on another network. Switch it to ${config.chainName}.`,
    4902: `Your wallet does not know ${config.chainName} (chain id ${parseInt(config.chainId, 16)}). Add that ` +
      "network in your wallet, then press Connect again.",
    "-32002": "Your wallet already has a request open: look at the wallet window.",
  };

  return { STATE_TEXT, OUTCOME_TEXT, RESTARTABLE, API_ERRORS, WALLET_ERRORS };
};
