// New user page: the initial password fields show only while "With an
// initial password" is chosen; the server ignores them for the other
// choices anyway. Without JavaScript the fields simply stay visible.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var fields = document.getElementById("password-fields");
  var withPassword = document.getElementById("mode-password");
  var modes = document.querySelectorAll('input[name="password_mode"]');
  if (!fields || !withPassword || modes.length === 0) {
    return;
  }
  function update() {
    fields.hidden = !withPassword.checked;
  }
  modes.forEach(function (m) {
    m.addEventListener("change", update);
  });
  update();
});
