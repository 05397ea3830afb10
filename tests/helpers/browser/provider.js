// The test wallet's EIP-1193 provider, injected by tests/helpers/browser before any page script runs.
// Every request goes to Python through the `__sgeWalletRequest` binding, which answers with
// {result} or {error: {code, message, data}}; errors reject with an Error carrying `code` (and `data`),
// as wallets' ProviderRpcError does. Python emits events with `window.ethereum._emit(name, value)`.
(() => {
  if (window.ethereum && window.ethereum.isSgeTestWallet) return;
  const listeners = new Map(); // event name -> Set of handlers

  class ProviderRpcError extends Error {
    constructor(code, message, data) {
      super(message);
      this.name = "ProviderRpcError";
      this.code = code;
      if (data !== undefined && data !== null) this.data = data;
    }
  }

  const provider = {
    isMetaMask: false,
    isSgeTestWallet: true,
    async request(args) {
      if (!args || typeof args !== "object" || typeof args.method !== "string" || !args.method) {
        throw new ProviderRpcError(-32600, "request() expects {method: string, params?: array | object}");
      }
      const params = args.params === undefined ? [] : args.params;
      const reply = await window.__sgeWalletRequest({ method: args.method, params });
      if (reply.error) throw new ProviderRpcError(reply.error.code, reply.error.message, reply.error.data);
      return reply.result;
    },
    on(event, handler) {
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(handler);
      return provider;
    },
    removeListener(event, handler) {
      listeners.get(event)?.delete(handler);
      return provider;
    },
    _emit(event, value) {
      for (const handler of [...(listeners.get(event) || [])]) {
        try {
          handler(value);
        } catch (err) {
          console.error(err); // a page's broken handler must not stop the others
        }
      }
    },
  };
  provider.off = provider.removeListener;
  Object.defineProperty(window, "ethereum", { value: provider, configurable: true, enumerable: true });

  // EIP-6963: announce now and whenever a page asks.
  const info = Object.freeze({
    uuid: "7e57e57e-5e5e-4e57-8e57-7e57e57e57e5",
    name: "SGE Test Wallet",
    icon: "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 1 1'/%3E",
    rdns: "test.sge.wallet",
  });
  const announce = () =>
    window.dispatchEvent(
      new CustomEvent("eip6963:announceProvider", { detail: Object.freeze({ info, provider }) }),
    );
  window.addEventListener("eip6963:requestProvider", announce);
  announce();
})();
