// The API's docs page (/api/v1/docs): Swagger UI, set up from the JSON the page
// carries in #swagger-settings (the CSP allows no inline script). "Authorize" takes
// a personal access token (sb_...) for "Try it out"; nothing is kept after a reload.
(function () {
  "use strict";
  const holder = document.getElementById("swagger-settings");
  if (!holder || typeof window.SwaggerUIBundle !== "function") return;
  const config = JSON.parse(holder.textContent);
  config.dom_id = "#swagger-ui";
  config.presets = [
    window.SwaggerUIBundle.presets.apis,
    window.SwaggerUIBundle.SwaggerUIStandalonePreset,
  ];
  window.scaleboardApiDocs = window.SwaggerUIBundle(config);
})();
