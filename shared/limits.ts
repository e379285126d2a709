// Sizes that bound what a user, a node or a file may hand the head, in one place so the CLI,
// the schema and the head agree. docs/hostile-input.md lists them with their config keys.

const MiB = 1024 * 1024;

/** A batch document (the YAML file, or the JSON `add` sends): head.yaml `max_batch_bytes`. */
export const DEFAULT_MAX_BATCH_BYTES = 8 * MiB;

/** Any other JSON request body (hashes to check, pull rules, kill lists). */
export const MAX_REQUEST_JSON = 8 * MiB;

/** A job's command (or an initialize command), before and after {placeholders} are filled. */
export const MAX_COMMAND_BYTES = 256 * 1024;

/** Characters of all commands made by filling placeholders in one batch (100,000 jobs of 640). */
export const MAX_EXPANDED_COMMAND_BYTES = 64 * MiB;

/** Names and short text fields of a batch: job names (templates), paths, Slurm fields, values. */
export const MAX_FIELD_CHARS = 4096;

/** Entries of one list in a batch: required files, capabilities, nodes, mounts, parameter values. */
export const MAX_LIST_ENTRIES = 100_000;

/** Aliases a YAML document may expand (an alias bomb expands billions). */
export const MAX_YAML_ALIASES = 1000;

/** A small result sent whole in a `result` message must inflate to at most this (a node sends
 * only results of at most 1 MiB in 64 files this way). */
export const MAX_SMALL_RESULT_INFLATED = 2 * MiB;
