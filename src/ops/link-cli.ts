// Puts the `distribute` CLI on PATH for the user who runs `distribute up` from a clone, so
// that the README's next command works in a new shell: a symlink in ~/.local/bin to this
// build's cli.js, and (when no login profile puts ~/.local/bin on PATH yet) the line that
// does so appended to ~/.profile. Nothing happens when PATH already finds this very CLI; an
// existing ~/.local/bin/distribute of another making is left alone, and said so.
import { appendFileSync, existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface LinkOptions {
  /** the CLI's entry file (dist/src/cli.js of this build) */
  cli: string;
  home: string;
  /** the PATH of this process */
  path: string;
}

export interface LinkResult {
  /** what to tell the user; null when there is nothing to say */
  note: string | null;
}

const PROFILE_LINE = '\n# the distribute CLI, linked by `distribute up`\ncase ":$PATH:" in *":$HOME/.local/bin:"*) ;; *) PATH="$HOME/.local/bin:$PATH" ;; esac\n';

function realOrNull(p: string): string | null {
  try {
    return realpathSync(p);
  } catch {
    return null;
  }
}

/** The login profiles a new login shell reads (bash reads the first of these that exists; sh and dash read .profile). */
function loginProfiles(home: string): string[] {
  const bash = ['.bash_profile', '.bash_login'].map((f) => join(home, f)).find((f) => existsSync(f));
  return [join(home, '.profile'), ...(bash ? [bash] : [])];
}

export function linkCli(o: LinkOptions): LinkResult {
  const cli = realOrNull(o.cli);
  if (!cli) return { note: null };
  const dirs = o.path.split(delimiter).filter(Boolean);
  if (dirs.some((d) => realOrNull(join(d, 'distribute')) === cli)) return { note: null };

  const bin = join(o.home, '.local', 'bin');
  const link = join(bin, 'distribute');
  const shown = '~/.local/bin/distribute';
  let exists = true;
  try {
    lstatSync(link);
  } catch {
    exists = false;
  }
  if (exists && realOrNull(link) !== cli) {
    return { note: `${shown} exists and is another distribute; left alone (this one: ${cli})` };
  }
  const said: string[] = [];
  if (!exists) {
    mkdirSync(bin, { recursive: true });
    symlinkSync(cli, link);
    said.push(`linked ${shown} to ${cli}`);
  }
  const profiles = loginProfiles(o.home);
  const missing = profiles.filter((f) => !(existsSync(f) && readFileSync(f, 'utf8').includes('.local/bin')));
  for (const f of missing) appendFileSync(f, PROFILE_LINE);
  if (missing.length) said.push(`added ~/.local/bin to PATH in ${missing.map((f) => f.replace(o.home, '~')).join(' and ')}`);
  if (dirs.includes(bin)) return { note: said.length ? said.join('; ') : null };
  said.push('a new login shell finds `distribute`; in this one: export PATH="$HOME/.local/bin:$PATH"');
  return { note: said.join('; ') };
}
