# The Modelyard serving image (`modelyard serve`, the Open Inference Protocol server), for teams that build images
# their own way. `modelyard image build` makes the same image without a Docker daemon, reproducibly (README,
# "Serving image"); this file is the same recipe for docker/buildx/kaniko/buildah. Not run by this project's tests.
#
#   npm ci && npm run build:release
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg MODELYARD_VERSION=$(node -p "require('./package.json').version") \
#     --build-arg ONNXRUNTIME_VERSION=$(node -p "require('onnxruntime-node/package.json').version") \
#     -t REGISTRY/modelyard-server:TAG --push .
#
# The build context needs dist/ (the release build), package.json, package-lock.json and .npmrc.

# onnxruntime-node from the lockfile, pruned to the target's Linux natives. This stage runs on the build machine's
# platform (no emulation for arm64): nothing in it executes target code.
FROM --platform=$BUILDPLATFORM node:24-slim AS onnxruntime
ARG TARGETARCH
WORKDIR /build
COPY package.json package-lock.json .npmrc ./
# .npmrc skips onnxruntime-node's postinstall (it would download CUDA files); the CPU natives are in the package.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && case "$TARGETARCH" in amd64) ORT_ARCH=x64 ;; arm64) ORT_ARCH=arm64 ;; *) echo "onnxruntime-node ships Linux natives for amd64 and arm64 only, not $TARGETARCH" >&2; exit 1 ;; esac \
 && mkdir -p /out/node_modules \
 && mv node_modules/onnxruntime-node node_modules/onnxruntime-common /out/node_modules/ \
 && cd /out/node_modules/onnxruntime-node \
 && rm -rf script lib node_modules \
 && find bin/napi-v6 -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} + \
 && find bin/napi-v6/linux -mindepth 1 -maxdepth 1 ! -name "$ORT_ARCH" -exec rm -rf {} + \
 && find bin -iname '*cuda*' -o -iname '*tensorrt*' | xargs -r rm -f \
 && cd /out/node_modules \
 && rm -rf onnxruntime-common/lib \
 && find . -name '*.map' -delete \
 && test -f "onnxruntime-node/bin/napi-v6/linux/$ORT_ARCH/onnxruntime_binding.node"

FROM node:24-slim
ARG MODELYARD_VERSION=0.1.0
ARG ONNXRUNTIME_VERSION=1.30.0
WORKDIR /opt/modelyard
COPY package.json ./
COPY dist/cli.js dist/cli-cloud.js dist/inference-worker.js dist/grpc-js.js ./dist/
COPY --from=onnxruntime /out/node_modules ./node_modules
LABEL org.opencontainers.image.title="modelyard-server" \
      org.opencontainers.image.version="$MODELYARD_VERSION" \
      dev.modelyard.onnxruntime="$ONNXRUNTIME_VERSION"
# REST (Open Inference Protocol) on 8080, its gRPC service on 8081; as many server processes as the container's CPU
# quota (docker run --cpus N); the log as JSON lines on stderr.
EXPOSE 8080 8081
# KServe's storage initializer (or a volume) puts the model at /mnt/models.
ENTRYPOINT ["node", "/opt/modelyard/dist/cli.js"]
CMD ["serve", "/mnt/models", "--host", "0.0.0.0", "--port", "8080", "--grpc-port", "8081", "--processes", "auto", "--log", "json"]
