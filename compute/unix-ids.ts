// Names of local users and groups, as the system resolves them (getent: /etc files, LDAP,
// sssd alike), with /etc/passwd and /etc/group as the fallback when getent is missing.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';

function getent(db: 'passwd' | 'group', key: string): Promise<string[] | null> {
  return new Promise((resolve) => {
    execFile('getent', [db, key], { timeout: 2000 }, (err, stdout) => {
      if (err) {
        // exit 2: no such entry; anything else (no getent): let the caller read the file
        resolve((err as { code?: unknown }).code === 2 ? [] : null);
        return;
      }
      resolve(stdout.trim().split('\n')[0]?.split(':') ?? []);
    });
  });
}

async function fromFile(file: string, key: string, keyField: number): Promise<string[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[keyField] === key) return fields;
  }
  return [];
}

async function lookup(db: 'passwd' | 'group', key: string): Promise<string[]> {
  const viaGetent = await getent(db, key);
  if (viaGetent !== null) return viaGetent;
  const numeric = /^\d+$/.test(key);
  return fromFile(db === 'passwd' ? '/etc/passwd' : '/etc/group', key, numeric ? 2 : 0);
}

/** The login name of a uid, or `uid N` when it has none. */
export async function userName(uid: number): Promise<string> {
  const fields = await lookup('passwd', String(uid));
  return fields[0] || `uid ${uid}`;
}

/** The gid of a group given by name or number; null when there is no such group. */
export async function groupId(group: string): Promise<number | null> {
  if (/^\d+$/.test(group)) return Number(group);
  const fields = await lookup('group', group);
  const gid = fields[2];
  return gid !== undefined && /^\d+$/.test(gid) ? Number(gid) : null;
}
