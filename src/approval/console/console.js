// The approvals console in the browser: plain DOM, textContent only (never innerHTML), same-origin fetches.
const REFRESH_MS = 5000;
const $ = (id) => document.getElementById(id);
let session = null;
let timer = null;

function el(tag, props = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') n.className = v;
    else if (k === 'text') n.textContent = v;
    else n.setAttribute(k, v);
  }
  for (const c of children) n.append(c);
  return n;
}

function say(message, isError = false) {
  const s = $('status');
  s.textContent = message;
  s.classList.toggle('error', isError);
}

async function api(path, init = {}) {
  const headers = { accept: 'application/json', ...(init.headers ?? {}) };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (init.method && init.method !== 'GET' && session?.csrf) headers['x-csrf-token'] = session.csrf;
  const res = await fetch(path, { ...init, headers, credentials: 'same-origin' });
  const body = await res.json().catch(() => ({}));
  if (res.status === 401) {
    showOnly('signin');
    throw Object.assign(new Error('Your session has ended; sign in again.'), { status: 401, body });
  }
  if (!res.ok) throw Object.assign(new Error(body.message ?? `HTTP ${res.status}`), { status: res.status, body });
  return body;
}

function showOnly(id) {
  for (const s of ['loading', 'signin', 'list-view', 'detail-view']) $(s).hidden = s !== id;
}

function person(p) {
  if (!p) return '—';
  const who = p.name ? `${p.name} (${p.sub})` : p.sub;
  return p.client_id && p.client_id !== p.sub ? `${who} via ${p.client_id}` : who;
}

function relative(iso) {
  const secs = Math.round((Date.parse(iso) - Date.now()) / 1000);
  const abs = Math.abs(secs);
  if (abs < 5) return 'just now';
  const text = abs < 60 ? `${abs} s` : abs < 3600 ? `${Math.round(abs / 60)} min` : `${Math.round(abs / 3600)} h`;
  return secs >= 0 ? `in ${text}` : `${text} ago`;
}

function time(iso) {
  const t = el('time', { datetime: iso, title: new Date(iso).toLocaleString() });
  t.textContent = relative(iso);
  return t;
}

function badge(status, used) {
  return el('span', { class: `badge ${status}`, text: status === 'approved' && used ? 'approved · ran' : status });
}

function navigate(path) {
  history.pushState(null, '', path);
  route();
}

function link(path, text) {
  const a = el('a', { href: path, text });
  a.addEventListener('click', (e) => {
    if (e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    navigate(path);
  });
  return a;
}

async function refreshList() {
  try {
    const [pending, closed] = await Promise.all([api('/approvals?status=pending'), api('/approvals?status=closed&limit=20')]);
    const rows = $('pending-rows');
    rows.replaceChildren(
      ...pending.approvals.map((a) =>
        el(
          'tr',
          { 'data-approval-id': a.id },
          el('td', { class: 'tool' }, `${a.server} / ${a.tool}`),
          el('td', { text: person(a.requester) }),
          el('td', { text: a.reasons.join('; ') }),
          el('td', {}, time(a.expires_at)),
          el('td', {}, link(`/console/approvals/${a.id}`, a.you.can_decide ? 'Review' : 'View')),
        ),
      ),
    );
    $('pending-count').textContent = String(pending.approvals.length);
    $('pending-table').hidden = pending.approvals.length === 0;
    $('pending-empty').hidden = pending.approvals.length !== 0;
    $('recent-rows').replaceChildren(
      ...closed.approvals.map((a) =>
        el(
          'tr',
          { 'data-approval-id': a.id },
          el('td', { class: 'tool' }, link(`/console/approvals/${a.id}`, `${a.server} / ${a.tool}`)),
          el('td', { text: person(a.requester) }),
          el('td', {}, badge(a.status, a.used_at)),
          el('td', { text: a.decision ? person(a.decision.reviewer) : '—' }),
          el('td', { text: a.decision?.comment || a.closed_reason || '' }),
          el('td', {}, time(a.closed_at ?? a.created_at)),
        ),
      ),
    );
    $('recent-table').hidden = closed.approvals.length === 0;
    $('recent-empty').hidden = closed.approvals.length !== 0;
    $('updated').textContent = `Last updated ${new Date().toLocaleTimeString()}.`;
    if ($('status').classList.contains('error')) say('');
  } catch (err) {
    say(`Could not refresh: ${err.message}`, true);
  }
}

function field(dl, name, value) {
  dl.append(el('dt', { text: name }), el('dd', {}, value));
}

async function renderDetail(id) {
  const a = await api(`/approvals/${encodeURIComponent(id)}`);
  $('detail-title').textContent = `${a.server} / ${a.tool}`;
  const dl = $('detail-fields');
  dl.replaceChildren();
  field(dl, 'Status', badge(a.status, a.used_at));
  field(dl, 'Requested by', person(a.requester));
  field(dl, 'Policy says', a.reasons.join('; '));
  field(dl, 'Approvers', a.approvers.join(', '));
  field(dl, 'Requested', time(a.created_at));
  if (a.status === 'pending') field(dl, 'Expires', time(a.expires_at));
  else if (a.closed_at) field(dl, 'Closed', time(a.closed_at));
  if (a.decision) {
    field(dl, 'Reviewer', person(a.decision.reviewer));
    field(dl, 'Comment', a.decision.comment || '—');
  }
  if (a.closed_reason) field(dl, 'Closed because', a.closed_reason);
  $('detail-args').textContent = JSON.stringify(a.arguments, null, 2);
  const form = $('decide-form');
  form.hidden = !a.you.can_decide;
  form.dataset.id = a.id;
  const note = $('decide-note');
  if (!a.you.can_decide && a.status === 'pending') {
    note.hidden = false;
    note.classList.add('error');
    note.textContent =
      a.you.why_not === 'own_request' ? 'You requested this call, so someone else must review it.' : 'You are not an approver for this call.';
  } else if (a.status !== 'pending' && note.hidden) {
    note.hidden = false;
    note.classList.remove('error');
    note.textContent = `This call is ${a.status}.`;
  }
  return a;
}

async function showDetail(id) {
  showOnly('detail-view');
  $('decide-note').hidden = true;
  $('comment').value = '';
  try {
    const a = await renderDetail(id);
    $('detail-title').focus();
    if (a.status === 'pending') {
      timer = setInterval(async () => {
        try {
          const now = await renderDetail(id);
          if (now.status !== 'pending') clearInterval(timer);
        } catch {
          clearInterval(timer);
        }
      }, REFRESH_MS);
    }
  } catch (err) {
    $('detail-title').textContent = 'Approval not available';
    $('detail-fields').replaceChildren();
    $('detail-args').textContent = '';
    $('decide-form').hidden = true;
    say(err.message, true);
  }
}

async function decide(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const action = e.submitter?.value;
  const comment = $('comment').value.trim();
  if (action === 'deny' && comment === '') {
    say('Write a comment to deny: it is the reason the caller gets.', true);
    $('comment').focus();
    return;
  }
  for (const b of form.querySelectorAll('button')) b.disabled = true;
  try {
    const a = await api(`/approvals/${encodeURIComponent(form.dataset.id)}/${action}`, { method: 'POST', body: JSON.stringify({ comment }) });
    clearInterval(timer);
    const note = $('decide-note');
    note.hidden = false;
    note.classList.remove('error');
    note.textContent = action === 'approve' ? 'Approved. The waiting call is released and runs now.' : 'Denied. The caller has been told your reason.';
    say('');
    await renderDetail(a.id);
  } catch (err) {
    say(`Not recorded: ${err.message}`, true);
  } finally {
    for (const b of form.querySelectorAll('button')) b.disabled = false;
  }
}

function route() {
  clearInterval(timer);
  say('');
  const m = location.pathname.match(/^\/console\/approvals\/([A-Za-z0-9-]+)$/);
  if (m) return showDetail(m[1]);
  showOnly('list-view');
  refreshList().then(() => $('pending-title').focus());
  timer = setInterval(refreshList, REFRESH_MS);
}

async function start() {
  $('decide-form').addEventListener('submit', decide);
  $('back').addEventListener('click', (e) => {
    e.preventDefault();
    navigate('/console');
  });
  window.addEventListener('popstate', route);
  try {
    session = await api('/console/session');
  } catch (err) {
    showOnly('signin');
    say(err.message, true);
    return;
  }
  if (!session.signedIn) {
    showOnly('signin');
    $('signin-available').hidden = !session.signInAvailable;
    $('signin-missing').hidden = session.signInAvailable;
    const back = location.pathname.startsWith('/console/approvals/') ? `?return=${encodeURIComponent(location.pathname)}` : '';
    $('signin-link').setAttribute('href', `/console/login${back}`);
    return;
  }
  const out = el('button', { type: 'button', text: 'Sign out' });
  out.addEventListener('click', async () => {
    await api('/console/logout', { method: 'POST', body: '{}' }).catch(() => {});
    location.assign('/console');
  });
  const u = session.user;
  $('who').replaceChildren(el('span', { text: `Signed in as ${u.name ? `${u.name} (${u.sub})` : u.sub}` }), out);
  route();
}

start();
