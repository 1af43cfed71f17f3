// FAQ suggestions while the user types the subject or the question (progressive enhancement:
// the form works without this script). No inline script anywhere: the page's CSP forbids it.
(function () {
  "use strict";
  var box = document.getElementById("faq");
  var results = document.getElementById("faq-results");
  var subject = document.getElementById("subject");
  var message = document.getElementById("message");
  if (!box || !results || !subject || !message || !window.fetch) { return; }
  var lang = box.getAttribute("data-lang") || "es";
  var timer = null;
  var last = "";
  var seq = 0;

  function render(items) {
    while (results.firstChild) { results.removeChild(results.firstChild); }
    var lead = document.createElement("p");
    lead.textContent = box.getAttribute(items.length ? "data-found" : "data-none");
    results.appendChild(lead);
    if (!items.length) { return; }
    var list = document.createElement("ul");
    items.forEach(function (item) {
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = item.url;
      a.textContent = item.title;
      a.className = "faq-suggestion";
      li.appendChild(a);
      list.appendChild(li);
    });
    results.appendChild(list);
  }

  function ask() {
    var q = (subject.value + " " + message.value).trim().slice(0, 500);
    if (q.length < 3 || q === last) { return; }
    last = q;
    var mine = ++seq;
    fetch("/faq/suggest?q=" + encodeURIComponent(q) + "&lang=" + encodeURIComponent(lang),
          { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (items) { if (mine === seq) { render(Array.isArray(items) ? items.slice(0, 3) : []); } })
      .catch(function () { /* suggestions are a help, never an obstacle */ });
  }

  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(ask, 300);
  }
  subject.addEventListener("input", later);
  message.addEventListener("input", later);

  // After a refused submission, take keyboard and screen-reader users to the list of errors.
  var status = document.getElementById("form-status");
  if (status && status.firstChild) {
    status.setAttribute("tabindex", "-1");
    status.focus();
  }
})();
