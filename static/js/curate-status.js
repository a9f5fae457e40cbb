// Curation: keep a collection page's ingestion statuses current while anything is queued or running.
// Polls the page's JSON status endpoint every 2 seconds and updates each version's tag (and error) in
// place. The page is never reloaded by itself: that would throw away what the curator is typing or
// choosing and send focus back to the top. One line under the table says how far ingestion has got;
// it is a live region, so screen readers hear it each time a document finishes (not each tick), and
// once everything has finished it offers a refresh for the new current versions. Without JavaScript
// the page offers a refresh link instead.
const root = document.getElementById("ingestion-status");

const TAGS = {
  ready: "govuk-tag--green",
  failed: "govuk-tag--red",
  queued: "govuk-tag--grey",
  parsing: "govuk-tag--blue",
  embedding: "govuk-tag--blue",
};
const BUSY = ["queued", "parsing", "embedding"];

const watched = new Set(); // versions seen queued or running since the page opened
let hint = null;

function render(row) {
  const tag = root.querySelector(`[data-version-status="${row.version}"]`);
  if (!tag) return false;
  let text = row.label;
  // The same words as templates/documents/_status.html: while parsing, the count is of scanned pages read by OCR.
  if (row.status === "parsing" && row.total) text = `Recognising text from scanned pages: ${row.done} of ${row.total}`;
  if (row.status === "embedding" && row.total) text += ` ${row.done} of ${row.total}`;
  tag.textContent = text;
  tag.dataset.status = row.status;
  tag.classList.remove(...Object.values(TAGS));
  tag.classList.add(TAGS[row.status] || "govuk-tag--blue");
  let error = root.querySelector(`[data-version-error="${row.version}"]`);
  if (row.error && !error) {
    error = document.createElement("p");
    error.className = "govuk-error-message";
    error.dataset.versionError = String(row.version);
    tag.after(error);
  }
  if (error) {
    if (row.error) error.textContent = row.error;
    else error.remove();
  }
  return true;
}

function say(text, link) {
  // Only when it changes: a live region re-read every tick would drown out everything else.
  const said = text + (link ? " " + link.text : "");
  if (hint.dataset.said === said) return;
  hint.dataset.said = said;
  hint.replaceChildren(document.createTextNode(text));
  if (link) {
    const a = document.createElement("a");
    a.className = "govuk-link";
    a.href = link.href;
    a.textContent = link.text;
    hint.append(" ", a, ".");
  }
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function summarise(rows, missing) {
  const now = new Map(rows.map((row) => [row.version, row.status]));
  for (const [version, status] of now) if (BUSY.includes(status)) watched.add(version);
  const finished = [...watched].filter((v) => now.has(v) && !BUSY.includes(now.get(v)));
  const busy = rows.some((row) => BUSY.includes(row.status));
  if (busy) {
    say(`Ingestion is in progress: ${finished.length} of ${plural(watched.size, "document")} finished.`);
    return;
  }
  const failed = finished.filter((v) => now.get(v) === "failed").length;
  const parts = [`${finished.length - failed} ready`];
  if (failed) parts.push(`${failed} failed`);
  const refresh = missing ? "Refresh the page to see the current versions and new uploads" : "Refresh the page to see the current versions";
  say(`Ingestion finished: ${parts.join(", ")}.`, { text: refresh, href: window.location.pathname });
}

async function poll() {
  try {
    const response = await fetch(root.dataset.statusUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    // Signed out (sent to the sign-in page) or refused: nothing more to show here.
    if (response.redirected || (response.status >= 400 && response.status < 500)) return;
    if (response.ok) {
      const data = await response.json();
      let missing = false;
      for (const row of data.versions) missing = !render(row) || missing;
      summarise(data.versions, missing);
      if (!data.busy) return;
    }
  } catch (error) {
    // A dropped request is retried on the next tick.
  }
  window.setTimeout(poll, 2000);
}

if (root && root.dataset.busy === "true" && root.dataset.statusUrl) {
  hint = document.getElementById("refresh-hint");
  if (hint) {
    for (const tag of root.querySelectorAll("[data-version-status]")) {
      if (BUSY.includes(tag.dataset.status)) watched.add(Number(tag.dataset.versionStatus));
    }
    // A live region before its words change, so the first change is read out too.
    hint.setAttribute("role", "status");
    window.setTimeout(poll, 2000);
  }
}
