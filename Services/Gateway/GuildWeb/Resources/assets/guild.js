// Guild's only script, an enhancement: every page works the same without it.
// It remembers the viewer's time zone (so times are shown in it) and closes flash messages.
(function () {
  "use strict";
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("guild_tz=" + encodeURIComponent(zone)) === -1) {
      document.cookie = "guild_tz=" + encodeURIComponent(zone) + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* no Intl: the default zone stays */ }
  document.addEventListener("click", function (event) {
    var close = event.target.closest ? event.target.closest(".flash-close") : null;
    if (close) {
      event.preventDefault();
      close.parentNode.remove();
    }
  });
})();
