// `distribute install head|compute`: what an admin does once per machine, done the same way
// every time. Creates the `distribute` system user and group, /etc/distribute with the
// role's config (from configs/, never overwriting one that exists), /var/lib/distribute,
// the systemd unit and a /usr/local/bin/distribute launcher, then prints the commands that
// remain (systemctl enable --now, tokens). It never starts anything.
//
// `--prefix DIR` lays everything out under DIR instead of / (a staging image, or a test);
// the files still name the target's paths (/etc/distribute/...), and the user is added to
// DIR/etc/passwd with `useradd --prefix` when that file exists. `--config-only` writes the
// config alone. `--dry-run` prints the steps and changes nothing.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../shared/errors.js';
import { installedConfig } from './installed-config.js';
import { configFileOf, INSTALLED, SYSTEM, SYSTEM_USER, underPrefix, unitName, type Role } from './layout.js';

export interface InstallOptions {
  role: Role;
  /** root the files are laid out under; `/` for this machine */
  prefix: string;
  configOnly: boolean;
  dryRun: boolean;
  /** the package whose configs/, systemd/ and dist/ are installed; default: this one */
  packageRoot?: string;
  /** the Node.js the launcher runs; default: the one running now */
  nodePath?: string;
  /** one line per step; default stdout */
  say?: (line: string) => void;
}

export interface InstallReport {
  /** what was done (or, with dryRun, would be) */
  steps: string[];
  /** problems the admin should know about; nothing failed */
  warnings: string[];
  /** the commands that remain */
  next: string[];
}

/** The package root: the nearest folder above this module with distribute's package.json. */
export function packageRootOf(from = dirname(fileURLToPath(import.meta.url))): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'distribute') return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json of distribute above ${from}`);
  }
}

interface Ids {
  uid: number;
  gid: number;
}

/** uid and gid of the system user from `<prefix>/etc/passwd`, else (on /) from NSS. */
function systemIds(prefix: string): Ids | null {
  const passwd = underPrefix(prefix, '/etc/passwd');
  let line: string | undefined;
  if (existsSync(passwd)) line = readFileSync(passwd, 'utf8').split('\n').find((l) => l.startsWith(`${SYSTEM_USER}:`));
  if (!line && prefix === '/') {
    const r = spawnSync('getent', ['passwd', SYSTEM_USER], { encoding: 'utf8' });
    if (r.status === 0) line = r.stdout.trim();
  }
  if (!line) return null;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function nologinShell(): string {
  return ['/usr/sbin/nologin', '/sbin/nologin'].find((p) => existsSync(p)) ?? '/bin/false';
}

function launcherText(nodePath: string, cli: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `#!/bin/sh\n# distribute launcher, written by \`distribute install\`: this package, run by this Node.js.\nexec ${q(nodePath)} ${q(cli)} "$@"\n`;
}

const LAUNCHER_MARK = 'written by `distribute install`';

/** Folders ProtectHome=yes hides from the daemons. */
function hiddenFromServices(path: string): boolean {
  return /^\/(home|root|run\/user)(\/|$)/.test(path);
}

export async function install(o: InstallOptions): Promise<InstallReport> {
  const prefix = resolve(o.prefix);
  const say = o.say ?? ((l: string) => process.stdout.write(l + '\n'));
  const packageRoot = o.packageRoot ?? packageRootOf();
  const nodePath = o.nodePath ?? process.execPath;
  const asRoot = process.geteuid?.() === 0;
  if (prefix === '/' && !asRoot && !o.dryRun) {
    throw new UserError('install writes to /etc and /usr/local and adds a system user: run it as root (sudo), see the steps with --dry-run, or lay the files out under another folder with --prefix DIR', 1);
  }
  const report: InstallReport = { steps: [], warnings: [], next: [] };
  const step = (line: string) => {
    report.steps.push(line);
    say(`${o.dryRun ? 'would ' : ''}${line}`);
  };
  const warn = (line: string) => {
    report.warnings.push(line);
    say(`warning: ${line}`);
  };
  const at = (p: string) => underPrefix(prefix, p);

  // 1. the system user and group
  let ids = systemIds(prefix);
  if (!o.configOnly) {
    if (ids) step(`keep user ${SYSTEM_USER} (uid ${ids.uid}): it exists`);
    else if (!existsSync(at('/etc/passwd'))) warn(`no ${at('/etc/passwd')}: user ${SYSTEM_USER} not created (create it on the target machine: useradd --system --user-group ${SYSTEM_USER})`);
    else {
      const args = [...(prefix === '/' ? [] : ['--prefix', prefix]), '--system', '--user-group', '--home-dir', SYSTEM.stateDir, '--no-create-home', '--shell', nologinShell(), '--comment', 'distribute daemons', SYSTEM_USER];
      step(`create user and group ${SYSTEM_USER}: useradd ${args.join(' ')}`);
      if (!o.dryRun) {
        const r = spawnSync('useradd', args, { encoding: 'utf8' });
        if (r.error || r.status !== 0) throw new UserError(`cannot create user ${SYSTEM_USER}: ${r.error?.message ?? r.stderr.trim()}`, 1);
        ids = systemIds(prefix);
      }
    }
  }
  const own = async (path: string, uid: number | 'user', mode: number) => {
    if (o.dryRun) return;
    await chmod(path, mode);
    if (!ids || !asRoot) return;
    await chown(path, uid === 'user' ? ids.uid : uid, ids.gid);
  };
  if (!ids && !o.dryRun && !o.configOnly) warn(`files keep their current owner: there is no user ${SYSTEM_USER} to give them to`);
  if (ids && !asRoot && !o.dryRun) warn('not running as root: files keep their current owner');

  // 2. the config folder and the role's config (never overwritten)
  const configDir = at(SYSTEM.configDir);
  step(`${existsSync(configDir) ? 'keep' : 'create'} ${SYSTEM.configDir}/ (root:${SYSTEM_USER}, 0750)`);
  if (!o.dryRun) await mkdir(configDir, { recursive: true });
  await own(configDir, 0, 0o750);
  const configFile = configFileOf(o.role);
  if (existsSync(at(configFile))) {
    step(`keep ${configFile}: it exists (never overwritten)`);
  } else {
    const { example, text } = await installedConfig(o.role, packageRoot);
    step(`write ${configFile} (root:${SYSTEM_USER}, 0640) from ${example}`);
    if (!o.dryRun) await writeFile(at(configFile), text, { mode: 0o640 });
    await own(at(configFile), 0, 0o640);
  }
  if (o.configOnly) {
    report.next.push(`edit ${configFile}`);
    say(`next: edit ${configFile}`);
    return report;
  }

  // 3. the state folder (systemd's StateDirectory= would make it too; the token command needs it before the first start)
  for (const dir of [SYSTEM.stateDir, o.role === 'head' ? INSTALLED.headStateDir : INSTALLED.computeWorkDir]) {
    step(`${existsSync(at(dir)) ? 'keep' : 'create'} ${dir}/ (${SYSTEM_USER}:${SYSTEM_USER}, 0750)`);
    if (!o.dryRun) await mkdir(at(dir), { recursive: true });
    await own(at(dir), 'user', 0o750);
  }

  // 4. the unit (the package's own file: replaced when it changed)
  const unit = unitName(o.role);
  const unitSource = join(packageRoot, 'systemd', unit);
  const unitDest = at(join(SYSTEM.unitDir, unit));
  const unitText = await readFile(unitSource, 'utf8');
  const current = existsSync(unitDest) ? await readFile(unitDest, 'utf8') : null;
  step(current === null ? `install ${join(SYSTEM.unitDir, unit)}` : current === unitText ? `keep ${join(SYSTEM.unitDir, unit)}: unchanged` : `update ${join(SYSTEM.unitDir, unit)}`);
  if (!o.dryRun && current !== unitText) {
    await mkdir(dirname(unitDest), { recursive: true });
    await copyFile(unitSource, unitDest);
    await chmod(unitDest, 0o644);
  }

  // 5. the launcher the unit runs
  const cli = join(packageRoot, 'dist', 'src', 'cli.js');
  const launcher = at(SYSTEM.launcher);
  const launcherBody = launcherText(nodePath, cli);
  const existing = existsSync(launcher) ? await readFile(launcher, 'utf8').catch(() => '') : null;
  if (existing !== null && !existing.includes(LAUNCHER_MARK)) {
    step(`keep ${SYSTEM.launcher}: it is not ours (an npm install -g?); the unit runs it as it is`);
  } else {
    step(`${existing === null ? 'write' : existing === launcherBody ? 'keep' : 'update'} ${SYSTEM.launcher} → ${nodePath} ${cli}`);
    if (!o.dryRun && existing !== launcherBody) {
      await mkdir(dirname(launcher), { recursive: true });
      await writeFile(launcher, launcherBody, { mode: 0o755 });
      await chmod(launcher, 0o755);
    }
    if (!existsSync(cli)) warn(`${cli} does not exist: run \`npm run build\` in ${packageRoot}`);
    for (const p of [cli, nodePath]) {
      if (hiddenFromServices(p)) warn(`${p} is under /home, /root or /run/user, which the unit's ProtectHome=yes hides from the daemon: install the package elsewhere (npm install -g, or a copy in /opt/distribute) and run install again`);
    }
  }

  // 6. what remains
  const run = `sudo -u ${SYSTEM_USER} ${SYSTEM.launcher}`;
  if (o.role === 'head') {
    report.next.push(
      `edit ${INSTALLED.headConfig}: listen: 0.0.0.0:8952 so workstations can dial in, and tls: {cert, key} (README, "Installing on a lab")`,
      `${run} token create --state-dir ${INSTALLED.headStateDir} --user YOU --admin`,
      `${run} token create --state-dir ${INSTALLED.headStateDir} --node WORKSTATION   (one per workstation; its last line goes to that machine's ${INSTALLED.nodeToken})`,
      `systemctl daemon-reload && systemctl enable --now ${unit}`,
    );
  } else {
    report.next.push(
      `put this machine's node token (from \`distribute token create --node NAME\` on the head) in ${INSTALLED.nodeToken}: chgrp ${SYSTEM_USER} ${INSTALLED.nodeToken}; chmod 640 ${INSTALLED.nodeToken}`,
      `edit ${INSTALLED.computeConfig}: head: wss://HEAD:8952, name:, capabilities:, and ca: when the head's certificate comes from a lab CA`,
      `${SYSTEM.launcher} doctor --config ${INSTALLED.computeConfig}`,
      `systemctl daemon-reload && systemctl enable --now ${unit}`,
      `people at this desk who may pause it: usermod -aG ${SYSTEM_USER} NAME`,
    );
  }
  say('next:');
  for (const line of report.next) say(`  ${line}`);
  return report;
}
