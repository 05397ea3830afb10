// The user's app (api/app_pages.py): connect the browser wallet (EIP-1193), sign the registration message,
// follow the flow's status, pay (Coinbase checkout, or USDC/USDT from the wallet) and show the result.
// Hand-written, no libraries: the API prepares every transaction, so no ABI code is needed here.
"use strict";

(() => {
  const config = JSON.parse(document.getElementById("app-config").textContent);
  const $ = (id) => document.getElementById(id);
  const eth = window.ethereum;
  const POLL_MS = 2000;
  const STEPS = ["registering", "minting", "awaiting_payment", "settling", "claiming", "completed"];
  const STEP_OF = { referring: "minting", kyc_pending: "awaiting_payment", kyc_review: "awaiting_payment" };

  const { STATE_TEXT, OUTCOME_TEXT, RESTARTABLE, API_ERRORS, WALLET_ERRORS } = window.sgeAppText(config);

  let account = null;
  let pollTimer = null;
  let lastState = null;
  let paying = false;

  // --- small helpers ---------------------------------------------------------------------------------
  function say(text) { $("message").textContent = text || ""; }
  function showError(text) {
    const box = $("error");
    box.textContent = text || "";
    box.hidden = !text;
  }
  function walletError(err) {
    const code = err && err.code;
    if (WALLET_ERRORS[code]) return WALLET_ERRORS[code];
    const text = String((err && err.message) || err);
    if (/insufficient funds/i.test(text)) return "Your wallet does not have enough ETH to pay for gas.";
    if (code === 3 || /revert/i.test(text)) return "The transaction would fail on chain (" + text + ").";
    return "Your wallet reported an error: " + text;
  }
  const utf8Hex = (text) =>
    "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const key = () => (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));

  class ApiFailure extends Error {
    constructor(status, code, message, retryAfter) {
      super(API_ERRORS[code] || message || `The service answered ${status}.`);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      headers["Idempotency-Key"] = key();
    }
    let resp;
    try {
      resp = await fetch(path, {
        method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (_err) {
      throw new ApiFailure(0, "unavailable", "The service cannot be reached. Check your connection.");
    }
    const data = await resp.json().catch(() => ({}));
    if (!resp.ok) {
      const error = data.error || {};
      throw new ApiFailure(resp.status, error.code, error.message, Number(resp.headers.get("Retry-After") || 0));
    }
    return data;
  }

  // POST, waiting out the answers that mean "not yet" (a payment still being created, a busy flow).
  async function postPatiently(path, body, tries = 20) {
    for (let i = 0; ; i++) {
      try {
        return await api("POST", path, body);
      } catch (err) {
        const retry = ["payment_not_ready", "idempotency_in_flight", "flow_busy"].includes(err.code) || err.status === 503;
        if (!retry || i >= tries) throw err;
        say(err.message);
        await sleep(1000 * Math.max(1, err.retryAfter || 1));
      }
    }
  }

  function txLink(label, tx) {
    const li = document.createElement("li");
    li.append(label + ": ");
    li.append(hashNode(tx.tx_hash, tx.url));
    return li;
  }
  function hashNode(hash, url) {
    const href = url || (config.explorerUrl ? `${config.explorerUrl}/tx/${hash}` : null);
    if (!href) {
      const code = document.createElement("code");
      code.className = "hash";
      code.textContent = hash;
      return code;
    }
    const a = document.createElement("a");
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener";
    a.textContent = hash;
    return a;
  }

  // --- wallet ----------------------------------------------------------------------------------------
  async function ensureChain() {
    const chainId = await eth.request({ method: "eth_chainId" });
    if (chainId.toLowerCase() === config.chainId) return;
    say(`Your wallet is on another network; asking it to switch to ${config.chainName}…`);
    await eth.request({ method: "wallet_switchEthereumChain", params: [{ chainId: config.chainId }] });
  }

  async function connect() {
    showError("");
    if (!eth) {
      showError("No browser wallet found. Install a wallet extension (for example MetaMask) and reload this page.");
      return;
    }
    $("connect").disabled = true;
    try {
      say("Asking your wallet for your account…");
      const accounts = await eth.request({ method: "eth_requestAccounts" });
      if (!accounts || !accounts.length) throw { code: 4100 };
      setAccount(accounts[0]);
      await ensureChain();
      $("connect").hidden = true;
      say("");
      if (await resume()) return;
      $("sign").hidden = false;
      $("sign").focus();
      say("Connected. Sign the registration message to register.");
    } catch (err) {
      say("");
      showError(err instanceof ApiFailure ? err.message : walletError(err));
    } finally {
      $("connect").disabled = !config.open;
    }
  }

  function setAccount(address) {
    account = address ? address.toLowerCase() : null;
    $("account").textContent = account ? `Connected: ${account}` : "Not connected.";
    if (!account) $("connect").hidden = false;
  }

  // A signed-in wallet (the session cookie) picks up where it was: a reopened tab, a reload.
  async function resume() {
    let me;
    try {
      me = await api("GET", `/v1/me?program=${encodeURIComponent(config.program)}`);
    } catch (_err) {
      return false;
    }
    if (!account || me.wallet.toLowerCase() !== account || !me.registered) return false;
    $("sign").hidden = true;
    startPolling();
    return true;
  }

  async function signAndRegister() {
    showError("");
    $("sign").disabled = true;
    try {
      await ensureChain();
      const ref = new URLSearchParams(location.search).get("ref");
      say("Preparing the registration message…");
      const issued = await api("POST", "/v1/auth/nonce", {
        program: config.program, wallet: account, referral_code: ref || null,
      });
      say("Sign the message in your wallet. It costs nothing and sends no transaction.");
      const signature = await eth.request({ method: "personal_sign", params: [utf8Hex(issued.message), account] });
      say("Registering…");
      await api("POST", "/v1/register", { message: issued.message, signature });
      $("sign").hidden = true;
      $("outcome-card").hidden = true;
      say("Registered.");
      startPolling();
    } catch (err) {
      say("");
      showError(err instanceof ApiFailure ? err.message : walletError(err));
    } finally {
      $("sign").disabled = false;
    }
  }

  // --- status ----------------------------------------------------------------------------------------
  function startPolling() {
    $("progress-card").hidden = false;
    if (pollTimer) clearTimeout(pollTimer);
    poll();
  }

  async function poll() {
    pollTimer = null;
    let next = POLL_MS;
    try {
      const status = await api(
        "GET", `/v1/status?program=${encodeURIComponent(config.program)}&wallet=${encodeURIComponent(account)}`);
      render(status);
      if (status.state === "completed" || OUTCOME_TEXT[status.state]) return; // terminal: stop polling
    } catch (err) {
      if (err.status === 429) next = 1000 * Math.max(5, err.retryAfter || 5);
      if (err.code !== "not_registered") showError(err.message);
    }
    if (account) pollTimer = setTimeout(poll, next);
  }

  function render(status) {
    const state = status.state;
    document.body.dataset.state = state;
    const at = STEPS.indexOf(STEP_OF[state] || state);
    for (const li of $("steps").children) {
      const i = STEPS.indexOf(li.dataset.step);
      li.dataset.status = at < 0 ? (li.dataset.status || "") : i < at || state === "completed" ? "done" : i === at ? "current" : "";
      if (i === at) li.setAttribute("aria-current", "step");
      else li.removeAttribute("aria-current");
    }
    $("state-text").textContent = STATE_TEXT[state] || "";
    const txs = $("txs");
    txs.replaceChildren();
    if (status.registered && status.registered.mint) txs.append(txLink("SGE-ID minted", status.registered.mint));
    if (status.referral && status.referral.recorded) txs.append(txLink("Referral recorded", status.referral.recorded));
    if (status.claimed && status.claimed.claim) txs.append(txLink("SGE delivered", status.claimed.claim));
    if (status.paid && status.paid.rail === "onchain" && /^0x[0-9a-f]{64}$/i.test(status.paid.payment_ref || "")) {
      txs.append(txLink("Your payment", { tx_hash: status.paid.payment_ref }));
    }

    const verifying = state === "kyc_pending" || state === "kyc_review";
    $("kyc-card").hidden = !verifying;
    const verifyUrl = verifying && status.kyc ? status.kyc.verify_url : null;
    if (verifyUrl) $("kyc-verify").href = verifyUrl;
    else $("kyc-verify").removeAttribute("href");
    $("pay-card").hidden = state !== "awaiting_payment";
    if (state === "awaiting_payment" && lastState !== state) preparePayment();
    if (state === "completed") showDone(status);
    if (OUTCOME_TEXT[state]) {
      if (lastState !== state) {
        say("");
        showError("");
        for (const li of $("steps").children) if (li.dataset.status === "current") li.dataset.status = "";
      }
      $("outcome-card").hidden = false;
      $("outcome-text").textContent = OUTCOME_TEXT[state];
      $("restart").hidden = !RESTARTABLE.has(state);
      if (lastState !== state) $("outcome-title").focus(); // the news comes to the reader (and screen reader)
    } else {
      $("outcome-card").hidden = true;
    }
    lastState = state;
  }

  // --- pay -------------------------------------------------------------------------------------------
  async function preparePayment() {
    const link = $("pay-coinbase");
    link.setAttribute("aria-disabled", "true");
    link.removeAttribute("href");
    try {
      const payment = await postPatiently("/v1/payments", { program: config.program, wallet: account });
      if (payment.hosted_url) {
        link.href = payment.hosted_url;
        link.setAttribute("aria-disabled", "false");
      }
    } catch (err) {
      if (err.code === "terms_acceptance_required") $("sign").hidden = false; // sign the new terms, then pay
      showError(err.message);
    }
  }

  function chainStep(description) {
    const li = document.createElement("li");
    li.textContent = description;
    const state = document.createElement("span");
    state.className = "step-state";
    li.append(" — ", state);
    $("chain-steps").append(li);
    return (status, text, hash) => {
      li.dataset.status = status;
      state.textContent = text;
      if (hash) li.append(" ", hashNode(hash));
    };
  }

  async function waitReceipt(hash) {
    for (;;) {
      const receipt = await eth.request({ method: "eth_getTransactionReceipt", params: [hash] });
      if (receipt) return receipt;
      await sleep(1000);
    }
  }

  async function payOnchain(token) {
    if (paying) return;
    paying = true;
    let sent = false; // once paid, the buttons stay off: a second click would pay twice
    showError("");
    $("chain-steps").replaceChildren();
    for (const id of ["pay-usdc", "pay-usdt"]) $(id).disabled = true;
    try {
      await ensureChain();
      say(`Preparing the ${token} payment…`);
      const prepared = await postPatiently("/v1/claims/prepare", { program: config.program, wallet: account, token });
      if (BigInt(prepared.balance_minor) < BigInt(prepared.fee_minor)) {
        const have = Number(prepared.balance_minor) / 1e6;
        const need = Number(prepared.fee_minor) / 1e6;
        throw new Error(`Your wallet holds ${have} ${token}; the fee is ${need} ${token}. Add ${token} to this ` +
          "wallet, or pay with Coinbase.");
      }
      let last = null;
      for (const step of prepared.steps) {
        const mark = chainStep(step.description);
        mark("waiting", "confirm in your wallet");
        let hash;
        try {
          hash = await eth.request({
            method: "eth_sendTransaction",
            params: [{ from: account, to: step.to, data: step.data, value: "0x" + BigInt(step.value || 0).toString(16) }],
          });
        } catch (err) {
          mark("failed", "not sent");
          throw err;
        }
        mark("sent", "sent, waiting for the chain", hash);
        const receipt = await waitReceipt(hash);
        if (receipt.status !== "0x1") {
          mark("failed", "failed on chain");
          throw new Error("A transaction failed on chain; nothing was paid. Try again.");
        }
        mark("confirmed", "confirmed");
        last = hash;
      }
      say("Payment sent. Reporting it…");
      await postPatiently("/v1/claims/record", { program: config.program, wallet: account, tx_hash: last });
      say("Payment sent; the status above follows it.");
      sent = true;
    } catch (err) {
      say("");
      showError(err instanceof ApiFailure || err instanceof Error && !("code" in err) ? err.message : walletError(err));
    } finally {
      paying = false;
      for (const id of ["pay-usdc", "pay-usdt"]) $(id).disabled = sent;
    }
  }

  // --- done ------------------------------------------------------------------------------------------
  async function showDone(status) {
    const first = $("done-card").hidden;
    $("done-card").hidden = false;
    if (first) $("done-title").focus();
    $("pay-card").hidden = true;
    if (status.registered) $("token-id").textContent = `#${status.registered.token_id}`;
    try {
      const me = await api("GET", `/v1/me?program=${encodeURIComponent(config.program)}`);
      if (me.token_id !== null) $("token-id").textContent = `#${me.token_id}`;
      $("balance").textContent = me.sge_balance_minor === null
        ? "could not be read from the chain right now"
        : `${formatUnits(BigInt(me.sge_balance_minor), 18)} SGE`;
      if (me.affiliate_code) {
        const url = new URL(location.pathname, location.origin);
        url.searchParams.set("ref", me.affiliate_code);
        $("share-link").value = url.toString();
        $("share").hidden = false;
      }
    } catch (err) {
      $("balance").textContent = err.message;
    }
  }

  function formatUnits(value, decimals) {
    const base = 10n ** BigInt(decimals);
    const frac = (value % base).toString().padStart(decimals, "0").replace(/0+$/, "");
    return (value / base).toString() + (frac ? "." + frac : "");
  }

  // --- wiring ----------------------------------------------------------------------------------------
  const ref = new URLSearchParams(location.search).get("ref");
  if (ref) {
    $("referral").textContent = `Referred by ${ref}.`;
    $("referral").hidden = false;
  }
  $("connect").addEventListener("click", connect);
  $("sign").addEventListener("click", signAndRegister);
  $("pay-usdc").addEventListener("click", () => payOnchain("USDC"));
  $("pay-usdt").addEventListener("click", () => payOnchain("USDT"));
  $("restart").addEventListener("click", () => {
    $("outcome-card").hidden = true;
    $("sign").hidden = false;
    $("sign").focus();
  });
  $("copy-link").addEventListener("click", () => {
    $("share-link").select();
    if (navigator.clipboard) navigator.clipboard.writeText($("share-link").value).catch(() => {});
    say("Link copied.");
  });

  if (eth) {
    eth.on && eth.on("accountsChanged", (accounts) => {
      if (pollTimer) clearTimeout(pollTimer);
      pollTimer = null;
      lastState = null;
      for (const id of ["progress-card", "pay-card", "done-card", "outcome-card"]) $(id).hidden = true;
      setAccount(accounts[0] || null);
      $("sign").hidden = true;
      if (accounts[0]) resume().then((resumed) => { if (!resumed) $("sign").hidden = false; });
    });
    eth.on && eth.on("chainChanged", (chainId) => {
      if (chainId.toLowerCase() !== config.chainId) {
        showError(WALLET_ERRORS[4901]);
      } else {
        showError("");
      }
    });
    // Already connected (a reload, a reopened tab): no prompt, resume from the wallet session.
    eth.request({ method: "eth_accounts" }).then(async (accounts) => {
      if (!accounts || !accounts.length) return;
      setAccount(accounts[0]);
      $("connect").hidden = true;
      if (!(await resume())) $("sign").hidden = false;
    }).catch(() => {});
  } else {
    say("No browser wallet found: install a wallet extension (for example MetaMask) to register.");
  }
})();
