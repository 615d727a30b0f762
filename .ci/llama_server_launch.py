"""Start llama-cpp-python's OpenAI-compatible server without ggml's AMX weight buffers.

On CPUs with AMX (Sapphire Rapids and later, the CI machines included) llama.cpp repacks the
weights into an AMX buffer and the first completion segfaults inside ggml_backend_amx_mul_mat
(ggml-org/llama.cpp#20824, still open). The server has no flag for it, so this launcher turns
off `use_extra_bufts` in the default model parameters and then runs the server's own main();
the arguments are the server's.
"""

import llama_cpp.llama_cpp as _bindings

_default_params = _bindings.llama_model_default_params


def _params_without_extra_buffers() -> _bindings.llama_model_params:
    params = _default_params()
    params.use_extra_bufts = False
    return params


_bindings.llama_model_default_params = _params_without_extra_buffers

from llama_cpp.server.__main__ import main  # noqa: E402  (after the patch, on purpose)

if __name__ == "__main__":
    main()
