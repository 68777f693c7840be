/**
 * The demo page: starts a task, follows it with the browser's own EventSource, and resumes
 * the same task after a reload (task id, key and last event id kept in sessionStorage).
 */
export const DEMO_PAGE = /* html */ `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Resumable SSE demo</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem; }
  progress { width: 100%; height: 1.5rem; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
  dt { color: #555; }
  button { font-size: 1rem; padding: .4rem 1.2rem; }
  label { margin-right: 1rem; }
  input { width: 6rem; }
</style>
</head>
<body>
<h1>Resumable Server-Sent Events</h1>
<p>Start a task, then cut the connection or reload the page: the bar continues where it was.</p>
<p>
  <label>steps <input id="steps" type="number" min="1" max="100000" value="20"></label>
  <label>interval (ms) <input id="interval" type="number" min="0" max="60000" value="300"></label>
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
  <dt>status</dt><dd id="status">idle</dd>
</dl>
<script>
(() => {
  const STORAGE = 'sse-resume-demo';
  const $ = (id) => document.getElementById(id);
  let source = null;
  let state = JSON.parse(sessionStorage.getItem(STORAGE) || 'null');

  const save = () => sessionStorage.setItem(STORAGE, JSON.stringify(state));
  const render = () => {
    const percent = state && state.total ? Math.floor((100 * state.step) / state.total) : 0;
    $('bar').value = percent;
    $('percent').textContent = percent + ' %';
    $('task').textContent = state ? state.taskId : 'none';
    $('last-event-id').textContent = state && state.lastEventId ? state.lastEventId : '-';
    $('reconnects').textContent = state ? state.reconnects : 0;
    $('gaps').textContent = state ? state.gaps : 0;
    $('status').textContent = state ? state.status + (state.error ? ' (' + state.error + ')' : '') : 'idle';
    $('cancel').disabled = !state || state.status === 'completed' || state.status === 'failed' || state.status === 'cancelled';
  };

  const connect = () => {
    if (source) source.close();
    const query = new URLSearchParams({ key: state.resumeKey });
    if (state.lastEventId) query.set('lastEventId', state.lastEventId);
    let opened = false;
    source = new EventSource('/tasks/' + encodeURIComponent(state.taskId) + '/events?' + query);
    source.onopen = () => {
      if (opened || state.connected) { state.reconnects++; }
      opened = true;
      state.connected = true;
      state.status = 'running';
      save(); render();
    };
    source.addEventListener('progress', (e) => {
      const data = JSON.parse(e.data);
      state.step = data.step;
      state.total = data.total;
      state.lastEventId = e.lastEventId;
      save(); render();
    });
    source.addEventListener('gap', (e) => {
      state.gaps++;
      state.lastEventId = e.lastEventId;
      save(); render();
    });
    source.addEventListener('end', (e) => {
      const data = JSON.parse(e.data);
      state.lastEventId = e.lastEventId;
      // The bare status, so the terminal checks (cancel button, resume on load) recognise it.
      state.status = data.status;
      state.error = data.error;
      if (data.status === 'completed' && state.total) state.step = state.total;
      source.close();
      source = null;
      save(); render();
    });
    source.onerror = () => {
      if (source && source.readyState === EventSource.CLOSED) {
        // A 204 (nothing left) or an error status: the browser gives up; ask the server why.
        source = null;
        const retryLater = () => {
          // The server is restarting or its store is away (503, no answer): try again, as
          // EventSource itself does not after a non-200 answer.
          state.status = 'reconnecting';
          render();
          setTimeout(connect, 2000);
        };
        fetch('/tasks/' + encodeURIComponent(state.taskId) + '?' + new URLSearchParams({ key: state.resumeKey }))
          .then((r) => (r.status >= 500 ? Promise.reject(new Error(String(r.status))) : r.json()))
          .then((info) => {
            if (info.status === 'running') return retryLater();
            state.status = info.status || 'error';
            state.error = info.status ? info.error : info.message;
            if (info.status === 'completed' && state.total) state.step = state.total;
            save(); render();
          })
          .catch(retryLater);
      } else {
        state.status = 'reconnecting';
        render();
      }
    };
  };

  $('start').addEventListener('click', async () => {
    const body = { steps: Number($('steps').value), intervalMs: Number($('interval').value) };
    const response = await fetch('/tasks', {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    });
    const created = await response.json();
    if (!response.ok) { $('status').textContent = 'error: ' + [].concat(created.message).join(', '); return; }
    state = { taskId: created.taskId, resumeKey: created.resumeKey, lastEventId: '', step: 0, total: body.steps,
      intervalMs: body.intervalMs,
      reconnects: 0, gaps: 0, status: 'starting', connected: false };
    save(); render(); connect();
  });

  $('cancel').addEventListener('click', () => {
    if (!state) return;
    fetch('/tasks/' + encodeURIComponent(state.taskId) + '?' + new URLSearchParams({ key: state.resumeKey }), { method: 'DELETE' });
  });

  if (state) {
    // After a reload, show the settings of the task being followed.
    $('steps').value = state.total;
    if (state.intervalMs !== undefined) $('interval').value = state.intervalMs;
  }
  render();
  if (state && (state.status === 'running' || state.status === 'starting' || state.status === 'reconnecting')) connect();
})();
</script>
</body>
</html>
`;
