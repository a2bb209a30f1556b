"""An MLServer custom runtime serving an ONNX model with onnxruntime: the peer an MLServer user would write (MLServer
ships no ONNX runtime). The model's settings give the file as parameters.uri and the threads as extra.threads:

    {"name": "m", "implementation": "mlserver_onnx.OnnxRuntime", "parameters": {"uri": "MODEL.onnx", "extra": {"threads": 1}}}

Inputs are decoded and outputs encoded by MLServer's NumpyCodec, as its own runtimes do.
"""
import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxRuntime(MLModel):
    async def load(self) -> bool:
        extra = (self.settings.parameters.extra or {}) if self.settings.parameters else {}
        so = ort.SessionOptions()
        so.intra_op_num_threads = int(extra.get("threads", 1))
        so.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.settings.parameters.uri, so, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.session.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {i.name: NumpyCodec.decode_input(i) for i in payload.inputs}
        results = self.session.run(None, feeds)
        return InferenceResponse(
            model_name=self.name,
            id=payload.id,
            outputs=[NumpyCodec.encode_output(name, np.asarray(v)) for name, v in zip(self.output_names, results)],
        )
