// docs.js: starts the vendored Swagger UI on this server's /openapi.json.
// Rules: no request leaves this origin (validatorUrl off: the default validator is an
// online service), and "Try it out" is on from the start.
"use strict";
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
    validatorUrl: null,
    persistAuthorization: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
