// A small JSON Schema (2020-12) checker for the keywords the batch schema uses, so the tests
// can show that an editor given the schema accepts the examples and flags a typo. It throws
// on a keyword it does not know, so the schema cannot outgrow it unnoticed.
type Schema = Record<string, unknown>;

const ANNOTATIONS = new Set(['$schema', 'title', 'description']);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Problems of `value` against `schema`, as `path: message`; empty when it conforms. */
export function checkJsonSchema(schema: Schema, value: unknown, path = ''): string[] {
  const out: string[] = [];
  for (const [kw, arg] of Object.entries(schema)) {
    const a = arg as never;
    switch (kw) {
      case 'type': {
        const types: string[] = Array.isArray(arg) ? arg : [arg as string];
        const t = typeOf(value);
        if (!types.some((x) => x === t || (x === 'number' && t === 'integer'))) out.push(`${path}: expected ${types.join('|')}, got ${t}`);
        break;
      }
      case 'properties':
        if (typeOf(value) === 'object') {
          for (const [k, sub] of Object.entries(a as Record<string, Schema>)) {
            if (k in (value as object)) out.push(...checkJsonSchema(sub, (value as Record<string, unknown>)[k], `${path}.${k}`));
          }
        }
        break;
      case 'required':
        if (typeOf(value) === 'object') for (const k of a as string[]) if (!(k in (value as object))) out.push(`${path}: missing ${k}`);
        break;
      case 'additionalProperties':
        if (typeOf(value) === 'object') {
          const known = Object.keys((schema.properties as object | undefined) ?? {});
          for (const [k, v] of Object.entries(value as object)) {
            if (known.includes(k)) continue;
            if (arg === false) out.push(`${path}: unknown key ${k}`);
            else out.push(...checkJsonSchema(a as Schema, v, `${path}.${k}`));
          }
        }
        break;
      case 'propertyNames':
        if (typeOf(value) === 'object') for (const k of Object.keys(value as object)) out.push(...checkJsonSchema(a as Schema, k, `${path}{${k}}`));
        break;
      case 'items':
        if (Array.isArray(value)) value.forEach((v, i) => out.push(...checkJsonSchema(a as Schema, v, `${path}[${i}]`)));
        break;
      case 'anyOf':
        if (!(a as Schema[]).some((s) => checkJsonSchema(s, value, path).length === 0)) out.push(`${path}: matches none of anyOf`);
        break;
      case 'oneOf': {
        const n = (a as Schema[]).filter((s) => checkJsonSchema(s, value, path).length === 0).length;
        if (n !== 1) out.push(`${path}: matches ${n} of oneOf`);
        break;
      }
      case 'const':
        if (value !== a) out.push(`${path}: not ${JSON.stringify(a)}`);
        break;
      case 'enum':
        if (!(a as unknown[]).includes(value)) out.push(`${path}: not one of ${(a as unknown[]).join(', ')}`);
        break;
      case 'minimum':
        if (typeof value === 'number' && value < a) out.push(`${path}: below ${a}`);
        break;
      case 'maximum':
        if (typeof value === 'number' && value > a) out.push(`${path}: above ${a}`);
        break;
      case 'minLength':
        if (typeof value === 'string' && value.length < a) out.push(`${path}: shorter than ${a}`);
        break;
      case 'maxLength':
        if (typeof value === 'string' && value.length > a) out.push(`${path}: longer than ${a}`);
        break;
      case 'maxItems':
        if (Array.isArray(value) && value.length > a) out.push(`${path}: more than ${a} items`);
        break;
      case 'minItems':
        if (Array.isArray(value) && value.length < a) out.push(`${path}: fewer than ${a} items`);
        break;
      case 'pattern':
        if (typeof value === 'string' && !new RegExp(a, 'u').test(value)) out.push(`${path}: does not match ${a}`);
        break;
      default:
        if (!ANNOTATIONS.has(kw)) throw new Error(`checkJsonSchema does not know the keyword ${kw}`);
    }
  }
  return out;
}
