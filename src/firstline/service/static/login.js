// The login page: the company sign-in button (single sign-on) and/or the e-mail + password form, then back
// to `next` (same-origin paths only). GET /v1/auth/methods says which are on; a refused single sign-on comes
// back here as ?sso_error=<code>, shown with the sentence the server gives for that code.
import { api, clear, describeError, el, request, safeNext } from "/static/common.js";

const form = document.getElementById("login-form");
const email = document.getElementById("email");
const password = document.getElementById("password");
const error = document.getElementById("login-error");
const submit = document.getElementById("login-submit");
const already = document.getElementById("login-already");
const ssoError = document.getElementById("sso-error");
const params = new URLSearchParams(window.location.search);
const next = safeNext(params.get("next") || "/");
const ssoCode = params.get("sso_error");
let passwordOn = true;

const FALLBACK_SSO_ERROR = "The company sign-in did not complete, so you are not signed in. Try again.";

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!passwordOn) return;
  error.textContent = "";
  if (!email.value.trim() || !password.value) {
    error.textContent = "Enter your work e-mail and your password.";
    (email.value.trim() ? password : email).focus();
    return;
  }
  submit.disabled = true;
  submit.textContent = "Signing in…";
  try {
    await api("/v1/auth/login", { method: "POST", body: { email: email.value.trim(), password: password.value } });
    window.location.assign(next);
  } catch (err) {
    error.textContent =
      err.status === 401 || err.status === 403 ? err.body.detail || "Wrong e-mail or password." : describeError(err);
    password.value = "";
    password.focus();
  } finally {
    submit.disabled = false;
    submit.textContent = "Sign in";
  }
});

function showMethods(methods) {
  if (methods.sso) {
    const button = el("button", {
      type: "button",
      id: "sso-button",
      text: `Sign in with ${methods.sso.name}`,
      on: {
        click: () => {
          button.disabled = true;
          window.location.assign(`${methods.sso.login_url}?next=${encodeURIComponent(next)}`);
        },
      },
    });
    const parts = [button];
    if (methods.password) parts.push(el("p", { class: "hint", text: "Or sign in with your work e-mail and password:" }));
    ssoError.after(...parts);
    if (!methods.password) button.focus();
  }
  if (!methods.password) {
    passwordOn = false;
    for (const node of form.querySelectorAll("[data-password]")) node.remove();
    error.remove();
  }
  if (ssoCode) ssoError.textContent = (methods.sso_errors || {})[ssoCode] || FALLBACK_SSO_ERROR;
}

request("/v1/auth/methods")
  .then(async (response) => {
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    showMethods(await response.json());
  })
  .catch(() => {
    // Without the list the password form stays as it is; a refused single sign-on still says so.
    if (ssoCode) ssoError.textContent = FALLBACK_SSO_ERROR;
  });

// Already signed in (e.g. the back button): say so, with a way onward. A 401 here is expected and ignored.
request("/v1/me")
  .then(async (response) => {
    if (!response.ok) return;
    const me = await response.json();
    clear(already, `You are signed in as ${me.name || me.email}. `, el("a", { href: next, text: "Continue" }));
  })
  .catch(() => {});
