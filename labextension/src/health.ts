/** What a cluster's status means, in one of four words the views colour alike. */

import type { Cluster } from './types';

export type Health = 'healthy' | 'busy' | 'failing' | 'unknown';

const HEALTH_WORDS: [Health, RegExp][] = [
  ['failing', /abnormal|error|fail|unavailable|unhealthy|concerning|degraded|down|lost|offline|broken|terminat|delet|frozen|stopped/i],
  ['busy', /deploy|creat|pending|starting|scal|updat|provision|initiali|upgrad|resiz|wait/i],
  ['healthy', /running|normal|available|active|ready|healthy|online|ok|up/i]
];

const HEALTHS: ReadonlySet<string> = new Set(['healthy', 'busy', 'failing', 'unknown']);

/** A cluster's health in one of four words: as its backend's own table says (the server's ``health``),
 * or, from a server too old to say, guessed from the status's words (a failing one never looks healthy). */
export function clusterHealth(cluster: Pick<Cluster, 'status' | 'health'>): Health {
  if (cluster.health && HEALTHS.has(cluster.health)) return cluster.health;
  for (const [health, pattern] of HEALTH_WORDS) if (pattern.test(cluster.status ?? '')) return health;
  return 'unknown';
}
