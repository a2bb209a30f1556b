// Installs the Debian packages the cluster needs (only when run as root; otherwise says what is missing).
import { fmtMs, isRoot, log, sh } from './common.mjs';

export const APT_PACKAGES = [
  'containerd',
  'runc',
  'containernetworking-plugins',
  'iptables',
  'busybox-static',
  'openssl',
  'conntrack',
  'iproute2',
  'util-linux', // nsenter, mount/umount
  'kmod', // modprobe br_netfilter/overlay when the kernel has them as modules
];

export function missingPackages(pkgs = APT_PACKAGES) {
  const r = sh('dpkg-query', ['-W', '-f=${Package} ${Status}\n', ...pkgs], { allowFail: true });
  const installed = new Set(
    r.stdout
      .split('\n')
      .filter((l) => / install ok installed$/.test(l))
      .map((l) => l.split(' ')[0]),
  );
  return pkgs.filter((p) => !installed.has(p));
}

export function ensurePackages() {
  const missing = missingPackages();
  if (!missing.length) return 0;
  if (!isRoot()) throw new Error(`missing Debian packages (run as root to install them): ${missing.join(' ')}`);
  const t0 = Date.now();
  log(`apt: installing ${missing.join(' ')} …`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=300']; // another apt may be running
  sh('apt-get', [...lock, 'update', '-qq'], { env });
  sh('apt-get', [...lock, 'install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
  // Debian's containerd package enables and starts its own service where systemd runs; ours uses its own
  // socket and root, so the two do not meet, but a stray system containerd is stopped to keep RAM free.
  sh('sh', ['-c', 'command -v systemctl >/dev/null && systemctl is-active --quiet containerd && systemctl disable --now containerd || true'], {
    allowFail: true,
  });
  const ms = Date.now() - t0;
  log(`apt: done in ${fmtMs(ms)}`);
  return ms;
}
