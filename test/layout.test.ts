import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { describe, expect, test } from 'vitest'

// The source tree is part of the design: folders are layers, each importing
// only from the layers before it, files stay small, and index files only
// re-export. These checks keep it that way.

const SRC = join(import.meta.dirname, '..', 'src')

function sources(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...sources(path))
    else if (name.endsWith('.ts')) out.push(path)
  }
  return out
}

const files = sources(SRC)
const text = new Map(files.map((f) => [f, readFileSync(f, 'utf8')]))

/** Relative imports of a file, resolved to source paths. */
function importsOf(file: string): string[] {
  const out: string[] = []
  for (const m of (text.get(file) as string).matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) {
    out.push(normalize(join(dirname(file), `${m[1]}.ts`)))
  }
  return out
}

// Lower rank first; a file may import only from its own rank or lower ones.
const RANK: Record<string, number> = {
  model: 0,
  rules: 1,
  events: 2,
  stream: 3,
  registry: 4,
  execution: 5,
  interop: 5,
  backends: 6,
  bridges: 6,
  testing: 7,
}
const layerOf = (file: string): string => relative(SRC, file).split('/')[0] ?? ''
// A backend's testing entry (postgres/testing.ts) belongs to the testing layer.
const rankOf = (file: string): number =>
  file.endsWith('/testing.ts') ? (RANK.testing as number) : (RANK[layerOf(file)] ?? 99)

describe('source layout', () => {
  test('every source file lives in a layer folder (or is the root index)', () => {
    for (const file of files) {
      const rel = relative(SRC, file)
      if (rel === 'index.ts') continue
      expect(Object.keys(RANK), rel).toContain(layerOf(file))
    }
  })

  test('no source file is over 400 lines', () => {
    const long = files
      .map((f) => ({ file: relative(SRC, f), lines: (text.get(f) as string).split('\n').length }))
      .filter((f) => f.lines > 400)
    expect(long).toEqual([])
  })

  test('layers import only from themselves and the layers before them', () => {
    const wrong: string[] = []
    for (const file of files) {
      if (relative(SRC, file) === 'index.ts') continue
      for (const target of importsOf(file)) {
        if (rankOf(target) > rankOf(file)) {
          wrong.push(`${relative(SRC, file)} -> ${relative(SRC, target)}`)
        }
      }
    }
    expect(wrong).toEqual([])
  })

  test('there is no import cycle', () => {
    const state = new Map<string, 'open' | 'done'>()
    const cycles: string[] = []
    const visit = (file: string, stack: string[]) => {
      if (state.get(file) === 'done') return
      if (state.get(file) === 'open') {
        cycles.push(
          [...stack.slice(stack.indexOf(file)), file].map((f) => relative(SRC, f)).join(' -> '),
        )
        return
      }
      state.set(file, 'open')
      for (const target of importsOf(file)) visit(target, [...stack, file])
      state.set(file, 'done')
    }
    for (const file of files) visit(file, [])
    expect(cycles).toEqual([])
  })

  test('index files only re-export, explicitly', () => {
    for (const file of files.filter((f) => f.endsWith('/index.ts'))) {
      const body = (text.get(file) as string)
        .replace(/\/\*[\s\S]*?\*\//g, '')
        .replace(/\/\/.*$/gm, '')
      const statements = body
        .split(/(?<=['"])\s*\n/)
        .map((s) => s.trim())
        .filter(Boolean)
      for (const statement of statements) {
        expect(statement, relative(SRC, file)).toMatch(/^export (type )?\{[^}]*\} from '[^']+'$/s)
      }
    }
  })

  test('nanoid and mitt each stay in one file', () => {
    const users = (pkg: string) =>
      files
        .filter((f) => (text.get(f) as string).includes(`from '${pkg}'`))
        .map((f) => relative(SRC, f))
    expect(users('nanoid')).toEqual(['model/ids.ts'])
    expect(users('mitt')).toEqual(['events/emitter.ts'])
  })
})
