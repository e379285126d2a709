import { isAbsolute, join, normalize, relative, sep } from 'node:path';

/** Every name that becomes a path (namespace, batch, job, file alias) must match this. */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isSafeName(name: string): boolean {
  return SAFE_NAME.test(name);
}

/** Why a name is unsafe as a path component, in words a user can act on; null when it is safe. */
export function unsafeNameReason(name: string): string | null {
  if (name.length === 0) return 'must not be empty';
  if (name.length > 128) return `is ${name.length} characters long; at most 128 are allowed`;
  if (!/^[A-Za-z0-9]/.test(name)) return `"${name}" must start with a letter or digit`;
  const bad = name.match(/[^A-Za-z0-9._-]/);
  if (bad) return `"${name}" contains ${JSON.stringify(bad[0])}; only letters, digits, ".", "_" and "-" are allowed`;
  return null;
}

/**
 * Joins relative path parts under root and refuses any result that leaves root
 * (absolute parts, "..", or empty components that would alias root itself).
 */
export function safeJoin(root: string, ...parts: string[]): string {
  for (const part of parts) {
    if (isAbsolute(part)) throw new Error(`path ${JSON.stringify(part)} is absolute; only relative paths are allowed under ${root}`);
  }
  const full = normalize(join(root, ...parts));
  const rel = relative(root, full);
  if (rel === '' || rel === '..' || rel.startsWith('..' + sep) || isAbsolute(rel)) {
    throw new Error(`path ${JSON.stringify(parts.join('/'))} leaves ${root}`);
  }
  return full;
}

/** True when a relative member path (of an archive, a pull) stays inside its root. */
export function isContainedRelative(path: string): boolean {
  if (path === '' || isAbsolute(path) || path.includes('\0')) return false;
  const norm = normalize(path);
  return !(norm === '..' || norm.startsWith('..' + sep) || isAbsolute(norm));
}
