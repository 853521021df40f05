// Login page: "Sign in with SSO" toggles the form between password and SSO
// modes. Without JavaScript the toggle is a plain submit button that starts
// SSO directly, so the page works either way.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("login-form");
  var toggle = document.getElementById("sso-toggle");
  if (!form || !toggle) {
    return;
  }
  var isSSO = document.getElementById("is_sso");
  var field = document.getElementById("password-field");
  var password = document.getElementById("password");
  var submit = document.getElementById("submit");
  var email = document.getElementById("email");

  function setMode(sso) {
    isSSO.value = sso ? "true" : "false";
    form.dataset.mode = sso ? "sso" : "password";
    field.hidden = sso;
    if (sso) {
      password.removeAttribute("required");
    } else {
      password.setAttribute("required", "");
    }
    submit.textContent = sso ? "Continue with SSO" : "Sign in";
    toggle.textContent = sso ? "Back to password login" : "Sign in with SSO";
    toggle.setAttribute("aria-pressed", sso ? "true" : "false");
  }

  toggle.addEventListener("click", function (event) {
    event.preventDefault();
    var sso = isSSO.value !== "true";
    setMode(sso);
    (sso || !email.value ? email : password).focus();
  });
  setMode(isSSO.value === "true");
});
