// End-to-end: the packaged VSIX (scripts/package.mjs) installed into a real VS Code (code-server), driven through its
// UI with Chromium. What a user sees: the activity-bar icon, the Models and Deployments views, the Environment panel
// (which loads the VSIX's own onnxruntime-node inside the extension host), the log, the model card, the Playground,
// the local server, quantization, the Testing view, and deployment to the test cluster.
//
// One suite, one code-server and one Chromium for every feature (test/e2e/*.e2e.ts, each exporting its tests): they
// run in this order on the same workbench, and later ones build on earlier ones (the Playground the card opened is
// the one served; the Models view is counted before Quantize adds a model). scripts/test.mjs runs this file.
import { describe } from 'node:test';
import { cardRunBenchmark } from './card.e2e';
import { deployToCluster } from './deploy.e2e';
import { environmentPanel, showLog } from './environment.e2e';
import { initializeRepository, modelsView, registerFromTree } from './models.e2e';
import { compareVersions, wavInput } from './playground.e2e';
import { quantizeAuto, quantizeInputShapes } from './quantize.e2e';
import { serveLocally } from './serve.e2e';
import { workbench } from './support';
import { testingView } from './testing.e2e';

// node:test holds the whole suite to describe's timeout (and each test inherits it): a budget for all the features
// together, each of which bounds its own waits. 120 s was outgrown once the deploy tests joined (about 135 s now).
describe('Modelyard VSIX in VS Code (code-server + Chromium)', { timeout: 10 * 60_000 }, () => {
  const wb = workbench();
  modelsView(wb);
  registerFromTree(wb);
  environmentPanel(wb);
  showLog(wb);
  cardRunBenchmark(wb);
  wavInput(wb);
  serveLocally(wb);
  compareVersions(wb);
  quantizeAuto(wb);
  quantizeInputShapes(wb);
  testingView(wb);
  deployToCluster(wb);
  initializeRepository(wb);
});
