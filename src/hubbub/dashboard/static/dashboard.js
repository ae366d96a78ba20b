// Hubbub dashboard: the live events view (everything else is htmx and plain forms).
// Events come as server-sent events, one JSON event per message; they are shown newest first,
// can be paused (they are kept and shown on resume) and filtered by type.
(function () {
  'use strict';
  const MAX_SHOWN = 300;

  function start(section) {
    const list = section.querySelector('#live-events');
    const state = section.querySelector('#live-state');
    const pause = section.querySelector('#live-pause');
    const filter = section.querySelector('#live-filter');
    const count = section.querySelector('#live-count');
    let paused = false;
    let held = [];
    let received = 0;

    function matches(type) {
      const wanted = filter.value.trim().toLowerCase();
      return !wanted || type.toLowerCase().includes(wanted);
    }

    function show(event) {
      const item = document.createElement('li');
      const type = String(event.type || '?');
      item.dataset.type = type;
      const head = document.createElement('div');
      head.className = 'head';
      const parts = [
        ['type', type],
        ['sender', event.user && event.user.id ? 'by ' + event.user.id : ''],
        ['cid', event.cid || ''],
        ['time', event.created_at || ''],
      ];
      for (const [cls, text] of parts) {
        const span = document.createElement('span');
        span.className = cls;
        span.textContent = text;
        head.appendChild(span);
      }
      const pre = document.createElement('pre');
      pre.textContent = JSON.stringify(event, null, 2);
      item.append(head, pre);
      item.hidden = !matches(type);
      list.prepend(item);
      while (list.children.length > MAX_SHOWN) list.lastElementChild.remove();
    }

    function counter() {
      count.textContent = received + ' received' + (held.length ? ', ' + held.length + ' held while paused' : '');
    }

    const source = new EventSource(section.dataset.stream);
    source.onopen = function () { state.textContent = 'live'; };
    source.onerror = function () {
      state.textContent = source.readyState === EventSource.CLOSED ? 'closed: reload the page' : 'reconnecting…';
    };
    source.addEventListener('lost', function (e) {
      show({ type: 'dashboard.lost', lost: Number(e.data), note: 'events dropped: the browser fell behind' });
    });
    source.onmessage = function (e) {
      let event;
      try { event = JSON.parse(e.data); } catch (err) { event = { type: 'unparsable', data: e.data }; }
      received += 1;
      if (paused) held.push(event); else show(event);
      counter();
    };
    pause.addEventListener('click', function () {
      paused = !paused;
      pause.setAttribute('aria-pressed', String(paused));
      pause.textContent = paused ? 'Resume' : 'Pause';
      state.textContent = paused ? 'paused' : 'live';
      if (!paused) { held.forEach(show); held = []; counter(); }
    });
    filter.addEventListener('input', function () {
      for (const item of list.children) item.hidden = !matches(item.dataset.type);
    });
    section.querySelector('#live-clear').addEventListener('click', function () {
      list.replaceChildren();
    });
    window.addEventListener('pagehide', function () { source.close(); });
  }

  document.addEventListener('DOMContentLoaded', function () {
    const section = document.getElementById('live');
    if (section) start(section);
  });
})();
