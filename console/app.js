// Beacon console: sign-in, navigation between the views the credential
// allows, and the background work (live stream, dashboard polling).
//
// Views: a tenant API key → Live, Dashboard, Plugins, Dead letters;
// the admin token → Dashboard, Schemas. Routes are `#/<view>[/<arg>]`.

import { identify, rememberCredential, session, storedCredential } from "./api.js";
import { Dashboard } from "./dashboard.js";
import { DeadLetterView } from "./dead_letters.js";
import { fill, h } from "./dom.js";
import { LiveView } from "./live.js";
import { PluginView } from "./plugins.js";
import { SchemaView } from "./schemas.js";
import { signInView } from "./signin.js";
import { liveStream } from "./stream.js";

const VIEWS = {
  tenant: [
    ["live", "Live stream", () => new LiveView()],
    ["dashboard", "Dashboard", () => new Dashboard()],
    ["plugins", "Plugins", () => new PluginView()],
    ["dead-letters", "Dead letters", () => new DeadLetterView()],
  ],
  admin: [
    ["dashboard", "Dashboard", () => new Dashboard()],
    ["schemas", "Schemas", () => new SchemaView()],
  ],
};

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const who = document.getElementById("who");
let views = null;
let shown = null;

function route() {
  const [name = "", ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  return { name, arg: rest.length ? decodeURIComponent(rest.join("/")) : undefined };
}

async function render() {
  if (!session.credential) return;
  const { name, arg } = route();
  const entry = views.get(name);
  if (!entry) {
    location.replace(`#/${views.keys().next().value}`);
    return;
  }
  for (const link of nav.querySelectorAll("a")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${entry.label} · Beacon console`;
  if (shown !== entry) {
    fill(main, entry.view.el);
    shown = entry;
  }
  await entry.view.show?.(arg);
}

async function signIn(credential) {
  const identity = await identify(credential);
  session.credential = credential;
  session.kind = identity.kind;
  session.tenant = identity.tenant;
  rememberCredential(credential);
  views = new Map(VIEWS[identity.kind].map(([name, label, make]) => [name, { label, view: make() }]));
  fill(nav, [...views.entries()].map(([name, { label }]) => h("a", { href: `#/${name}`, dataset: { view: name }, text: label })));
  nav.hidden = false;
  document.getElementById("who-label").textContent = identity.kind === "admin"
    ? "Admin"
    : `Tenant ${identity.tenant ?? "(key without read scope)"}`;
  who.hidden = false;
  views.get("dashboard")?.view.start();
  if (identity.kind === "tenant") liveStream.start({ types: "", subjects: "" });
  shown = null;
  await render();
}

function signOut(message = "") {
  liveStream.stop();
  for (const { view } of views?.values() ?? []) view.stop?.();
  views = null;
  shown = null;
  session.credential = null;
  session.kind = null;
  session.tenant = null;
  rememberCredential(null);
  nav.hidden = true;
  who.hidden = true;
  fill(nav);
  history.replaceState(null, "", location.pathname);
  document.title = "Beacon console";
  fill(main, signInView(signIn, message));
}

document.getElementById("sign-out").addEventListener("click", () => signOut());
window.addEventListener("hashchange", () => render());
window.addEventListener("resize", () => shown?.view.drawAll?.());

const saved = storedCredential();
if (saved) {
  signIn(saved).catch((error) => signOut(error.status === 401 ? "Your session ended: sign in again." : String(error.message)));
} else {
  signOut();
}
