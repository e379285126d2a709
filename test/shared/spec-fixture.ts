// Helpers for the batch-spec tests: a batch file with its companion files in a fresh folder.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseBatch, type ParseResult } from '../../shared/spec/parse.js';

/** Strips the leading newline and the common indentation of a template literal, so line 1 is the first line. */
export function yaml(text: string): string {
  const lines = text.replace(/^\n/, '').replace(/\n\s*$/, '\n').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.match(/^ */)![0].length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

export interface Folder {
  dir: string;
  file: string;
  cleanup: () => void;
}

/** Writes `batch.yaml` and `files` (relative path → content; a trailing / makes a folder) in a temp folder. */
export function batchFolder(text: string, files: Record<string, string> = {}): Folder {
  const dir = mkdtempSync(join(tmpdir(), 'distribute-spec-'));
  for (const [name, content] of Object.entries(files)) {
    const path = join(dir, name);
    if (name.endsWith('/')) mkdirSync(path, { recursive: true });
    else {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, content);
    }
  }
  const file = join(dir, 'batch.yaml');
  writeFileSync(file, text);
  return { dir, file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Parses `text` as if it were `batch.yaml` in a folder holding `files`. */
export function parseIn(text: string, files: Record<string, string> = {}, checkFiles = true): ParseResult & { dir: string } {
  const folder = batchFolder(text, files);
  try {
    return { ...parseBatch(text, { file: folder.file, checkFiles }), dir: folder.dir };
  } finally {
    folder.cleanup();
  }
}
