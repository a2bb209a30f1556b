// Builds (once) every binary of the test cluster with Go from the module proxy, into
// ${MODELYARD_CACHE}/cluster/bin-<key>, key derived from the versions below. Everything is built into a
// partial folder first and renamed into place at the end, so an interrupted build leaves no half cache
// (the Go module and build caches under ${MODELYARD_CACHE}/go keep the work already done).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fmtMs, log, mkdirp, paths, sh, shLogged } from './common.mjs';

export const VERSIONS = Object.freeze({
  kubernetes: 'v1.37.2',
  etcd: 'v3.6.17',
  kserve: 'v0.17.0',
  crane: 'v0.22.1',
  seaweedfs: 'v0.0.0-20261109003541-7506e5f91cd6',
  // Bump when the build recipe itself changes in a way that changes the output.
  recipe: 1,
});

export const BINARIES = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubelet',
  'kube-proxy',
  'etcd',
  'kserve-manager',
  'crane',
  'weed',
];

export function binKey() {
  return crypto.createHash('sha256').update(JSON.stringify(VERSIONS)).digest('hex').slice(0, 12);
}

export function binDir() {
  return path.join(paths.root, `bin-${binKey()}`);
}

export function bin(name) {
  return path.join(binDir(), name);
}

export function kserveManifestDir() {
  return path.join(binDir(), 'kserve-manifests');
}

export function isBuilt() {
  const d = binDir();
  return fs.existsSync(path.join(d, 'versions.json')) && BINARIES.every((b) => fs.existsSync(path.join(d, b)));
}

function goEnv(extra = {}) {
  const g = paths.go;
  return {
    ...process.env,
    GOMODCACHE: path.join(g, 'mod'),
    GOCACHE: path.join(g, 'build'),
    GOPATH: path.join(g, 'path'),
    GOFLAGS: '-mod=mod',
    CGO_ENABLED: '0',
    GOTOOLCHAIN: 'local',
    ...extra,
  };
}

/** `go mod download -json mod@ver` → its JSON (Dir, GoMod, Zip …). */
function modDownload(mod, ver) {
  const r = sh('go', ['mod', 'download', '-json', `${mod}@${ver}`], { env: goEnv(), cwd: paths.root });
  return JSON.parse(r.stdout);
}

/** The replace directives of a go.mod that point at other modules (not at local folders). */
export function moduleReplaces(goModText) {
  const out = [];
  const lines = goModText.split('\n').map((l) => l.replace(/\/\/.*$/, '').trim());
  let inBlock = false;
  for (const l of lines) {
    if (!l) continue;
    let stmt = null;
    if (inBlock) {
      if (l === ')') {
        inBlock = false;
        continue;
      }
      stmt = l;
    } else if (l === 'replace (') {
      inBlock = true;
      continue;
    } else if (l.startsWith('replace ')) {
      stmt = l.slice('replace '.length).trim();
    }
    if (!stmt) continue;
    const [from, to] = stmt.split('=>').map((s) => s.trim());
    if (!to || to.startsWith('.') || to.startsWith('/')) continue;
    out.push(`${from} => ${to}`);
  }
  return out;
}

/** The staging replaces of k8s.io/kubernetes, pointed at the published modules v0.<minor>.<patch>. */
function k8sStagingReplaces(goModText, k8sVersion) {
  const stagingVer = k8sVersion.replace(/^v1\./, 'v0.');
  const out = [];
  const block = goModText.match(/^replace \(\n([\s\S]*?)\n\)/m);
  if (!block) throw new Error('no replace block in k8s.io/kubernetes go.mod');
  for (const line of block[1].split('\n')) {
    const m = line.trim().match(/^(\S+)\s*=>\s*\.\/staging\/src\/(\S+)$/);
    if (m) out.push(`${m[1]} => ${m[2]} ${stagingVer}`);
  }
  return out;
}

// Multi-document YAML file → JSON array of the documents (empty documents dropped).
const YAML2JSON_GO = `package main

import (
\t"bytes"
\t"encoding/json"
\t"os"
\t"regexp"

\t"sigs.k8s.io/yaml"
)

func main() {
\tsrc, err := os.ReadFile(os.Args[1])
\tif err != nil {
\t\tpanic(err)
\t}
\tdocs := []json.RawMessage{}
\tfor _, d := range regexp.MustCompile("(?m)^---[[:space:]]*$").Split(string(src), -1) {
\t\tif len(bytes.TrimSpace([]byte(d))) == 0 {
\t\t\tcontinue
\t\t}
\t\tj, err := yaml.YAMLToJSON([]byte(d))
\t\tif err != nil {
\t\t\tpanic(err)
\t\t}
\t\tif string(j) != "null" {
\t\t\tdocs = append(docs, j)
\t\t}
\t}
\tout, _ := json.Marshal(docs)
\tos.Stdout.Write(out)
}
`;

function writeWrapper(dir, { module, requires, replaces = [], tools = [], files = {} }) {
  fs.rmSync(dir, { recursive: true, force: true });
  mkdirp(dir);
  const lines = [`module ${module}`, '', 'go 1.26.0', ''];
  lines.push('require (', ...requires.map(([m, v]) => `\t${m} ${v}`), ')', '');
  if (replaces.length) lines.push('replace (', ...replaces.map((r) => `\t${r}`), ')', '');
  if (tools.length) lines.push('tool (', ...tools.map((t) => `\t${t}`), ')', '');
  fs.writeFileSync(path.join(dir, 'go.mod'), lines.join('\n'));
  for (const [name, text] of Object.entries(files)) {
    mkdirp(path.dirname(path.join(dir, name)));
    fs.writeFileSync(path.join(dir, name), text);
  }
}

async function step(name, logFile, fn, timings) {
  const t0 = Date.now();
  log(`build: ${name} …`);
  try {
    await fn();
  } catch (e) {
    log(`build: ${name} FAILED after ${fmtMs(Date.now() - t0)} (log: ${logFile})`);
    throw e;
  }
  const ms = Date.now() - t0;
  timings[name] = ms;
  log(`build: ${name} done in ${fmtMs(ms)}`);
}

function acquireLock() {
  const lock = path.join(paths.root, 'build.lock');
  try {
    const pid = Number(fs.readFileSync(lock, 'utf8'));
    if (pid && pid !== process.pid) {
      try {
        process.kill(pid, 0);
        throw new Error(`another build is running (pid ${pid}, ${lock})`);
      } catch (e) {
        if (e.code !== 'ESRCH') throw e;
      }
    }
  } catch (e) {
    if (e.code !== 'ENOENT') throw e;
  }
  fs.writeFileSync(lock, String(process.pid));
  return () => fs.rmSync(lock, { force: true });
}

/**
 * Builds every binary unless the cache for these versions is complete.
 * Returns { dir, built, ms, timings }.
 */
export async function ensureBinaries({ force = false } = {}) {
  const dir = binDir();
  if (!force && isBuilt()) return { dir, built: false, ms: 0, timings: {} };
  if (!sh('sh', ['-c', 'command -v go'], { allowFail: true }).ok) throw new Error('go is not on PATH');
  mkdirp(paths.root);
  mkdirp(paths.go);
  const release = acquireLock();
  const t0 = Date.now();
  const timings = {};
  const partial = `${dir}.partial-${process.pid}`;
  const work = path.join(paths.root, 'build-src');
  const logs = mkdirp(path.join(paths.root, 'build-logs'));
  try {
    // Leftovers of an interrupted build (the lock says no other build runs now).
    for (const d of fs.readdirSync(paths.root)) {
      if (/^bin-.*\.partial-\d+$/.test(d)) fs.rmSync(path.join(paths.root, d), { recursive: true, force: true });
    }
    mkdirp(partial);
    const goVer = sh('go', ['env', 'GOVERSION'], { env: goEnv() }).stdout.trim();
    log(`building the cluster binaries with ${goVer} into ${dir} (logs in ${logs}); a cold build takes ~15 min`);
    const go = (args, cwd, logName, extra) =>
      shLogged('go', args, { env: goEnv(extra), cwd, logFile: path.join(logs, `${logName}.log`) });

    // --- Kubernetes -----------------------------------------------------------------------------------------
    const k8s = VERSIONS.kubernetes;
    const k8sCmds = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy'];
    const k8sDir = path.join(work, 'kubernetes');
    await step(`kubernetes ${k8s}: download + tidy`, path.join(logs, 'kubernetes.log'), async () => {
      fs.writeFileSync(path.join(logs, 'kubernetes.log'), '');
      const info = modDownload('k8s.io/kubernetes', k8s);
      const replaces = k8sStagingReplaces(fs.readFileSync(info.GoMod, 'utf8'), k8s);
      log(`  ${replaces.length} staging modules replaced by their published ${k8s.replace(/^v1\./, 'v0.')}`);
      writeWrapper(k8sDir, {
        module: 'modelyard.local/k8s-build',
        requires: [['k8s.io/kubernetes', k8s]],
        replaces,
        tools: k8sCmds.map((c) => `k8s.io/kubernetes/cmd/${c}`),
      });
      await go(['mod', 'tidy'], k8sDir, 'kubernetes');
    }, timings);
    await step(`kubernetes ${k8s}: go build ${k8sCmds.join(' ')}`, path.join(logs, 'kubernetes.log'), async () => {
      const [, major, minor] = k8s.match(/^v(\d+)\.(\d+)/);
      const pkg = 'k8s.io/component-base/version';
      const ldflags = [
        '-s -w',
        `-X ${pkg}.gitVersion=${k8s}`,
        `-X ${pkg}.gitMajor=${major}`,
        `-X ${pkg}.gitMinor=${minor}`,
        `-X ${pkg}.gitTreeState=clean`,
        `-X ${pkg}.buildDate=1970-01-01T00:00:00Z`,
        `-X k8s.io/client-go/pkg/version.gitVersion=${k8s}`,
        `-X k8s.io/client-go/pkg/version.gitMajor=${major}`,
        `-X k8s.io/client-go/pkg/version.gitMinor=${minor}`,
      ].join(' ');
      await go(
        ['build', '-p', '2', '-trimpath', '-ldflags', ldflags, '-o', `${partial}/`, ...k8sCmds.map((c) => `k8s.io/kubernetes/cmd/${c}`)],
        k8sDir,
        'kubernetes',
      );
    }, timings);

    // --- etcd -----------------------------------------------------------------------------------------------
    const etcdDir = path.join(work, 'etcd');
    await step(`etcd ${VERSIONS.etcd}`, path.join(logs, 'etcd.log'), async () => {
      fs.writeFileSync(path.join(logs, 'etcd.log'), '');
      const info = modDownload('go.etcd.io/etcd/server/v3', VERSIONS.etcd);
      writeWrapper(etcdDir, {
        module: 'modelyard.local/etcd-build',
        requires: [['go.etcd.io/etcd/server/v3', VERSIONS.etcd]],
        replaces: moduleReplaces(fs.readFileSync(info.GoMod, 'utf8')),
        files: {
          'main.go':
            'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n',
        },
      });
      await go(['mod', 'tidy'], etcdDir, 'etcd');
      await go(['build', '-trimpath', '-ldflags', '-s -w', '-o', path.join(partial, 'etcd'), '.'], etcdDir, 'etcd');
    }, timings);

    // --- KServe manager + its manifests -------------------------------------------------------------------
    const ksDir = path.join(work, 'kserve');
    await step(`kserve ${VERSIONS.kserve} manager`, path.join(logs, 'kserve.log'), async () => {
      fs.writeFileSync(path.join(logs, 'kserve.log'), '');
      const info = modDownload('github.com/kserve/kserve', VERSIONS.kserve);
      writeWrapper(ksDir, {
        module: 'modelyard.local/kserve-build',
        requires: [['github.com/kserve/kserve', VERSIONS.kserve]],
        replaces: moduleReplaces(fs.readFileSync(info.GoMod, 'utf8')),
        tools: ['github.com/kserve/kserve/cmd/manager'],
        files: { 'yaml2json/main.go': YAML2JSON_GO },
      });
      await go(['mod', 'tidy'], ksDir, 'kserve');
      await go(
        ['build', '-trimpath', '-ldflags', '-s -w', '-o', path.join(partial, 'kserve-manager'), 'github.com/kserve/kserve/cmd/manager'],
        ksDir,
        'kserve',
      );
      // The manifests, turned into JSON at build time (the runtime side then needs no YAML parser).
      const man = mkdirp(path.join(partial, 'kserve-manifests'));
      await go(['build', '-o', path.join(work, 'yaml2json'), './yaml2json'], ksDir, 'kserve');
      const toJson = (src, dst) => {
        const r = sh(path.join(work, 'yaml2json'), [src]);
        fs.writeFileSync(path.join(man, dst), r.stdout, { mode: 0o644 });
      };
      const crdRoot = path.join(info.Dir, 'config', 'crd', 'full');
      const crds = [
        ...fs.readdirSync(crdRoot).filter((f) => /^serving\.kserve\.io_.*\.yaml$/.test(f)),
        // the pod mutator looks ClusterStorageContainers up for every storageUri
        'clusterstoragecontainer/serving.kserve.io_clusterstoragecontainers.yaml',
      ];
      for (const f of crds) toJson(path.join(crdRoot, f), `crd-${path.basename(f, '.yaml')}.json`);
      toJson(path.join(info.Dir, 'config', 'configmap', 'inferenceservice.yaml'), 'inferenceservice-config.json');
      toJson(path.join(info.Dir, 'config', 'webhook', 'manifests.yaml'), 'webhook-manifests.json');
      log(`  extracted ${crds.length} CRDs, the inferenceservice-config ConfigMap and the webhook manifests`);
    }, timings);

    // --- crane ----------------------------------------------------------------------------------------------
    const craneDir = path.join(work, 'crane');
    await step(`crane ${VERSIONS.crane}`, path.join(logs, 'crane.log'), async () => {
      fs.writeFileSync(path.join(logs, 'crane.log'), '');
      const info = modDownload('github.com/google/go-containerregistry', VERSIONS.crane);
      writeWrapper(craneDir, {
        module: 'modelyard.local/crane-build',
        requires: [['github.com/google/go-containerregistry', VERSIONS.crane]],
        replaces: moduleReplaces(fs.readFileSync(info.GoMod, 'utf8')),
        tools: ['github.com/google/go-containerregistry/cmd/crane'],
      });
      await go(['mod', 'tidy'], craneDir, 'crane');
      await go(
        ['build', '-trimpath', '-ldflags', '-s -w', '-o', path.join(partial, 'crane'), 'github.com/google/go-containerregistry/cmd/crane'],
        craneDir,
        'crane',
      );
    }, timings);

    // --- SeaweedFS ----------------------------------------------------------------------------------------
    const weedDir = path.join(work, 'seaweedfs');
    await step(`seaweedfs ${VERSIONS.seaweedfs}`, path.join(logs, 'seaweedfs.log'), async () => {
      fs.writeFileSync(path.join(logs, 'seaweedfs.log'), '');
      const info = modDownload('github.com/seaweedfs/seaweedfs', VERSIONS.seaweedfs);
      writeWrapper(weedDir, {
        module: 'modelyard.local/weed-build',
        requires: [['github.com/seaweedfs/seaweedfs', VERSIONS.seaweedfs]],
        replaces: moduleReplaces(fs.readFileSync(info.GoMod, 'utf8')),
        tools: ['github.com/seaweedfs/seaweedfs/weed'],
      });
      await go(['mod', 'tidy'], weedDir, 'seaweedfs');
      await go(
        ['build', '-trimpath', '-ldflags', '-s -w', '-o', path.join(partial, 'weed'), 'github.com/seaweedfs/seaweedfs/weed'],
        weedDir,
        'seaweedfs',
      );
    }, timings);

    const ms = Date.now() - t0;
    fs.writeFileSync(
      path.join(partial, 'versions.json'),
      `${JSON.stringify({ versions: VERSIONS, go: goVer, builtAt: new Date().toISOString(), timingsMs: timings, totalMs: ms }, null, 2)}\n`,
    );
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(partial, dir);
    // Older caches (other versions) are of no more use.
    for (const d of fs.readdirSync(paths.root)) {
      if (/^bin-[0-9a-f]{12}/.test(d) && path.join(paths.root, d) !== dir) {
        log(`removing the stale binary cache ${d}`);
        fs.rmSync(path.join(paths.root, d), { recursive: true, force: true });
      }
    }
    fs.rmSync(work, { recursive: true, force: true });
    log(`build: all binaries built in ${fmtMs(ms)} → ${dir}`);
    return { dir, built: true, ms, timings };
  } catch (e) {
    fs.rmSync(partial, { recursive: true, force: true });
    throw e;
  } finally {
    release();
  }
}
