// How many jobs run at once on this machine: each job takes as many slots as it asks cpus
// (`resources.cpus`), a job asking more than there are takes them all, alone. Jobs start in
// batch order, first fit: a job that does not fit yet lets later, smaller ones go first.
// A batch is finite, so a big job waits at most until the small ones have started.

/** Slots a job asking `cpus` takes out of `total`. */
export function slotsFor(cpus: number, total: number): number {
  return Math.max(1, Math.min(cpus, total));
}

/**
 * Which of `waiting` (slot needs, in batch order) start now, given `free` slots: their
 * positions in `waiting`, ascending.
 */
export function pickFitting(waiting: readonly number[], free: number): number[] {
  const picked: number[] = [];
  let left = free;
  for (let i = 0; i < waiting.length && left > 0; i++) {
    const need = waiting[i]!;
    if (need <= left) {
      picked.push(i);
      left -= need;
    }
  }
  return picked;
}
