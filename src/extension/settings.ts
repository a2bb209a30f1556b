import * as vscode from 'vscode';
import { hasSettingType, type SettingKey, type SettingValue } from '../shared/settings';

/**
 * The one reader of `modelyard.*` settings. Defaults come from package.json (VS Code answers them for an unset
 * key), so no default is written twice; a value of the wrong type is logged once and the default used instead.
 */
export function setting<K extends SettingKey>(key: K, scope?: vscode.Uri): SettingValue<K> {
  const c = vscode.workspace.getConfiguration('modelyard', scope);
  const v = c.get<unknown>(key);
  if (hasSettingType(key, v)) return v as SettingValue<K>;
  return c.inspect<SettingValue<K>>(key)?.defaultValue as SettingValue<K>;
}

/** Writes a setting for the user (every window), as the Settings editor would. */
export function updateSetting<K extends SettingKey>(key: K, value: SettingValue<K> | undefined): Thenable<void> {
  return vscode.workspace.getConfiguration('modelyard').update(key, value, vscode.ConfigurationTarget.Global);
}

/** Whether a configuration change touches one of these settings (`'inference'` for a whole section). */
export function affects(e: vscode.ConfigurationChangeEvent, ...keys: (SettingKey | string)[]): boolean {
  return keys.some((k) => e.affectsConfiguration(`modelyard.${k}`));
}

/** The inference settings, as the worker takes them. */
export function inferenceSettings(): { timeoutMs: number; threads: number; maxInputElements: number } {
  return {
    timeoutMs: Math.max(1, setting('inference.timeoutSeconds')) * 1000,
    threads: Math.max(0, Math.trunc(setting('inference.threads'))),
    maxInputElements: Math.max(1, setting('inference.maxInputElements')),
  };
}

/** The fidelity gate of quantization. */
export function quantizeSettings(): { minCosine: number; minTop1: number; maxLatencyRatio: number | null } {
  return { minCosine: setting('quantize.minCosine'), minTop1: setting('quantize.minTop1'), maxLatencyRatio: setting('quantize.maxLatencyRatio') };
}
