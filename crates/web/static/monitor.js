// The payments monitor, live: each `payment` event of the feed draws its row at the top (or
// redraws it where it is), and the totals are read again. Rows are drawn as the server draws
// them (templates/payments.html); text goes in as text, never as markup.
(function () {
  "use strict";
  const table = document.getElementById("payments");
  if (!table || !table.dataset.feed) return;
  const body = table.tBodies[0];
  const live = document.getElementById("live");

  function digits(currency) {
    try {
      return new Intl.NumberFormat("en", { style: "currency", currency }).resolvedOptions().maximumFractionDigits;
    } catch (e) {
      return 2;
    }
  }
  // Minor units as `12.34 EUR`, as the server writes money.
  function money(minor, currency) {
    const d = digits(currency);
    if (d === 0) return minor + " " + currency;
    const scale = Math.pow(10, d);
    const abs = Math.abs(minor);
    const sign = minor < 0 ? "-" : "";
    return sign + Math.floor(abs / scale) + "." + String(abs % scale).padStart(d, "0") + " " + currency;
  }
  function when(t) {
    return new Date(t).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }
  function cell(text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    return td;
  }
  function tag(status) {
    const span = document.createElement("span");
    span.className = "tag status-" + status;
    span.textContent = status;
    return span;
  }

  function draw(t) {
    const tr = document.createElement("tr");
    tr.id = "tx-" + t.id;
    tr.className = "fresh";
    const link = document.createElement("a");
    link.href = "/payments/" + t.id;
    link.textContent = when(t.occurred_at);
    const first = cell("");
    first.appendChild(link);
    const player = cell("", "mono");
    if (t.player_id) {
      const to = document.createElement("a");
      to.href = "/players/" + t.player_id;
      to.textContent = t.player_id;
      player.appendChild(to);
    }
    tr.append(first, cell(t.kind), player, cell(money(t.amount, t.currency)), cell(t.method || ""));
    const status = cell("");
    status.appendChild(tag(t.status));
    tr.append(status, cell(t.reference, "mono"));
    const old = document.getElementById(tr.id);
    if (old) {
      old.replaceWith(tr);
    } else {
      body.prepend(tr);
      const empty = document.getElementById("no-payments");
      if (empty) empty.remove();
    }
  }

  const totals = document.getElementById("payment-totals");
  let pending = null;
  // At most one read of the totals a second, however many payments arrive.
  function refreshTotals() {
    if (pending) return;
    pending = setTimeout(function () {
      fetch(table.dataset.totals, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          pending = null;
          if (!data) return;
          const rows = data.totals.map(function (t) {
            const tr = document.createElement("tr");
            const status = cell("");
            status.appendChild(tag(t.status));
            tr.append(status, cell(String(t.count)), cell(money(t.amount, t.currency)));
            return tr;
          });
          if (rows.length === 0) rows.push(Object.assign(document.createElement("tr"), { innerHTML: '<td colspan="3">No payments.</td>' }));
          totals.tBodies[0].replaceChildren.apply(totals.tBodies[0], rows);
        })
        .catch(function () { pending = null; });
    }, 1000);
  }

  const source = new EventSource(table.dataset.feed);
  source.addEventListener("open", function () {
    live.textContent = "Live: new and changed payments appear as they happen.";
    live.dataset.state = "live";
  });
  source.addEventListener("error", function () {
    live.textContent = "Reconnecting to the live feed…";
    live.dataset.state = "reconnecting";
  });
  source.addEventListener("payment", function (e) {
    draw(JSON.parse(e.data));
    refreshTotals();
  });
})();
