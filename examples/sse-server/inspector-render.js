// The parts of a task card that only turn a record into DOM nodes. Task
// fields are untrusted: text goes through textContent, never innerHTML, and
// only http(s) URLs become links.

export function el(tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined && text !== null) node.textContent = String(text)
  return node
}

export function setText(node, value) {
  const text = value ?? ''
  if (node.textContent !== text) node.textContent = text
  node.hidden = text === ''
}

export function renderProgress(parts, task) {
  const progress = task.progress
  const { bar, barLabel, progressRow } = parts
  if (progress?.total !== undefined && progress.total > 0) {
    bar.max = progress.total
    bar.value = Math.min(progress.current ?? 0, progress.total)
    const unit = progress.unit ? ` ${progress.unit}` : ''
    barLabel.textContent = `${progress.current ?? 0}/${progress.total}${unit}`
    progressRow.hidden = false
  } else if (task.state === 'running' || task.state === 'queued') {
    // No total: an indeterminate bar while it works.
    bar.removeAttribute('value')
    barLabel.textContent =
      progress?.label ?? (progress?.current !== undefined ? String(progress.current) : '')
    progressRow.hidden = false
  } else {
    progressRow.hidden = true
  }
}

export function artifactItem(artifact) {
  const item = el('li', 'artifact')
  const url = typeof artifact.url === 'string' ? safeUrl(artifact.url) : undefined
  if (url !== undefined) {
    const link = el('a', 'artifact-name', artifact.name)
    link.href = url
    link.target = '_blank'
    link.rel = 'noopener noreferrer'
    item.append(link)
  } else {
    item.append(el('span', 'artifact-name', artifact.name))
  }
  item.append(el('span', 'artifact-type', artifact.type))
  const value =
    artifact.text ??
    artifact.path ??
    artifact.url ??
    (artifact.data !== undefined ? JSON.stringify(artifact.data) : artifact.description)
  if (value !== undefined) {
    const shown = value.length > 300 ? `${value.slice(0, 300)}…` : value
    item.append(el('span', 'artifact-value', shown))
  }
  return item
}

function safeUrl(value) {
  try {
    const url = new URL(value, location.href)
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined
  } catch {
    return undefined
  }
}

export function renderArtifacts(parts, task) {
  const list = task.artifacts ?? []
  const key = JSON.stringify(list)
  if (key === parts.artifactsKey) return
  parts.artifactsKey = key
  parts.artifacts.replaceChildren(...list.map(artifactItem))
  parts.artifactsBox.hidden = list.length === 0
}

export function messageItem(message) {
  const item = el('li', `message ${message.direction}`)
  const who = message.direction === 'inbound' ? 'to task' : 'from task'
  item.append(el('span', 'who', message.inReplyTo !== undefined ? `${who} (answer)` : who))
  const text = message.content
    .map((part) => (part.type === 'text' ? part.text : JSON.stringify(part.data)))
    .join(' ')
  item.append(el('span', 'text', text))
  return item
}
