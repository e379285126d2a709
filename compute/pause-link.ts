// What the pause means for the link to the head: each change is told to the head as a
// `paused` message (the head marks the node and its jobs paused and places nothing there),
// a job held past vacate_after is handed back through the attempts, and so is, at once, every
// job assigned ahead that still waits for room (it would only start to be stopped).
import type { NodeMessage } from '../shared/protocol/messages.js';
import { formatDuration } from '../shared/spec/units.js';
import { iso, type PauseController, type PauseState } from './pause.js';

export function pausedMessage(s: PauseState): NodeMessage {
  return { type: 'paused', paused: s.paused, by: s.by, until: iso(s.until) };
}

export function linkPause(
  pause: PauseController,
  attempts: { vacate(attempt: number, reason: string): void; returnWaiting(reason: string): void },
  send: (m: NodeMessage) => boolean,
): void {
  pause.onChange((s) => {
    send(pausedMessage(s));
    if (s.paused) attempts.returnWaiting(`node paused${s.by ? ` by ${s.by}` : ''} before the job started`);
  });
  pause.onVacate((attempt) => attempts.vacate(attempt, `paused for longer than vacate_after (${formatDuration(pause.vacateAfterMs ?? 0)})`));
}
