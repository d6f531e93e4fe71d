// Starts Swagger UI on the API documentation page. It lives in its own file because the
// Content-Security-Policy allows no inline script; the document's address comes from the page.
(function () {
  "use strict";
  var target = document.getElementById("swagger-ui");
  if (!target || typeof window.SwaggerUIBundle !== "function") { return; }
  window.SwaggerUIBundle({
    url: target.getAttribute("data-spec-url"),
    domNode: target,
    deepLinking: true,
    // No calls to the public validator service: the page talks to this site only.
    validatorUrl: null,
    // "Try it out" sends the token typed under "Authorize", never the console's cookie.
    withCredentials: false,
    requestInterceptor: function (request) {
      request.credentials = "omit";
      return request;
    }
  });
}());
