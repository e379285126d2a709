/**
 * An error the user can fix (bad input, a missing file, a refused request): the CLI prints
 * its message as one line and exits with `exitCode` (2 for bad input, 1 for a failure).
 */
export class UserError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 2) {
    super(message);
    this.name = 'UserError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
