/**
 * Every `modelyard.*` setting the extension reads: its key and the type of its value. The defaults live in one
 * place only, package.json's `contributes.configuration` (VS Code answers them for an unset key); a unit test holds
 * this table and package.json together. src/extension/settings.ts reads them.
 */
export const SETTING_TYPES = {
  'models.include': 'string',
  'registry.stages': 'string[]',
  'inference.timeoutSeconds': 'number',
  'inference.threads': 'number',
  'inference.maxInputElements': 'number',
  'serve.port': 'number',
  'modelTests.include': 'string',
  'quantize.minCosine': 'number',
  'quantize.minTop1': 'number',
  'quantize.maxLatencyRatio': 'number|null',
  'deploy.kubeconfig': 'string',
  'deploy.extraPath': 'string[]',
  'deploy.image': 'string',
  'deploy.stage': 'string',
  'deploy.timeoutSeconds': 'number',
  'deploy.targets': 'deployTargets',
} as const;

/** What `modelyard.deploy.targets` keeps per kube context (never a secret: those live in SecretStorage). */
export interface DeployTargetSetting {
  namespace?: string;
  storage?: string;
  s3Endpoint?: string;
  s3PodEndpoint?: string;
  s3AccessKeyId?: string;
  stage?: string;
  mode?: 'auto' | 'kserve' | 'plain';
}

const TARGET_KEYS = new Set(['namespace', 'storage', 's3Endpoint', 's3PodEndpoint', 's3AccessKeyId', 'stage', 'mode']);

type TypeOf<T extends string> = T extends 'string' ? string : T extends 'string[]' ? string[] : T extends 'number' ? number : T extends 'number|null' ? number | null : T extends 'deployTargets' ? Record<string, DeployTargetSetting> : never;

export type SettingKey = keyof typeof SETTING_TYPES;
export type SettingValue<K extends SettingKey> = TypeOf<(typeof SETTING_TYPES)[K]>;

/** Whether a value a user wrote has the setting's type (a wrong one falls back to the default). */
export function hasSettingType(key: SettingKey, v: unknown): boolean {
  switch (SETTING_TYPES[key]) {
    case 'string':
      return typeof v === 'string';
    case 'string[]':
      return Array.isArray(v) && v.every((x) => typeof x === 'string');
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'number|null':
      return v === null || (typeof v === 'number' && Number.isFinite(v));
    case 'deployTargets':
      return (
        typeof v === 'object' &&
        v !== null &&
        !Array.isArray(v) &&
        Object.values(v).every((t) => typeof t === 'object' && t !== null && Object.entries(t).every(([k, x]) => TARGET_KEYS.has(k) && typeof x === 'string' && (k !== 'mode' || ['auto', 'kserve', 'plain'].includes(x))))
      );
  }
}
