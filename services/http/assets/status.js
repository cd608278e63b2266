"use strict";
// Follows one subscription on its status page: polls the JSON API until the
// subscription is confirmed or failed. Everything it writes into the page
// goes through textContent, never markup.
const id = document.getElementById("subscription").dataset.id;
const steps = {
  pending: "pending — we are checking your address",
  matched: "matched — sending your confirmation",
  confirmed: "confirmed",
  failed: "failed — we could not email you",
  awaiting_opt_in: "waiting for you to confirm with the link in our email",
  withheld: "registered — no email sent: this address already received today's confirmation emails",
};

function showDelivery(d) {
  const box = document.getElementById("delivery");
  box.replaceChildren();
  const p = document.createElement("p");
  p.append("Delivery address:", document.createElement("br"));
  const strong = document.createElement("strong");
  strong.id = "delivery-address";
  const lines = [d.street, `${d.postal_code ?? ""} ${d.city ?? ""}`, d.country ?? ""];
  lines.forEach((line, i) => {
    if (i) strong.append(document.createElement("br"));
    strong.append(String(line ?? ""));
  });
  p.append(strong);
  box.append(p);
}

async function poll() {
  try {
    const r = await fetch("/api/v1/subscriptions/" + encodeURIComponent(id), { headers: { accept: "application/json" } });
    if (r.status === 404) {
      document.getElementById("status").textContent = "unknown";
      return;
    }
    const s = await r.json();
    const el = document.getElementById("status");
    el.textContent = s.status;
    el.dataset.status = s.status;
    el.title = steps[s.status] || s.status;
    if (s.delivery) showDelivery(s.delivery);
    if (s.mail && s.mail.kind === "sent") document.getElementById("mail").textContent = "Confirmation email sent.";
    if (s.mail && s.mail.kind === "withheld") {
      document.getElementById("mail").textContent =
        "Your subscription is registered, but no confirmation email was sent: this email address already received " +
        `${s.mail.limit} confirmation emails today.`;
    }
    if (s.status === "confirmed" || s.status === "failed" || s.status === "withheld") return;
  } catch (e) {
    // The API may be briefly unavailable; try again.
  }
  setTimeout(poll, 700);
}
poll();
