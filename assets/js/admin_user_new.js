// New user page: choosing "Single sign-on only" hides the initial password
// fields, which the server ignores for such an account anyway. Without
// JavaScript the fields simply stay visible.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var fields = document.getElementById("password-fields");
  var none = document.getElementById("mode-none");
  var withPassword = document.getElementById("mode-password");
  if (!fields || !none || !withPassword) {
    return;
  }
  function update() {
    fields.hidden = none.checked;
  }
  none.addEventListener("change", update);
  withPassword.addEventListener("change", update);
  update();
});
