// The cluster's PKI, made with openssl: a CA, serving and client certificates, a service-account key pair.
// Reused when present and valid (signed by the CA, not expiring within a day, same layout version).
import fs from 'node:fs';
import path from 'node:path';
import { log, mkdirp, paths, sh, writeFile } from './common.mjs';

const LAYOUT = 1; // bump to regenerate every certificate when the list below changes

/** name → subject, extended key usage, SANs. */
export const CERTS = {
  apiserver: {
    subj: '/CN=kube-apiserver',
    eku: 'serverAuth',
    san: [
      'IP:127.0.0.1',
      'IP:10.96.0.1',
      'DNS:localhost',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster.local',
    ],
  },
  admin: { subj: '/O=system:masters/CN=modelyard-admin', eku: 'clientAuth' },
  'controller-manager': { subj: '/CN=system:kube-controller-manager', eku: 'clientAuth' },
  scheduler: { subj: '/CN=system:kube-scheduler', eku: 'clientAuth' },
  kubelet: { subj: '/O=system:nodes/CN=system:node:localhost', eku: 'clientAuth' },
  'kubelet-serving': { subj: '/CN=localhost', eku: 'serverAuth', san: ['DNS:localhost', 'IP:127.0.0.1'] },
  'kube-proxy': { subj: '/CN=system:kube-proxy', eku: 'clientAuth' },
  'apiserver-kubelet-client': { subj: '/O=system:masters/CN=kube-apiserver-kubelet-client', eku: 'clientAuth' },
  'kserve-webhook': { subj: '/CN=kserve-webhook-server', eku: 'serverAuth', san: ['IP:127.0.0.1', 'DNS:localhost'] },
};

export function pkiFile(name) {
  return path.join(paths.pki, name);
}

function valid(crt, ca) {
  if (!fs.existsSync(crt)) return false;
  if (!sh('openssl', ['x509', '-in', crt, '-noout', '-checkend', '86400'], { allowFail: true }).ok) return false;
  if (ca && !sh('openssl', ['verify', '-CAfile', ca, crt], { allowFail: true }).ok) return false;
  return true;
}

function genKey(keyPath) {
  sh('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', keyPath]);
  fs.chmodSync(keyPath, 0o600);
}

export function ensurePki() {
  const dir = mkdirp(paths.pki, 0o700);
  const ca = pkiFile('ca.crt');
  const caKey = pkiFile('ca.key');
  const layoutFile = pkiFile('layout');
  const layoutOk = fs.existsSync(layoutFile) && fs.readFileSync(layoutFile, 'utf8').trim() === String(LAYOUT);
  let made = 0;
  if (!layoutOk || !valid(ca) || !fs.existsSync(caKey)) {
    for (const f of fs.readdirSync(dir)) fs.rmSync(path.join(dir, f), { force: true });
    genKey(caKey);
    sh('openssl', ['req', '-x509', '-new', '-key', caKey, '-subj', '/CN=modelyard-test-ca', '-days', '3650', '-out', ca,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature']);
    made++;
  }
  for (const [name, spec] of Object.entries(CERTS)) {
    const crt = pkiFile(`${name}.crt`);
    const key = pkiFile(`${name}.key`);
    if (fs.existsSync(key) && valid(crt, ca)) continue;
    genKey(key);
    const csr = pkiFile(`${name}.csr`);
    const ext = pkiFile(`${name}.ext`);
    sh('openssl', ['req', '-new', '-key', key, '-subj', spec.subj, '-out', csr]);
    const lines = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${spec.eku}`,
    ];
    if (spec.san) lines.push(`subjectAltName=${spec.san.join(',')}`);
    fs.writeFileSync(ext, `${lines.join('\n')}\n`);
    sh('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '3650',
      '-extfile', ext, '-out', crt]);
    fs.rmSync(csr);
    fs.rmSync(ext);
    made++;
  }
  const saKey = pkiFile('sa.key');
  const saPub = pkiFile('sa.pub');
  if (!fs.existsSync(saKey) || !fs.existsSync(saPub)) {
    sh('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', saKey]);
    fs.chmodSync(saKey, 0o600);
    sh('openssl', ['pkey', '-in', saKey, '-pubout', '-out', saPub]);
    made++;
  }
  writeFile(layoutFile, `${LAYOUT}\n`, 0o600);
  log(made ? `pki: ${made} keys/certificates made in ${dir}` : `pki: reusing ${dir}`);
}
