// Sign in with a tenant API key (`bk_…`) or the admin token.

import { errorText, field, h } from "./dom.js";

/** The sign-in form; `onCredential(text)` resolves or throws for an error message. */
export function signInView(onCredential, message = "") {
  const input = h("input", {
    type: "password", name: "credential", id: "credential", required: true,
    autocomplete: "off", spellcheck: "false", placeholder: "bk_… or the admin token",
  });
  const error = h("p", { class: "notice error", role: "alert", id: "signin-error", hidden: !message, text: message });
  const button = h("button", { type: "submit", text: "Sign in" });
  const form = h("form", { class: "card signin", "aria-labelledby": "signin-title", onsubmit: async (e) => {
    e.preventDefault();
    button.disabled = true;
    error.hidden = true;
    try {
      await onCredential(input.value.trim());
    } catch (err) {
      error.textContent = err.status === 401
        ? "Not accepted: check the key or token (an unknown, revoked or expired key is refused)."
        : errorText(err);
      error.hidden = false;
      input.focus();
    } finally {
      button.disabled = false;
    }
  } },
  h("h1", { id: "signin-title", text: "Sign in to Beacon" }),
  h("p", { class: "muted", text: "A tenant API key shows that tenant's live stream, dashboard, plugins and dead letters. The admin token shows the node's dashboard and the event schemas." }),
  field("Tenant API key or admin token", input, "Kept in this browser tab only (sessionStorage) and sent to this server only."),
  error,
  h("div", { class: "actions" }, button));
  setTimeout(() => input.focus(), 0);
  return h("div", { class: "view signin-view" }, form);
}
