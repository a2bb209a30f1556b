// A real single-node Kubernetes cluster for tests, all on 127.0.0.1: etcd, kube-apiserver, controller-manager,
// scheduler, containerd + runc + bridge CNI, kubelet, kube-proxy, a loopback OCI registry (crane), SeaweedFS S3 and
// the KServe manager. Binaries are built once with Go (build.mjs); state lives in ${MODELYARD_CACHE}/cluster/state.
//
//   import { up, down, status, env } from './scripts/cluster/index.mjs';
//
// up({ keepData, quiet }) → { env, buildMs, startMs, alreadyUp }; down({ keepData, quiet });
// status() → { allUp, nodeReady, components }; env() → { NAME: value } (what `env` prints).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { ensurePackages } from './apt.mjs';
import { VERSIONS, bin, ensureBinaries, kserveManifestDir } from './build.mjs';
import { fmtMs, isRoot, log, mkdirp, paths, setQuiet, sh, sleep, writeFile } from './common.mjs';
import { BUSYBOX_IMAGE, PAUSE_IMAGE, REGISTRY, pushImages } from './images.mjs';
import { apply, get, kreq, resetAgent, writeCertKubeconfig, writeTokenKubeconfig } from './kube.mjs';
import {
  BRIDGE,
  CNI_NETWORK,
  GATEWAY,
  NODE_POD_CIDR,
  POD_CIDR,
  SERVICE_CIDR,
  cleanIptables,
  deleteBridge,
  deleteNetns,
  removeCgroups,
  CGROUP_ROOT,
  setupCgroupRoot,
  restoreHostState,
  saveHostState,
  setupNetwork,
  unmountUnder,
} from './net.mjs';
import { ensurePki, pkiFile } from './pki.mjs';
import { killPid, livePid, pidsWithArg, readPid, startProc, stopProc, tcpOpen, waitFor } from './procs.mjs';

export { VERSIONS, REGISTRY, PAUSE_IMAGE, BUSYBOX_IMAGE };

const S3_PORT = 8333;
const KSERVE_WEBHOOK_PORT = 9443;
const KSERVE_METRICS = '127.0.0.1:10390';
const KSERVE_PROBES = '127.0.0.1:10391';
const READONLY_USER = 'modelyard-readonly';

const f = {
  kubeconfig: () => path.join(paths.state, 'kubeconfig'),
  kubeconfigReadonly: () => path.join(paths.state, 'kubeconfig-readonly'),
  secrets: () => path.join(paths.state, 'secrets.json'),
  config: (name) => path.join(paths.state, 'config', name),
  data: (name) => path.join(paths.data, name),
  run: (name) => path.join(paths.run, name),
  containerdSock: () => path.join(paths.run, 'containerd.sock'),
};

/** The components in start order, with what `status` checks. */
const COMPONENTS = [
  { name: 'etcd', port: 2379 },
  { name: 'kube-apiserver', port: 6443 },
  { name: 'kube-controller-manager', port: 10257 },
  { name: 'kube-scheduler', port: 10259 },
  { name: 'containerd', socket: true },
  { name: 'registry', port: 5000 },
  { name: 'kubelet', port: 10250 },
  { name: 'kube-proxy', port: 10256 },
  { name: 'weed', port: S3_PORT, also: [[GATEWAY, S3_PORT]] },
  { name: 'kserve-manager', port: KSERVE_WEBHOOK_PORT },
];

// ---------------------------------------------------------------------------------------------------------------
// secrets: a token for the read-only user and two S3 identities, made once and kept (mode 0600)

function randomKey(n, alphabet) {
  const bytes = crypto.randomBytes(n);
  return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join('');
}

function ensureSecrets() {
  try {
    return JSON.parse(fs.readFileSync(f.secrets(), 'utf8'));
  } catch {
    /* make them */
  }
  const AK = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  const SK = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const s = {
    readonlyToken: crypto.randomBytes(24).toString('hex'),
    s3: {
      writer: { accessKey: `MYW${randomKey(17, AK)}`, secretKey: randomKey(40, SK) },
      reader: { accessKey: `MYR${randomKey(17, AK)}`, secretKey: randomKey(40, SK) },
    },
  };
  writeFile(f.secrets(), `${JSON.stringify(s, null, 2)}\n`, 0o600);
  return s;
}

// ---------------------------------------------------------------------------------------------------------------
// configuration files

function writeConfigs(secrets) {
  mkdirp(path.join(paths.state, 'config'), 0o700);
  const ca = pkiFile('ca.crt');

  // API access for the control plane and node components
  for (const [name, cert] of [
    ['controller-manager', 'controller-manager'],
    ['scheduler', 'scheduler'],
    ['kubelet', 'kubelet'],
    ['kube-proxy', 'kube-proxy'],
  ]) {
    writeCertKubeconfig(f.config(`${name}.kubeconfig`), { user: name, context: name, certName: cert });
  }
  writeCertKubeconfig(f.kubeconfig(), { user: 'modelyard-admin', context: 'modelyard-test', certName: 'admin' });
  writeTokenKubeconfig(f.kubeconfigReadonly(), {
    user: READONLY_USER,
    context: 'modelyard-test-readonly',
    token: secrets.readonlyToken,
  });
  writeFile(f.config('tokens.csv'), `${secrets.readonlyToken},${READONLY_USER},${READONLY_USER}\n`, 0o600);

  // containerd: own root, state and socket; CRI with runc; the loopback registry over plain http
  // Every other registry (docker.io, …) is sent to the loopback registry too (`_default`): an image reference
  // that is not there fails on 127.0.0.1 instead of making containerd look a public registry up.
  for (const dir of [REGISTRY, '_default']) {
    writeFile(
      path.join(f.config(`certs.d/${dir}`), 'hosts.toml'),
      `server = "http://${REGISTRY}"\n\n[host."http://${REGISTRY}"]\n  capabilities = ["pull", "resolve"]\n  skip_verify = true\n`,
    );
  }
  writeFile(
    f.config('containerd.toml'),
    `version = 2
root = "${f.data('containerd')}"
state = "${f.run('containerd')}"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "${f.containerdSock()}"

[ttrpc]
  address = "${f.containerdSock()}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${f.data('containerd-opt')}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_unprivileged_ports = false
  enable_unprivileged_icmp = false

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"

    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"

      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = "${f.run('runc')}"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${f.config('cni')}"
    max_conf_num = 1

  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "${f.config('certs.d')}"
`,
  );

  // CNI: bridge labcni0 with host-local IPAM, portmap; no masquerade (pod traffic stays on the machine)
  writeFile(
    f.config('cni/10-modelyard.conflist'),
    `${JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: CNI_NETWORK,
        plugins: [
          {
            type: 'bridge',
            bridge: BRIDGE,
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: NODE_POD_CIDR, gateway: GATEWAY }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: f.data('cni-ipam'),
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    )}\n`,
  );

  // kubelet
  writeFile(
    f.config('kubelet.yaml'),
    `${JSON.stringify(
      {
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        address: '127.0.0.1',
        port: 10250,
        readOnlyPort: 0,
        healthzBindAddress: '127.0.0.1',
        healthzPort: 10248,
        authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: ca } },
        authorization: { mode: 'Webhook' },
        tlsCertFile: pkiFile('kubelet-serving.crt'),
        tlsPrivateKeyFile: pkiFile('kubelet-serving.key'),
        rotateCertificates: false,
        serverTLSBootstrap: false,
        cgroupDriver: 'cgroupfs',
        cgroupRoot: `/${CGROUP_ROOT}`, // pods under /modelyard/kubepods: `down` touches no other cgroups
        failCgroupV1: false,
        failSwapOn: false,
        oomScoreAdj: 0,
        containerRuntimeEndpoint: `unix://${f.containerdSock()}`,
        podLogsDir: f.data('pod-logs'),
        volumePluginDir: f.data('kubelet-volume-plugins'),
        resolvConf: '', // no DNS for pods: nothing to send anywhere
        clusterDomain: 'cluster.local',
        evictionHard: { 'memory.available': '50Mi', 'nodefs.available': '1%', 'nodefs.inodesFree': '1%', 'imagefs.available': '1%' },
        evictionPressureTransitionPeriod: '10s',
        imageGCHighThresholdPercent: 100,
        imageGCLowThresholdPercent: 99,
        maxPods: 110,
        serializeImagePulls: false,
        registerNode: true,
        nodeStatusReportFrequency: '10s',
        makeIPTablesUtilChains: true,
        protectKernelDefaults: false,
        localStorageCapacityIsolation: true,
        shutdownGracePeriod: '0s',
      },
      null,
      2,
    )}\n`,
  );

  // kube-proxy
  writeFile(
    f.config('kube-proxy.yaml'),
    `${JSON.stringify(
      {
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        mode: 'iptables',
        clientConnection: { kubeconfig: f.config('kube-proxy.kubeconfig') },
        hostnameOverride: 'localhost',
        bindAddress: '127.0.0.1',
        healthzBindAddress: '127.0.0.1:10256',
        metricsBindAddress: '127.0.0.1:10249',
        clusterCIDR: POD_CIDR,
        nodePortAddresses: ['127.0.0.1/32'],
        iptables: { localhostNodePorts: true, masqueradeAll: false },
        // 0 = leave the host's conntrack settings alone
        conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
        oomScoreAdj: 0,
      },
      null,
      2,
    )}\n`,
  );

  // SeaweedFS identities: a writer with every action, a read-only reader; anonymous gets nothing
  writeFile(
    f.config('s3.json'),
    `${JSON.stringify(
      {
        identities: [
          {
            name: 'modelyard-writer',
            credentials: [{ accessKey: secrets.s3.writer.accessKey, secretKey: secrets.s3.writer.secretKey }],
            actions: ['Admin', 'Read', 'List', 'Tagging', 'Write'],
          },
          {
            name: 'modelyard-reader',
            credentials: [{ accessKey: secrets.s3.reader.accessKey, secretKey: secrets.s3.reader.secretKey }],
            actions: ['Read', 'List'],
          },
        ],
      },
      null,
      2,
    )}\n`,
    0o600,
  );
}

// ---------------------------------------------------------------------------------------------------------------
// small HTTP helpers

function httpGet(url, opts = {}) {
  const mod = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.get(url, { timeout: 3000, ...opts }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function unixOpen(sock) {
  return new Promise((resolve) => {
    const c = net.connect(sock);
    c.setTimeout(1000, () => {
      c.destroy();
      resolve(false);
    });
    c.on('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.on('error', () => resolve(false));
  });
}

/** One `up` or `down` at a time on this machine (tests may call up() concurrently): waits for the holder. */
async function withLock(fn) {
  mkdirp(paths.root);
  const lock = path.join(paths.root, 'cluster.lock');
  const t0 = Date.now();
  for (;;) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      const holder = Number(fs.readFileSync(lock, 'utf8')) || 0;
      let alive;
      try {
        if (holder) process.kill(holder, 0);
        alive = holder > 0;
      } catch {
        alive = false;
      }
      if (!alive) {
        fs.rmSync(lock, { force: true });
        continue;
      }
      if (Date.now() - t0 > 30 * 60 * 1000) throw new Error(`another up/down (pid ${holder}) holds ${lock}`, { cause: e });
      if (Date.now() - t0 < 1000) log(`waiting for another up/down (pid ${holder}) …`);
      await sleep(1000);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { force: true });
  }
}

/** The S3 error code for a request signed (wrongly) with `accessKey`. */
function s3KeyCheck(accessKey) {
  const date = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  return new Promise((resolve, reject) => {
    const req = http.get(
      `http://127.0.0.1:${S3_PORT}/`,
      {
        timeout: 3000,
        headers: {
          'x-amz-date': date,
          'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
          Authorization:
            `AWS4-HMAC-SHA256 Credential=${accessKey}/${date.slice(0, 8)}/us-east-1/s3/aws4_request, ` +
            `SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${'0'.repeat(64)}`,
        },
      },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(body.match(/<Code>([^<]*)<\/Code>/)?.[1] ?? `HTTP ${res.statusCode}`));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

function readyNode(node) {
  return node?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
}

// ---------------------------------------------------------------------------------------------------------------
// starting

function startEtcd() {
  const dataDir = mkdirp(f.data('etcd'), 0o700);
  return startProc('etcd', bin('etcd'), [
    '--name=modelyard',
    `--data-dir=${dataDir}`,
    '--listen-client-urls=http://127.0.0.1:2379',
    '--advertise-client-urls=http://127.0.0.1:2379',
    '--listen-peer-urls=http://127.0.0.1:2380',
    '--initial-advertise-peer-urls=http://127.0.0.1:2380',
    '--initial-cluster=modelyard=http://127.0.0.1:2380',
    '--listen-metrics-urls=http://127.0.0.1:2381',
    '--unsafe-no-fsync=true', // throwaway test data: no fsync stalls on a busy disk
    '--snapshot-count=10000',
    '--quota-backend-bytes=2147483648',
    '--log-level=warn',
  ]);
}

function startApiserver() {
  const p = pkiFile;
  return startProc('kube-apiserver', bin('kube-apiserver'), [
    '--etcd-servers=http://127.0.0.1:2379',
    '--bind-address=127.0.0.1',
    `--advertise-address=${GATEWAY}`,
    '--secure-port=6443',
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    '--allow-privileged=true',
    '--kubelet-preferred-address-types=Hostname,InternalIP',
    `--client-ca-file=${p('ca.crt')}`,
    `--tls-cert-file=${p('apiserver.crt')}`,
    `--tls-private-key-file=${p('apiserver.key')}`,
    `--kubelet-client-certificate=${p('apiserver-kubelet-client.crt')}`,
    `--kubelet-client-key=${p('apiserver-kubelet-client.key')}`,
    `--kubelet-certificate-authority=${p('ca.crt')}`,
    `--service-account-key-file=${p('sa.pub')}`,
    `--service-account-signing-key-file=${p('sa.key')}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--token-auth-file=${f.config('tokens.csv')}`,
    '--profiling=false',
    '--event-ttl=1h',
    '--v=1',
  ]);
}

function startControllerManager() {
  const p = pkiFile;
  const kc = f.config('controller-manager.kubeconfig');
  return startProc('kube-controller-manager', bin('kube-controller-manager'), [
    `--kubeconfig=${kc}`,
    `--authentication-kubeconfig=${kc}`,
    `--authorization-kubeconfig=${kc}`,
    '--bind-address=127.0.0.1',
    '--secure-port=10257',
    `--cluster-signing-cert-file=${p('ca.crt')}`,
    `--cluster-signing-key-file=${p('ca.key')}`,
    `--root-ca-file=${p('ca.crt')}`,
    `--service-account-private-key-file=${p('sa.key')}`,
    '--allocate-node-cidrs=true',
    `--cluster-cidr=${POD_CIDR}`,
    '--node-cidr-mask-size=24',
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    '--leader-elect=false',
    '--use-service-account-credentials=true',
    '--profiling=false',
    '--v=1',
  ]);
}

function startScheduler() {
  const kc = f.config('scheduler.kubeconfig');
  return startProc('kube-scheduler', bin('kube-scheduler'), [
    `--kubeconfig=${kc}`,
    `--authentication-kubeconfig=${kc}`,
    `--authorization-kubeconfig=${kc}`,
    '--bind-address=127.0.0.1',
    '--secure-port=10259',
    '--leader-elect=false',
    '--profiling=false',
    '--v=1',
  ]);
}

function startContainerd() {
  mkdirp(f.data('containerd'), 0o711);
  mkdirp(f.run('containerd'), 0o711);
  return startProc('containerd', 'containerd', ['--config', f.config('containerd.toml'), '--log-level', 'warn']);
}

function startRegistry() {
  const disk = mkdirp(f.data('registry'));
  return startProc('registry', bin('crane'), ['registry', 'serve', '--address', `127.0.0.1:${REGISTRY.split(':')[1]}`, '--disk', disk]);
}

function startWeed() {
  const dir = mkdirp(f.data('weed'));
  // -ip=<gateway> with -ip.bind left EMPTY: weed binds every service on the gateway address and, by its own
  // design (util.NewIpAndLocalListeners), a companion listener on localhost for the same port. So S3 answers on
  // 127.0.0.1:8333 for the host and on 10.244.0.1:8333 for pods, with no wildcard bind and no second instance.
  return startProc('weed', bin('weed'), [
    'mini',
    `-dir=${dir}`,
    `-ip=${GATEWAY}`,
    '-ip.bind=',
    `-s3.port=${S3_PORT}`,
    `-s3.config=${f.config('s3.json')}`,
    '-s3.port.iceberg=0',
    '-s3.port.lance=0',
    '-webdav=false',
    '-admin.ui=false',
    '-master.telemetry=false',
    '-s3.allowedOrigins=*',
    // their unix sockets default to /tmp
    `-filer.localSocket=${f.run('weed-filer.sock')}`,
    `-s3.localSocket=${f.run('weed-s3.sock')}`,
  ]);
}

function startKubelet() {
  const root = mkdirp(f.data('kubelet'), 0o700);
  mkdirp(f.data('pod-logs'));
  return startProc('kubelet', bin('kubelet'), [
    `--config=${f.config('kubelet.yaml')}`,
    `--kubeconfig=${f.config('kubelet.kubeconfig')}`,
    '--hostname-override=localhost',
    `--root-dir=${root}`,
    '--v=1',
  ]);
}

function startKubeProxy() {
  return startProc('kube-proxy', bin('kube-proxy'), [`--config=${f.config('kube-proxy.yaml')}`, '--v=1']);
}

function startKserve() {
  const tmp = mkdirp(f.run('kserve-tmp'), 0o700);
  const certDir = mkdirp(path.join(tmp, 'k8s-webhook-server', 'serving-certs'), 0o700);
  fs.copyFileSync(pkiFile('kserve-webhook.crt'), path.join(certDir, 'tls.crt'));
  fs.copyFileSync(pkiFile('kserve-webhook.key'), path.join(certDir, 'tls.key'));
  fs.chmodSync(path.join(certDir, 'tls.key'), 0o600);
  return startProc(
    'kserve-manager',
    bin('kserve-manager'),
    [
      `--metrics-addr=${KSERVE_METRICS}`,
      `--health-probe-addr=${KSERVE_PROBES}`,
      `--webhook-port=${KSERVE_WEBHOOK_PORT}`,
      '--leader-elect=false',
    ],
    { env: { ...process.env, KUBECONFIG: f.kubeconfig(), POD_NAMESPACE: 'kserve', TMPDIR: tmp } },
  );
}

// ---------------------------------------------------------------------------------------------------------------
// KServe objects

function manifest(name) {
  return JSON.parse(fs.readFileSync(path.join(kserveManifestDir(), name), 'utf8'));
}

async function applyKserveBase() {
  const crdFiles = fs.readdirSync(kserveManifestDir()).filter((n) => n.startsWith('crd-'));
  const names = [];
  for (const file of crdFiles) {
    for (const doc of manifest(file)) {
      delete doc.metadata.creationTimestamp;
      await apply(doc);
      names.push(doc.metadata.name);
    }
  }
  await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kserve' } });
  const [cm] = manifest('inferenceservice-config.json');
  const ingress = JSON.parse(cm.data.ingress);
  ingress.disableIstioVirtualHost = true;
  ingress.disableIngressCreation = true;
  cm.data.ingress = JSON.stringify(ingress, null, 2);
  const deploy = cm.data.deploy ? JSON.parse(cm.data.deploy) : {};
  deploy.defaultDeploymentMode = 'Standard';
  cm.data.deploy = JSON.stringify(deploy, null, 2);
  cm.metadata.namespace = 'kserve';
  await apply(cm);
  await waitFor(
    'the KServe CRDs to be established',
    async () => {
      for (const n of names) {
        const crd = await get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${n}`);
        if (!crd?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) return false;
      }
      return true;
    },
    { timeoutMs: 60000 },
  );
  log(`kserve: ${names.length} CRDs, namespace kserve, ConfigMap inferenceservice-config (Standard, no ingress)`);
}

async function registerKserveWebhooks() {
  const caBundle = fs.readFileSync(pkiFile('ca.crt')).toString('base64');
  let n = 0;
  for (const doc of manifest('webhook-manifests.json')) {
    delete doc.metadata.creationTimestamp;
    for (const w of doc.webhooks) {
      const p = w.clientConfig?.service?.path ?? '';
      w.clientConfig = { url: `https://127.0.0.1:${KSERVE_WEBHOOK_PORT}${p}`, caBundle };
      n++;
    }
    await apply(doc);
  }
  log(`kserve: ${n} webhooks registered by URL https://127.0.0.1:${KSERVE_WEBHOOK_PORT}/…`);
}

async function checkKserveWebhook() {
  // a dry-run create goes through the API server to the validating webhook and back
  const sr = {
    apiVersion: 'serving.kserve.io/v1alpha1',
    kind: 'ServingRuntime',
    metadata: { name: 'modelyard-webhook-probe', namespace: 'default' },
    spec: {
      supportedModelFormats: [{ name: 'onnx', version: '1' }],
      protocolVersions: ['v2'],
      containers: [{ name: 'kserve-container', image: BUSYBOX_IMAGE }],
    },
  };
  const r = await kreq('POST', '/apis/serving.kserve.io/v1alpha1/namespaces/default/servingruntimes?dryRun=All', sr);
  if (r.status === 201 || r.status === 200) return true;
  throw new Error(`webhook dry-run: HTTP ${r.status} ${r.text.slice(0, 300)}`);
}

// ---------------------------------------------------------------------------------------------------------------
// stopping

function ctr(args) {
  return sh('ctr', ['--address', f.containerdSock(), '--namespace', 'k8s.io', ...args], { allowFail: true, timeout: 30000 });
}

async function killPodTasks() {
  if (!livePid('containerd') || !fs.existsSync(f.containerdSock())) return 0;
  const ids = ctr(['tasks', 'ls', '-q']).stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  for (const id of ids) ctr(['tasks', 'kill', '--all', '--signal', 'SIGKILL', id]);
  for (let i = 0; i < 50; i++) {
    const running = ctr(['tasks', 'ls']).stdout.split('\n').filter((l) => /\bRUNNING\b/.test(l));
    if (!running.length) break;
    await sleep(100);
  }
  for (const id of ids) ctr(['tasks', 'delete', '--force', id]);
  if (ids.length) log(`killed ${ids.length} pod tasks through ctr`);
  return ids.length;
}

async function teardown({ keepData = false } = {}) {
  // pod tasks first, then the kubelet (and once more, for any it restarted in between)
  await killPodTasks();
  await stopProc('kubelet', { timeoutMs: 15000 });
  await killPodTasks();
  const proxyRan = await stopProc('kube-proxy');
  const kubeRules = sh('sh', ['-c', 'iptables-save 2>/dev/null | grep -q -- "-j KUBE-"'], { allowFail: true }).ok;
  if ((proxyRan || kubeRules) && fs.existsSync(bin('kube-proxy'))) {
    const r = sh(bin('kube-proxy'), ['--cleanup', '--v=0'], { allowFail: true, timeout: 60000 });
    if (!r.ok) log(`kube-proxy --cleanup: exit ${r.status} (rules are removed below anyway)`);
  }
  await stopProc('kserve-manager');
  await stopProc('kube-scheduler');
  await stopProc('kube-controller-manager');
  await stopProc('kube-apiserver', { timeoutMs: 15000 });
  await stopProc('etcd');
  await stopProc('containerd', { timeoutMs: 15000 });
  // shims of our containerd (found by our socket path in their arguments)
  for (const pid of pidsWithArg(f.containerdSock())) await killPid(pid, 'containerd-shim', { timeoutMs: 5000 });
  // pod processes that outlived their shim (a crash), then the pod cgroups
  await removeCgroups();
  await stopProc('registry');
  await stopProc('weed', { timeoutMs: 10000 });

  deleteNetns();
  const left = unmountUnder(paths.state);
  deleteBridge();
  cleanIptables();
  restoreHostState();
  for (const d of ['/run/containerd/s', '/run/containerd']) {
    try {
      fs.rmdirSync(d);
    } catch {
      /* absent, or not ours / not empty */
    }
  }
  if (left.length) {
    log(`WARNING: still mounted, data kept: ${left.join(' ')}`);
    return;
  }
  fs.rmSync(paths.run, { recursive: true, force: true });
  fs.rmSync(path.join(paths.state, 'images'), { recursive: true, force: true });
  if (!keepData) fs.rmSync(paths.data, { recursive: true, force: true });
}

// ---------------------------------------------------------------------------------------------------------------
// public API

/** Each component: running or not, PID, address. */
export async function status() {
  const components = [];
  for (const c of COMPONENTS) {
    const pid = livePid(c.name);
    let listening;
    let where;
    if (c.socket) {
      where = f.containerdSock();
      listening = pid ? fs.existsSync(where) && (await unixOpen(where)) : false;
    } else {
      where = `127.0.0.1:${c.port}`;
      listening = pid ? await tcpOpen(c.port) : false;
      for (const [host, port] of c.also ?? []) {
        where += ` ${host}:${port}`;
        if (listening) listening = await tcpOpen(port, host);
      }
    }
    components.push({ name: c.name, running: Boolean(pid && listening), pid: pid ?? readPid(c.name)?.pid ?? null, alive: Boolean(pid), address: where });
  }
  const allUp = components.every((c) => c.running);
  let nodeReady = false;
  if (allUp) {
    try {
      resetAgent();
      nodeReady = readyNode(await get('/api/v1/nodes/localhost'));
    } catch {
      nodeReady = false;
    }
  }
  return { allUp: allUp && nodeReady, nodeReady, components };
}

export function formatStatus(st) {
  const lines = st.components.map(
    (c) =>
      `${c.name.padEnd(24)} ${c.running ? 'running' : c.alive ? 'STARTED, NOT LISTENING' : 'not running'}`.padEnd(48) +
      `${c.alive ? `pid ${c.pid}` : ''}`.padEnd(12) +
      c.address,
  );
  lines.push(`${'node localhost'.padEnd(24)} ${st.nodeReady ? 'Ready' : 'not Ready'}`);
  return lines.join('\n');
}

/** The environment tests use: variable → value. */
export function env() {
  let secrets = null;
  try {
    secrets = JSON.parse(fs.readFileSync(f.secrets(), 'utf8'));
  } catch {
    /* not made yet */
  }
  return {
    KUBECONFIG: f.kubeconfig(),
    MODELYARD_TEST_KUBECONFIG: f.kubeconfig(),
    MODELYARD_TEST_KUBECONFIG_READONLY: f.kubeconfigReadonly(),
    MODELYARD_TEST_KUBE_CONTEXT: 'modelyard-test',
    MODELYARD_TEST_REGISTRY: REGISTRY,
    MODELYARD_TEST_BUSYBOX_IMAGE: BUSYBOX_IMAGE,
    MODELYARD_TEST_S3_ENDPOINT: `http://127.0.0.1:${S3_PORT}`,
    MODELYARD_TEST_S3_POD_ENDPOINT: `http://${GATEWAY}:${S3_PORT}`,
    MODELYARD_TEST_S3_REGION: 'us-east-1',
    MODELYARD_TEST_S3_WRITER_ACCESS_KEY: secrets?.s3.writer.accessKey ?? '',
    MODELYARD_TEST_S3_WRITER_SECRET_KEY: secrets?.s3.writer.secretKey ?? '',
    MODELYARD_TEST_S3_READER_ACCESS_KEY: secrets?.s3.reader.accessKey ?? '',
    MODELYARD_TEST_S3_READER_SECRET_KEY: secrets?.s3.reader.secretKey ?? '',
  };
}

export function envShell() {
  return Object.entries(env())
    .map(([k, v]) => `export ${k}='${String(v).replace(/'/g, "'\\''")}'`)
    .join('\n');
}

/** Stops everything and cleans the machine; `keepData` keeps etcd/containerd/registry/S3 data for the next up. */
export async function down({ keepData = false, quiet = false } = {}) {
  if (!isRoot()) throw new Error('the cluster needs root (network, mounts, cgroups)');
  setQuiet(quiet);
  return withLock(async () => {
    const t0 = Date.now();
    log(`down${keepData ? ' (keeping data)' : ''} …`);
    await teardown({ keepData });
    log(`down in ${fmtMs(Date.now() - t0)}`);
  });
}

/**
 * Installs, builds (once) and starts the cluster, or reports it when it is already up. `quiet` silences the
 * progress lines and the status table. Returns { env, buildMs, startMs, alreadyUp }.
 */
export async function up({ keepData = false, quiet = false } = {}) {
  if (!isRoot()) throw new Error('the cluster needs root (network, mounts, cgroups)');
  setQuiet(quiet);
  return withLock(() => upLocked({ keepData, quiet }));
}

async function upLocked({ keepData, quiet }) {
  const out = (text) => {
    if (!quiet) process.stdout.write(text);
  };
  const tUp = Date.now();
  const pre = await status();
  if (pre.allUp) {
    log('already up');
    out(`${formatStatus(pre)}\n`);
    return { env: env(), buildMs: 0, startMs: 0, alreadyUp: true };
  }
  const anything = pre.components.some((c) => c.alive) || fs.existsSync(paths.run) || sh('ip', ['link', 'show', BRIDGE], { allowFail: true }).ok;
  if (anything) log('cleaning what a previous run left …');
  await teardown({ keepData });

  // --- packages and binaries
  const tBuild = Date.now();
  ensurePackages();
  const built = await ensureBinaries();
  const buildMs = Date.now() - tBuild;
  if (built.built) log(`build took ${fmtMs(built.ms)}`);

  // --- start
  const tStart = Date.now();
  mkdirp(paths.state, 0o700);
  mkdirp(paths.data, 0o700);
  mkdirp(paths.run, 0o700);
  fs.rmSync(paths.logs, { recursive: true, force: true });
  ensurePki();
  const secrets = ensureSecrets();
  writeConfigs(secrets);
  saveHostState();
  setupNetwork();
  setupCgroupRoot();
  resetAgent();

  try {
    startEtcd();
    startRegistry();
    startContainerd();
    startWeed();
    await waitFor('etcd', async () => JSON.parse((await httpGet('http://127.0.0.1:2379/health')).text).health === 'true', { proc: 'etcd' });
    startApiserver();
    await waitFor('the registry', () => tcpOpen(5000), { proc: 'registry' });
    pushImages();
    await waitFor(
      'kube-apiserver /readyz',
      async () => (await kreq('GET', '/readyz', undefined, { timeoutMs: 3000 })).status === 200,
      { proc: 'kube-apiserver', timeoutMs: 90000 },
    );
    log(`kube-apiserver ready (${fmtMs(Date.now() - tStart)} after start)`);
    startControllerManager();
    startScheduler();
    await waitFor('containerd', () => fs.existsSync(f.containerdSock()) && sh('ctr', ['--address', f.containerdSock(), 'version'], { allowFail: true }).ok, {
      proc: 'containerd',
    });
    startKubelet();
    startKubeProxy();
    await apply({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'modelyard-readonly-view', namespace: 'default' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'view' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: READONLY_USER }],
    });
    await applyKserveBase();
    startKserve();
    await waitFor('the kserve manager', async () => (await httpGet(`http://${KSERVE_PROBES}/readyz`)).status === 200, {
      proc: 'kserve-manager',
      timeoutMs: 90000,
    });
    await registerKserveWebhooks();
    await waitFor('the kserve webhook (dry-run through the API server)', checkKserveWebhook, { proc: 'kserve-manager', timeoutMs: 60000 });
    log('kserve: webhook answers');
    await waitFor('node localhost Ready', async () => readyNode(await get('/api/v1/nodes/localhost')), { proc: 'kubelet', timeoutMs: 90000 });
    log('node localhost Ready');
    await waitFor('the default ServiceAccount', async () => Boolean(await get('/api/v1/namespaces/default/serviceaccounts/default')), {
      proc: 'kube-controller-manager',
      timeoutMs: 90000,
    });
    await waitFor(
      'S3 answering 403 anonymously on 127.0.0.1 and on the gateway',
      async () =>
        (await httpGet(`http://127.0.0.1:${S3_PORT}/`)).status === 403 && (await httpGet(`http://${GATEWAY}:${S3_PORT}/`)).status === 403,
      { proc: 'weed', timeoutMs: 60000 },
    );
    // the identities of s3.json are loaded: their keys get SignatureDoesNotMatch, an unknown key InvalidAccessKeyId
    for (const who of ['writer', 'reader']) {
      const code = await s3KeyCheck(secrets.s3[who].accessKey);
      if (code !== 'SignatureDoesNotMatch') throw new Error(`S3 does not know the ${who} key (answer: ${code})`);
    }
    log('S3 answers 403 anonymously and knows the writer and reader keys');
    await waitFor('kube-proxy', () => tcpOpen(10256), { proc: 'kube-proxy' });
  } catch (e) {
    log(`up failed: ${e.message.split('\n')[0]}`);
    log(`logs: ${paths.logs}; run \`node scripts/cluster.mjs down\` to clean up`);
    throw e;
  }
  const startMs = Date.now() - tStart;
  const st = await status();
  out(`${formatStatus(st)}\n`);
  if (!st.allUp) throw new Error('the cluster started but status says not all components are up');
  out(
    `\nThe cluster is up (${fmtMs(Date.now() - tUp)}: build/install ${fmtMs(buildMs)}, start ${fmtMs(startMs)}).\n` +
      `  export KUBECONFIG=${f.kubeconfig()}            # admin, context modelyard-test\n` +
      `  export KUBECONFIG=${f.kubeconfigReadonly()}   # read-only user ${READONLY_USER}, context modelyard-test-readonly\n` +
      '  eval "$(node scripts/cluster.mjs env)"     # every variable the tests use\n',
  );
  return { env: env(), buildMs, startMs, alreadyUp: false };
}
