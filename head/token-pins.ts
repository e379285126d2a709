// What a node token lets its hello claim. An admin who does not fully trust a machine pins
// its resources and capabilities when making its token (`distribute token create --node N
// --cpus 16 --memory 64G --gpus 2 --capabilities a,b`); a hello claiming more is refused,
// naming both the claim and the pin, so a stolen token cannot pose as a bigger machine or
// one able to run other people's batches (docs/hostile-input.md).
import { z } from 'zod';
import type { NodeMessage } from '../shared/protocol/messages.js';
import { formatBytes } from '../shared/spec/units.js';
import type { TokenRow } from './store.js';

type Hello = Extract<NodeMessage, { type: 'hello' }>;

/** The most a node may claim; a field left out is not pinned. */
export interface TokenPins {
  cpus?: number;
  memory?: number;
  gpus?: number;
  capabilities?: string[];
}

const Capabilities = z.array(z.string());

/** The pins stored with a token row (migration 7's columns). */
export function pinsOfRow(row: TokenRow): TokenPins {
  const pins: TokenPins = {};
  if (row.pin_cpus !== null) pins.cpus = row.pin_cpus;
  if (row.pin_memory !== null) pins.memory = row.pin_memory;
  if (row.pin_gpus !== null) pins.gpus = row.pin_gpus;
  if (row.pin_capabilities !== null) {
    // written only by createToken; a row that does not parse pins to nothing rather than everything
    const parsed = Capabilities.safeParse(JSON.parse(row.pin_capabilities));
    pins.capabilities = parsed.success ? parsed.data : [];
  }
  return pins;
}

export function hasPins(pins: TokenPins): boolean {
  return Object.keys(pins).length > 0;
}

/** `cpus 16, memory 64.0 GiB, gpus 2, capabilities [a, b]`, for messages and `token list`. */
export function describePins(pins: TokenPins): string {
  const parts: string[] = [];
  if (pins.cpus !== undefined) parts.push(`cpus ${pins.cpus}`);
  if (pins.memory !== undefined) parts.push(`memory ${formatBytes(pins.memory)}`);
  if (pins.gpus !== undefined) parts.push(`gpus ${pins.gpus}`);
  if (pins.capabilities !== undefined) parts.push(`capabilities [${pins.capabilities.join(', ')}]`);
  return parts.join(', ');
}

/** Why this hello claims more than its token allows; null when it stays within the pins. */
export function pinViolation(hello: Hello, pins: TokenPins): string | null {
  const r = hello.resources;
  if (pins.cpus !== undefined && r.cpus > pins.cpus) return `claims ${r.cpus} cpus; its token allows at most ${pins.cpus}`;
  if (pins.memory !== undefined && r.memory > pins.memory) {
    return `claims ${formatBytes(r.memory)} of memory; its token allows at most ${formatBytes(pins.memory)}`;
  }
  if (pins.gpus !== undefined && r.gpus > pins.gpus) return `claims ${r.gpus} GPUs; its token allows at most ${pins.gpus}`;
  if (pins.capabilities !== undefined) {
    const allowed = new Set(pins.capabilities);
    const extra = hello.capabilities.filter((c) => !allowed.has(c));
    if (extra.length > 0) {
      const list = pins.capabilities.length > 0 ? pins.capabilities.join(', ') : 'none';
      return `claims capabilit${extra.length === 1 ? 'y' : 'ies'} ${extra.join(', ')}; its token allows only ${list}`;
    }
  }
  return null;
}
