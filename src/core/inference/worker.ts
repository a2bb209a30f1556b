// The inference worker: a child process that owns onnxruntime-node (built to dist/inference-worker.js).
// Placeholder until the inference core lands.
export {};
