// Curation: keep a collection page's ingestion statuses current while anything is queued or running.
// Polls the page's JSON status endpoint every 2 seconds and updates each version's tag in place;
// when everything has finished it reloads once so links and errors are current. Without
// JavaScript the page offers a refresh link instead.
const root = document.getElementById("ingestion-status");

const TAGS = {
  ready: "govuk-tag--green",
  failed: "govuk-tag--red",
  queued: "govuk-tag--grey",
  parsing: "govuk-tag--blue",
  embedding: "govuk-tag--blue",
};

function render(row) {
  const tag = root.querySelector(`[data-version-status="${row.version}"]`);
  if (!tag) return false;
  let text = row.label;
  // The same words as templates/documents/_status.html: while parsing, the count is of scanned pages read by OCR.
  if (row.status === "parsing" && row.total) text = `Recognising text from scanned pages: ${row.done} of ${row.total}`;
  if (row.status === "embedding" && row.total) text += ` ${row.done} of ${row.total}`;
  tag.textContent = text;
  tag.classList.remove(...Object.values(TAGS));
  tag.classList.add(TAGS[row.status] || "govuk-tag--blue");
  return true;
}

async function poll() {
  try {
    const response = await fetch(root.dataset.statusUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) return;
    const data = await response.json();
    let missing = false;
    for (const row of data.versions) missing = !render(row) || missing;
    if (!data.busy || missing) {
      window.location.reload();
      return;
    }
  } catch (error) {
    // A dropped request is retried on the next tick.
  }
  window.setTimeout(poll, 2000);
}

if (root && root.dataset.busy === "true" && root.dataset.statusUrl) {
  const hint = document.getElementById("refresh-hint");
  if (hint) hint.setAttribute("aria-live", "polite");
  window.setTimeout(poll, 2000);
}
