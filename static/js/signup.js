// Progressive enhancement: the municipality list follows the prefecture without a reload.
// Without JavaScript the "show municipalities" button does the same through the server.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  var form = document.querySelector("form.signup-form");
  if (!form) { return; }
  var prefecture = form.querySelector("select[name=prefecture]");
  var municipality = form.querySelector("select[name=municipality]");
  if (!prefecture || !municipality) { return; }
  var template = form.getAttribute("data-municipalities-url");
  var placeholder = municipality.options.length ? municipality.options[0].text : "";

  prefecture.addEventListener("change", function () {
    var code = prefecture.value;
    while (municipality.options.length) { municipality.remove(0); }
    municipality.add(new Option(placeholder, ""));
    if (!code) { return; }
    fetch(template.replace("/00.json", "/" + encodeURIComponent(code) + ".json"), {
      headers: { "Accept": "application/json" }
    }).then(function (response) {
      if (!response.ok) { throw new Error(response.status); }
      return response.json();
    }).then(function (items) {
      items.forEach(function (item) { municipality.add(new Option(item.name, item.code)); });
    }).catch(function () {
      // Fall back to the server round trip.
      form.querySelector(".js-hide").classList.remove("js-hide");
    });
  });
})();
