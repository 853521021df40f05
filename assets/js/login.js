// Login page. Without JavaScript every control still works: "Sign in with
// SSO" is a plain submit button that starts SSO directly, and the
// show-password buttons stay hidden.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Show-password toggles: a button with data-reveal="<input id>" switches
  // that field between type=password and type=text; aria-pressed says which.
  var reveals = document.querySelectorAll("button[data-reveal]");
  Array.prototype.forEach.call(reveals, function (button) {
    var input = document.getElementById(button.dataset.reveal);
    if (!input) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var show = input.type === "password";
      input.type = show ? "text" : "password";
      button.setAttribute("aria-pressed", show ? "true" : "false");
      input.focus();
    });
    // A password is never sent (or remembered by the browser) as plain text.
    if (input.form) {
      input.form.addEventListener("submit", function () {
        input.type = "password";
        button.setAttribute("aria-pressed", "false");
      });
    }
  });

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
  var label = document.getElementById("sso-toggle-label") || toggle;
  var forgot = document.getElementById("forgot");
  var ssoSubmit = form.dataset.ssoSubmit || "Continue with SSO";
  var ssoToggle = form.dataset.ssoToggle || "Sign in with SSO";

  function setMode(sso) {
    isSSO.value = sso ? "true" : "false";
    form.dataset.mode = sso ? "sso" : "password";
    field.hidden = sso;
    if (forgot) {
      forgot.hidden = sso;
    }
    if (sso) {
      password.removeAttribute("required");
    } else {
      password.setAttribute("required", "");
    }
    submit.textContent = sso ? ssoSubmit : "Sign in";
    label.textContent = sso ? "Back to password login" : ssoToggle;
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
