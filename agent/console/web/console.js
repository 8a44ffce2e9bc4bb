// The console page: an xterm.js terminal bridged to the agent's console
// WebSocket. Protocol (agent/console): server text frames are JSON
// control messages (hello, writer, status, error), binary frames are the
// terminal's output; the page sends keystrokes as binary frames and its
// size as {"type":"resize"}. No inline script (the page's CSP forbids it):
// the token comes from <body data-token>.
'use strict';
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var token = document.body.dataset.token;
  var maxBackoff = 10; // seconds: 1, 2, 4, 8, 10, 10...

  var term = new Terminal({
    cursorBlink: true,
    scrollback: 5000,
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
    fontSize: 15,
    theme: { background: '#111111' }
  });
  var fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open($('term'));
  fit.fit();
  term.focus();

  // What tests read (and a person debugging in the devtools).
  var state = {
    state: 'connecting', writer: false, vmID: null, hostname: '',
    message: '', connects: 0, hellos: 0
  };
  window.xenagentTerm = term;
  window.xenagentConsole = state;

  var ws = null;
  var backoff = 1;
  var final = false; // stopped or refused: no more reconnects
  var timer = null;
  var encoder = new TextEncoder();

  function setState(s, text) {
    state.state = s;
    var el = $('state');
    el.textContent = text || s;
    el.className = 'state ' + s;
  }

  function setVM(id, hostname) {
    state.vmID = id;
    state.hostname = hostname || '';
    var name = hostname ? hostname + ' (VM ' + id + ')' : 'VM ' + id;
    $('vm').textContent = name;
    document.title = (hostname || 'VM ' + id) + ' console';
  }

  function setWriter(w) {
    state.writer = !!w;
    term.options.disableStdin = !w;
    $('role').textContent = w ? 'writer: your keys go to the console'
      : 'reader: read-only, another session types';
  }

  function showMessage(kind, lines, button) {
    var el = $('message');
    el.className = kind;
    el.textContent = '';
    lines.forEach(function (l) {
      var p = document.createElement('p');
      p.textContent = l;
      el.appendChild(p);
    });
    if (button) {
      var b = document.createElement('button');
      b.textContent = button.text;
      b.addEventListener('click', button.click);
      el.appendChild(b);
    }
    el.hidden = false;
    state.message = lines.join(' ');
  }

  function hideMessage() {
    $('message').hidden = true;
    state.message = '';
  }

  function sendResize() {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
    }
  }

  function sendBytes(bytes) {
    if (ws && ws.readyState === WebSocket.OPEN && state.writer) {
      ws.send(bytes);
    }
  }

  function stop(kind, lines) {
    final = true;
    clearTimeout(timer);
    term.options.disableStdin = true;
    $('role').textContent = '';
    setState(kind, kind === 'stopped' ? 'stopped' : 'error');
    showMessage(kind, lines, kind === 'stopped' ? {
      text: 'Reconnect', click: function () { final = false; hideMessage(); connect(); }
    } : null);
    if (ws) { ws.close(1000, kind); }
  }

  function connect() {
    clearTimeout(timer);
    var proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    var sock = new WebSocket(proto + '//' + location.host + '/console/' +
      encodeURIComponent(token) + '/ws');
    sock.binaryType = 'arraybuffer';
    ws = sock;
    state.connects++;
    if (state.hellos === 0) { setState('connecting', 'connecting'); }

    sock.onmessage = function (ev) {
      if (sock !== ws) { return; }
      if (typeof ev.data !== 'string') {
        term.write(new Uint8Array(ev.data));
        return;
      }
      var m;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      switch (m.type) {
        case 'hello':
          // The scrollback follows every hello: start from a clean screen
          // so a reconnect does not print it twice.
          if (state.hellos > 0) { term.reset(); }
          state.hellos++;
          backoff = 1;
          if (m.reconnect) { token = m.reconnect; }
          setVM(m.vm_id, m.hostname);
          setWriter(m.writer);
          setState('connected', 'connected');
          hideMessage();
          fit.fit();
          sendResize();
          break;
        case 'writer':
          setWriter(m.writer);
          break;
        case 'status':
          if (m.state === 'stopped') {
            stop('stopped', [m.message || 'The VM stopped.',
              'Start it again, then reconnect.']);
          } else {
            // "closed": the session ended for a reason that may pass
            // (the agent restarting, a slow link): say why, then
            // reconnect when the socket closes.
            showMessage('info', [m.message || 'The console session ended.', 'Reconnecting…']);
          }
          break;
        case 'error':
          stop('error', [m.message || 'The console refused this session.']);
          break;
      }
    };

    sock.onclose = function (ev) {
      if (sock !== ws || final) { return; }
      if (ev.code === 4403) { // refused without an error frame
        stop('error', [ev.reason || 'The console refused this session.']);
        return;
      }
      var wait = backoff;
      backoff = Math.min(backoff * 2, maxBackoff);
      setState('reconnecting', 'reconnecting in ' + wait + ' s');
      timer = setTimeout(connect, wait * 1000);
    };
  }

  term.onData(function (d) { sendBytes(encoder.encode(d)); });
  // onBinary: bytes that are not UTF-8 text (some mouse reports).
  term.onBinary(function (d) {
    var b = new Uint8Array(d.length);
    for (var i = 0; i < d.length; i++) { b[i] = d.charCodeAt(i) & 0xff; }
    sendBytes(b);
  });
  term.onResize(sendResize);
  window.addEventListener('resize', function () { fit.fit(); });

  connect();
})();
