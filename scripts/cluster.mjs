#!/usr/bin/env node
// A real single-node Kubernetes test cluster (with a loopback registry, SeaweedFS S3 and the KServe manager),
// built from the registries this machine reaches and started on 127.0.0.1. Needs root.
//
//   node scripts/cluster.mjs up [--keep-data]     build once (cached), start, wait until usable
//   node scripts/cluster.mjs down [--keep-data]   stop everything and clean the machine
//   node scripts/cluster.mjs status               each component; exit 0 only when all are up
//   node scripts/cluster.mjs env [--json]         the variables the tests use (shell exports or JSON)
//
// State: ${MODELYARD_CACHE:-~/.cache/modelyard-test}/cluster/state (logs in state/logs).
import { down, env, envShell, formatStatus, status, up } from './cluster/index.mjs';

const [cmd, ...rest] = process.argv.slice(2);
const keepData = rest.includes('--keep-data');

async function main() {
  switch (cmd) {
    case 'up':
      await up({ keepData });
      return 0;
    case 'down':
      await down({ keepData });
      return 0;
    case 'status': {
      const st = await status();
      process.stdout.write(`${formatStatus(st)}\n`);
      return st.allUp ? 0 : 1;
    }
    case 'env':
      process.stdout.write(rest.includes('--json') ? `${JSON.stringify(env(), null, 2)}\n` : `${envShell()}\n`);
      return 0;
    default:
      process.stderr.write('usage: node scripts/cluster.mjs up|down|status|env [--keep-data] [--json]\n');
      return 2;
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`[cluster] ${e.stack ?? e}\n`);
    process.exit(1);
  },
);
