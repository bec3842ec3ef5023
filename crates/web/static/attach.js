// Adds a file to a ticket through the API (the body is the file itself), then reloads the page.
(function () {
  "use strict";
  var form = document.getElementById("attach-form");
  if (!form) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = document.getElementById("attach-file").files[0];
    var error = document.getElementById("attach-error");
    if (!file) return;
    fetch("/api/v1/tickets/" + form.dataset.ticket + "/attachments?name=" + encodeURIComponent(file.name), {
      method: "POST",
      headers: { "Content-Type": file.type || "application/octet-stream", "X-CSRF-Token": form.dataset.csrf },
      body: file
    }).then(function (r) {
      if (r.ok) { location.assign(location.pathname + "?done=file%20added"); return null; }
      return r.json().then(function (p) { error.textContent = p.detail || ("HTTP " + r.status); });
    }).catch(function (e) { error.textContent = String(e); });
  });
})();
