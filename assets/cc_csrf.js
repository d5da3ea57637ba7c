/* CSRF token for the page's own fetch() calls (dashboard/csrf.py): the server hands the session's token out in the
 * cookie _csrf_token; a state-changing request sends it back as X-CSRFToken (Dash's renderer does the same for
 * callbacks). A page on another site can read neither. */
(function () {
    "use strict";
    window.ccCsrfHeaders = function (extra) {
        var m = document.cookie.match(/(?:^|;\s*)_csrf_token=([^;]*)/);
        var headers = Object.assign({}, extra || {});
        if (m) { headers["X-CSRFToken"] = decodeURIComponent(m[1]); }
        return headers;
    };
}());
