// A minimal Kubernetes API client over https with the admin client certificate (no dependencies),
// plus the kubeconfig writers.
import fs from 'node:fs';
import https from 'node:https';
import { pkiFile } from './pki.mjs';
import { writeFile } from './common.mjs';

export const API_SERVER = 'https://127.0.0.1:6443';

let agent = null;
function adminAgent() {
  if (!agent) {
    agent = new https.Agent({
      ca: fs.readFileSync(pkiFile('ca.crt')),
      cert: fs.readFileSync(pkiFile('admin.crt')),
      key: fs.readFileSync(pkiFile('admin.key')),
      keepAlive: false,
    });
  }
  return agent;
}

export function resetAgent() {
  agent = null;
}

/**
 * One API request. Returns { status, body (parsed JSON when possible), text }.
 * `body` objects are sent as JSON; `contentType` overrides (e.g. application/apply-patch+yaml).
 */
export function kreq(method, urlPath, body, { contentType, timeoutMs = 15000, agentOverride, headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = https.request(
      `${API_SERVER}${urlPath}`,
      {
        method,
        agent: agentOverride ?? adminAgent(),
        headers: {
          Accept: 'application/json',
          ...(data !== undefined ? { 'Content-Type': contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}),
          ...headers,
        },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed;
          try {
            parsed = JSON.parse(text);
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode, body: parsed, text });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timeout: ${method} ${urlPath}`)));
    req.on('error', reject);
    if (data !== undefined) req.write(data);
    req.end();
  });
}

/** The REST path of an object (core or grouped, namespaced or not; plural from a small table or kind+s). */
const PLURALS = {
  CustomResourceDefinition: 'customresourcedefinitions',
  MutatingWebhookConfiguration: 'mutatingwebhookconfigurations',
  ValidatingWebhookConfiguration: 'validatingwebhookconfigurations',
  ClusterRole: 'clusterroles',
  ClusterRoleBinding: 'clusterrolebindings',
  RoleBinding: 'rolebindings',
  Role: 'roles',
  ConfigMap: 'configmaps',
  Namespace: 'namespaces',
  Secret: 'secrets',
  ServiceAccount: 'serviceaccounts',
  Service: 'services',
  Deployment: 'deployments',
  Pod: 'pods',
};

export function objectPath(obj) {
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  const plural = PLURALS[obj.kind] ?? `${obj.kind.toLowerCase()}s`;
  const base = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const ns = obj.metadata.namespace ? `/namespaces/${obj.metadata.namespace}` : '';
  return `${base}${ns}/${plural}/${obj.metadata.name}`;
}

/** Server-side apply of one object (field manager modelyard-cluster, conflicts forced). */
export async function apply(obj) {
  const r = await kreq('PATCH', `${objectPath(obj)}?fieldManager=modelyard-cluster&force=true`, obj, {
    contentType: 'application/apply-patch+yaml',
    timeoutMs: 60000,
  });
  if (r.status >= 300) throw new Error(`apply ${obj.kind} ${obj.metadata.name}: HTTP ${r.status} ${r.text.slice(0, 600)}`);
  return r.body;
}

export async function get(urlPath) {
  const r = await kreq('GET', urlPath);
  return r.status === 200 ? r.body : null;
}

function b64(file) {
  return fs.readFileSync(file).toString('base64');
}

/** A kubeconfig with the client certificate embedded. */
export function writeCertKubeconfig(file, { user, context, certName }) {
  const cfg = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'modelyard-test', cluster: { server: API_SERVER, 'certificate-authority-data': b64(pkiFile('ca.crt')) } }],
    users: [
      {
        name: user,
        user: { 'client-certificate-data': b64(pkiFile(`${certName}.crt`)), 'client-key-data': b64(pkiFile(`${certName}.key`)) },
      },
    ],
    contexts: [{ name: context, context: { cluster: 'modelyard-test', user, namespace: 'default' } }],
    'current-context': context,
    preferences: {},
  };
  writeFile(file, `${JSON.stringify(cfg, null, 2)}\n`, 0o600);
}

/** A kubeconfig with a bearer token. */
export function writeTokenKubeconfig(file, { user, context, token }) {
  const cfg = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'modelyard-test', cluster: { server: API_SERVER, 'certificate-authority-data': b64(pkiFile('ca.crt')) } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: context, context: { cluster: 'modelyard-test', user, namespace: 'default' } }],
    'current-context': context,
    preferences: {},
  };
  writeFile(file, `${JSON.stringify(cfg, null, 2)}\n`, 0o600);
}
