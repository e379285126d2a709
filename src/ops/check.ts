// One line of `distribute doctor`'s report: a check, how it ended, and what to do about it.

export type CheckStatus = 'ok' | 'warn' | 'FAIL' | 'skip';

export interface Check {
  name: string;
  status: CheckStatus;
  detail: string;
  /** what to do; null when nothing */
  fix: string | null;
}
