/**
 * The demo page: starts a task and follows it with the client of libs/sse-resume-client,
 * which the app serves at `sse-resume-client.js` beside the page.
 *
 * Every URL is relative to the page (the module, and the client's default routes `tasks`,
 * `tasks/<id>/events`, `tasks/<id>`), so the page works behind a proxy that serves the app
 * under a path prefix. The page's URL names the task it follows (`?task=<id>`): a reload
 * resumes it after the last event shown (the client keeps the key and that id in
 * sessionStorage), another tab opened on that URL attaches to it (the key then comes from
 * the HttpOnly cookie set when the task started). The key never appears in a URL.
 *
 * The page keeps what it shows of a task in sessionStorage (`sse-resume-demo:<id>`), so that
 * a reload shows the same bar, counters and log, and a finished task its final state without
 * asking the server again. `window.__demoEvents` lists every event shown for the task
 * (`{ id, type }`, across reloads), for the browser tests.
 *
 * "durable" starts a durable task (needs Redis): a BullMQ job that a worker runs; kill that
 * worker and another one takes over from the last step, the log showing the `retry` event
 * between the attempts and the attempt number.
 *
 * The script is plain JavaScript inside this template: no backticks, no dollar-brace.
 */
export const DEMO_PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Resumable SSE demo</title>
<link rel="icon" href="data:,">
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 3rem auto; padding: 0 1rem; }
  progress { width: 100%; height: 1.5rem; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
  dt { color: #555; }
  button { font-size: 1rem; padding: .4rem 1.2rem; }
  label { margin-right: 1rem; }
  input { width: 6rem; }
  #log { font: 13px/1.4 ui-monospace, monospace; max-height: 16rem; overflow-y: auto; margin: 0;
    padding: .5rem .5rem .5rem 3.5rem; background: #f6f6f6; border-radius: 4px; }
  #log .gap, #log .reconnect, #log .retry { color: #9a5b00; }
  #log .error { color: #b00020; }
  #log .end { color: #006b2d; font-weight: bold; }
  #log .info, #log .open { color: #555; }
</style>
</head>
<body>
<h1>Resumable Server-Sent Events</h1>
<p>Start a task, then cut the connection, reload the page, open its URL in another tab or restart
the server: the bar continues where it was, every event once.</p>
<p>
  <label>steps <input id="steps" type="number" min="1" max="100000" value="20"></label>
  <label>interval (ms) <input id="interval" type="number" min="0" max="60000" value="300"></label>
  <label title="a BullMQ job that survives the death of the worker running it (needs Redis)"><input id="durable" type="checkbox" style="width: auto"> durable</label>
</p>
<p>
  <button id="start" type="button">start</button>
  <button id="cancel" type="button" disabled>cancel</button>
</p>
<progress id="bar" max="100" value="0"></progress>
<dl>
  <dt>progress</dt><dd id="percent">0 %</dd>
  <dt>task</dt><dd id="task">none</dd>
  <dt>last event id</dt><dd id="last-event-id">-</dd>
  <dt>reconnects</dt><dd id="reconnects">0</dd>
  <dt>gaps</dt><dd id="gaps">0</dd>
  <dt>attempt</dt><dd id="attempt">-</dd>
  <dt>status</dt><dd id="status">loading</dd>
</dl>
<h2>Log</h2>
<ol id="log" role="log" aria-label="events, reconnects and errors"></ol>
<script type="module" onerror="document.getElementById('status').textContent = 'error (the client did not load: run npm run build:client)'">
import {
  SseResumeClient,
  TaskExpiredError,
  TaskForbiddenError,
  TaskNotFoundError,
} from './sse-resume-client.js';

const $ = (id) => document.getElementById(id);
/** sessionStorage item of what the page shows of a task; its log is a second item. */
const PAGE_ITEM = 'sse-resume-demo:';
const LOG_LIMIT = 200;
const TERMINAL = ['completed', 'failed', 'cancelled'];

// Default routes, relative to this page's URL: tasks, tasks/<id>/events, tasks/<id>.
// Reconnects wait at most 5 s (the client's default is 30 s), so a restarted server is back soon.
const client = new SseResumeClient({ reconnect: { maxDelayMs: 5000 } });

/** The task shown: { taskId, steps, intervalMs, durable, attempt, step, total, lastEventId, reconnects, gaps, status, detail, ranges }. */
let state = null;
/** Its log: { at, kind, text }, the last LOG_LIMIT. */
let log = [];
/** The stream being followed (null when none). */
let stream = null;

const fresh = (taskId, steps, intervalMs, durable) => ({
  taskId, steps, intervalMs, durable: !!durable, attempt: null, step: 0, total: steps, lastEventId: null,
  reconnects: 0, gaps: 0, status: 'connecting', detail: '', ranges: [],
});

function load(taskId) {
  try {
    const saved = JSON.parse(sessionStorage.getItem(PAGE_ITEM + taskId) || 'null');
    log = JSON.parse(sessionStorage.getItem(PAGE_ITEM + taskId + ':log') || '[]');
    return saved && saved.taskId === taskId ? saved : null;
  } catch {
    log = [];
    return null;
  }
}

// The state after each event, as the client stores its last id after each event; the log
// (larger) at most every 500 ms and when the page goes away.
let logTimer = null;
function save() {
  if (!state) return;
  try {
    sessionStorage.setItem(PAGE_ITEM + state.taskId, JSON.stringify(state));
  } catch {
    // a full storage only loses what a reload shows
  }
  logTimer ??= setTimeout(saveLog, 500);
}
function saveLog() {
  clearTimeout(logTimer);
  logTimer = null;
  if (!state) return;
  try {
    sessionStorage.setItem(PAGE_ITEM + state.taskId + ':log', JSON.stringify(log));
  } catch {
    // idem
  }
}
addEventListener('pagehide', saveLog);

/** Every event shown, as runs of consecutive ids of one type: [from, to, type]. */
function remember(id, type) {
  const last = state.ranges[state.ranges.length - 1];
  if (last && last[2] === type && last[1] + 1 === id) last[1] = id;
  else state.ranges.push([id, id, type]);
}
Object.defineProperty(window, '__demoEvents', {
  get: () => (state ? state.ranges : []).flatMap(([from, to, type]) =>
    Array.from({ length: to - from + 1 }, (_, i) => ({ id: from + i, type }))),
});

function addLog(kind, text) {
  const entry = { at: new Date().toISOString().slice(11, 23), kind, text };
  log.push(entry);
  if (log.length > LOG_LIMIT) log.splice(0, log.length - LOG_LIMIT);
  showLogEntry(entry);
  if (state) save();
}
function showLogEntry(entry) {
  const list = $('log');
  const item = document.createElement('li');
  item.className = entry.kind;
  item.textContent = entry.at + '  ' + entry.text;
  list.append(item);
  while (list.childElementCount > LOG_LIMIT) list.firstElementChild.remove();
  list.scrollTop = list.scrollHeight;
}

function render() {
  const percent = state && state.total ? Math.floor((100 * state.step) / state.total) : 0;
  $('bar').value = percent;
  $('percent').textContent = percent + ' %';
  $('task').textContent = state ? state.taskId : 'none';
  $('last-event-id').textContent = state && state.lastEventId !== null ? String(state.lastEventId) : '-';
  $('reconnects').textContent = state ? String(state.reconnects) : '0';
  $('gaps').textContent = state ? String(state.gaps) : '0';
  $('attempt').textContent = state && state.attempt ? String(state.attempt) : '-';
  $('status').textContent = state ? state.status + (state.detail ? ' (' + state.detail + ')' : '') : 'idle';
  $('cancel').disabled = !state || !stream || TERMINAL.includes(state.status);
}

/** An error as text: the client's typed errors carry the server's status and message. */
const describe = (error) =>
  error instanceof Error ? error.message || String(error) : String(error);

function onEvent(event) {
  state.lastEventId = event.id;
  remember(event.id, event.type);
  if (event.type === 'gap') {
    state.gaps++;
    addLog('gap', '#' + event.id + ' gap: events ' + event.from + '..' + event.to + ' are lost');
  } else if (event.type === 'end') {
    state.status = event.status;
    state.detail = event.error || '';
    if (event.status === 'completed' && state.total) state.step = state.total;
    addLog('end', '#' + event.id + ' end: ' + event.status +
      (event.error ? ' (' + event.error + ')' : '') +
      (event.result !== undefined ? ', result ' + JSON.stringify(event.result) : ''));
  } else if (event.type === 'retry') {
    // A durable task's attempt ended (its worker died, or it threw): the next one goes on.
    const data = event.data || {};
    if (typeof data.attempt === 'number') state.attempt = data.attempt;
    addLog('retry', '#' + event.id + ' retry: attempt ' + data.attempt + (data.reason ? ' (' + data.reason + ')' : ''));
  } else {
    const data = event.data || {};
    if (typeof data.step === 'number') state.step = data.step;
    if (typeof data.total === 'number') state.total = data.total;
    if (typeof data.attempt === 'number') state.attempt = data.attempt;
    addLog('event', '#' + event.id + ' ' + event.type +
      (typeof data.step === 'number' ? ' ' + data.step + '/' + data.total : ' ' + JSON.stringify(data)));
  }
  save();
  render();
}

/** 403, 404 and 410 end the stream (the client does not retry them): say what they mean. */
function onError(error) {
  const [status, meaning] =
    error instanceof TaskExpiredError ? ['expired', 'the task ended too long ago: its events are gone'] :
    error instanceof TaskNotFoundError ? ['not found', 'no such task, or it was forgotten'] :
    error instanceof TaskForbiddenError ? ['forbidden', 'this browser has no key for this task'] :
    ['error', 'the stream stopped'];
  state.status = status;
  state.detail = describe(error);
  addLog('error', meaning + ': ' + describe(error));
  save();
  render();
}

/** Follows state.taskId from where this tab left off, until its end or an error. */
async function follow() {
  const current = client.stream(state.taskId, {
    onOpen: ({ lastEventId }) => {
      if (stream !== current) return;
      state.status = 'running';
      addLog('open', lastEventId === undefined ? 'connected: from the first event' : 'connected: after #' + lastEventId);
      render();
    },
    onReconnect: ({ delayMs, cause, failures }) => {
      if (stream !== current) return;
      state.reconnects++;
      state.status = 'reconnecting';
      addLog('reconnect', 'reconnecting in ' + delayMs + ' ms' +
        (failures > 1 ? ' (attempt ' + failures + ')' : '') + ': ' + describe(cause));
      render();
    },
  });
  stream = current;
  render();
  try {
    for await (const event of current) {
      if (stream !== current) break;
      onEvent(event);
    }
    if (stream === current && !current.end) {
      // 204: the task had ended and this tab had seen its end before.
      state.status = 'ended';
      addLog('info', 'nothing left to stream: the task has ended');
      save();
    }
  } catch (error) {
    if (stream === current) onError(error);
  } finally {
    if (stream === current) stream = null;
    render();
  }
}

function stopFollowing() {
  const current = stream;
  stream = null;
  current?.close();
}

$('start').addEventListener('click', async () => {
  const steps = Number($('steps').value);
  const intervalMs = Number($('interval').value);
  const durable = $('durable').checked;
  $('start').disabled = true;
  $('status').textContent = 'starting';
  let task;
  try {
    // Keeps the key in sessionStorage (and the server sets its cookie); the stream is made below.
    task = await client.start(durable ? { steps, intervalMs, durable } : { steps, intervalMs });
  } catch (error) {
    $('status').textContent = 'error (' + describe(error) + ')';
    showLogEntry({ at: new Date().toISOString().slice(11, 23), kind: 'error', text: 'start refused: ' + describe(error) });
    return;
  } finally {
    $('start').disabled = false;
  }
  stopFollowing();
  saveLog();
  state = fresh(task.taskId, steps, intervalMs, durable);
  log = [];
  $('log').replaceChildren();
  history.replaceState(null, '', '?task=' + encodeURIComponent(task.taskId));
  addLog('info', 'started ' + (durable ? 'durable ' : '') + 'task ' + task.taskId + ': ' + steps + ' steps, ' + intervalMs + ' ms apart');
  void follow();
});

$('cancel').addEventListener('click', async () => {
  if (!stream) return;
  $('cancel').disabled = true;
  try {
    const cancelled = await stream.cancel();
    addLog('info', cancelled ? 'cancel requested' : 'cancel: the task had already ended');
  } catch (error) {
    addLog('error', 'cancel refused: ' + describe(error));
  }
  render();
});

const taskId = new URLSearchParams(location.search).get('task');
if (taskId) {
  state = load(taskId);
  for (const entry of log) showLogEntry(entry);
  if (state) {
    // The settings of the task being followed.
    if (state.steps) $('steps').value = state.steps;
    if (state.intervalMs !== undefined && state.intervalMs !== null) $('interval').value = state.intervalMs;
    $('durable').checked = !!state.durable;
  } else {
    state = fresh(taskId, null, null);
  }
  render();
  if (TERMINAL.includes(state.status)) {
    addLog('info', 'reloaded: the task had ended (' + state.status + ')');
  } else {
    const last = client.resumeKeyOf(taskId) === undefined ? ' (its key from the cookie, if any)' : '';
    addLog('info', (state.lastEventId === null ? 'attaching to task ' + taskId : 'resuming after #' + state.lastEventId) + last);
    void follow();
  }
} else {
  render();
}
</script>
</body>
</html>
`;
