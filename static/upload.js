// Upload progress for the team page's form. The form also works without this script (a
// plain multipart POST); with it, the same form is sent by XMLHttpRequest so the upload
// progress can be shown, and the server answers JSON: {"location"} or {"error"}.
(function () {
  "use strict";
  var form = document.getElementById("upload-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) {
    return;
  }
  var bar = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");
  var button = form.querySelector("button[type=submit]");

  function fail(text) {
    button.disabled = false;
    bar.hidden = true;
    status.className = "small error";
    status.textContent = text;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    button.disabled = true;
    bar.hidden = false;
    bar.value = 0;
    status.className = "small";
    status.textContent = "Uploading…";
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        bar.max = e.total;
        bar.value = e.loaded;
        status.textContent = "Uploading: " + Math.round((100 * e.loaded) / e.total) + " %";
      }
    });
    xhr.upload.addEventListener("load", function () {
      status.textContent = "Uploaded; validating the file…";
    });
    xhr.addEventListener("load", function () {
      var body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (ignored) {
        body = null;
      }
      if (xhr.status >= 200 && xhr.status < 300 && body && typeof body.location === "string" &&
          body.location.charAt(0) === "/" && body.location.charAt(1) !== "/") {
        window.location.assign(body.location);
        return;
      }
      fail(body && body.error ? body.error : "Upload failed (HTTP " + xhr.status + "); reload the page and try again.");
    });
    xhr.addEventListener("error", function () {
      fail("Network error: the upload did not complete.");
    });
    xhr.send(new FormData(form));
  });
})();
