// Humphrey chat: one websocket per page (docs/websocket-protocol.md).
// Streamed text is shown as plain text while it arrives; when the answer is done it is replaced by
// the sanitised HTML the server sends. Screen readers are told briefly that it is done (how many
// sources, how many sentences to check), never the whole answer: a live region cannot be paused or
// re-read, so the answer itself is read from its heading like the rest of the page.

import { CharacterCount, initAll } from "../vendor/govuk/govuk-frontend.min.js";

// Over 500 lines on purpose: one page's socket, its answers as they stream and what a screen reader is
// told of them share the state of the answer being written; split, each part would reach into the others.

const root = document.getElementById("chat");

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function safeHref(url) {
  // Only same-site paths: a source link can never point anywhere else.
  return typeof url === "string" && url.startsWith("/") && !url.startsWith("//") ? url : null;
}

if (root) {
  const log = document.getElementById("chat-log");
  const form = document.getElementById("ask-form");
  const textarea = document.getElementById("question");
  const askButton = document.getElementById("ask-button");
  const stopButton = document.getElementById("stop-button");
  const announcer = document.getElementById("chat-announcer");
  const status = document.getElementById("chat-status");
  const questionGroup = document.getElementById("question-group");
  const questionError = document.getElementById("question-error");
  const questionErrorText = document.getElementById("question-error-text");
  const feedbackTemplate = document.getElementById("feedback-template");
  // The longest question the server takes (HUMPHREY_CHAT_MAX_QUESTION_CHARS); the character count shows it.
  const maxChars = Number(questionGroup.dataset.maxlength) || Infinity;
  let conversation = root.dataset.conversation ? Number(root.dataset.conversation) : null;
  let socket = null;
  const SLOW_START_MS = 8000;
  const SLOW_START =
    "Writing an answer… This is taking longer than usual. If the language model does not start soon, " +
    "Humphrey will quote the guidance instead.";
  let current = null; // the answer being written: {box, heading, body, progress, streaming, text, sources}
  let retries = 0;
  let signedOut = false;

  function announce(text) {
    announcer.textContent = "";
    window.setTimeout(() => { announcer.textContent = text; }, 50);
  }

  // #chat-status is in the page, empty, from the start: a live region that appears together with its
  // text is not reliably read out, one whose content changes is.
  function showStatus(text, link) {
    status.replaceChildren();
    if (!text) return;
    const p = status.appendChild(el("p", "govuk-body", text));
    if (link) {
      p.appendChild(document.createTextNode(" "));
      p.appendChild(el("a", "govuk-link", link.text)).href = link.href;
    }
  }

  function signInLink() {
    const next = encodeURIComponent(window.location.pathname);
    return { text: "Sign in again", href: root.dataset.loginUrl + "?next=" + next };
  }

  const WAIT = "Wait for this answer to finish, or stop it, before you ask another question";
  const SIGNED_OUT = "You have been signed out. Sign in again to keep asking questions.";
  const GIVEN_BACK = "Your question is back in the question box.";

  function setBusy(busy) {
    // The answer it asked to wait for is over: the error no longer holds.
    if (!busy && questionErrorText.textContent === WAIT) showQuestionError("");
    // Not disabled: a disabled button drops keyboard focus to the top of the page. Pressed while an
    // answer is written, Ask says why it waits instead.
    askButton.setAttribute("aria-disabled", busy ? "true" : "false");
    stopButton.classList.toggle("govuk-!-display-none", !busy);
  }

  // Where focus was when an answer ended: on Ask or Stop (Stop is about to be hidden), or already lost.
  // Anywhere else (typing the next question, reading the sources) the person's place is kept.
  function focusWillBeLost() {
    const active = document.activeElement;
    return !active || active === document.body || active === askButton || active === stopButton;
  }

  function focusHeading(heading) {
    // As GOV.UK's skip link does: focusable by script only, and only until focus moves on.
    heading.setAttribute("tabindex", "-1");
    heading.addEventListener("blur", () => heading.removeAttribute("tabindex"), { once: true });
    heading.focus();
  }

  function questionProblem(text) {
    // Said as well as shown: the box already has focus, so its new description would not be read.
    showQuestionError(text);
    announce("Error: " + text);
  }

  function showQuestionError(text) {
    questionErrorText.textContent = text || "";
    questionError.classList.toggle("govuk-!-display-none", !text);
    questionGroup.classList.toggle("govuk-form-group--error", !!text);
    textarea.classList.toggle("govuk-textarea--error", !!text);
    // Read out with the box, as GOV.UK error messages are, while it is shown.
    const described = textarea.getAttribute("aria-describedby").split(" ").filter((id) => id && id !== questionError.id);
    if (text) described.unshift(questionError.id);
    textarea.setAttribute("aria-describedby", described.join(" "));
  }

  function tooLong(text) {
    return text.length > maxChars;
  }

  function countRefresh() {
    // GOV.UK's character count listens for keys, not for a script changing the box: tell it.
    textarea.dispatchEvent(new KeyboardEvent("keyup"));
  }

  // --- The question being typed, kept until it is stored ---------------------------------------------
  // Typed text outlives the page: signed out (here or in another tab) and signed in again, the
  // conversation opens with it back in the box. Kept only in this tab's sessionStorage (gone when the
  // tab closes), under this person (``draftScope``: another signing in here never sees it) and this
  // conversation; removed once a question sent from the box is stored (``accepted``). Only what is
  // typed is kept: a question the page puts back in the box is already stored (a reopened answer
  // offers "Ask again") or, refused before it was stored, still kept as it was typed.
  const DRAFT = "humphrey.question." + (root.dataset.draftScope || "") + ".";
  let sentDraft = null; // {key, text}: what the box held when a question was sent, until it is stored

  function draftKey() {
    return DRAFT + (conversation || "new");
  }

  function draftSave() {
    try {
      if (textarea.value.trim()) window.sessionStorage.setItem(draftKey(), textarea.value);
      else window.sessionStorage.removeItem(draftKey());
    } catch (e) {
      // Storage refused (full, or switched off): the box still holds the text.
    }
  }

  // The question sent is stored: its draft goes, unless it has been typed over since; what the box
  // holds now is kept under the conversation it now belongs to.
  function draftSent() {
    if (!sentDraft) return;
    try {
      if (window.sessionStorage.getItem(sentDraft.key) === sentDraft.text || sentDraft.key !== draftKey()) {
        window.sessionStorage.removeItem(sentDraft.key);
      }
    } catch (e) {
      // As above.
    }
    sentDraft = null;
    draftSave();
  }

  function draftRestore() {
    let kept = null;
    try {
      kept = window.sessionStorage.getItem(draftKey());
    } catch (e) {
      return;
    }
    if (kept && !textarea.value.trim()) {
      textarea.value = kept;
      countRefresh();
    }
  }

  function progressEnd(answer) {
    if (answer && answer.progress) {
      answer.progress.remove();
      answer.progress = null;
    }
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + root.dataset.wsPath);
    socket.addEventListener("open", () => { retries = 0; showStatus(""); });
    socket.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      handle(frame);
    });
    socket.addEventListener("close", (event) => {
      if (event.code === 4401) {
        signOut();
        return;
      }
      if (event.code === 4429) {
        // Tried again, quietly, until one of the others closes; the person is told why meanwhile.
        showStatus("You have too many Humphrey chat pages open. Close one and this page will connect.");
      }
      if (current) {
        const answer = current;
        current = null;
        const refocus = focusWillBeLost();
        progressEnd(answer);
        setBusy(false);
        if (answer.box.dataset.answer) {
          // The answer keeps being written on the server: it is shown here when it is stored.
          answer.box.id = "answer-" + answer.box.dataset.answer;
          answer.box.dataset.status = "streaming";
          showStatus("The connection dropped. Your answer is still being written: it will appear here when it is ready.");
          watchUnfinished();
        } else {
          answer.body.removeAttribute("aria-busy");
          showStatus("The connection dropped before your question was confirmed. Reload the page in a moment to see whether it was answered.");
        }
        if (refocus) focusHeading(answer.heading);
      }
      retries += 1;
      window.setTimeout(connect, Math.min(10000, 500 * 2 ** retries));
    });
  }

  function signOut() {
    signedOut = true;
    const answer = current;
    current = null;
    const refocus = focusWillBeLost();
    setBusy(false);
    if (answer && !answer.box.dataset.answer) {
      giveBack(answer);  // never stored: kept for when they have signed in again
    } else if (answer) {
      // Nothing more arrives on this page: the box must not say it is still answering.
      progressEnd(answer);
      answer.body.removeAttribute("aria-busy");
      answer.box.dataset.status = "signed-out";
      answer.heading.textContent = answer.text ? "Humphrey answered" : "Not answered";
      const note = answer.text
        ? "You have been signed out, so the rest of this answer cannot be shown here. Sign in again to see it."
        : "Not answered: you have been signed out.";
      answer.box.insertBefore(el("div", "govuk-inset-text govuk-!-margin-top-1", note), answer.body);
      if (refocus) focusHeading(answer.heading);
    }
    showStatus(SIGNED_OUT, signInLink());
  }

  let lastQuestion = "";

  function conversationTitle(text) {
    // As the server titles a conversation (assistant.intake.conversation_title).
    text = text.split(/\s+/).filter(Boolean).join(" ");
    if (text.length <= 80) return text;
    const cut = text.slice(0, 79);
    return (cut.includes(" ") ? cut.slice(0, cut.lastIndexOf(" ")) : cut) + "…";
  }

  function addToConversationList(url, title) {
    let list = document.getElementById("conversation-list");
    if (!list) {
      const empty = document.getElementById("conversation-list-empty");
      list = el("ul", "govuk-list govuk-body-s");
      list.id = "conversation-list";
      if (empty) empty.replaceWith(list);
      else return;
    }
    for (const link of list.querySelectorAll("[aria-current]")) link.removeAttribute("aria-current");
    const li = el("li");
    const a = el("a", "govuk-link", title);
    a.href = url;
    a.setAttribute("aria-current", "page");
    li.appendChild(a);
    list.prepend(li);
  }

  function addQuestion(text) {
    lastQuestion = text;
    const intro = document.getElementById("chat-intro");
    if (intro) intro.remove();
    const box = el("div", "humphrey-question");
    box.appendChild(el("h2", "govuk-heading-s govuk-!-margin-bottom-1", "You asked"));
    // Its lines kept, as the server shows them on a reopened conversation ("Ask again" gives them back).
    const asked = box.appendChild(el("p", "govuk-body humphrey-question__text"));
    text.split("\n").forEach((line, i) => {
      if (i) asked.appendChild(el("br"));
      asked.appendChild(document.createTextNode(line));
    });
    log.appendChild(box);
    return box;
  }

  function startAnswer() {
    const box = el("div", "humphrey-answer");
    // Not "answered" before there is an answer: as the server words an answer still being written.
    const heading = box.appendChild(el("h2", "govuk-heading-s govuk-!-margin-bottom-1 humphrey-answer__heading", "Humphrey is answering"));
    const body = el("div", "humphrey-answer__body govuk-body");
    body.setAttribute("aria-busy", "true");
    // Seen until the first words arrive: a slow model otherwise leaves an empty box for many seconds.
    const progress = el("p", "humphrey-answer__progress", "Searching the guidance…");
    body.appendChild(progress);
    const streaming = el("p", "humphrey-streaming", "");
    body.appendChild(streaming);
    box.appendChild(body);
    log.appendChild(box);
    current = { box, heading, body, progress, streaming, text: "", sources: [] };
    return current;
  }

  // Each source is named by its document and where in it the passage is ("Leave policy, 2 Carry over"),
  // as the server words it (each place said once), so that a document cited three times gives three
  // links that say which is which; one named as another is also says which source it is, to screen
  // readers. Humphrey's own upload number (``version``) is not shown: readers took it for the
  // document's own version ("Version 3.2").
  function sourcesList(items) {
    const list = el("ol", "govuk-list govuk-list--number govuk-body-s humphrey-sources");
    const name = (s) => s.document_title + (typeof s.where === "string" ? s.where : "");
    const names = items.map(name);
    // By number, as a reopened conversation lists them ([1] first), whatever order they were cited in.
    for (const s of [...items].sort((a, b) => a.n - b.n)) {
      const li = el("li");
      li.value = s.n;
      const href = safeHref(s.url);
      const named = li.appendChild(el(href ? "a" : "span", href ? "govuk-link" : "", name(s)));
      if (href) named.href = href;
      if (names.filter((n) => n === name(s)).length > 1) {
        named.appendChild(el("span", "govuk-visually-hidden", " (source " + s.n + ")"));
      }
      // How fresh the guidance is ("due for review since 1 March 2026"), as the server words it.
      if (s.review_status) li.dataset.reviewStatus = s.review_status;
      if (s.review_note) {
        li.appendChild(document.createTextNode(" "));
        li.appendChild(el("strong", "govuk-tag govuk-tag--yellow humphrey-source__review", s.review_note));
      }
      if (s.superseded === true) {
        li.dataset.superseded = "true";
        li.appendChild(document.createTextNode(" "));
        li.appendChild(el("strong", "govuk-tag govuk-tag--grey humphrey-source__superseded", "changed since"));
      }
      list.appendChild(li);
    }
    return list;
  }

  // The security markings, lowest first (documents.models.Marking), from the page.
  const markings = (root.dataset.markings || "").split(" ").filter(Boolean);

  // What an answer is marked: the highest marking of the passages it cites, as the server works it out
  // for a reopened conversation (assistant.views.sources_label); none for a "not covered" reply. A
  // marking this page does not know counts as the highest.
  function answerMarking(status, citations) {
    if (status === "no_answer") return "";
    const rank = (m) => (markings.includes(m) ? markings.indexOf(m) : markings.length);
    let highest = "";
    for (const c of citations || []) {
      if (typeof c.marking === "string" && c.marking && (!highest || rank(c.marking) > rank(highest))) highest = c.marking;
    }
    return highest;
  }

  // Shown at the top of the answer, under its heading, as _answer.html shows it.
  function showMarking(answer, marking) {
    if (!marking) return;
    answer.box.dataset.marking = marking;
    const p = el("p", "govuk-body-s govuk-!-margin-bottom-2 humphrey-answer__marking");
    const tag = p.appendChild(el("strong", "govuk-tag " + (marking === markings[0] ? "govuk-tag--grey" : "govuk-tag--orange") + " humphrey-marking"));
    tag.appendChild(el("span", "govuk-visually-hidden", "Security marking: "));
    tag.appendChild(document.createTextNode(marking));
    answer.heading.after(p);
  }

  // As _answer.html offers them: "Copy answer" for an answer (not for a "not covered" reply, which is
  // Humphrey's own words); for one that did not finish, "Ask again" for its question (``asked``, the
  // question's box), as a fragment is not worth copying.
  function addButtons(box, unfinished, asked, copyable = true) {
    const actions = box.appendChild(el("div", "govuk-button-group humphrey-answer__actions"));
    if (unfinished && !(asked && asked.id)) return;
    if (!unfinished && !copyable) return;
    const [name, label] = unfinished ? ["js-ask-again", "Ask again"] : ["js-copy", "Copy answer"];
    const button = actions.appendChild(el("button", "govuk-button govuk-button--secondary govuk-!-margin-bottom-4 " + name, label));
    button.type = "button";
    if (unfinished) button.dataset.question = asked.id;
    else button.dataset.target = box.id;
  }

  // The buttons, and the feedback form for an answer with words to judge (none for "Not answered").
  function addActions(box, answerId, unfinished, asked, copyable, written) {
    addButtons(box, unfinished, asked, copyable);
    if (!written) return;
    const fragment = feedbackTemplate.content.cloneNode(true);
    const feedback = fragment.querySelector("form");
    feedback.action = root.dataset.feedbackUrl.replace("/0/", "/" + answerId + "/");
    const renamed = (id) => id.replace(/-0(?=$|-)/, "-" + answerId);
    for (const node of feedback.querySelectorAll("[id]")) {
      const old = node.id;
      node.id = renamed(old);
      const label = feedback.querySelector('label[for="' + old + '"]');
      if (label) label.htmlFor = node.id;
    }
    for (const node of feedback.querySelectorAll("[aria-describedby]")) {
      node.setAttribute("aria-describedby", node.getAttribute("aria-describedby").split(" ").map(renamed).join(" "));
    }
    box.appendChild(feedback);
    // The page's components were started before this form existed.
    for (const count of feedback.querySelectorAll('[data-module="govuk-character-count"]')) new CharacterCount(count);
  }

  function plural(n, one, many) {
    return n === 1 ? one : n + " " + many;
  }

  // What is said when an answer ends: its outcome and what to look at, in a sentence or two.
  function answerSummary(box, status, problem) {
    const parts = [];
    if (status === "stopped") parts.push("Answer stopped.");
    else if (status === "no_answer") parts.push("Humphrey could not answer this from the guidance you can search.");
    else if (problem) parts.push(problem);
    else parts.push("Humphrey answered.");
    const sources = box.querySelectorAll(".humphrey-sources li").length;
    if (sources) parts.push(plural(sources, "1 source.", "sources."));
    const marked = box.querySelectorAll(".humphrey-answer__body .humphrey-check").length;
    if (marked) parts.push(plural(marked, "1 sentence is", "sentences are") + " marked for checking.");
    return parts.join(" ");
  }

  // An answer that did not finish (``stopped`` or ``stalled``, or ``failed`` with its words kept), worded
  // as the server words it on a reopened conversation (_answer.html, from the notes chat.html gives both):
  // why, whether what was written is shown, and its code in small print for the service team.
  function unfinishedNote(status, written, code) {
    const notes = root.dataset;
    const why = status === "stopped" ? notes.noteStopped : status === "stalled" ? notes.noteStalled : notes.noteFailed;
    const note = el("div", "govuk-inset-text govuk-!-margin-top-1 humphrey-answer__note", why + (written ? " " + notes.notePartial : ""));
    if (code) {
      note.appendChild(document.createTextNode(" "));
      note.appendChild(el("span", "govuk-body-s humphrey-answer__code", "(code: " + code + ")"));
    }
    return note;
  }

  // What a note says, without its code (small print, for the service team, not read out).
  function noteSaid(note) {
    const copy = note.cloneNode(true);
    for (const code of copy.querySelectorAll(".humphrey-answer__code")) code.remove();
    return copy.textContent.trim();
  }

  // An answer that did not finish gives its question back, as a refused one does, unless the person has
  // typed another: they can ask it again as it is, or change it first. Says whether it did.
  function questionBack(answer) {
    if (textarea.value.trim() || !answer.asked) return false;
    textarea.value = answer.asked;
    countRefresh();
    return true;
  }

  // Each [n] is named by the document it cites ("Source [1] (Leave policy)"), as the server names them
  // on a reopened conversation, so two in a row do not sound the same; one already named is left be.
  function nameCitations(body, citations) {
    const titles = new Map((citations || []).map((c) => [String(c.n), c.document_title]));
    for (const link of body.querySelectorAll("a.humphrey-citation")) {
      const title = titles.get(link.dataset.n);
      if (!title || link.querySelector(".humphrey-citation__title")) continue;
      link.appendChild(el("span", "govuk-visually-hidden humphrey-citation__title", " (" + title + ")"));
    }
  }

  function finish(frame) {
    const answer = current;
    current = null;
    const refocus = focusWillBeLost();
    setBusy(false);
    if (!answer) return;
    const unfinished = frame.status === "stopped" || frame.status === "stalled";
    answer.heading.textContent = unfinished
      ? frame.text ? "Answer not finished" : "Not answered"
      : frame.status === "no_answer" ? "Not covered by the guidance you can search" : "Humphrey answered";
    answer.box.id = "answer-" + frame.message;
    answer.box.dataset.answer = frame.message;
    answer.box.dataset.status = frame.status;
    answer.body.removeAttribute("aria-busy");
    // Server-rendered, sanitised (Markdown without raw HTML, then nh3): safe to insert.
    answer.body.innerHTML = frame.html;
    nameCitations(answer.body, frame.citations);
    showMarking(answer, answerMarking(frame.status, frame.citations));
    let problem = "";
    let givenBack = false;
    if (unfinished) {
      const note = unfinishedNote(frame.status, !!frame.text, frame.error && frame.error.code);
      answer.box.insertBefore(note, answer.body);
      if (frame.status === "stalled") problem = answer.heading.textContent + ". " + noteSaid(note);
      givenBack = questionBack(answer);
    }
    if (frame.checks_summary) {
      answer.box.appendChild(el("p", "govuk-body-s humphrey-check-summary", frame.checks_summary));
    }
    if (frame.citations && frame.citations.length) {
      answer.box.appendChild(el("h3", "govuk-heading-s", "Sources"));
      answer.box.appendChild(sourcesList(frame.citations));
    }
    addActions(answer.box, frame.message, unfinished, answer.question, frame.status !== "no_answer", !!frame.text);
    announce(answerSummary(answer.box, frame.status, problem) + (givenBack ? " " + GIVEN_BACK : ""));
    if (refocus) focusHeading(answer.heading);
  }

  function giveBack(answer) {
    // A question refused before it was stored is nowhere else: it goes back in the box, unless the
    // person has already typed another, and the boxes made for it go.
    answer.box.remove();
    if (answer.question) answer.question.remove();
    if (!textarea.value.trim()) {
      textarea.value = answer.asked || "";
      countRefresh();
    }
    // Never stored: its draft (what was typed, kept until a question is stored) stays as it is.
    sentDraft = null;
  }

  function fail(frame) {
    const answer = current;
    current = null;
    const refocus = focusWillBeLost();
    setBusy(false);
    if (!answer || !answer.box.dataset.answer) {
      // Refused before it was stored (a collection no longer open to them, too quick, a character
      // that cannot be used): said at the question, which is kept.
      if (answer) giveBack(answer);
      questionProblem(frame.message);
      textarea.focus();
      return;
    }
    answer.body.removeAttribute("aria-busy");
    progressEnd(answer);
    // Words written before it failed are kept, but not as an answer.
    answer.heading.textContent = answer.text ? "Answer not finished" : "Not answered";
    const box = el("div", "govuk-error-summary humphrey-answer__error");
    box.setAttribute("role", "alert");
    box.appendChild(el("h3", "govuk-error-summary__title", "There is a problem"));
    box.appendChild(el("p", "govuk-body", frame.message));
    box.appendChild(el("p", "govuk-body-s humphrey-answer__code", "(code: " + frame.code + ")"));
    if (answer.text && questionBack(answer)) box.appendChild(el("p", "govuk-body", GIVEN_BACK));
    answer.body.appendChild(box);
    if (answer.text) addButtons(answer.box, true, answer.question);
    if (refocus) focusHeading(answer.heading);
  }

  function handle(frame) {
    switch (frame.type) {
      case "accepted":
        if (conversation !== frame.conversation) {
          conversation = frame.conversation;
          root.dataset.conversation = String(conversation);
          const url = root.dataset.conversationUrl.replace("/0/", "/" + conversation + "/");
          window.history.replaceState({}, "", url);
          // The server's title: made from the question with its personal data removed.
          const title = frame.title || conversationTitle(lastQuestion);
          addToConversationList(url, title);
          // The page is now this conversation's: its heading and the tab's title say so, as on reopening it.
          const heading = document.getElementById("chat-heading");
          if (heading) heading.textContent = title;
          const shortcuts = document.getElementById("chat-shortcuts");
          if (shortcuts) shortcuts.hidden = false;
          document.title = title + document.title.slice(document.title.lastIndexOf(" – "));
        }
        draftSent();
        if (current) {
          current.box.dataset.answer = frame.answer;
          // As a reopened conversation names it: "Ask again" finds the question by it.
          if (current.question) current.question.id = "question-" + frame.message;
        }
        // Said once the question is stored, not when it is sent: a socket about to be closed (signed
        // out) would otherwise have announced an answer that never comes.
        announce("Question sent. Humphrey is writing an answer.");
        break;
      case "notice": {
        const target = current ? current.box : log;
        if (frame.code === "glossary") {
          // What was searched for, from the collection's glossary: information, not a warning.
          target.insertBefore(el("p", "govuk-body-s app-searched-as", frame.message), current ? current.body : null);
          break;
        }
        const warning = el("div", "govuk-warning-text");
        warning.appendChild(el("span", "govuk-warning-text__icon", "!")).setAttribute("aria-hidden", "true");
        const text = warning.appendChild(el("strong", "govuk-warning-text__text", " " + frame.message));
        text.prepend(el("span", "govuk-visually-hidden", "Warning"));
        target.insertBefore(warning, current ? current.body : null);
        announce(frame.message);
        break;
      }
      case "sources":
        // Sent once the passages are found, just before the model is asked.
        if (current) {
          current.sources = frame.sources;
          if (current.progress) {
            current.progress.textContent = "Writing an answer…";
            // A model slow to start leaves "Writing an answer…" alone for up to its first-token timeout:
            // say it is slow, and what happens next, rather than seem stuck.
            const waiting = current;
            setTimeout(() => {
              if (waiting.progress && !waiting.text) waiting.progress.textContent = SLOW_START;
            }, SLOW_START_MS);
          }
        }
        break;
      case "delta":
        if (current) {
          progressEnd(current);
          current.text += frame.text;
          current.streaming.textContent = current.text; // text, never HTML, while streaming
        }
        break;
      case "done":
        finish(frame);
        break;
      case "error":
        fail(frame);
        break;
      default:
        break;
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (signedOut) {
      questionProblem(SIGNED_OUT);
      return;
    }
    // Ask and Enter still submit while an answer is written: a second question now would be refused as
    // busy, and the rest of this answer would be written into the new one's box. The typed text is kept.
    if (current) {
      questionProblem(WAIT);
      return;
    }
    const text = textarea.value.trim();
    if (!text) {
      questionProblem("Enter your question");
      textarea.focus();
      return;
    }
    if (tooLong(text)) {
      // Kept, not cut: the person shortens it themselves (the server would refuse it anyway).
      questionProblem("Your question must be " + maxChars.toLocaleString("en-GB") + " characters or less");
      textarea.focus();
      return;
    }
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      questionProblem("Not connected yet. Wait a moment and try again.");
      return;
    }
    showQuestionError("");
    const collections = Array.from(form.querySelectorAll('input[name="collections"]:checked')).map((i) => i.value);
    const asked = addQuestion(text);
    startAnswer();
    current.question = asked;
    current.asked = text;
    setBusy(true);
    socket.send(JSON.stringify({ type: "ask", conversation, text, collections: collections.length ? collections : null }));
    sentDraft = { key: draftKey(), text: textarea.value };
    textarea.value = "";
    countRefresh();
  });

  stopButton.addEventListener("click", () => {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ type: "stop" }));
  });

  textarea.addEventListener("input", draftSave);

  textarea.addEventListener("keydown", (event) => {
    // Enter asks; Shift+Enter starts a new line.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  // "Ask again" on an answer that did not finish: its question back in the box, ready to ask (or change).
  // Focus goes to the box, which reads out its label and the question.
  log.addEventListener("click", (event) => {
    const button = event.target.closest(".js-ask-again");
    if (!button) return;
    const asked = document.getElementById(button.dataset.question);
    const text = asked && asked.querySelector(".humphrey-question__text");
    if (!text) return;
    textarea.value = text.innerText.trim();
    countRefresh();
    showQuestionError("");
    textarea.focus();
  });

  log.addEventListener("click", async (event) => {
    const button = event.target.closest(".js-copy");
    if (!button) return;
    const box = document.getElementById(button.dataset.target);
    const body = box && box.querySelector(".humphrey-answer__body");
    if (!body) return;
    // What is on the screen: without the words only screen readers are given (a citation's document
    // name), and with plain spaces, not the no-break ones that keep a claim-check mark beside its sentence.
    box.classList.add("humphrey-copying");
    const shown = body.innerText;
    // The answer with its sources, each with its link, so that a pasted [1] still says where it came from.
    const sources = [...box.querySelectorAll(".humphrey-sources li")].map((li) => {
      const link = li.querySelector("a");
      const text = li.innerText.replace(/\s+/g, " ").trim();
      // The passage's address without the highlighting it carries for this answer (a long "?hl=..."
      // means nothing pasted into an email).
      return (li.value || "") + ". " + text + (link ? " " + link.origin + link.pathname : "");
    });
    box.classList.remove("humphrey-copying");
    // Its security marking first, as a marked document's is, so that a pasted answer keeps it.
    const marking = box.dataset.marking ? box.dataset.marking + "\n\n" : "";
    const copied = marking + shown.replace(/\u00a0/g, " ").trim() + (sources.length ? "\n\nSources:\n" + sources.join("\n") : "");
    try {
      await navigator.clipboard.writeText(copied);
      button.textContent = "Copied";
    } catch (e) {
      button.textContent = "Copy failed: select the text instead";
    }
    // A changed button name is not read out by every screen reader.
    announce(button.textContent);
    window.setTimeout(() => { button.textContent = "Copy answer"; }, 3000);
  });

  // GOV.UK's error message at each field the server refused (the rating's at its fieldset), in the
  // field's description; focus goes to the first of them, which reads its label and the error.
  function feedbackErrors(feedback, errors) {
    let first = null;
    for (const message of feedback.querySelectorAll(".js-feedback-error")) {
      const name = message.dataset.field;
      const texts = errors[name] || [];
      const group = message.closest(".govuk-form-group");
      const described = feedback.querySelector(name === "rating" ? "fieldset" : 'textarea[name="' + name + '"]');
      message.querySelector(".js-feedback-error-text").textContent = texts.join(" ");
      message.classList.toggle("govuk-!-display-none", !texts.length);
      group.classList.toggle("govuk-form-group--error", !!texts.length);
      if (name !== "rating") described.classList.toggle("govuk-textarea--error", !!texts.length);
      const ids = (described.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== message.id);
      if (texts.length) ids.unshift(message.id);
      if (ids.length) described.setAttribute("aria-describedby", ids.join(" "));
      else described.removeAttribute("aria-describedby");
      if (texts.length && !first) first = name === "rating" ? described.querySelector("input") : described;
    }
    if (first) first.focus();
    return !!first;
  }

  log.addEventListener("submit", async (event) => {
    const feedback = event.target.closest(".js-feedback");
    if (!feedback) return;
    event.preventDefault();
    const result = feedback.querySelector(".js-feedback-result");
    result.textContent = "";
    try {
      const response = await fetch(feedback.action, {
        method: "POST",
        body: new FormData(feedback),
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const data = await response.json();
      if (data.ok) {
        feedbackErrors(feedback, {});
        // The form stays usable (disabling it would drop focus to the top of the page): sending it
        // again changes the feedback, as on a reopened answer.
        result.textContent = data.message;
        // What a reopened answer said was given no longer holds: the form, filled in, now shows it.
        const given = feedback.closest(".humphrey-feedback-given");
        if (given) for (const said of given.querySelectorAll(".js-feedback-said")) said.remove();
      } else if (!feedbackErrors(feedback, data.errors || {})) {
        result.textContent = "Something went wrong. Try again.";
      }
    } catch (e) {
      result.textContent = "Your feedback could not be sent. Try again.";
    }
  });

  // --- Answers still being written when the page was opened (or when its connection dropped) ----------
  // The answer is written by the server whatever happens to this page. Rather than reload the page
  // (which would throw away a question being typed and send focus and a screen reader back to the
  // top), the conversation's page is fetched in the background and, once the answer is stored, its
  // box alone is replaced and that is said once.
  const WATCH_EVERY = 4000;
  let watching = false;

  function unfinished() {
    return Array.from(log.querySelectorAll('.humphrey-answer[data-status="streaming"][data-answer]'));
  }

  function replaceAnswer(box, fresh) {
    // Focus moves only if it was in the box being replaced (on one of its links): elsewhere it stays.
    const refocus = box.contains(document.activeElement);
    const node = document.adoptNode(fresh);
    box.replaceWith(node);
    initAll({ scope: node });
    for (const button of node.querySelectorAll(".js-copy, .js-ask-again")) button.classList.remove("govuk-!-display-none");
    const note = node.querySelector(".humphrey-answer__note");
    const heading = node.querySelector("h2");
    const problem = note && node.dataset.status !== "stopped" ? heading.textContent.trim() + ". " + noteSaid(note) : "";
    announce(answerSummary(node, node.dataset.status, problem));
    if (refocus && heading) focusHeading(heading);
  }

  function watchUnfinished() {
    if (watching || !unfinished().length) return;
    watching = true;
    const look = async () => {
      const waiting = unfinished();
      if (!waiting.length) {
        watching = false;
        return;
      }
      try {
        const response = await fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
        if (response.redirected) {
          // Sent to the sign-in page: nothing more can be shown here.
          watching = false;
          signedOut = true;
          showStatus(SIGNED_OUT, signInLink());
          return;
        }
        if (response.ok) {
          const page = new DOMParser().parseFromString(await response.text(), "text/html");
          for (const box of waiting) {
            const fresh = page.getElementById(box.id);
            if (fresh && fresh.dataset.status !== "streaming") replaceAnswer(box, fresh);
          }
        }
      } catch (e) {
        // A dropped request is tried again next time.
      }
      window.setTimeout(look, WATCH_EVERY);
    };
    window.setTimeout(look, WATCH_EVERY);
  }

  for (const button of document.querySelectorAll(".js-copy, .js-ask-again")) button.classList.remove("govuk-!-display-none");
  draftRestore();
  watchUnfinished();
  connect();
}
