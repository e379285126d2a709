// The config an installation starts from: the example in configs/, with its paths set to the
// system layout (layout.ts) and the keys an installed daemon needs added, comments kept, so
// the admin edits a file that explains itself.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ComputeConfig, HeadConfig } from '../../shared/config.js';
import { INSTALLED, SYSTEM, type Role } from './layout.js';

/** Sets the value of a top-level `key:` line, keeping its comment; appends the line when absent. */
export function setTopLevel(text: string, key: string, value: string, comment: string): string {
  const re = new RegExp(`^${key}:[^\\n]*$`, 'm');
  const m = re.exec(text);
  const next = `${key}: ${value}`;
  if (!m) return `${text.replace(/\n*$/, '\n')}${next.length < 35 ? next.padEnd(35) : next + ' '}# ${comment}\n`;
  // the comment stays in its column when the new value leaves room for it
  const hash = m[0].indexOf('#');
  const line = hash === -1 ? next : `${next.length < hash ? next.padEnd(hash) : next + ' '}${m[0].slice(hash)}`;
  return text.slice(0, m.index) + line + text.slice(m.index + m[0].length);
}

const EXTRA_COMPUTE = `
# Optional, for a lab:
# ca: ${SYSTEM.configDir}/lab-ca.pem     # the lab CA that signed the head's certificate (wss://); default: the system's
# sandbox: bwrap                       # jobs see the system read-only and write only their workspace
`;

/** The installed head.yaml or compute.yaml, from the example text. */
export function installedConfigText(role: Role, example: string): string {
  if (role === 'head') {
    const header = `# Installed by \`distribute install head\`; the systemd unit runs the head with it.\n`;
    return header + setTopLevel(example, 'state_dir', INSTALLED.headStateDir, 'queue (SQLite), input files, result archive');
  }
  let text = `# Installed by \`distribute install compute\`; the systemd unit runs the daemon with it.\n` + example;
  text = setTopLevel(text, 'token_file', INSTALLED.nodeToken, 'the node token from `distribute token create --node NAME` on the head');
  text = setTopLevel(text, 'work_dir', INSTALLED.computeWorkDir, 'workspaces, input cache, results waiting for the head');
  text = setTopLevel(text, 'control_socket', INSTALLED.controlSocket, '`distribute pause` at this desk talks to the daemon here');
  return text.replace(/\n*$/, '\n') + EXTRA_COMPUTE;
}

/** Reads the example of the role from the package's configs/ and makes the installed text; it must validate. */
export async function installedConfig(role: Role, packageRoot: string): Promise<{ example: string; text: string }> {
  const example = join(packageRoot, 'configs', `${role}.yaml`);
  const text = installedConfigText(role, await readFile(example, 'utf8'));
  const schema = role === 'head' ? HeadConfig : ComputeConfig;
  const parsed = schema.safeParse(parseYaml(text));
  if (!parsed.success) throw new Error(`the installed ${role}.yaml made from ${example} does not validate: ${parsed.error.message}`);
  return { example, text };
}
