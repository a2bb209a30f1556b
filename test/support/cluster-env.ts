// Prints, as JSON, what an editor under test needs to deploy to the test cluster: the cluster's variables
// (scripts/cluster.mjs env), the serving image built from this checkout and pushed by digest, and the bucket.
// scripts/test.mjs passes them to the code-server of the integration tier.
import { testCluster } from './cluster';

void testCluster().then(
  (c) => {
    process.stdout.write(JSON.stringify({ ...c.env, MODELYARD_TEST_IMAGE: c.image, MODELYARD_TEST_BUCKET: c.bucket }) + '\n');
  },
  (e: unknown) => {
    process.stderr.write(`the test cluster is not ready: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
