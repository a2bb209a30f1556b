// Host-side networking of the cluster (bridge, safety rules, route, sysctls) and the clean-up of everything the
// cluster leaves on the machine: iptables chains and rules, netns, mounts, cgroups, sysctls.
import fs from 'node:fs';
import path from 'node:path';
import { log, paths, sh, sleep } from './common.mjs';

export const BRIDGE = 'labcni0';
export const POD_CIDR = '10.244.0.0/16';
export const NODE_POD_CIDR = '10.244.0.0/24';
export const GATEWAY = '10.244.0.1';
export const SERVICE_CIDR = '10.96.0.0/16';
export const CNI_NETWORK = 'modelyard-test';
const INPUT_CHAIN = 'MODELYARD-INPUT';
const LOOPBACK_CHAIN = 'MODELYARD-LOOPBACK';
export const LOOPBACK_ONLY_PORTS = [9443];
export const POD_ALLOWED_HOST_PORTS = [8333]; // what pods may reach on the host: the S3 endpoint only

// Kernel settings that the bridge plugin (ip_forward), kube-proxy (route_localnet) and the kubelet
// (panic, overcommit, keys) change: saved before the first start and restored by `down`.
export const SYSCTLS = [
  'net.ipv4.ip_forward',
  'net.ipv4.conf.all.route_localnet',
  'net.bridge.bridge-nf-call-iptables',
  'net.bridge.bridge-nf-call-ip6tables',
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
];

function sysctlPath(key) {
  return path.join('/proc/sys', ...key.split('.'));
}

function readSysctl(key) {
  try {
    return fs.readFileSync(sysctlPath(key), 'utf8').trim();
  } catch {
    return null;
  }
}

function writeSysctl(key, value) {
  try {
    fs.writeFileSync(sysctlPath(key), `${value}\n`);
    return true;
  } catch {
    return false;
  }
}

const savedFile = () => path.join(paths.state, 'host-saved.json');

/** Records the sysctls and which shared folders existed, once (a crashed run keeps the first record). */
export function saveHostState() {
  if (fs.existsSync(savedFile())) return;
  const sysctls = Object.fromEntries(SYSCTLS.map((k) => [k, readSysctl(k)]).filter(([, v]) => v !== null));
  const existed = Object.fromEntries(['/var/run/netns', '/var/lib/cni', '/run/containerd', '/var/log/containers', '/var/lib/kubelet'].map((d) => [d, fs.existsSync(d)]));
  fs.mkdirSync(paths.state, { recursive: true });
  fs.writeFileSync(savedFile(), JSON.stringify({ sysctls, existed }, null, 2));
}

export function restoreHostState() {
  let saved;
  try {
    saved = JSON.parse(fs.readFileSync(savedFile(), 'utf8'));
  } catch {
    return;
  }
  const changed = [];
  for (const [k, v] of Object.entries(saved.sysctls ?? {})) {
    const now = readSysctl(k);
    if (now !== null && now !== v && writeSysctl(k, v)) changed.push(`${k}=${v}`);
  }
  if (changed.length) log(`restored sysctls: ${changed.join(' ')}`);
  // shared folders that the cluster made and that are empty now
  for (const [d, existed] of Object.entries(saved.existed ?? {})) {
    if (existed || !fs.existsSync(d)) continue;
    if (d === '/var/run/netns') sh('umount', [d], { allowFail: true }); // `ip netns` bind-mounts it on itself
    // the kubelet makes /var/lib/kubelet/device-plugins/kubelet.sock whatever its --root-dir: all ours when the
    // folder was not there before
    if (d === '/var/lib/kubelet' && !mountsUnder(d).length) fs.rmSync(d, { recursive: true, force: true });
    removeEmptyTree(d);
  }
  fs.rmSync(savedFile(), { force: true });
}

function removeEmptyTree(d) {
  try {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) removeEmptyTree(path.join(d, e.name));
    }
    fs.rmdirSync(d);
  } catch {
    /* not empty: leave it */
  }
}

function ipt(args, v6 = false) {
  return sh(v6 ? 'ip6tables' : 'iptables', ['-w', '5', ...args], { allowFail: true });
}

export function setupNetwork() {
  if (!sh('ip', ['link', 'show', BRIDGE], { allowFail: true }).ok) {
    sh('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  }
  sh('ip', ['addr', 'replace', `${GATEWAY}/24`, 'dev', BRIDGE]);
  sh('ip', ['link', 'set', BRIDGE, 'up']);
  sh('ip', ['route', 'replace', SERVICE_CIDR, 'dev', BRIDGE]);
  writeSysctl('net.bridge.bridge-nf-call-iptables', 1);
  // no pod traffic leaves the machine: only what goes out through the bridge is forwarded
  const safety = ['FORWARD', '-s', POD_CIDR, '!', '-o', BRIDGE, '-j', 'DROP'];
  if (!ipt(['-C', ...safety]).ok) sh('iptables', ['-w', '5', '-I', ...safety]);
  // pods reach only the S3 port of the host (weed's master/filer/volume ports listen on the gateway too)
  if (!ipt(['-S', INPUT_CHAIN]).ok) {
    sh('iptables', ['-w', '5', '-N', INPUT_CHAIN]);
    sh('iptables', ['-w', '5', '-A', INPUT_CHAIN, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'RETURN']);
    for (const p of POD_ALLOWED_HOST_PORTS) sh('iptables', ['-w', '5', '-A', INPUT_CHAIN, '-p', 'tcp', '--dport', String(p), '-j', 'RETURN']);
    sh('iptables', ['-w', '5', '-A', INPUT_CHAIN, '-j', 'DROP']);
  }
  const jump = ['INPUT', '-i', BRIDGE, '-j', INPUT_CHAIN];
  if (!ipt(['-C', ...jump]).ok) sh('iptables', ['-w', '5', '-I', ...jump]);
  // ports whose servers cannot be told to bind 127.0.0.1 only (the KServe webhook server binds every address)
  if (!ipt(['-S', LOOPBACK_CHAIN]).ok) {
    sh('iptables', ['-w', '5', '-N', LOOPBACK_CHAIN]);
    sh('iptables', ['-w', '5', '-A', LOOPBACK_CHAIN, '-i', 'lo', '-j', 'RETURN']);
    sh('iptables', ['-w', '5', '-A', LOOPBACK_CHAIN, '-j', 'DROP']);
  }
  for (const p of LOOPBACK_ONLY_PORTS) {
    const j = ['INPUT', '-p', 'tcp', '--dport', String(p), '-j', LOOPBACK_CHAIN];
    if (!ipt(['-C', ...j]).ok) sh('iptables', ['-w', '5', '-I', ...j]);
  }
  log(`network: bridge ${BRIDGE} ${GATEWAY}/24, route ${SERVICE_CIDR} → ${BRIDGE}, FORWARD safety rule, ${INPUT_CHAIN}, ${LOOPBACK_CHAIN} for ${LOOPBACK_ONLY_PORTS.join(',')}`);
}

/** Splits an `iptables -S` line into arguments (double-quoted strings kept whole). */
function splitRule(line) {
  const out = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m;
  while ((m = re.exec(line))) out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]);
  return out;
}

const OUR_CHAIN = /^(KUBE-|CNI-|MODELYARD-)/;

/** Removes every rule and chain the cluster made (ours, kube-proxy's, the kubelet's, the CNI plugins'). */
export function cleanIptables() {
  let removed = 0;
  for (const v6 of [false, true]) {
    for (const table of ['filter', 'nat', 'mangle', 'raw']) {
      const r = ipt(['-t', table, '-S'], v6);
      if (!r.ok) continue;
      const lines = r.stdout.split('\n').filter(Boolean);
      const chains = lines.filter((l) => l.startsWith('-N ')).map((l) => l.slice(3).trim()).filter((c) => OUR_CHAIN.test(c));
      for (const l of lines) {
        if (!l.startsWith('-A ')) continue;
        const args = splitRule(l);
        const chain = args[1];
        if (OUR_CHAIN.test(chain)) continue; // flushed below
        const target = args[args.indexOf('-j') + 1] ?? args[args.indexOf('-g') + 1];
        const ours =
          (args.includes('-j') || args.includes('-g')) && OUR_CHAIN.test(target ?? '')
            ? true
            : l.includes(POD_CIDR) || l.includes(NODE_POD_CIDR) || l.includes(BRIDGE);
        if (!ours) continue;
        if (ipt(['-t', table, '-D', ...args.slice(1)], v6).ok) removed++;
      }
      for (const c of chains) ipt(['-t', table, '-F', c], v6);
      for (const c of chains) if (ipt(['-t', table, '-X', c], v6).ok) removed++;
    }
  }
  if (removed) log(`iptables: removed ${removed} rules/chains`);
}

export function deleteNetns() {
  const r = sh('ip', ['netns', 'list'], { allowFail: true });
  const names = r.stdout
    .split('\n')
    .map((l) => l.trim().split(' ')[0])
    .filter((n) => n && n.startsWith('cni-'));
  for (const n of names) sh('ip', ['netns', 'delete', n], { allowFail: true });
  if (names.length) log(`deleted ${names.length} netns (${names.join(' ')})`);
}

export function deleteBridge() {
  // veths left behind by killed pods hang on the bridge: they go with their netns, any left go here
  const r = sh('ip', ['-o', 'link', 'show', 'master', BRIDGE], { allowFail: true });
  for (const l of r.stdout.split('\n').filter(Boolean)) {
    const name = l.split(':')[1]?.trim().split('@')[0];
    if (name) sh('ip', ['link', 'delete', name], { allowFail: true });
  }
  if (sh('ip', ['link', 'show', BRIDGE], { allowFail: true }).ok) {
    sh('ip', ['link', 'delete', BRIDGE], { allowFail: true });
    log(`deleted bridge ${BRIDGE}`);
  }
  sh('ip', ['route', 'del', SERVICE_CIDR], { allowFail: true });
  // libcni's result cache of our network and of containerd's loopback network
  // the kubelet's symlinks in /var/log/containers (a fixed path) to our pod logs
  const cl = '/var/log/containers';
  if (fs.existsSync(cl)) {
    for (const f of fs.readdirSync(cl)) {
      try {
        if (fs.readlinkSync(path.join(cl, f)).startsWith(`${paths.state}/`)) fs.rmSync(path.join(cl, f), { force: true });
      } catch {
        /* not a link */
      }
    }
  }
  const cniCache = '/var/lib/cni/results';
  if (fs.existsSync(cniCache)) {
    for (const f of fs.readdirSync(cniCache)) if (f.startsWith(`${CNI_NETWORK}-`) || f.startsWith('cni-loopback-')) fs.rmSync(path.join(cniCache, f), { force: true });
  }
}

/** Mount points at or under `root`, deepest first. */
export function mountsUnder(root) {
  const info = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  const pts = info
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(' ')[4].replace(/\\040/g, ' '))
    .filter((p) => p === root || p.startsWith(`${root}/`));
  return [...new Set(pts)].sort((a, b) => b.length - a.length);
}

export function unmountUnder(root) {
  let n = 0;
  for (let pass = 0; pass < 5; pass++) {
    const pts = mountsUnder(root);
    if (!pts.length) break;
    for (const p of pts) {
      if (!sh('umount', [p], { allowFail: true }).ok) sh('umount', ['-l', p], { allowFail: true });
      n++;
    }
  }
  if (n) log(`unmounted ${n} mounts under ${root}`);
  return mountsUnder(root);
}

/** The cgroup under which the kubelet puts every pod (its cgroupRoot), so nothing else's cgroups are touched. */
export const CGROUP_ROOT = 'modelyard';

/** Mounted cgroup hierarchies: [{ dir, v2 }]. */
function cgroupMounts() {
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [pre, post] = l.split(' - ');
      return { dir: pre.split(' ')[4], fstype: post?.split(' ')[0] };
    })
    .filter((m) => (m.fstype === 'cgroup' || m.fstype === 'cgroup2') && m.dir.startsWith('/sys/fs/cgroup'))
    .map((m) => ({ dir: m.dir, v2: m.fstype === 'cgroup2' }));
}

/** Makes /<CGROUP_ROOT> in every hierarchy (the kubelet wants its cgroupRoot to exist). */
export function setupCgroupRoot() {
  for (const { dir, v2 } of cgroupMounts()) {
    const d = path.join(dir, CGROUP_ROOT);
    try {
      fs.mkdirSync(d, { recursive: true });
    } catch {
      continue;
    }
    if (!v2 && fs.existsSync(path.join(dir, 'cpuset.cpus'))) {
      // a new v1 cpuset cgroup starts empty: give it the parent's CPUs and memory nodes
      for (const k of ['cpuset.cpus', 'cpuset.mems']) {
        try {
          if (!fs.readFileSync(path.join(d, k), 'utf8').trim()) fs.writeFileSync(path.join(d, k), fs.readFileSync(path.join(dir, k)));
        } catch {
          /* left to the kubelet */
        }
      }
    }
    if (v2) {
      try {
        const ctrl = fs.readFileSync(path.join(dir, 'cgroup.subtree_control'), 'utf8').trim().split(/\s+/).filter(Boolean);
        fs.writeFileSync(path.join(d, 'cgroup.subtree_control'), ctrl.map((c) => `+${c}`).join(' '));
      } catch {
        /* best effort */
      }
    }
  }
}

/** The pods' cgroups (/<CGROUP_ROOT> in every hierarchy): their processes killed, the cgroups removed. */
export async function removeCgroups() {
  const roots = cgroupMounts()
    .map(({ dir }) => path.join(dir, CGROUP_ROOT))
    .filter((d) => fs.existsSync(d));
  if (!roots.length) return;
  const walk = (d, out = []) => {
    out.push(d);
    for (const e of fs.readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(path.join(d, e.name), out);
    return out;
  };
  const procsLeft = () => {
    const pids = new Set();
    for (const r of roots) {
      if (!fs.existsSync(r)) continue;
      for (const d of walk(r)) {
        try {
          for (const p of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p.trim()) pids.add(Number(p));
        } catch {
          /* gone */
        }
      }
    }
    return [...pids];
  };
  // processes still in the pod cgroups (e.g. containers whose containerd and shim died): only our pods are there
  const pids = procsLeft();
  if (pids.length) {
    log(`killing ${pids.length} leftover pod processes (from the /${CGROUP_ROOT} cgroups)`);
    for (const p of pids) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  for (let i = 0; i < 50 && procsLeft().length; i++) await sleep(100);
  let left = 0;
  for (let attempt = 0; attempt < 20; attempt++) {
    left = 0;
    for (const r of roots) {
      if (!fs.existsSync(r)) continue;
      for (const d of walk(r).reverse()) {
        try {
          fs.rmdirSync(d);
        } catch {
          left++;
        }
      }
    }
    if (!left) break;
    await sleep(100);
  }
  log(`removed the /${CGROUP_ROOT} pod cgroups${left ? ` (${left} still busy)` : ''}`);
}
