import { createHash } from 'node:crypto';

/** SHA-256 of bytes in memory, as hex (what the registry, the quantizer's lineage and deployment name a model by). */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
