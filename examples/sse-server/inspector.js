// The task inspector: every session's tasks, live from GET /events.
//
// Task fields come from whoever created the task, so they are untrusted:
// everything is built with createElement and textContent, never innerHTML,
// and only http(s) artifact URLs become links. Cards are updated in place,
// so a half-typed answer survives progress events.

import { el, messageItem, renderArtifacts, renderProgress, setText } from '/inspector-render.js'

const TERMINAL = new Set(['succeeded', 'failed', 'canceled'])

/** sessionId -> { section, grid, tasks: Map<taskId, { task, card, parts }> } */
const sessions = new Map()
const sessionsRoot = document.getElementById('sessions')
const empty = document.getElementById('empty')
const status = document.getElementById('status')

const taskPath = (sessionId, taskId, action) =>
  `/sessions/${encodeURIComponent(sessionId)}/tasks/${encodeURIComponent(taskId)}/${action}`

async function errorOf(response) {
  try {
    const body = await response.json()
    if (body && typeof body.error === 'string') return body.error
  } catch {}
  return `HTTP ${response.status}`
}

function setStatus(value, text) {
  status.dataset.status = value
  status.textContent = text
}

// ---- sessions ---------------------------------------------------------------

function sessionOf(sessionId) {
  let session = sessions.get(sessionId)
  if (session === undefined) {
    const section = el('section', 'session')
    section.dataset.sessionId = sessionId
    const title = el('h2')
    title.append(el('span', 'label', 'Session '), el('code', 'session-id', sessionId))
    const count = el('span', 'count')
    title.append(count)
    const grid = el('div', 'tasks')
    section.append(title, grid)
    const after = [...sessions.keys()].sort().find((id) => id > sessionId)
    sessionsRoot.insertBefore(section, after === undefined ? null : sessions.get(after).section)
    session = { section, grid, count, tasks: new Map() }
    sessions.set(sessionId, session)
  }
  return session
}

function refreshSession(sessionId) {
  const session = sessions.get(sessionId)
  if (session === undefined) return
  if (session.tasks.size === 0) {
    session.section.remove()
    sessions.delete(sessionId)
  } else {
    const open = [...session.tasks.values()].filter((t) => !TERMINAL.has(t.task.state)).length
    const n = session.tasks.size
    session.count.textContent = `${n} task${n === 1 ? '' : 's'}, ${open} unfinished`
  }
  empty.hidden = sessions.size > 0
}

function removeSession(sessionId) {
  const session = sessions.get(sessionId)
  if (session === undefined) return
  session.section.remove()
  sessions.delete(sessionId)
  empty.hidden = sessions.size > 0
}

// ---- task cards -------------------------------------------------------------

function newCard(sessionId, taskId) {
  const card = el('article', 'task')
  card.dataset.sessionId = sessionId
  card.dataset.taskId = taskId
  const head = el('header', 'head')
  const name = el('h3', 'name')
  const state = el('span', 'state')
  head.append(name, state)
  const meta = el('div', 'meta')
  const kind = el('span', 'kind')
  const id = el('span', 'id', taskId)
  meta.append(kind, id)
  const progressRow = el('div', 'progress-row')
  const bar = el('progress')
  const barLabel = el('span', 'progress-label')
  progressRow.append(bar, barLabel)
  const detail = el('p', 'detail')
  const summary = el('p', 'summary')
  const error = el('p', 'error')
  const question = el('div', 'question')
  const artifactsBox = el('div', 'artifacts-box')
  artifactsBox.append(el('h4', null, 'Artifacts'))
  const artifacts = el('ul', 'artifacts')
  artifactsBox.append(artifacts)
  const messagesBox = el('details', 'messages-box')
  messagesBox.open = true
  const messagesTitle = el('summary', null, 'Messages')
  const messages = el('ol', 'messages')
  messagesBox.append(messagesTitle, messages)
  const foot = el('footer', 'foot')
  const cancel = el('button', 'cancel', 'Cancel')
  cancel.type = 'button'
  const note = el('span', 'note')
  foot.append(cancel, note)
  card.append(head, meta, progressRow, detail, summary, error, question, artifactsBox)
  card.append(messagesBox, foot)
  const entry = {
    card,
    parts: {
      name,
      state,
      kind,
      bar,
      barLabel,
      progressRow,
      detail,
      summary,
      error,
      question,
      artifactsBox,
      artifacts,
      artifactsKey: '',
      messagesBox,
      messagesTitle,
      messages,
      cancel,
      note,
      askedId: undefined,
    },
    task: undefined,
    sessionId,
    taskId,
  }
  cancel.addEventListener('click', () => cancelTask(entry))
  return entry
}

// The question and its form, rebuilt only when the input request changes.
function renderQuestion(entry, task) {
  const { parts } = entry
  const request = task.state === 'awaiting_input' ? task.inputRequest : undefined
  if (request === undefined) {
    if (parts.askedId !== undefined) parts.question.replaceChildren()
    parts.askedId = undefined
    parts.question.hidden = true
    return
  }
  parts.question.hidden = false
  if (parts.askedId === request.id) return
  parts.askedId = request.id
  const form = el('form', 'answer')
  form.dataset.inputRequestId = request.id
  const prompt = el('p', 'prompt', request.prompt)
  const label = el('label', 'answer-label')
  const input = el('textarea')
  input.name = 'text'
  input.rows = 2
  input.required = true
  input.maxLength = 4000
  input.placeholder = 'Your answer'
  label.append(input)
  const submit = el('button', 'submit', 'Send answer')
  submit.type = 'submit'
  const problem = el('p', 'form-error')
  problem.hidden = true
  form.append(prompt, label, submit, problem)
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    void answer(entry, form, input, submit, problem)
  })
  parts.question.replaceChildren(form)
}

async function answer(entry, form, input, submit, problem) {
  const text = input.value
  if (text.trim() === '') {
    setText(problem, 'Type an answer first.')
    return
  }
  submit.disabled = true
  setText(problem, '')
  try {
    const response = await fetch(taskPath(entry.sessionId, entry.taskId, 'answer'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputRequestId: form.dataset.inputRequestId, text }),
    })
    if (!response.ok) setText(problem, await errorOf(response))
    // On success the task.updated event replaces the form.
  } catch (error) {
    setText(problem, `could not send: ${error.message}`)
  } finally {
    submit.disabled = false
  }
}

async function cancelTask(entry) {
  const { cancel, note } = entry.parts
  cancel.disabled = true
  setText(note, 'canceling…')
  try {
    const response = await fetch(taskPath(entry.sessionId, entry.taskId, 'cancel'), {
      method: 'POST',
    })
    if (!response.ok) {
      setText(note, await errorOf(response))
      cancel.disabled = false
    }
  } catch (error) {
    setText(note, `could not cancel: ${error.message}`)
    cancel.disabled = false
  }
}

function renderTask(entry, task) {
  const { card, parts } = entry
  entry.task = task
  card.dataset.state = task.state
  setText(parts.name, task.displayName)
  parts.state.className = `state state-${task.state}`
  parts.state.textContent = task.state
  setText(parts.kind, task.kind)
  renderProgress(parts, task)
  // A finished task's summary says more than the detail of its last state.
  const staleDetail = TERMINAL.has(task.state) && task.summary !== undefined
  setText(parts.detail, staleDetail ? '' : task.stateDetail)
  setText(parts.summary, task.summary)
  setText(parts.error, task.error ? `${task.error.kind}: ${task.error.message}` : '')
  renderQuestion(entry, task)
  renderArtifacts(parts, task)
  const finished = TERMINAL.has(task.state)
  parts.cancel.hidden = finished
  if (finished) {
    setText(parts.note, '')
  } else if (task.cancelRequestedAt !== undefined) {
    parts.cancel.disabled = true
    setText(parts.note, 'cancel requested')
  }
}

function upsertTask(sessionId, task) {
  const session = sessionOf(sessionId)
  let entry = session.tasks.get(task.id)
  const fresh = entry === undefined
  if (fresh) {
    entry = newCard(sessionId, task.id)
    session.tasks.set(task.id, entry)
    session.grid.append(entry.card)
  }
  renderTask(entry, task)
  if (fresh) void refreshMessages(entry)
  refreshSession(sessionId)
}

function removeTask(sessionId, taskId) {
  const session = sessions.get(sessionId)
  const entry = session?.tasks.get(taskId)
  if (entry === undefined) return
  entry.card.remove()
  entry.removed = true
  session.tasks.delete(taskId)
  refreshSession(sessionId)
}

// ---- messages (GET .../messages, again on every message event) --------------

async function refreshMessages(entry) {
  // One fetch per card at a time; events during it ask for one more.
  if (entry.fetching) {
    entry.again = true
    return
  }
  entry.fetching = true
  try {
    do {
      entry.again = false
      const response = await fetch(taskPath(entry.sessionId, entry.taskId, 'messages'))
      if (entry.removed) return
      if (!response.ok) {
        if (response.status !== 404) setText(entry.parts.note, await errorOf(response))
        return
      }
      const { messages } = await response.json()
      entry.parts.messages.replaceChildren(...messages.map(messageItem))
      entry.parts.messagesTitle.textContent = `Messages (${messages.length})`
      entry.parts.messagesBox.hidden = messages.length === 0
    } while (entry.again)
  } catch {
    // The next message event (or a reconnect's snapshot) tries again.
  } finally {
    entry.fetching = false
  }
}

// ---- the stream -------------------------------------------------------------

const source = new EventSource('/events')
source.onerror = () => setStatus('reconnecting', 'reconnecting…')
const data = (event) => JSON.parse(event.data)

// The sessions the server knows as the stream (re)starts: drop the others.
source.addEventListener('sessions', (event) => {
  const ids = new Set(data(event).sessionIds)
  for (const id of [...sessions.keys()]) if (!ids.has(id)) removeSession(id)
  setStatus('live', 'live')
})
// A session's snapshot: its tasks as they are now (also after a gap).
source.addEventListener('snapshot', (event) => {
  const { sessionId, payload } = data(event)
  const keep = new Set(payload.tasks.map((task) => task.id))
  const session = sessions.get(sessionId)
  for (const id of session ? [...session.tasks.keys()] : []) {
    if (!keep.has(id)) removeTask(sessionId, id)
  }
  for (const task of payload.tasks) {
    const known = sessions.get(sessionId)?.tasks.get(task.id)
    upsertTask(sessionId, task)
    if (known !== undefined) void refreshMessages(known)
  }
  refreshSession(sessionId)
})
for (const type of ['task.created', 'task.updated']) {
  source.addEventListener(type, (event) => {
    const { sessionId, payload } = data(event)
    upsertTask(sessionId, payload.task)
  })
}
source.addEventListener('task.deleted', (event) => {
  const { sessionId, payload } = data(event)
  removeTask(sessionId, payload.taskId)
})
for (const type of ['task.message.sent', 'task.message.received']) {
  source.addEventListener(type, (event) => {
    const { sessionId, payload } = data(event)
    const entry = sessions.get(sessionId)?.tasks.get(payload.taskId)
    if (entry !== undefined) void refreshMessages(entry)
  })
}

// ---- spawning demo tasks ----------------------------------------------------

const spawnForm = document.getElementById('spawn')
const spawnError = document.getElementById('spawn-error')
spawnForm.addEventListener('submit', async (event) => {
  event.preventDefault()
  const kind = event.submitter?.value === 'question' ? 'question' : 'job'
  const session = document.getElementById('spawn-session').value.trim()
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(session)) {
    setText(spawnError, 'A session id here is 1-128 characters of A-Z, a-z, 0-9, _ . or -.')
    return
  }
  setText(spawnError, '')
  const query = kind === 'job' ? 'steps=30&stepMs=500' : 'kind=question&steps=5&stepMs=400'
  const response = await fetch(`/sessions/${encodeURIComponent(session)}/tasks?${query}`, {
    method: 'POST',
  }).catch((error) => ({ ok: false, status: 0, json: async () => ({ error: error.message }) }))
  if (!response.ok) setText(spawnError, await errorOf(response))
})
