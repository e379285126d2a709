// From a field path (`python.jobs[3].required_files[0].path`) back to where it is written in
// the YAML, so every error names a line and a column an editor can jump to.
import { isAlias, isMap, isNode, isPair, isScalar, isSeq, type Document, type LineCounter, type Node } from 'yaml';

export type FieldPath = readonly (string | number)[];

/** What an error points at: the value (bad values), the key (unknown keys), or the owner of a missing key. */
export type Target = 'value' | 'key' | 'parent';

export interface Position {
  line: number;
  col: number;
}

/** `['python','jobs',3,'file']` → `python.jobs[3].file` */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? seg : `.${seg}`;
  }
  return out;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  if (key === null || key === undefined) return undefined;
  return String(key);
}

function start(node: unknown): number | undefined {
  return isNode(node) && node.range ? node.range[0] : undefined;
}

/** A `key:` with nothing after it is a null scalar of zero width: point at its key instead. */
function isEmptyValue(node: unknown): boolean {
  return node === null || node === undefined || (isScalar(node) && node.value === null && node.source === '');
}

/** Locates `path` in the document; falls back to the nearest enclosing node that exists. */
export function locate(doc: Document, lines: LineCounter, path: FieldPath, target: Target): Position {
  let node: unknown = doc.contents;
  let keyNode: unknown = null;
  // the key and the value of the nearest ancestor, for `parent` targets and missing paths
  let ownerKey: unknown = null;
  let ownerNode: unknown = node;
  let found = true;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    ownerKey = keyNode;
    ownerNode = node;
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
      if (!pair) { found = false; break; }
      keyNode = pair.key;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      keyNode = null;
      node = node.items[seg];
    } else {
      found = false;
      break;
    }
  }
  let offset: number | undefined;
  if (!found) {
    // the path stops at ownerNode: a missing key is reported on the key that owns the map
    offset = start(ownerKey) ?? start(ownerNode);
  } else if (target === 'parent') {
    offset = start(keyNode) ?? start(node);
  } else if (target === 'key') {
    offset = start(keyNode) ?? start(node);
  } else {
    offset = isEmptyValue(node) ? start(keyNode) ?? start(ownerNode) : start(node) ?? start(keyNode);
  }
  const pos = lines.linePos(offset ?? 0);
  return { line: pos.line, col: pos.col };
}

/** The start offset of a node, exported for YAML syntax errors and root-level problems. */
export function nodeStart(node: Node | null | undefined): number {
  return start(node) ?? 0;
}
