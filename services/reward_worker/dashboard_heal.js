// The console's healing panes: schedules, work owed by PostgreSQL, SQS dead letters.
// Loaded after dashboard.js, whose helpers (api, act, post, cell, button, $) it uses.
"use strict";

async function drawSchedules() {
  const { schedules } = await api("/schedules");
  $("schedules-empty").hidden = schedules.length > 0;
  $("schedules").querySelector("tbody").replaceChildren(...schedules.map((s) => {
    const tr = document.createElement("tr");
    tr.dataset.scheduleId = s.id;
    const path = "/schedules/" + encodeURIComponent(s.id);
    tr.append(cell(s.id), cell(s.job_type), cell(s.cron || "every " + s.every + " s"), cell(when(s.next_at)),
      cell(""));
    tr.lastChild.append(button("remove", () => act("remove schedule " + s.id, path, { method: "DELETE" })));
    return tr;
  }));
}

function drawHealing() {
  drawOwed();
  drawDeadLetters();
}

async function drawOwed() {
  try {
    const owed = await api("/owed");
    $("owed-table").querySelector("tbody").replaceChildren(...owed.job_types.map((t) => {
      const tr = document.createElement("tr");
      tr.dataset.jobType = t.job_type;
      tr.append(cell(t.job_type), cell(t.owed), cell(t.in_outbox), cell(t.in_broker), cell(t.missing));
      return tr;
    }));
  } catch (error) {
    if (!(error instanceof Refused)) $("owed-result").textContent = "owed work: " + error.message;
  }
}

async function drawDeadLetters() {
  try {
    const { queues } = await api("/dead-letters");
    $("dlq-list").replaceChildren(...queues.map((q) => {
      const div = document.createElement("div");
      div.className = "dlq";
      div.dataset.queue = q.queue;
      const title = document.createElement("h3");
      // Counts are approximate in SQS (a message being looked at is "in flight").
      const count = Math.max(q.visible + q.in_flight, (q.messages || []).length);
      title.textContent = q.queue + ": " + (q.error ? q.error : count + " dead letters");
      div.append(title);
      for (const m of q.messages || []) {
        const p = document.createElement("pre");
        p.textContent = `${m.event_type || "?"} ${m.message_id} (received ${m.receive_count}×)\n${m.body}`;
        div.append(p);
      }
      if (!q.error) div.append(button("redrive " + q.queue, async () => {
        await act("redrive " + q.queue, "/dead-letters/" + q.queue + "/redrive", post(), (r) => r.sent + " sent back");
        drawDeadLetters();
      }));
      return div;
    }));
  } catch (error) {
    if (!(error instanceof Refused)) $("dlq-result").textContent = "dead letters: " + error.message;
  }
}

$("owed-refresh").addEventListener("click", drawOwed);
$("owed-requeue").addEventListener("click", async () => {
  await act("re-enqueue owed", "/owed/requeue", post(), (r) =>
    r.job_types.map((t) => `${t.job_type}: ${t.enqueued} of ${t.missing} missing enqueued`).join("; "));
  $("owed-result").textContent = $("action-result").textContent;
  drawOwed();
});
$("dlq-refresh").addEventListener("click", drawDeadLetters);
if (sessionStorage.getItem(TOKEN_KEY)) start(); else signOut("");
