// Runs first in <body>: marks the page as able to run GOV.UK Frontend's JavaScript.
// A file, not an inline script, so the Content Security Policy can forbid inline script.
document.body.className += " js-enabled" + ("noModule" in HTMLScriptElement.prototype ? " govuk-frontend-supported" : "");
