// Deployment settings for the search page; the only file that differs between environments.
// The Azure deployment overwrites it with the search Function's URL.
//   apiBase    where the search API lives, without a trailing slash: "" means the same origin
//              as this page (the local server), else e.g. "https://<app>.azurewebsites.net".
//   timeoutMs  optional; how long to wait for one search before showing a timeout (default 10000).
window.SEARCH_CONFIG = { apiBase: "" };
