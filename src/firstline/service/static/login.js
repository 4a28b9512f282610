// The login page: POST /v1/auth/login, then back to `next` (same-origin paths only).
import { api, clear, describeError, el, request, safeNext } from "/static/common.js";

const form = document.getElementById("login-form");
const email = document.getElementById("email");
const password = document.getElementById("password");
const error = document.getElementById("login-error");
const submit = document.getElementById("login-submit");
const already = document.getElementById("login-already");
const next = safeNext(new URLSearchParams(window.location.search).get("next") || "/");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
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
    error.textContent = err.status === 401 ? err.body.detail || "Wrong e-mail or password." : describeError(err);
    password.value = "";
    password.focus();
  } finally {
    submit.disabled = false;
    submit.textContent = "Sign in";
  }
});

// Already signed in (e.g. the back button): say so, with a way onward. A 401 here is expected and ignored.
request("/v1/me")
  .then(async (response) => {
    if (!response.ok) return;
    const me = await response.json();
    clear(already, `You are signed in as ${me.name || me.email}. `, el("a", { href: next, text: "Continue" }));
  })
  .catch(() => {});
