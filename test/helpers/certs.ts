// Certificates made at test time with openssl: a lab CA, a head certificate it signs (for
// localhost and 127.0.0.1), and an unrelated CA that must not be trusted.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCerts {
  /** PEM of the CA that signed the head's certificate */
  ca: string;
  /** PEM of a CA that signed nothing here */
  otherCa: string;
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
}

export const haveOpenssl = spawnSync('openssl', ['version']).status === 0;

function makeCa(dir: string, name: string, cn: string): void {
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '30', '-subj', `/CN=${cn}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
}

/** Makes the files in `dir` and returns their paths. */
export function makeTestCerts(dir: string, names = ['localhost', '127.0.0.1']): TestCerts {
  makeCa(dir, 'lab-ca', 'Test Lab CA');
  makeCa(dir, 'other-ca', 'Some Other CA');
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'head.key', '-out', 'head.csr', '-subj', `/CN=${names[0]}`], dir);
  const san = names.map((n) => (/^\d+\.\d+\.\d+\.\d+$/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  writeFileSync(join(dir, 'head.ext'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', 'head.csr', '-CA', 'lab-ca.pem', '-CAkey', 'lab-ca.key', '-CAcreateserial', '-out', 'head.crt', '-days', '30', '-extfile', 'head.ext'], dir);
  return { ca: join(dir, 'lab-ca.pem'), otherCa: join(dir, 'other-ca.pem'), cert: join(dir, 'head.crt'), key: join(dir, 'head.key') };
}
