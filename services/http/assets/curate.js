// The address team's pages: search-as-you-type over /api/v1/addresses, and
// review decisions posted to /api/v1/reviews/{id}/decision with the CSRF
// token, then on to the next item. Every value is written with
// textContent, never as markup.
(function () {
  "use strict";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : null;

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    return td;
  }

  function searchAsYouType(form) {
    var tbody = document.querySelector("#results tbody");
    var timer = null;
    var latest = 0;
    function run() {
      var params = new URLSearchParams();
      ["q", "ref", "postal_code", "city", "country", "status"].forEach(function (name) {
        var v = form.elements[name].value.trim();
        if (v) params.set(name, v);
      });
      // The list needs a word with a letter to search street names.
      if (params.has("q") && !/\p{L}/u.test(params.get("q"))) params.delete("q");
      var ticket = ++latest;
      fetch("/api/v1/addresses?" + params.toString(), { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (page) {
          if (!page || ticket !== latest) return;
          while (tbody.firstChild) tbody.removeChild(tbody.firstChild);
          page.items.forEach(function (a) {
            var tr = document.createElement("tr");
            tr.setAttribute("data-id", a.id);
            var name = document.createElement("td");
            var link = document.createElement("a");
            link.href = "/curate/addresses/" + encodeURIComponent(a.id);
            link.textContent = a.lines.street;
            name.appendChild(link);
            tr.appendChild(name);
            tr.appendChild(cell(a.ref));
            tr.appendChild(cell(a.lines.postal_code));
            tr.appendChild(cell(a.lines.city));
            tr.appendChild(cell(a.lines.country));
            var status = cell(a.status);
            status.className = "status " + a.status;
            tr.appendChild(status);
            tr.appendChild(cell(a.subscription_count));
            tbody.appendChild(tr);
          });
          document.body.setAttribute("data-searches", String(latest));
        });
    }
    form.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(run, 150);
    });
  }

  function decide(section, button) {
    var status = document.getElementById("decision-status");
    var body = { decision: button.getAttribute("data-decision") };
    if (body.decision === "merge") body.into = button.getAttribute("data-into");
    var buttons = section.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    status.textContent = "saving…";
    fetch("/api/v1/reviews/" + encodeURIComponent(section.getAttribute("data-id")) + "/decision", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf || "" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (answer) { return { ok: r.ok, answer: answer }; });
    }).then(function (result) {
      if (result.ok) {
        // The next item: the queue page shows the oldest open one other
        // than this, which the read model may not show decided yet.
        window.location.assign("/curate/reviews?done=" + encodeURIComponent(section.getAttribute("data-id")));
      } else {
        status.textContent = (result.answer.error && result.answer.error.message) || "refused";
        buttons.forEach(function (b) { b.disabled = false; });
      }
    }).catch(function () {
      status.textContent = "the server did not answer; try again";
      buttons.forEach(function (b) { b.disabled = false; });
    });
  }

  function reviewKeys(section) {
    section.querySelectorAll("button[data-decision]").forEach(function (b) {
      b.addEventListener("click", function () { decide(section, b); });
    });
    var keys = { "1": "merge-into-right", "2": "merge-into-left", "d": "distinct" };
    document.addEventListener("keydown", function (e) {
      if (e.altKey || e.ctrlKey || e.metaKey) return;
      var target = e.target && e.target.tagName;
      if (target === "INPUT" || target === "SELECT" || target === "TEXTAREA") return;
      var id = keys[e.key];
      if (!id) return;
      var button = document.getElementById(id);
      if (button && !button.disabled) {
        e.preventDefault();
        button.focus();
        decide(section, button);
      }
    });
    var first = document.getElementById("merge-into-right");
    if (first) first.focus();
  }

  var form = document.getElementById("search");
  if (form) searchAsYouType(form);
  var review = document.getElementById("review");
  if (review) reviewKeys(review);
})();
