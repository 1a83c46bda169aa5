import { describe, expect, it } from 'vitest';

import type { Backend } from '../src/types';
import { readOnlyReason } from '../src/types';

const caps = {
  can_cancel: true, can_delete: true, can_list: true, has_logs: true, has_results: true,
  has_environments: false, has_clusters: false, has_webhooks: false, can_proxy: false
};
const backends: Backend[] = [
  { name: 'local', kind: 'local', capabilities: caps, available: true },
  { name: 'ocean', kind: 'ocean', capabilities: caps, available: false, message: 'set OCEAN_KEY' }
];

describe('readOnlyReason', () => {
  it('lets a job of a working backend be acted on', () => {
    expect(readOnlyReason('local', backends)).toBeNull();
  });
  it('names a backend that is not configured', () => {
    expect(readOnlyReason('maap', backends)).toBe('the backend “maap” is not configured on this server');
  });
  it('gives the reason of a backend that cannot work', () => {
    expect(readOnlyReason('ocean', backends)).toBe('the backend “ocean” is unavailable: set OCEAN_KEY');
  });
  it('says nothing before the backends are known', () => {
    expect(readOnlyReason('maap', null)).toBeNull();
  });
});
