// Progressive enhancement only: every form works without this script.
// A submit button disables itself while its form is on its way, so a double click does not
// send the same request twice.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!(form instanceof HTMLFormElement) || event.defaultPrevented) return;
  var buttons = form.querySelectorAll("button[type=submit], input[type=submit]");
  window.setTimeout(function () {
    buttons.forEach(function (b) {
      b.disabled = true;
      if (b.dataset.busyLabel) b.textContent = b.dataset.busyLabel;
    });
  }, 0);
});
