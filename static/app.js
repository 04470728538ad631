// Progressive enhancement only: every page reads and every form works without this script.
(function () {
  "use strict";

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

  // Moments are written in UTC, which reads without script; shown here in the reader's own
  // time, in the same style ("2 Jan 2026 15:04"), with the UTC text kept on hover.
  var months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  function two(n) { return (n < 10 ? "0" : "") + n; }
  function zone(d) {
    try {
      var part = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
        .formatToParts(d).filter(function (p) { return p.type === "timeZoneName"; })[0];
      return part ? " " + part.value : "";
    } catch (e) {
      return "";
    }
  }
  function relative(d, now) {
    var minutes = Math.round((d - now) / 60000);
    if (minutes === 0) return "now";
    var n = Math.abs(minutes);
    var words = n === 1 ? "1 minute" : n + " minutes";
    return minutes > 0 ? "in " + words : words + " ago";
  }
  function show(el) {
    var d = new Date(el.getAttribute("datetime"));
    if (isNaN(d.getTime())) return;
    var style = el.dataset.style;
    var date = d.getDate() + " " + months[d.getMonth()] + " " + d.getFullYear();
    var time = two(d.getHours()) + ":" + two(d.getMinutes()) + zone(d);
    var text = style === "date" ? date : style === "time" ? time : date + " " + time;
    if (el.querySelector(".rel")) text = relative(d, new Date()) + ", " + text;
    el.title = el.getAttribute("title") || el.textContent.trim();
    el.textContent = text;
  }
  document.querySelectorAll("time[datetime][data-style]").forEach(function (el) {
    // A date alone is the day in UTC (a token's expiry): shown as it is, so that it never
    // moves to a neighbouring day.
    if (el.dataset.style !== "date") show(el);
  });

  // A form that came back with errors: focus its summary (or the first error), so that a
  // screen reader announces it first and the keyboard starts from it.
  var focus = document.querySelector("[data-focus]");
  if (focus) focus.focus();
})();
