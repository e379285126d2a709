// Batch YAML text → BatchSpec, or every problem at once, compiler-style:
// `FILE:LINE:COL: field.path: message`, pointing at the offending key or value.
import { dirname, resolve } from 'node:path';
import { isAlias, LineCounter, parseDocument, visit, type Document, type YAMLError } from 'yaml';
import { MAX_YAML_ALIASES } from '../limits.js';
import { locate, formatPath } from './positions.js';
import { normalizeBatch } from './normalize.js';
import type { Problem } from './issues.js';
import type { BatchSpec } from './types.js';

export interface SpecError {
  /** the file as the user named it */
  file: string;
  /** 1-based */
  line: number;
  /** 1-based */
  col: number;
  /** `python.jobs[3].required_files[0].path`; empty for the file as a whole or a YAML syntax error */
  path: string;
  message: string;
}

export interface ParseOptions {
  /** the file as the user named it: shown in errors; files are resolved from its folder */
  file: string;
  /** check that every file the batch names exists (false on the head, which has none of them) */
  checkFiles?: boolean;
}

/** `document`: the YAML as plain data (anchors and merge keys resolved), what `add` sends the head. */
export type ParseResult = { ok: true; batch: BatchSpec; document: unknown } | { ok: false; errors: SpecError[] };

export function parseBatch(text: string, opts: ParseOptions): ParseResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, merge: true });
  if (doc.errors.length > 0) return { ok: false, errors: syntaxErrors(doc.errors, text, lineCounter, opts.file) };
  if (doc.contents === null) {
    return { ok: false, errors: [{ file: opts.file, line: 1, col: 1, path: '', message: 'the file is empty; a batch needs meta: and one of python:, apptainer:, shell:' }] };
  }
  const abs = resolve(opts.file);
  const problems: Problem[] = [];
  let document: unknown;
  try {
    document = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    // the yaml library refuses a document whose aliases expand past the count (an alias bomb)
    const at = firstAliasOffset(doc);
    const pos = lineCounter.linePos(at);
    const why = /alias/i.test((err as Error).message) ? `YAML: aliases expand to more than ${MAX_YAML_ALIASES} nodes (an alias bomb?); write the values out` : `YAML: ${firstLine((err as Error).message)}`;
    return { ok: false, errors: [{ file: opts.file, line: pos.line, col: pos.col, path: '', message: why }] };
  }
  const batch = normalizeBatch(document, {
    file: abs,
    dir: dirname(abs),
    checkFiles: opts.checkFiles ?? true,
    problems,
    statCache: new Map(),
    lineOf: (path) => locate(doc, lineCounter, path, 'value').line,
  });
  if (batch && problems.length === 0) return { ok: true, batch, document };
  const errors = problems.map((p): SpecError => {
    const pos = locate(doc, lineCounter, p.path, p.target);
    return { file: opts.file, line: pos.line, col: pos.col, path: formatPath(p.path), message: p.message };
  });
  return { ok: false, errors: sortErrors(dedupe(errors)) };
}

/**
 * YAML syntax errors. After the first real one the parser's further complaints are mostly its
 * echo, so they stop there; duplicate keys before it are independent and all reported.
 */
function syntaxErrors(yamlErrors: readonly YAMLError[], text: string, lines: LineCounter, file: string): SpecError[] {
  const errors: SpecError[] = [];
  for (const e of yamlErrors) {
    const pos = lines.linePos(e.pos[0]);
    let message = e.code === 'DUPLICATE_KEY' ? `YAML: duplicate key` : `YAML: ${firstLine(e.message)}`;
    const lineText = text.split('\n')[pos.line - 1] ?? '';
    if (e.code !== 'DUPLICATE_KEY' && /\{[A-Za-z_][A-Za-z0-9_]*\}/.test(lineText)) {
      message += ' (a value with {placeholders} inside [ ] or { }, or one that starts with {, must be quoted)';
    }
    errors.push({ file, line: pos.line, col: pos.col, path: '', message });
    if (e.code !== 'DUPLICATE_KEY') break;
  }
  return sortErrors(errors);
}

/** Where the document's first alias (`*name`) is written; 0 when it has none. */
function firstAliasOffset(doc: Document): number {
  let at = 0;
  visit(doc, (_key, node) => {
    if (isAlias(node) && node.range) {
      at = node.range[0];
      return visit.BREAK;
    }
    return undefined;
  });
  return at;
}

function firstLine(s: string): string {
  return s.split('\n')[0]!.trim();
}

function dedupe(errors: SpecError[]): SpecError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.line}:${e.col}:${e.path}:${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function sortErrors(errors: SpecError[]): SpecError[] {
  return errors.sort((a, b) => a.line - b.line || a.col - b.col);
}

/** One line per error: `FILE:LINE:COL: path: message` (the path is left out when empty). */
export function formatSpecError(e: SpecError): string {
  return `${e.file}:${e.line}:${e.col}: ${e.path ? `${e.path}: ` : ''}${e.message}`;
}

export function formatSpecErrors(errors: readonly SpecError[]): string {
  return errors.map(formatSpecError).join('\n');
}
