/** The base image `modelyard image build` uses when none is given: Node 24 on Debian slim, for linux/amd64 and arm64. */
export const DEFAULT_BASE = 'docker.io/library/node:24-slim';
