import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clockCheck, protocolCheck, runDoctor } from '../../../src/ops/doctor.js';
import type { DoctorTarget } from '../../../src/ops/doctor-target.js';
import type { ProbeAnswer } from '../../../src/ops/probe.js';
import { PROTOCOL_VERSION } from '../../../shared/protocol/common.js';

function answer(skewMs: number, rttMs = 10): ProbeAnswer {
  const sentAt = 1_700_000_000_000;
  const receivedAt = sentAt + rttMs;
  // the Date header has whole seconds
  const headDate = Math.floor((sentAt + rttMs / 2 + skewMs) / 1000) * 1000;
  return { ok: true, status: 200, body: '', headDate, sentAt, receivedAt, cert: null };
}

describe('doctor checks', () => {
  it('clock: ok within a second or two, warns past 2 s, fails past 30 s, naming the direction', () => {
    assert.equal(clockCheck(answer(0)).status, 'ok');
    assert.equal(clockCheck(answer(800)).status, 'ok');
    const w = clockCheck(answer(6000));
    assert.equal(w.status, 'warn');
    assert.match(w.detail, /behind the head/);
    const f = clockCheck(answer(-120_000));
    assert.equal(f.status, 'FAIL');
    assert.match(f.detail, /1[12]\d\.\d s ahead of the head/);
    assert.match(f.fix!, /NTP/);
  });

  it('protocol: a head of another protocol fails, naming both versions', () => {
    const c = protocolCheck({ version: '9.0.0', protocol: PROTOCOL_VERSION + 1 });
    assert.equal(c.status, 'FAIL');
    assert.match(c.detail, new RegExp(`head speaks protocol ${PROTOCOL_VERSION + 1} \\(distribute 9\\.0\\.0\\), this machine protocol ${PROTOCOL_VERSION}`));
    assert.equal(protocolCheck({ version: '0.0.1', protocol: PROTOCOL_VERSION }).status, 'ok');
  });

  it('disk: fails under 1 GiB free, warns under 5 GiB', async () => {
    const target: DoctorTarget = { head: null, token: null, tokenSource: '', ca: null, expectKind: null, disk: { path: '/srv/work', what: 'work_dir' }, tlsFiles: null, sandbox: false, insecure: false, problems: [] };
    const disk = async (free: number) => (await runDoctor(target, { diskSpace: async () => ({ free, total: 100 * 1024 ** 3 }) })).find((c) => c.name === 'disk')!;
    assert.equal((await disk(200 * 1024 ** 2)).status, 'FAIL');
    assert.equal((await disk(3 * 1024 ** 3)).status, 'warn');
    const fine = await disk(50 * 1024 ** 3);
    assert.equal(fine.status, 'ok');
    assert.match(fine.detail, /free of .* for work_dir \/srv\/work/);
  });
});
