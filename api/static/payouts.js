// The payout approval page (api/payout_pages.py): the approver's browser wallet (EIP-1193) signs the
// batch's EIP-712 typed data, or a PayoutRejection with the typed reason; the form then posts the
// signature with its CSRF token. The server and the workflow decide whether it counts.
(() => {
  const typed = JSON.parse(document.getElementById("typed-data").textContent);
  const status = document.getElementById("wallet-status");

  function rejection(reason) {
    // Same domain as the approval; models/approval_policy.py rejection_typed_data builds the same.
    return {
      types: {
        EIP712Domain: typed.types.EIP712Domain,
        PayoutRejection: [
          { name: "batchId", type: "bytes32" },
          { name: "reason", type: "string" },
        ],
      },
      primaryType: "PayoutRejection",
      domain: typed.domain,
      message: { batchId: typed.message.batchId, reason },
    };
  }

  async function sign(data) {
    if (!window.ethereum) throw new Error("No browser wallet found: install one, or use `sge payouts approve`.");
    const [account] = await window.ethereum.request({ method: "eth_requestAccounts" });
    return window.ethereum.request({ method: "eth_signTypedData_v4", params: [account, JSON.stringify(data)] });
  }

  function wire(formId, build) {
    const form = document.getElementById(formId);
    form.addEventListener("submit", (event) => {
      if (form.elements.signature.value) return; // signed: let the browser post it
      event.preventDefault();
      const button = form.querySelector("button");
      if (button.disabled) return; // one wallet request at a time
      button.disabled = true;
      status.textContent = "Waiting for your wallet…";
      sign(build(form)).then(
        (signature) => {
          form.elements.signature.value = signature;
          status.textContent = "Signed; sending…";
          form.submit();
        },
        (err) => {
          button.disabled = false;
          status.textContent = `The wallet did not sign: ${err.message || err}${err.code ? ` (code ${err.code})` : ""}`;
        },
      );
    });
  }

  wire("approve-form", () => typed);
  wire("reject-form", (form) => {
    form.elements.reason.value = form.elements.reason.value.trim();
    return rejection(form.elements.reason.value);
  });
})();
