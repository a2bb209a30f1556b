import { describe } from 'node:test';
import { deployToCluster } from './deploy.e2e';
import { workbench } from './support';
describe('deploy only', { timeout: 1_800_000 }, () => {
  const wb = workbench();
  deployToCluster(wb);
});
