// Sizes and durations, as Slurm users write them.

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const SIZE_UNITS: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/**
 * Parses a size in Slurm's binary units: `512M`, `8G`, `1.5g`, `100KiB`, `2TB`. Case-insensitive.
 * A bare number means megabytes, as in Slurm's `--mem`. Returns bytes.
 */
export function parseSize(input: string | number): Parsed<number> {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) return { ok: false, error: `size ${input} must be a non-negative number` };
    return { ok: true, value: Math.round(input * SIZE_UNITS.m!) };
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgtp])?(?:i?b)?\s*$/i.exec(input);
  if (!m) return { ok: false, error: `"${input}" is not a size; write it like 512M, 8G or 1.5T` };
  const n = Number(m[1]);
  const unit = (m[2] ?? 'm').toLowerCase();
  const bytes = Math.round(n * SIZE_UNITS[unit]!);
  if (!Number.isSafeInteger(bytes)) return { ok: false, error: `size "${input}" is too large` };
  return { ok: true, value: bytes };
}

/** Formats bytes the way Slurm reads them back: the largest whole binary unit (`8G`, `1536M`). */
export function formatSlurmSize(bytes: number): string {
  for (const [unit, mult] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2]] as const) {
    if (bytes >= mult && bytes % mult === 0) return `${bytes / mult}${unit}`;
  }
  return `${Math.max(1, Math.ceil(bytes / 1024 ** 2))}M`;
}

/** Human size for progress and summaries: `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`;
}

/**
 * Parses a duration into seconds. Accepts `90s`, `5m`, `2h30m`, `1d12h`, `1.5h`,
 * Slurm's `MM:SS`, `HH:MM:SS`, `D-HH`, `D-HH:MM`, `D-HH:MM:SS`, and ISO-8601 `PT2H30M` / `P1DT2H`.
 * A bare number means minutes, as in Slurm's `--time`.
 */
export function parseDuration(input: string | number): Parsed<number> {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) return { ok: false, error: `duration ${input} must be a non-negative number of minutes` };
    return { ok: true, value: Math.round(input * 60) };
  }
  const s = input.trim();
  const bad: Parsed<number> = { ok: false, error: `"${input}" is not a duration; write it like 90s, 5m, 2h30m, HH:MM:SS, D-HH:MM:SS or PT2H` };
  if (s === '') return bad;

  if (/^\d+$/.test(s)) return { ok: true, value: Number(s) * 60 };

  const units = /^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$/i.exec(s);
  if (units && units.slice(1).some((g) => g !== undefined)) {
    const [d, h, m, sec] = units.slice(1).map((g) => (g === undefined ? 0 : Number(g)));
    return { ok: true, value: Math.round(d! * 86400 + h! * 3600 + m! * 60 + sec!) };
  }

  const iso = /^P(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(s);
  if (iso && iso.slice(1).some((g) => g !== undefined) && !/T$/i.test(s)) {
    const [d, h, m, sec] = iso.slice(1).map((g) => (g === undefined ? 0 : Number(g)));
    return { ok: true, value: Math.round(d! * 86400 + h! * 3600 + m! * 60 + sec!) };
  }

  // Slurm: [D-]HH[:MM[:SS]] with a day part, or MM:SS / HH:MM:SS without.
  const clock = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(s);
  if (clock) {
    const [, dayS, aS, bS, cS] = clock;
    const days = dayS === undefined ? 0 : Number(dayS);
    let h = 0, m = 0, sec = 0;
    if (dayS !== undefined) {
      h = Number(aS); m = bS === undefined ? 0 : Number(bS); sec = cS === undefined ? 0 : Number(cS);
      if (h > 23) return { ok: false, error: `"${input}": hours must be 0-23 after a day part` };
    } else if (cS !== undefined) {
      h = Number(aS); m = Number(bS); sec = Number(cS);
    } else if (bS !== undefined) {
      m = Number(aS); sec = Number(bS);
    } else {
      return bad;
    }
    if (m > 59 || sec > 59) return { ok: false, error: `"${input}": minutes and seconds must be 0-59` };
    return { ok: true, value: days * 86400 + h * 3600 + m * 60 + sec };
  }
  return bad;
}

/** Formats seconds as Slurm's `D-HH:MM:SS` (or `HH:MM:SS` under a day). */
export function formatSlurmTime(seconds: number): string {
  const s = Math.ceil(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const hms = [h, m, sec].map((x) => String(x).padStart(2, '0')).join(':');
  return d > 0 ? `${d}-${hms}` : hms;
}

/** Human duration for summaries: `2h 05m`, `41s`, `850ms`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}

/** A measured size in Slurm's letters, one decimal: `256.0M`, `1.5G`, `12.0K`. */
export function formatMeasuredSize(bytes: number): string {
  for (const [unit, mult] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2]] as const) {
    if (bytes >= mult) return `${(bytes / mult).toFixed(1)}${unit}`;
  }
  return `${(bytes / 1024).toFixed(1)}K`;
}
