// Passkeys (WebAuthn). A control is a button with data-passkey set to
// "login" (sign in with a passkey alone), "check" (give a passkey as the
// second factor or to confirm it's you) or "register" (add one), and
// data-options, the address that answers the ceremony's options. The
// browser's answer goes back in the hidden field "credential" of the form
// the button belongs to, posted like any other form: the server answers
// with a page. Without WebAuthn (an old browser, a page not served over
// https or from localhost) the buttons stay hidden.
"use strict";
(function () {
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function toBuffer(s) {
    var b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) {
      b64 += "=";
    }
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) {
      out[i] = bin.charCodeAt(i);
    }
    return out.buffer;
  }

  function toBase64url(buf) {
    var bytes = new Uint8Array(buf);
    var bin = "";
    for (var i = 0; i < bytes.length; i++) {
      bin += String.fromCharCode(bytes[i]);
    }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function decodeList(list) {
    (list || []).forEach(function (c) {
      c.id = toBuffer(c.id);
    });
  }

  // The server's JSON options, with the byte fields as the browser wants.
  function publicKey(options) {
    var pk = options.publicKey;
    pk.challenge = toBuffer(pk.challenge);
    if (pk.user) {
      pk.user.id = toBuffer(pk.user.id);
    }
    decodeList(pk.excludeCredentials);
    decodeList(pk.allowCredentials);
    return pk;
  }

  // The browser's answer as the JSON the server reads.
  function encode(cred) {
    var r = cred.response;
    var out = {
      id: cred.id,
      rawId: toBase64url(cred.rawId),
      type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      response: { clientDataJSON: toBase64url(r.clientDataJSON) }
    };
    if (cred.authenticatorAttachment) {
      out.authenticatorAttachment = cred.authenticatorAttachment;
    }
    if (r.attestationObject) {
      out.response.attestationObject = toBase64url(r.attestationObject);
      if (r.getTransports) {
        out.response.transports = r.getTransports();
      }
    } else {
      out.response.authenticatorData = toBase64url(r.authenticatorData);
      out.response.signature = toBase64url(r.signature);
      if (r.userHandle) {
        out.response.userHandle = toBase64url(r.userHandle);
      }
    }
    return JSON.stringify(out);
  }

  function showError(msg) {
    var el = document.getElementById("passkey-error");
    if (!el) {
      return;
    }
    el.textContent = msg;
    el.hidden = false;
  }

  // options asks the server for a ceremony's options. A page that needs
  // a recent sign-in first answers with a redirect: go there.
  function options(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: body || ""
    }).then(function (res) {
      if (res.redirected) {
        window.location.href = res.url;
        return new Promise(function () {});
      }
      return res.json().then(function (j) {
        if (!res.ok) {
          throw new Error(j.error || "Something went wrong. Please try again.");
        }
        return j;
      });
    });
  }

  function submit(form, cred) {
    form.querySelector("input[name=credential]").value = encode(cred);
    form.submit();
  }

  function failed(err) {
    if (!err) {
      return;
    }
    if (err.name === "NotAllowedError") {
      showError("The passkey prompt was closed or timed out. Try again, or sign in another way.");
    } else if (err.name === "InvalidStateError") {
      showError("This passkey is registered already.");
    } else if (err.name !== "AbortError") {
      showError(err.message || "Your browser could not use a passkey here.");
    }
  }

  // The sign-in page's autofill: while the page is open the browser
  // offers this site's passkeys in the email field's suggestions.
  var conditional = null;

  function startConditional(button) {
    var form = button.form;
    if (!PublicKeyCredential.isConditionalMediationAvailable || !document.querySelector("input[autocomplete~=webauthn]")) {
      return;
    }
    PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
      if (!ok) {
        return;
      }
      var abort = new AbortController();
      var done = options(button.dataset.options).then(function (o) {
        return navigator.credentials.get({ publicKey: publicKey(o), mediation: "conditional", signal: abort.signal });
      }).then(function (cred) {
        if (cred) {
          submit(form, cred);
        }
      }).catch(function () {});
      conditional = { abort: abort, done: done };
    });
  }

  function run(button) {
    var form = button.form;
    var kind = button.dataset.passkey;
    var body = "";
    if (kind === "register") {
      var name = form.querySelector("input[name=name]");
      body = "name=" + encodeURIComponent(name ? name.value : "");
    }
    var before = Promise.resolve();
    if (conditional) {
      conditional.abort.abort();
      before = conditional.done;
      conditional = null;
    }
    button.disabled = true;
    before.then(function () {
      return options(button.dataset.options, body);
    }).then(function (o) {
      var pk = publicKey(o);
      return kind === "register" ? navigator.credentials.create({ publicKey: pk }) : navigator.credentials.get({ publicKey: pk });
    }).then(function (cred) {
      submit(form, cred);
    }).catch(function (err) {
      button.disabled = false;
      failed(err);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var buttons = document.querySelectorAll("button[data-passkey]");
    Array.prototype.forEach.call(buttons, function (button) {
      button.hidden = false;
      var wrap = button.closest("[data-passkey-wrap]");
      if (wrap) {
        wrap.hidden = false;
      }
      button.addEventListener("click", function (ev) {
        ev.preventDefault();
        run(button);
      });
      if (button.dataset.passkey === "login") {
        startConditional(button);
      }
    });
  });
})();
