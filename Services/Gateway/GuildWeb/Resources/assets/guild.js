// Guild's only script, an enhancement: every page works the same without it.
// It remembers the viewer's time zone (so times are shown in it), copies share links and closes
// flash messages.
(function () {
  "use strict";
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("guild_tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "guild_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* no Intl: the default zone stays */ }
  // Copy buttons: hidden without the script, which shows them.
  Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var input = document.getElementById(button.getAttribute("data-copy"));
      if (!input) { return; }
      input.select();
      var done = function () { button.textContent = button.getAttribute("data-copied") || button.textContent; };
      if (navigator.clipboard) { navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); }); }
      else { document.execCommand("copy"); done(); }
    });
  });
  document.addEventListener("click", function (event) {
    var close = event.target.closest ? event.target.closest(".flash-close") : null;
    if (close) {
      event.preventDefault();
      close.parentNode.remove();
    }
  });
})();
