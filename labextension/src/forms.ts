/**
 * The submit form's rules in the browser: how text typed in a field becomes a value, and the same
 * checks as ``jupyter_compute.forms.check_values`` (the server runs them again and has the last word).
 */

import type { Form, FormField } from './types';

const TEXT_TYPES = ['string', 'text', 'code', 'path', 'open_choice'];
const KNOWN_TYPES = [...TEXT_TYPES, 'integer', 'number', 'boolean', 'choice', 'mapping', 'tags'];

function isEmpty(value: unknown): boolean {
  if (typeof value === 'string') return !value.trim();
  if (Array.isArray(value)) return value.length === 0;
  if (value && typeof value === 'object') return Object.keys(value).length === 0;
  return value === null || value === undefined;
}

/** A typed number: undefined when blank, the number when it parses, else the text as it is. */
export function parseNumber(text: string): unknown {
  const trimmed = text.trim();
  if (!trimmed) return undefined;
  const value = Number(trimmed);
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(trimmed) && Number.isFinite(value) ? value : trimmed;
}

/** ``key=value`` lines to an object (values read as JSON when they are); the text itself when a line is not a pair. */
export function parseMapping(text: string): unknown {
  const result: Record<string, unknown> = Object.create(null);
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const at = line.indexOf('=');
    if (at <= 0 || !line.slice(0, at).trim()) return text;
    const rawValue = line.slice(at + 1).trim();
    let value: unknown = rawValue;
    try {
      value = JSON.parse(rawValue);
    } catch {
      // plain words stay text
    }
    const lossy = typeof value === 'number' && (!Number.isFinite(value) || (/^-?\d+$/.test(rawValue) && !Number.isSafeInteger(value)));
    if (lossy) value = rawValue; // what a JavaScript number cannot hold (1e400, 2**60) stays as typed
    result[line.slice(0, at).trim()] = value;
  }
  return Object.keys(result).length ? { ...result } : undefined;
}

/** Values back into ``key=value`` lines: text that would read back as something else is JSON-quoted. */
export function formatMapping(value: unknown): string {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return value === null || value === undefined ? '' : String(value);
  return Object.entries(value as Record<string, unknown>)
    .map(([key, item]) => {
      const plain = typeof item === 'string' && (parseMapping(`k=${item}`) as Record<string, unknown> | undefined)?.k === item;
      return `${key}=${plain ? item : JSON.stringify(item)}`;
    })
    .join('\n');
}

export function parseTags(text: string): string[] | undefined {
  const tags = text.split(',').map(t => t.trim()).filter(Boolean);
  return tags.length ? tags : undefined;
}

/** A number as Python's ``format(value, 'g')`` writes it (the server words its messages so). */
export function formatG(value: number): string {
  if (value === 0 || !Number.isFinite(value)) return String(value);
  const [mantissa, exponent] = value.toExponential(5).split('e');
  const exp = Number(exponent);
  if (exp < -4 || exp >= 6) {
    return `${mantissa.replace(/\.?0+$/, '')}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return String(Number(value.toPrecision(6)));
}

/** Whether text ``value`` (each item of a tags value) matches the field's whole pattern, as ``re.fullmatch``. */
function fitsPattern(field: FormField, value: unknown): boolean {
  const items = field.type === 'tags' && Array.isArray(value) ? value : typeof value === 'string' ? [value] : [];
  const whole = new RegExp(`^(?:${field.pattern})$`);
  return items.every(item => typeof item === 'string' && whole.test(item));
}

/** Why ``value`` does not fit ``field``, or null. */
function checkOne(field: FormField, value: unknown): string | null {
  const kind = field.type;
  if (kind === 'integer' || kind === 'number') {
    if (typeof value !== 'number' || !Number.isFinite(value)) return 'must be a number';
    if (kind === 'integer' && !Number.isInteger(value)) return 'must be a whole number';
    if (field.min !== null && field.min !== undefined && value < field.min) return `must be at least ${formatG(field.min)}`;
    if (field.max !== null && field.max !== undefined && value > field.max) return `must be at most ${formatG(field.max)}`;
  } else if (kind === 'boolean' && typeof value !== 'boolean') {
    return 'must be true or false';
  } else if ((TEXT_TYPES.includes(kind) || !KNOWN_TYPES.includes(kind)) && typeof value !== 'string') {
    return 'must be text';
  } else if (kind === 'mapping' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
    return 'must be a set of key=value pairs';
  } else if (kind === 'tags' && !(Array.isArray(value) && value.every(t => typeof t === 'string' || (t && typeof t === 'object' && !Array.isArray(t))))) {
    return 'must be a list of words';
  }
  const texts = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter(item => typeof item === 'string') : [];
  if (texts.some(text => text.includes('\0'))) return 'must not contain a NUL character'; // no program, path or name holds one
  if (field.pattern != null && !fitsPattern(field, value)) {
    return `${kind === 'tags' ? 'has an item' : 'is'} not in the expected form: ${field.help || field.pattern}`;
  }
  if (field.type !== 'open_choice' && field.choices && !field.choices.some(choice => choice === value)) {
    return `must be one of: ${field.choices.map(String).join(', ')}`;
  }
  return null;
}

function labelOf(form: Form, name: string): string {
  return form.fields.find(f => f.name === name)?.label ?? name;
}

/** Every problem of ``values`` (keyed by field name) as a message for that field; {} if fine. */
export function checkValues(form: Form, values: Record<string, unknown>): Record<string, string> {
  const problems: Record<string, string> = {};
  for (const field of form.fields) {
    const value = values[field.name];
    if (isEmpty(value)) {
      if (field.required) problems[field.name] = `${field.label} is required`;
      continue;
    }
    const reason = checkOne(field, value);
    if (reason) problems[field.name] = `${field.label} ${reason}`;
  }
  for (const group of form.one_of) {
    const given = group.filter(name => !isEmpty(values[name]));
    if (given.length !== 1) {
      const target = given[0] ?? group[0];
      problems[target] ??= `give exactly one of ${group.map(name => labelOf(form, name)).join(' or ')}`;
    }
  }
  return problems;
}

/** The job spec for filled-in values: empty fields left out, ``params.x``/``extra.x`` nested. */
export function specFromValues(form: Form, values: Record<string, unknown>): Record<string, unknown> {
  const spec: Record<string, any> = {};
  for (const field of form.fields) {
    const value = values[field.name];
    if (isEmpty(value)) continue;
    const dot = field.name.indexOf('.');
    const container = dot > 0 ? field.name.slice(0, dot) : '';
    if (container === 'params' || container === 'extra') {
      (spec[container] ??= {})[field.name.slice(dot + 1)] = value;
    } else {
      spec[field.name] = value;
    }
  }
  return spec;
}
