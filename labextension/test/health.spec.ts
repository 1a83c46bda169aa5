import { describe, expect, it } from 'vitest';

import { clusterHealth } from '../src/health';

describe('clusterHealth', () => {
  it('takes the meaning the backend gave', () => {
    expect(clusterHealth({ status: 'concerning', health: 'busy' })).toBe('busy');
    expect(clusterHealth({ status: 'running', health: 'unknown' })).toBe('unknown');
  });
  it('guesses from the words of a server that gives none, never calling a failing one healthy', () => {
    expect(clusterHealth({ status: 'abnormal' })).toBe('failing');
    expect(clusterHealth({ status: 'Running' })).toBe('healthy');
    expect(clusterHealth({ status: 'stopped-but-running' })).toBe('failing');
    expect(clusterHealth({ status: 'zzz' })).toBe('unknown');
  });
});
