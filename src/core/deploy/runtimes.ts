/**
 * What a serving runtime can load: its onnxruntime version, and from that the highest ONNX IR version and opset.
 *
 * The limits below were measured, not copied from release notes: each row's onnxruntime (the Python wheel from PyPI;
 * 1.30 is onnxruntime-node) was asked to load a one-node model stamped with every IR version (7–13) and opset
 * (15–27) in turn. test/unit/deploy-preflight.test.ts measures the 1.30 and 1.31 rows again with the onnxruntime
 * the tests have. A version between two rows gets the older row's limits, as a lower bound (a warning, not an error).
 */

export interface OrtLimits {
  /** "1.15" */
  minor: string;
  maxIr: number;
  maxOpset: number;
}

/** onnxruntime minor version → the highest IR version and default-domain opset it loads (measured). */
export const ORT_LIMITS: readonly OrtLimits[] = [
  { minor: '1.15', maxIr: 9, maxOpset: 19 },
  { minor: '1.16', maxIr: 9, maxOpset: 19 },
  { minor: '1.17', maxIr: 9, maxOpset: 20 },
  { minor: '1.18', maxIr: 10, maxOpset: 21 },
  { minor: '1.19', maxIr: 10, maxOpset: 21 },
  { minor: '1.20', maxIr: 10, maxOpset: 21 },
  { minor: '1.21', maxIr: 10, maxOpset: 22 },
  { minor: '1.22', maxIr: 10, maxOpset: 22 },
  { minor: '1.30', maxIr: 13, maxOpset: 26 },
  { minor: '1.31', maxIr: 13, maxOpset: 26 },
];

/**
 * Contrib operators (domain com.microsoft) as Modelyard's quantizer writes them, with the first onnxruntime release
 * that loads them (measured on its outputs, like the limits above): int4/int8 weight-only MatMulNBits carries a
 * bias input (1.18 refuses it, 1.19 loads it); static int8 below opset 13 uses com.microsoft Q/DQ with an int32
 * bias (1.16 refuses it, 1.17 loads it).
 */
export const CONTRIB_OPS_SINCE: Readonly<Record<string, string>> = {
  MatMulNBits: '1.19',
  QuantizeLinear: '1.17',
  DequantizeLinear: '1.17',
};

/** Triton Inference Server releases (image tag YY.MM) and the onnxruntime their ONNX backend bundles. */
export const TRITON_ORT: Readonly<Record<string, string>> = {
  '23.05': '1.15.0',
};

export function minorOf(version: string): string {
  const m = /^(\d+)\.(\d+)/.exec(version);
  return m ? `${m[1]}.${m[2]}` : version;
}

function cmpMinor(a: string, b: string): number {
  const [a1, a2] = a.split('.').map(Number);
  const [b1, b2] = b.split('.').map(Number);
  return a1! - b1! || a2! - b2!;
}

/** The limits of an onnxruntime version: its own row, else the nearest older measured row (a lower bound). */
export function ortLimits(version: string): (OrtLimits & { exact: boolean }) | undefined {
  const minor = minorOf(version);
  const older = ORT_LIMITS.filter((r) => cmpMinor(r.minor, minor) <= 0);
  const row = older.at(-1);
  return row ? { ...row, exact: row.minor === minor } : undefined;
}

export function ortAtLeast(version: string, minor: string): boolean {
  return cmpMinor(minorOf(version), minor) >= 0;
}

/** A serving runtime as deployment sees it. */
export interface RuntimeInfo {
  /** "modelyard", or the (Cluster)ServingRuntime's name, e.g. "kserve-tritonserver". */
  name: string;
  kind: 'modelyard' | 'triton' | 'other';
  image: string;
  /** The onnxruntime it runs, when known, and how it is known. */
  onnxruntime?: string;
  source?: 'annotation' | 'image tag' | 'bundled';
}

/** Annotation Modelyard puts on its ServingRuntime (and reads on any): the onnxruntime version inside. */
export const ORT_ANNOTATION = 'modelyard.dev/onnxruntime';

/** What runtime an image is, and its onnxruntime when the annotation or the image tag tells. */
export function identifyRuntime(name: string, image: string, annotations: Record<string, string> = {}): RuntimeInfo {
  const annotated = annotations[ORT_ANNOTATION];
  const kind: RuntimeInfo['kind'] = /(^|\/)modelyard[\w-]*(:|@|$)/.test(image) || name === 'modelyard' ? 'modelyard' : /tritonserver/.test(image) ? 'triton' : 'other';
  if (annotated) return { name, kind, image, onnxruntime: annotated, source: 'annotation' };
  if (kind === 'triton') {
    const tag = /:(\d{2}\.\d{2})/.exec(image)?.[1];
    const ort = tag ? TRITON_ORT[tag] : undefined;
    if (ort) return { name, kind, image, onnxruntime: ort, source: 'image tag' };
  }
  return { name, kind, image };
}
