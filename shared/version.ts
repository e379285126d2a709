// The program's version (package.json's, checked by a test), told by `--version`, the head's
// `GET /v1/version` and its metrics, so `distribute doctor` can compare the two sides.
export const VERSION = '0.1.0';
