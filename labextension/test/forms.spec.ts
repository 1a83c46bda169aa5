import { describe, expect, it } from 'vitest';

import { checkValues, formatG, formatMapping, parseMapping, parseNumber, parseTags, specFromValues } from '../src/forms';
import type { Form, FormField } from '../src/types';

function field(name: string, label: string, type: string, extra: Partial<FormField> = {}): FormField {
  return { name, label, type, required: false, default: null, choices: null, min: null, max: null, help: '', ...extra };
}

const FORM: Form = {
  fields: [
    field('command', 'Shell command', 'text'),
    field('script', 'Python script', 'path'),
    field('timeout_s', 'Time limit (s)', 'number', { min: 1 }),
    field('extra.node_count', 'Nodes', 'integer', { min: 1, max: 8 }),
    field('extra.storage', 'Storage', 'choice', { choices: ['hdfs', 'ceph'] }),
    field('inputs', 'Granules', 'tags', { required: true }),
    field('params', 'Parameters', 'mapping')
  ],
  one_of: [['command', 'script']]
};

describe('submit form rules (the same as the server)', () => {
  it('names each field that is wrong, in the words of the server', () => {
    const problems = checkValues(FORM, {
      command: 'echo hi', script: 'run.py', timeout_s: 0, 'extra.node_count': 2.5,
      'extra.storage': 'nfs', params: 'no pairs here'
    });
    expect(problems).toEqual({
      command: 'give exactly one of Shell command or Python script',
      timeout_s: 'Time limit (s) must be at least 1',
      'extra.node_count': 'Nodes must be a whole number',
      'extra.storage': 'Storage must be one of: hdfs, ceph',
      inputs: 'Granules is required',
      params: 'Parameters must be a set of key=value pairs'
    });
  });

  it('checks a pattern against the whole text, and against each tag', () => {
    const form: Form = {
      fields: [
        field('algorithm', 'Algorithm', 'string', { pattern: ' *[0-9]+ *', help: 'A process id (a number).' }),
        field('inputs', 'Granules', 'tags', { pattern: '[a-z]+' })
      ],
      one_of: []
    };
    expect(checkValues(form, { algorithm: '12a', inputs: ['ok', 'no!'] })).toEqual({
      algorithm: 'Algorithm is not in the expected form: A process id (a number).',
      inputs: 'Granules has an item not in the expected form: [a-z]+'
    });
    expect(checkValues(form, { algorithm: ' 12 ', inputs: ['ok'] })).toEqual({});
    expect(checkValues(form, { algorithm: '1\u00002', inputs: ['ok'] })).toEqual({ algorithm: 'Algorithm must not contain a NUL character' });
  });

  it('reads typed text as the server expects it, and nests params and extra', () => {
    const values = {
      command: 'echo hi', timeout_s: parseNumber(' 60 '), 'extra.node_count': parseNumber('2'),
      'extra.storage': 'ceph', inputs: parseTags('g1, g2,,'), params: parseMapping('rows=10\nname=abc\n# note\nflag=true')
    };
    expect(checkValues(FORM, values)).toEqual({});
    expect(specFromValues(FORM, values)).toEqual({
      command: 'echo hi', timeout_s: 60, inputs: ['g1', 'g2'],
      extra: { node_count: 2, storage: 'ceph' }, params: { rows: 10, name: 'abc', flag: true }
    });
    expect(parseNumber('1e3x')).toBe('1e3x');
    expect([1, 0.5, 1000000, 123456, 0.00001, 2.5e-7, -1500000].map(formatG))
      .toEqual(['1', '0.5', '1e+06', '123456', '1e-05', '2.5e-07', '-1.5e+06']); // Python's format(v, 'g')
    expect(parseMapping('big=1e400\nhuge=1152921504606846976\n__proto__=1')).toEqual({ big: '1e400', huge: '1152921504606846976', ['__proto__']: 1 });
    expect(formatMapping({ a: '42', b: 42, c: 'words', d: true })).toBe('a="42"\nb=42\nc=words\nd=true');
    expect(parseMapping(formatMapping({ a: '42', b: 42, c: 'words' }))).toEqual({ a: '42', b: 42, c: 'words' });
    expect(parseMapping('')).toBeUndefined();
  });
});

describe('a choice the platform listed, with free text beside it (open_choice)', () => {
  const form: Form = {
    fields: [field('extra.flavor', 'Flavor', 'open_choice', { choices: ['cpu.small', 'gpu.v100'], pattern: '[a-z0-9.]+' })],
    one_of: []
  };
  it('accepts a listed choice and a text the list does not have', () => {
    expect(checkValues(form, { 'extra.flavor': 'gpu.v100' })).toEqual({});
    expect(checkValues(form, { 'extra.flavor': 'npu.910b' })).toEqual({});
  });
  it('still refuses what is not text, or does not fit the pattern', () => {
    expect(checkValues(form, { 'extra.flavor': 3 })['extra.flavor']).toMatch(/Flavor/);
    expect(checkValues(form, { 'extra.flavor': 'NPU 910B' })['extra.flavor']).toMatch(/Flavor/);
  });
});
