import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { COMMANDS } from '../../src/command-table.js';

describe('the CLI command table', () => {
  it('lists every file of src/commands/ once, under the name its command answers to', async () => {
    const files = readdirSync(new URL('../../src/commands/', import.meta.url)).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3)).sort();
    assert.deepEqual(COMMANDS.map((c) => c.name).sort(), files);
    for (const c of COMMANDS) assert.equal((await c.load()).command.name(), c.name);
  });
});
